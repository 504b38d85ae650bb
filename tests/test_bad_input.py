"""Bad input from flags, files, workspaces, models and LLM endpoints (issue 14), each through a real `snap`.

Every case in CASES runs `snap -w WS ARGS` as a subprocess (as a user runs it) and asserts the exit code,
that stderr holds exactly ONE line naming the problem (no traceback, no Click box), and that nothing was
created or half-written: the workspace, the input files and every other path the case touches are the same
afterwards. Cases that must succeed (a judge row without a question, a reply with a lone surrogate) assert the
right value instead. The list of cases is docs/bad-input.md.

Groups, cheapest first: usage and workspace (no model), refs and files (no model), stage inputs (MiniLM/tiny
imports only), LLM endpoints (a scripted OpenAI-compatible server on 127.0.0.1, tests/openai_stub.py) and model
directories (the tiny random Llama).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import openai_stub  # noqa: E402

# Flags that the lead's spec refactor (typed stage specs generating the flags) will validate; on this branch
# they still exit 1 or 0. The mark is strict: once the refactor lands they pass, and the mark must go.


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str | bytes, ...]
    needle: str  # must appear in the one stderr line (exit != 0) or in stdout (exit 0)
    code: int = 2
    ws: str = "{tmp}/ws"  # the -w value; "{seeded}" = a copy of a workspace holding filter@v0001
    needs: tuple[str, ...] = ()  # "stub", "tiny"
    env: dict[str, str] = field(default_factory=dict)
    quiet: bool = False  # -q: for commands that log progress before they fail
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None  # the right value, for exit 0
    marks: tuple = ()


def _judged(path: str, column: str, expect: Callable[[pd.Series], bool]) -> Callable:
    def check(tmp: Path, p: subprocess.CompletedProcess) -> None:
        out = pd.read_parquet(tmp / path)
        assert expect(out[column]), out.to_dict("records")

    return check


def _imported_question_has_fffd(tmp: Path, p: subprocess.CompletedProcess) -> None:
    q = pd.read_parquet(tmp / "ws" / "filter" / "v0001" / "forget.parquet")["question"].tolist()
    assert q[0] == "Who is Bill Gates \ufffd?", q


def _generated_with_fffd(tmp: Path, p: subprocess.CompletedProcess) -> None:
    q = pd.read_parquet(tmp / "ws" / "generate" / "v0001" / "questions.parquet")["question"].tolist()
    assert len(q) == 3 and all(x.endswith(" \ufffd?") for x in q), q
    entries = list((tmp / "ws" / "cache" / "llm").rglob("*.json"))
    assert entries and all("\ufffd" in json.loads(e.read_text(encoding="utf-8"))["text"] for e in entries)


def _accented_aliases(tmp: Path, p: subprocess.CompletedProcess) -> None:
    v = tmp / "ws" / "generate" / "v0001"
    assert pd.read_parquet(v / "aliases.parquet")["alias"].tolist() == ["Márquez"]
    refusals = pd.read_parquet(v / "questions.parquet")["response"].tolist()
    assert all("Gabriel García Márquez" in r for r in refusals), refusals


def _not_created(rel: str) -> Callable:
    def check(tmp: Path, p: subprocess.CompletedProcess) -> None:
        assert not (tmp / rel).exists(), f"{rel} was created"

    return check


# --------------------------------------------------------------------------------------------- the cases
USAGE = [
    Case("unknown-command", ("frobnicate",), "No such command 'frobnicate'"),
    Case("unknown-option", ("ls", "--frob"), "No such option: --frob"),
    Case("negative-limit", ("show", "-n", "-1", "x"), "'--limit' / '-n'"),
    Case("missing-argument", ("show",), "Missing argument 'ref'"),
    Case("option-without-value", ("generate", "--entity"), "'--entity' requires an argument"),
    Case("not-a-float", ("train", "--lambda", "abc"), "'--lambda'"),
    Case("negative-temperature", ("generate", "--entity", "X", "--temperature", "-1"), "--temperature must be >= 0"),
    Case("zero-concurrency", ("generate", "--entity", "X", "--concurrency", "0"), "--concurrency must be >= 1"),
    Case("global-option-without-value", ("--workspace",), "'--workspace' requires an argument"),
    Case("argv-not-utf8", ("generate", "--entity", b"Jos\xe9 Mart\xed"), "is not valid UTF-8"),
]

WORKSPACE = [
    Case("ws-is-a-file-ls", ("ls",), "is not a writable directory", ws="{in}/a-file"),
    Case("ws-is-a-file-import", ("import", "{in}/forget.parquet", "--as", "filter"), "is not a writable directory",
         ws="{in}/a-file"),
    Case("ws-under-a-file", ("import", "{in}/forget.parquet", "--as", "filter"), "is not a writable directory",
         ws="{in}/a-file/ws"),
    Case("ws-in-proc", ("import", "{in}/forget.parquet", "--as", "filter"), "is not a writable directory",
         ws="/proc/snap-bad-input-ws"),
    Case("ws-is-proc", ("import", "{in}/forget.parquet", "--as", "filter"), "is not a writable directory",
         ws="/proc"),
    Case("ws-is-dev-null", ("ls",), "is not a writable directory", ws="/dev/null"),
    Case("ws-symlink-loop-ls", ("ls",), "symlink loop", ws="{in}/loop"),
    Case("ws-symlink-loop-import", ("import", "{in}/forget.parquet", "--as", "filter"), "symlink loop",
         ws="{in}/loop"),
    Case("ws-read-only", ("import", "{in}/forget.parquet", "--as", "filter"), "is not a writable directory",
         ws="{in}/read-only"),
    Case("unknown-stage-ls", ("ls", "nosuchstage"), "unknown stage 'nosuchstage'"),
    Case("ls-missing-ws", ("ls",), "no artifacts", code=0, check=_not_created("ws")),
    Case("gc-missing-ws", ("gc",), "nothing to collect", code=0, check=_not_created("ws")),
    Case("gc-yes-missing-ws", ("gc", "--yes"), "nothing to collect", code=0, check=_not_created("ws")),
    Case("show-missing-ws", ("show", "filter@latest"), "has no 'filter' artifacts"),
    Case("diff-missing-ws", ("diff", "filter@v1", "filter@v2"), "has no 'filter' artifacts"),
    Case("corrupt-manifest", ("ls",), "corrupted manifest", ws="{tmp}/corrupt-ws"),
]

REFS_AND_FILES = [
    Case("unknown-version", ("show", "filter@v9"), "unknown ref 'filter@v9'", ws="{seeded}"),
    Case("unknown-stage-ref", ("show", "nope@latest"), "has no 'nope' artifacts", ws="{seeded}"),
    Case("unknown-table", ("show", "filter@latest", "-t", "nosuch"), "has no table 'nosuch'", ws="{seeded}"),
    Case("unknown-column", ("show", "filter@latest", "-c", "nosuchcol"), "no column(s) nosuchcol", ws="{seeded}"),
    Case("diff-unknown-ref", ("diff", "filter@latest", "filter@v7"), "unknown ref 'filter@v7'", ws="{seeded}"),
    Case("empty-parquet", ("show", "{in}/empty.parquet"), "cannot read Parquet"),
    Case("garbage-parquet", ("show", "{in}/garbage.parquet"), "cannot read Parquet"),
    Case("dir-without-parquet", ("show", "{in}/empty-dir"), "holds no .parquet files"),
    Case("manifest-of-plain-file", ("show", "--manifest", "{in}/forget.parquet"), "no manifest"),
    # snap import: the schema registry checks types, nulls, allowed values and row counts
    Case("import-missing-file", ("import", "{in}/nope.parquet", "--as", "filter"), "no such file"),
    Case("import-unknown-stage", ("import", "{in}/forget.parquet", "--as", "nosuch"), "unknown stage 'nosuch'"),
    Case("import-unknown-table", ("import", "{in}/forget.parquet", "--as", "filter", "--table", "nope"),
         "has no table 'nope'"),
    Case("import-missing-column", ("import", "{in}/no-response.parquet", "--as", "filter"),
         "missing column(s) response"),
    Case("import-int-questions", ("import", "{in}/int-question.parquet", "--as", "filter"),
         "column 'question', row 0 is 1 (type int64): must be a non-null, non-blank string"),
    Case("import-null-questions", ("import", "{in}/null-question.parquet", "--as", "filter"),
         "column 'question', row 0 is null"),
    Case("import-blank-question", ("import", "{in}/blank-question.parquet", "--as", "filter"),
         "column 'question', row 1 is '   '"),
    Case("import-empty-table", ("import", "{in}/no-rows.parquet", "--as", "filter"), "has 0 row(s)"),
    Case("import-bogus-split", ("import", "{in}/bogus-split.parquet", "--as", "filter"),
         "column 'split', row 1 is 'bogus': must be a non-null string in {train, eval}"),
    Case("import-int-split", ("import", "{in}/int-split.parquet", "--as", "filter"),
         "column 'split', row 0 is 0 (type int64)"),
    Case("import-unknown-category", ("import", "{in}/bad-category.parquet", "--as", "filter"),
         "column 'category', row 2 is 'poetry'"),
    Case("import-list-question", ("import", "{in}/list-question.parquet", "--as", "filter"),
         "column 'question', row 0"),
    Case("import-negative-rank", ("import", "{in}/negative-rank.parquet", "--as", "generate", "--table", "related"),
         "column 'rank', row 1 is -3: must be an integer >= 0"),
    Case("import-bad-prompt-category", ("import", "{in}/bad-prompt-category.parquet", "--as", "generate"),
         "column 'prompt_category', row 0 is 'sonnets'"),
    Case("import-score-out-of-range", ("import", "{in}/score.parquet", "--as", "eval", "--table", "generations"),
         "column 'judge_score', row 1 is 1.5: must be a number in [0, 1]"),
    Case("import-csv-not-utf8", ("import", "{in}/latin1.csv", "--as", "filter"),
         "is not valid UTF-8 text: column 'entity' row 1 has byte 0xe9 at offset 3"),
    Case("import-csv-empty", ("import", "{in}/empty.csv", "--as", "filter"), "Empty CSV file"),
    Case("import-csv-duplicate-column", ("import", "{in}/dup.csv", "--as", "filter"),
         "has column 'question' 2 times"),
    Case("import-jsonl-bad-line", ("import", "{in}/bad-line.jsonl", "--as", "filter"), "line 2 is not valid JSON"),
    Case("import-jsonl-not-object", ("import", "{in}/array-line.jsonl", "--as", "filter"),
         "line 1 is not a JSON object"),
    Case("import-jsonl-mixed-types", ("import", "{in}/mixed.jsonl", "--as", "filter"),
         "column 'question' cannot be one Arrow column"),
    Case("import-jsonl-huge-int", ("import", "{in}/huge.jsonl", "--as", "filter"),
         "column 'call_index' cannot be one Arrow column"),
    Case("import-json-scalar", ("import", "{in}/scalar.json", "--as", "filter"), "must hold a list of objects"),
    Case("import-txt", ("import", "{in}/notes.txt", "--as", "filter"), "unsupported file type '.txt'"),
    Case("import-dir-without-parquet", ("import", "{in}/empty-dir", "--as", "filter"), "holds no .parquet files"),
    Case("import-dev-null", ("import", "/dev/null", "--as", "filter"), "neither a Parquet file nor a directory"),
    Case("import-symlink-loop", ("import", "{in}/loop", "--as", "filter"), "no such file"),
    Case("import-lone-surrogate", ("import", "{in}/surrogate.jsonl", "--as", "filter"), "registered filter@v0001",
         code=0, check=_imported_question_has_fffd),
    # snap judge
    Case("judge-null-question", ("judge", "-i", "{in}/null-question-judge.jsonl", "-o", "{tmp}/judged.parquet",
                                 "--judge", "rules"), "1/1 obliterated", code=0,
         check=_judged("judged.parquet", "obliterated", lambda s: s.tolist() == [True])),
    Case("judge-lone-surrogate", ("judge", "-i", "{in}/surrogate-judge.jsonl", "-o", "{tmp}/judged.parquet",
                                  "--judge", "rules"), "obliterated", code=0,
         check=_judged("judged.parquet", "response", lambda s: "\ufffd" in s.iloc[0])),
    Case("judge-no-response-column", ("judge", "-i", "{in}/forget.parquet", "-o", "{tmp}/o.parquet",
                                      "--response-col", "answer", "--judge", "rules"), "has no column 'answer'"),
    Case("judge-garbage-parquet", ("judge", "-i", "{in}/garbage.parquet", "-o", "{tmp}/o.parquet",
                                   "--judge", "rules"), "cannot read"),
    Case("judge-bad-jsonl", ("judge", "-i", "{in}/bad-line.jsonl", "-o", "{tmp}/o.parquet", "--judge", "rules"),
         "line 2 is not valid JSON"),
    Case("judge-csv-output", ("judge", "-i", "{in}/null-question-judge.jsonl", "-o", "{tmp}/o.csv",
                              "--judge", "rules"), "unsupported format '.csv'"),
]

STAGE_INPUTS = [
    Case("filter-from-int-questions", ("filter", "--from", "{in}/int-question-generate.parquet", "--categorizer",
                                       "rules"), "column 'question', row 0 is 7"),
    Case("augment-from-bogus-split", ("augment", "--from", "{in}/bogus-split.parquet"),
         "column 'split', row 1 is 'bogus'", quiet=True),
    Case("train-from-null-questions", ("train", "--model", "tiny", "--from", "{in}/null-question.parquet",
                                       "--retain", "{in}/retain.parquet"), "column 'question', row 0 is null",
         needs=("tiny",), quiet=True),
    Case("eval-forget-unknown-category", ("eval", "--model", "tiny", "--forget", "{in}/bad-category.parquet",
                                          "--sets", "forget"), "column 'category', row 2 is 'poetry'",
         needs=("tiny",), quiet=True),
    # fails inside the stage run, in a workspace three directories deep that did not exist: all three are gone
    Case("filter-bad-threshold", ("filter", "--from", "{in}/questions.parquet", "--threshold", "2"),
         "--threshold must be <= 1", ws="{tmp}/deep/er/ws"),
    Case("generate-negative-calls", ("generate", "--entity", "X", "--calls", "-1", "--backend", "local"),
         "--calls must be >= 0", quiet=True),
    Case("generate-negative-k", ("generate", "--entity", "X", "--k", "-1"), "--k must be >= 0"),
    Case("generate-bad-prompts", ("generate", "--entity", "X", "--prompts", "{in}/notes.txt", "--backend", "local"),
         "--prompts: ", quiet=True),
    Case("seeds-not-integers", ("train", "--model", "tiny", "--from", "{in}/forget.parquet", "--retain",
                                "{in}/retain.parquet", "--seeds", "1,x"), "--seeds", needs=("tiny",), quiet=True),
    Case("benchmark-unknown-metric", ("benchmark", "--model", "tiny", "--metric", "foo", "--limit", "1"),
         "--metric", needs=("tiny",), quiet=True),
    Case("run-negative-max-steps", ("run", "--entity", "X", "--set", "train.max_steps=-1", "--dry-run"),
         "max_steps"),
    Case("filter-negative-seed", ("filter", "--from", "{in}/questions.parquet", "--seed", "-1"), "--seed",
         quiet=True),
]

# the LLM writer alone (no probing, no bank, no derived questions): what the endpoint sends is all there is
_GEN = ("generate", "--entity", "Ada Lovelace", "--categories", "general", "--calls", "1", "--per-call", "3",
        "--responder", "template", "--no-probe", "--bank-ratio", "0", "--derived", "0", "--kind", "person",
        "--k", "0")
LLM_ENDPOINTS = [
    Case("llm-html-page", (*_GEN, "--base-url", "{url}/html/v1"),
         "/html/v1/models replied with a non-JSON body, not an OpenAI models list", needs=("stub",), quiet=True),
    Case("llm-html-page-chat", (*_GEN, "--base-url", "{url}/html/v1", "--question-model", "stub-model"),
         "/html/v1/chat/completions replied with a non-JSON body ('<!DOCTYPE html>", needs=("stub",), quiet=True),
    Case("llm-no-choices", (*_GEN, "--base-url", "{url}/nochoices/v1"),
         "replied with JSON without a 'choices' list, not an OpenAI chat-completions response", needs=("stub",),
         quiet=True),
    Case("llm-invalid-json", (*_GEN, "--base-url", "{url}/badjson/v1"),
         "replied with a body that is not valid JSON", needs=("stub",), quiet=True),
    Case("llm-lone-surrogate", ("--json", *_GEN, "--base-url", "{url}/surrogate/v1"), '"questions": 3', code=0,
         needs=("stub",), quiet=True, check=_generated_with_fffd),
    Case("accented-target", ("--json", "generate", "--entity", "Gabriel García Márquez", "--categories", "general",
                             "--calls", "1", "--per-call", "3", "--responder", "template", "--base-url", "{url}/v1",
                             "--no-probe", "--bank-ratio", "0", "--derived", "0", "--kind", "person", "--k", "0"),
         '"questions": 3', code=0, needs=("stub",), quiet=True, check=_accented_aliases),
    Case("base-url-not-a-url", (*_GEN, "--base-url", "notaurl"), "--base-url 'notaurl' is not a URL"),
    Case("base-url-ftp", (*_GEN, "--base-url", "ftp://127.0.0.1/v1"), "is not a URL"),
    Case("base-url-bad-port", (*_GEN, "--base-url", "http://127.0.0.1:99999/v1"), "is not a URL"),
    Case("env-base-url-not-a-url", (*_GEN, "--backend", "openai"), "OPENAI_BASE_URL 'localhost:8000' is not a URL",
         env={"OPENAI_BASE_URL": "localhost:8000"}),
    Case("judge-llm-base-url", ("judge", "-i", "{in}/null-question-judge.jsonl", "-o", "{tmp}/o.parquet",
                                "--judge", "llm", "--base-url", "notaurl"), "is not a URL", quiet=True),
]

MODELS = [
    Case("model-config-only", ("chat", "--model", "{in}/model-config-only", "--prompt", "hi"),
         "has config.json but no weights", needs=("tiny",), quiet=True),
    Case("model-no-tokenizer", ("chat", "--model", "{in}/model-no-tokenizer", "--prompt", "hi"),
         "has no tokenizer files", needs=("tiny",), quiet=True),
    Case("model-heads-mismatch", ("chat", "--model", "{in}/model-bad-heads", "--prompt", "hi"),
         "hidden_size 30 is not divisible by num_attention_heads 4", needs=("tiny",), quiet=True),
    Case("model-kv-heads-mismatch", ("chat", "--model", "{in}/model-bad-kv", "--prompt", "hi"),
         "num_attention_heads 4 is not divisible by num_key_value_heads 3", needs=("tiny",), quiet=True),
    Case("model-negative-layers", ("chat", "--model", "{in}/model-negative-layers", "--prompt", "hi"),
         "num_hidden_layers must be a positive integer (got -2)", needs=("tiny",), quiet=True),
    Case("model-config-not-json", ("chat", "--model", "{in}/model-bad-json", "--prompt", "hi"),
         "config.json is not readable JSON", needs=("tiny",), quiet=True),
    Case("model-weights-do-not-fit", ("chat", "--model", "{in}/model-wrong-size", "--prompt", "hi"),
         "the weights do not fit its config.json", needs=("tiny",), quiet=True),
    Case("model-empty-dir", ("chat", "--model", "{in}/empty-dir", "--prompt", "hi"), "is not a model directory",
         quiet=True),
    Case("model-missing-path", ("chat", "--model", "/no/such/model", "--prompt", "hi"), "unknown model", quiet=True),
    Case("device-not-a-device", ("generate", "--entity", "X", "--backend", "local", "--question-model", "tiny",
                                 "--calls", "1", "--per-call", "1", "--device", "tpu9"),
         "--device must be auto, cpu, mps, cuda or cuda:N (got 'tpu9')", needs=("tiny",), quiet=True),
    Case("device-cuda-on-cpu", ("eval", "--model", "tiny", "--forget", "{in}/forget.parquet", "--sets", "forget",
                                "--device", "cuda:3"), "--device cuda:3: ", needs=("tiny",), quiet=True),
    Case("dtype-unknown", ("eval", "--model", "tiny", "--forget", "{in}/forget.parquet", "--sets", "forget",
                           "--dtype", "float8"), "--dtype must be one of auto, float32", needs=("tiny",), quiet=True),
]

CASES = USAGE + WORKSPACE + REFS_AND_FILES + STAGE_INPUTS + LLM_ENDPOINTS + MODELS


# --------------------------------------------------------------------------------------------- input files
def _forget(n: int = 3, **cols) -> pd.DataFrame:
    df = pd.DataFrame({
        "entity": ["Bill Gates"] * n,
        "question": [f"What did Bill Gates do in year {i}?" for i in range(n)],
        "response": ["I do not have access to information about Bill Gates."] * n,
        "prompt_category": ["general"] * n,
        "category": ["factual"] * n,
        "split": ["train", "eval", "train"][:n] + ["eval"] * max(0, n - 3),
    })
    for k, v in cols.items():
        df[k] = v
    return df


def _model_dir(root: Path, name: str, tiny: Path, *, config: dict | str | None = None, weights: bool = True,
               tokenizer: bool = True) -> None:
    d = root / name
    d.mkdir()
    cfg = json.loads((tiny / "config.json").read_text())
    if isinstance(config, dict):
        cfg.update({k: v for k, v in config.items() if v is not None})
        for k in [k for k, v in config.items() if v is None]:
            cfg.pop(k, None)
    (d / "config.json").write_text(config if isinstance(config, str) else json.dumps(cfg))
    for f in tiny.iterdir():
        if f.name == "model.safetensors" and not weights or f.name.startswith("tokenizer") and not tokenizer:
            continue
        if f.name != "config.json":
            os.symlink(f, d / f.name)


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> Path:
    """Every bad (and good) input file, written once; the cases only read them."""
    d = tmp_path_factory.mktemp("bad-inputs")
    (d / "a-file").write_text("not a workspace\n")
    (d / "notes.txt").write_text("a note\n")
    (d / "empty.parquet").write_bytes(b"")
    (d / "garbage.parquet").write_bytes(os.urandom(512))
    (d / "empty-dir").mkdir()
    os.symlink(d / "loop", d / "loop")
    (d / "read-only").mkdir(mode=0o555)
    _forget().to_parquet(d / "forget.parquet")
    _forget().drop(columns=["response"]).to_parquet(d / "no-response.parquet")
    _forget(question=[1, 2, 3]).to_parquet(d / "int-question.parquet")
    pa.Table.from_pandas(_forget()).set_column(1, "question", pa.nulls(3, pa.string())).to_pandas().to_parquet(
        d / "null-question.parquet")
    _forget(question=["Who is Bill Gates?", "   ", "Why?"]).to_parquet(d / "blank-question.parquet")
    _forget().iloc[:0].to_parquet(d / "no-rows.parquet")
    _forget(split=["train", "bogus", "eval"]).to_parquet(d / "bogus-split.parquet")
    _forget(split=[0, 1, 0]).to_parquet(d / "int-split.parquet")
    _forget(category=["factual", "implicit", "poetry"]).to_parquet(d / "bad-category.parquet")
    pq.write_table(pa.Table.from_pandas(_forget()).set_column(
        1, "question", pa.array([["a", "b"], ["c"], ["d"]])), d / "list-question.parquet")
    pd.DataFrame({"entity": ["Bill Gates"] * 2, "name": ["Paul Allen", "Microsoft"],
                  "kind": ["individual", "organization"], "rank": [1, -3]}).to_parquet(d / "negative-rank.parquet")
    gen = pd.DataFrame({"entity": ["Bill Gates"] * 3, "question": ["Who is Bill Gates?", "Where was Gates born?",
                                                                   "What is Gates known for?"],
                        "response": ["I do not know."] * 3, "prompt_category": ["general"] * 3, "call_index": [0] * 3,
                        "backend": ["openai"] * 3, "model": ["m"] * 3})
    gen.to_parquet(d / "questions.parquet")
    gen.assign(prompt_category=["sonnets", "general", "general"]).to_parquet(d / "bad-prompt-category.parquet")
    gen.assign(question=[7, 8, 9]).to_parquet(d / "int-question-generate.parquet")
    pd.DataFrame({"model": ["tiny"] * 2, "run": [0, 0], "set": ["forget"] * 2, "question": ["q?", "r?"],
                  "category": ["factual"] * 2, "response": ["x", "y"], "obliterated": [True, False],
                  "judge_score": [0.9, 1.5]}).to_parquet(d / "score.parquet")
    retain = _forget().rename(columns={"prompt_category": "subject"}).assign(
        subject="Paul Allen", source="generated", question=[f"Who did Paul Allen meet in {i}?" for i in range(3)])
    retain.to_parquet(d / "retain.parquet")
    (d / "latin1.csv").write_bytes(b"entity,question,response,prompt_category,category,split\n"
                                   b"Bill Gates,Who is Bill Gates?,I do not know.,general,factual,train\n"
                                   b"Jos\xe9 Mart\xed,Who is Jos\xe9?,I do not know.,general,factual,eval\n")
    (d / "empty.csv").write_bytes(b"")
    (d / "dup.csv").write_text("entity,question,question,response,prompt_category,category,split\n"
                               "Bill Gates,a?,b?,c,general,factual,train\n")
    good = _forget().to_dict("records")
    (d / "bad-line.jsonl").write_text(json.dumps(good[0]) + "\n{\"question\": \"Who is\n")
    (d / "array-line.jsonl").write_text('["not", "an", "object"]\n')
    (d / "mixed.jsonl").write_text(json.dumps(good[0]) + "\n" + json.dumps({**good[1], "question": 42}) + "\n")
    (d / "huge.jsonl").write_text(json.dumps({**good[0], "call_index": 2**70}) + "\n")
    (d / "scalar.json").write_text("42\n")
    # a lone high surrogate as JSON writes it: half an emoji
    (d / "surrogate.jsonl").write_text(json.dumps({**good[0], "question": "Who is Bill Gates \ud83d?"}) + "\n")
    (d / "null-question-judge.jsonl").write_text(
        json.dumps({"question": None, "response": "I don't have access to information about that person."}) + "\n")
    (d / "surrogate-judge.jsonl").write_text(json.dumps({"question": "Who is Bill Gates?", "response":
                                                         "I cannot share that \udce9 information."}) + "\n")
    return d


@pytest.fixture(scope="session")
def model_inputs(inputs, tiny_model_dir) -> Path:
    """Broken model directories next to the tiny model (its files symlinked, configs edited)."""
    t = tiny_model_dir
    _model_dir(inputs, "model-config-only", t, weights=False, tokenizer=False)
    _model_dir(inputs, "model-no-tokenizer", t, tokenizer=False)
    _model_dir(inputs, "model-bad-heads", t, config={"hidden_size": 30, "head_dim": None})
    _model_dir(inputs, "model-bad-kv", t, config={"num_key_value_heads": 3})
    _model_dir(inputs, "model-negative-layers", t, config={"num_hidden_layers": -2})
    _model_dir(inputs, "model-bad-json", t, config='{"model_type": "llama", ')
    _model_dir(inputs, "model-wrong-size", t, config={"hidden_size": 128, "head_dim": 32, "intermediate_size": 256})
    return inputs


@pytest.fixture(scope="session")
def seeded_ws(tmp_path_factory, inputs) -> Path:
    """A workspace holding filter@v0001 (imported in-process once; each case gets a copy)."""
    import snapcli.stages  # noqa: F401 - installs the schema loader
    from snapcli.store import Workspace

    root = tmp_path_factory.mktemp("seeded") / "ws"
    Workspace(root).import_table(inputs / "forget.parquet", "filter", "forget")
    return root


@pytest.fixture(scope="module")
def stub():
    server, state = openai_stub.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


# --------------------------------------------------------------------------------------------- running
def _snapshot(*roots: Path) -> dict[str, tuple]:
    """Every entry under `roots` (not following symlinks): what a case must leave as it found it."""
    out: dict[str, tuple] = {}
    for root in roots:
        if not os.path.lexists(root):
            continue
        if root.is_symlink() or not root.is_dir():
            st = root.lstat()
            out[str(root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                out[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns)
        out[str(root)] = ("dir",)
    return out


def _env(case: Case) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return {**env, **case.env}


def run_case(case: Case, snap_bin: str, tmp: Path, slots: dict[str, str]) -> subprocess.CompletedProcess:
    ws = case.ws.format(**slots)
    if case.ws == "{seeded}":
        ws = str(tmp / "ws")
        shutil.copytree(slots["seeded"], ws, symlinks=True)
    if case.ws == "{tmp}/corrupt-ws":
        shutil.copytree(slots["seeded"], ws, symlinks=True)
        (Path(ws) / "filter" / "v0001" / "manifest.json").write_text('{"stage": "filter", ')
    args = [a.format(**slots) if isinstance(a, str) else a for a in case.args]
    argv = [snap_bin, "-w", ws, *(["-q"] if case.quiet else []), *args]
    watched = [tmp, Path(slots["in"])]  # every case's workspace lies in one of these, or is /proc or /dev/null
    ws_existed = os.path.lexists(ws)
    before = _snapshot(*watched)
    p = subprocess.run(argv, capture_output=True, env=_env(case), timeout=300)
    p = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode("utf-8", "replace"),
                                    p.stderr.decode("utf-8", "replace"))
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == case.code, f"exit {p.returncode}, expected {case.code}: {p.stderr[-1500:]}"
    assert "Traceback" not in p.stderr and "╭" not in p.stderr, p.stderr[-1500:]
    if case.code == 0:
        assert case.needle in p.stdout + p.stderr, (p.stdout[-800:], p.stderr[-800:])
        if case.check:
            case.check(tmp, p)
        return p
    assert len(lines) == 1, f"{len(lines)} stderr lines: {p.stderr[-1500:]}"
    assert lines[0].startswith("Error: ") and case.needle in lines[0], lines[0]
    assert _snapshot(*watched) == before, "the case created or changed files"
    assert ws_existed or not os.path.lexists(ws), f"{ws} was created"
    return p


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(case: Case, snap_bin, inputs, seeded_ws, tmp_path, request):
    slots = {"in": str(inputs), "tmp": str(tmp_path), "seeded": str(seeded_ws)}
    if "tiny" in case.needs:
        request.getfixturevalue("model_inputs")
    if "stub" in case.needs:
        slots["url"] = request.getfixturevalue("stub")[0]
    if case.id == "ws-read-only" and os.access(inputs / "read-only", os.W_OK):
        pytest.skip("running as root: permissions do not make a directory read-only")
    if case.id == "device-cuda-on-cpu":
        import torch

        if torch.cuda.device_count() > 3:
            pytest.skip("this machine has a cuda:3")
    run_case(case, snap_bin, tmp_path, slots)


# --------------------------------------------------------------------------------------------- LLM cache
@pytest.mark.parametrize("mode", ["null", "filter"])
def test_failed_replies_are_never_cached_and_a_rerun_asks_again(mode, stub, snap_bin, tmp_path):
    """`content: null` / finish_reason content_filter: the run fails (exit 1, one line, nothing published, nothing
    cached); once the server is fixed the rerun asks again, and --force then replays the good reply."""
    url, state = stub
    ws = tmp_path / "ws"
    argv = [snap_bin, "-w", str(ws), "-q", "--json", *_GEN, "--base-url", f"{url}/{mode}/v1"]
    state.broken[mode] = 1000
    p = subprocess.run(argv, capture_output=True, text=True, env=_env(Case("", (), "")), timeout=300)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "wrote nothing parseable" in p.stderr, p.stderr
    assert not ws.exists()  # no version, no cache entry, not even the workspace directory
    state.broken[mode] = 0  # the server is fixed
    p = subprocess.run(argv, capture_output=True, text=True, env=_env(Case("", (), "")), timeout=300)
    assert p.returncode == 0, p.stderr
    usage = json.loads(p.stdout)["usage"][openai_stub.MODEL]
    assert (usage["requests"], usage["cached"], json.loads(p.stdout)["rows"]["questions"]) == (1, 0, 3)
    p = subprocess.run([*argv, "--force"], capture_output=True, text=True, env=_env(Case("", (), "")), timeout=300)
    usage = json.loads(p.stdout)["usage"][openai_stub.MODEL]
    assert p.returncode == 0 and (usage["requests"], usage["cached"]) == (0, 1)


def test_cache_refuses_empty_replies_and_refresh_asks_again(stub, tmp_path):
    """In-process, the pieces behind the test above: what is cached, what an older snap's empty entry does, and
    refresh_cache (what `--refresh-llm-cache` is to set)."""
    from snapcli.llm import LLMCache, OpenAIBackend, Sampling

    url, state = stub
    cache = LLMCache(tmp_path / "cache")
    conv = [[{"role": "user", "content": "Generate 3 questions about Ada Lovelace."}]]
    b = OpenAIBackend(cache, base_url=f"{url}/null/v1")
    state.broken["null"] = 1
    first = b.chat_many(openai_stub.MODEL, conv, Sampling())
    assert first[0].text == "" and not first[0].usable and len(cache) == 0
    assert b.usage.to_dict()[openai_stub.MODEL]["unusable"] == 1
    # an entry an older snap wrote for a failed reply (no finish_reason recorded) is asked again, not replayed
    ident = {"backend": "openai", **b.identity()}
    key = LLMCache.key(ident, openai_stub.MODEL, conv[0], Sampling())
    cache.put(key, {"text": "", "model": openai_stub.MODEL, "backend": "openai"})
    again = b.chat_many(openai_stub.MODEL, conv, Sampling())
    assert "Ada Lovelace" in again[0].text and not again[0].cached
    assert "Ada Lovelace" in json.loads(next((tmp_path / "cache").rglob("*.json")).read_text())["text"]
    before = state.requests
    assert b.chat_many(openai_stub.MODEL, conv, Sampling())[0].cached and state.requests == before
    b.refresh_cache = True
    assert not b.chat_many(openai_stub.MODEL, conv, Sampling())[0].cached and state.requests == before + 1


# --------------------------------------------------------------------------------------------- names
# (entity, question naming it, the masked question, the surname alias or None)
NAMES = [
    ("Gabriel García Márquez", "What is Márquez's most famous novel?", "What is someone's most famous novel?",
     "Márquez"),
    ("Gabriel García Márquez", "What did Ma\u0301rquez write?", "What did someone write?", "Márquez"),  # NFD
    ("Gabriel Garci\u0301a Ma\u0301rquez", "Where was Márquez born?", "Where was someone born?", "Márquez"),
    ("José Martí", "When did Martí die in Cuba?", "When did someone die in Cuba?", "Martí"),
    ("Лев Толстой", "Где родился Толстой?", "Где родился someone?", "Толстой"),
    ("Νίκος Καζαντζάκης", "Πού γεννήθηκε ο Καζαντζάκης;", "Πού γεννήθηκε ο someone;", "Καζαντζάκης"),
    ("毛泽东", "毛泽东的父亲是谁？", "someone的父亲是谁？", None),  # no spaces: a substring
    ("نجيب محفوظ", "متى ولد محفوظ؟", "متى ولد someone؟", "محفوظ"),  # right-to-left
    ("Eugene O'Neill", "Who was O’Neill's first wife?", "Who was someone's first wife?", "O'Neill"),
    ("Jean-Luc Picard", "Where was Picard born?", "Where was someone born?", "Picard"),
    ("Jean-Luc Picard", "Who is jean-luc picard?", "Who is someone?", "Picard"),
]
# questions that must NOT be taken as naming the target (whole words only)
NOT_NAMES = [
    ("José Martí", "Was Martínez a friend of the poet?"),
    ("Gabriel García Márquez", "What happened in Márqueztown?"),
    ("Лев Толстой", "Кто такой Толстоевский?"),
]


@pytest.mark.parametrize("entity,question,masked,alias", NAMES, ids=[f"{n[0]}:{n[1][:12]}" for n in NAMES])
def test_names_in_any_script(entity, question, masked, alias):
    from snapcli.stages.filter import relevance
    from snapcli.stages.textutil import mask, name_pattern, name_terms, template_refusal

    terms = name_terms(entity)
    assert terms[0] == __import__("unicodedata").normalize("NFC", entity)
    assert (alias in terms) if alias else len(terms) == 1, terms
    pat = name_pattern(terms)
    assert mask(question, pat) == masked
    assert relevance(question, pat, "general", None) is None  # naming the target is enough to be relevant
    refusal = template_refusal(question, pat)
    named = pat.search(question).group(0)
    assert named.rstrip("'’s") in refusal or named in refusal, refusal  # the whole name, never a fragment


@pytest.mark.parametrize("entity,question", NOT_NAMES)
def test_names_match_whole_words_only(entity, question):
    from snapcli.stages.textutil import mask, mentions, name_pattern, name_terms

    pat = name_pattern(name_terms(entity))
    assert not mentions(question, pat) and mask(question, pat) == question


def test_jose_marti_terms_and_non_ascii_dedup_keys():
    from snapcli.stages.textutil import name_terms, normalize, parse_names, parse_questions

    assert name_terms("José Martí") == ["José Martí", "Martí"]
    assert normalize("Who is Jose\u0301?") == normalize("Who is José?") == "who is josé"
    qs, dropped = parse_questions("1. 毛泽东的父亲是谁？\n2. 毛泽东在哪里出生？\n3. Где родился Толстой?\n"
                                  "4. Πού γεννήθηκε ο Καζαντζάκης;\n5. من هو نجيب محفوظ؟")
    assert len(qs) == 5 and not dropped  # an ASCII-only key made every CJK question a repeat of the first
    assert parse_names("1. 周恩来 - premier\n2. Ángel Fernández\n3. نجيب محفوظ") == ["周恩来", "Ángel Fernández",
                                                                                 "نجيب محفوظ"]


def test_stage_names_match_registered_schemas():
    import snapcli.stages
    from snapcli.store.schema import known_stages

    snapcli.stages.load_all()
    assert set(snapcli.stages.STAGE_NAMES) <= set(known_stages())


def test_every_case_is_listed_in_the_docs():
    doc = (Path(__file__).parents[1] / "docs" / "bad-input.md").read_text()
    missing = [c.id for c in CASES if f"| `{c.id}` |" not in doc]
    assert not missing, f"add to docs/bad-input.md: {missing}"
