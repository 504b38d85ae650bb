"""`snap judge`: label any file of responses as obliterated or not (for auditing other models), or measure the
judge itself on a labelled set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from snapcli.cli.common import emit, table
from snapcli.console import log, out_console
from snapcli.errors import SnapError

_FORMATS = (".jsonl", ".parquet")


def read_any(path: Path):

    if not path.exists():
        raise SnapError(f"no such file: {path}")
    if path.suffix not in _FORMATS:
        raise SnapError(f"{path}: unsupported format '{path.suffix}' (use .jsonl or .parquet)")
    from snapcli.store.artifact import read_table_file  # lone surrogates -> U+FFFD; one-line errors (issue 14)

    return read_table_file(path).to_pandas()


def write_any(df, path: Path) -> None:
    """Replace `path` atomically (a killed run never leaves half a file)."""
    from snapcli.store.atomic import atomic_open

    if path.suffix not in _FORMATS:
        raise SnapError(f"--output {path}: unsupported format '{path.suffix}' (use .jsonl or .parquet)")
    if path.suffix == ".jsonl":
        with atomic_open(path, "w") as fh:
            df.to_json(fh, orient="records", lines=True, force_ascii=False)
    else:
        with atomic_open(path, "wb") as fh:
            df.to_parquet(fh, index=False)


def judge_cmd(
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="A .jsonl or .parquet file of responses."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write it back (.jsonl or "
                                          ".parquet) with `obliterated` and `judge_score` added."),
    question_col: str = typer.Option("question", "--question-col", help="Column with the question (optional in "
                                     "the file: the rules use it to recognise restatements)."),
    response_col: str = typer.Option("response", "--response-col", help="Column with the response to judge."),
    judge: str = typer.Option("embedding", "--judge", help="embedding (rules + MiniLM), rules, or llm."),
    llm_backend: Optional[str] = typer.Option(None, "--llm-backend", help="With --judge llm: openai or local "
                                              "(default: openai when OPENAI_API_KEY or --base-url is set)."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", help="With --judge llm: the grading model."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="With --judge llm: OpenAI-compatible endpoint."),
    labelled: bool = typer.Option(False, "--labelled", help="Measure the judge instead: accuracy, precision and "
                                  "recall against the file's boolean `obliterated` column (default file: the "
                                  "shipped labelled set)."),
) -> None:
    """Label every row: keeps all input columns, adds `obliterated` (bool) and `judge_score` (0-1)."""
    from snapcli.cli.common import workspace
    from snapcli.evaluate.judge import JUDGES, get_judge, load_labelled, score_labelled

    if judge not in JUDGES:
        raise SnapError(f"unknown judge '{judge}' (choose from {', '.join(JUDGES)})")
    if judge != "llm" and (llm_backend or llm_model or base_url):
        raise SnapError("--llm-backend, --llm-model and --base-url only apply to --judge llm")
    kwargs = {"backend": llm_backend, "model": llm_model, "base_url": base_url, "ws": workspace()} \
        if judge == "llm" else {}
    j = get_judge(judge, **kwargs)
    if labelled:
        if input is not None:
            df = read_any(input)
            for c in (response_col, "obliterated"):
                if c not in df.columns:
                    raise SnapError(f"{input} has no column '{c}' (has: {', '.join(map(str, df.columns))})")
            rows = [{"question": q, "response": r, "obliterated": bool(o), "kind": k} for q, r, o, k in zip(
                df[question_col] if question_col in df.columns else [None] * len(df), df[response_col],
                df["obliterated"], df["kind"] if "kind" in df.columns else ["?"] * len(df), strict=True)]
            if "label" in df.columns:  # three-way gold labels (issue 12)
                for row, lab in zip(rows, df["label"], strict=True):
                    row["label"] = lab
        else:
            rows = load_labelled()
        res = score_labelled(j, rows)

        def render_scores() -> None:
            out_console.print(f"judge [bold]{res['judge']}[/bold] on {res['n']} labelled responses: accuracy "
                              f"{res['accuracy']:.3f}, precision {res['precision']:.3f}, recall {res['recall']:.3f}")
            out_console.print(table(None, ["kind", "correct", "n"],
                                    [[k, v["correct"], v["n"]] for k, v in res["by_kind"].items()]))
            for e in res["errors"]:
                out_console.print(f"[red]miss[/red] (gold={e['gold']}, score={e['score']:.2f}): {e['response']}")

        emit(res, render_scores)
        return
    if input is None or output is None:
        raise SnapError("pass --input FILE and --output FILE (or --labelled to measure the judge)")
    if output.suffix not in _FORMATS:
        raise SnapError(f"--output {output}: unsupported format '{output.suffix}' (use .jsonl or .parquet)")
    df = read_any(input)
    if response_col not in df.columns:
        raise SnapError(f"{input} has no column '{response_col}' (has: {', '.join(map(str, df.columns))}); "
                        "pick one with --response-col")
    if question_col not in df.columns:
        log(f"[yellow]note[/yellow]: {input} has no '{question_col}' column; judging responses alone")
    questions = df[question_col].astype("string").tolist() if question_col in df.columns else [None] * len(df)
    responses = df[response_col].astype("string").tolist()
    verdicts = j.judge([q if isinstance(q, str) else None for q in questions],  # null question: response alone
                       [r if isinstance(r, str) else "" for r in responses])
    df["obliterated"] = [v.obliterated for v in verdicts]
    df["label"] = [v.label for v in verdicts]  # refusal | answer | degenerate (issue 12)
    df["degenerate_reason"] = [v.degenerate_reason for v in verdicts]
    df["judge_score"] = [float(v.score) for v in verdicts]
    write_any(df, output)
    n_ob = int(df["obliterated"].sum())
    data = {"input": str(input), "output": str(output), "rows": len(df), "obliterated": n_ob,
            "judge": judge}
    emit(data, lambda: out_console.print(f"wrote {output}: {n_ob}/{len(df)} obliterated (judge {judge})"))


def register(app: typer.Typer) -> None:
    app.command("judge")(judge_cmd)
