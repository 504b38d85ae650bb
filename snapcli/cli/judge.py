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
    import pandas as pd

    if not path.exists():
        raise SnapError(f"no such file: {path}")
    if path.suffix not in _FORMATS:
        raise SnapError(f"{path}: unsupported format '{path.suffix}' (use .jsonl or .parquet)")
    try:
        if path.suffix == ".jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_parquet(path)
    except ValueError as e:
        raise SnapError(f"cannot read {path}: {' '.join(str(e).split())[:200]}") from None
    except OSError as e:
        raise SnapError(f"cannot read {path}: {e}") from None


def write_any(df, path: Path) -> None:
    if path.suffix not in _FORMATS:
        raise SnapError(f"--output {path}: unsupported format '{path.suffix}' (use .jsonl or .parquet)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".jsonl":
        df.to_json(tmp, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(tmp, index=False)
    tmp.replace(path)


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
    responses = ["" if r is None or r != r else str(r) for r in df[response_col].tolist()]
    verdicts = j.judge([None if q is None or q != q else str(q) for q in questions], responses)
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
