"""`snap chat`: --prompt (batched, --json), the interactive loop on piped stdin (/reset, /exit), context trimming,
and bad input. `tiny` for speed; one real question to smollm2."""

from __future__ import annotations

import json
import subprocess

import pytest


@pytest.fixture(autouse=True)
def _models(tiny_model_dir):
    """The embedded models are prepared once per session (conftest)."""


def test_prompts_json(cli):
    r = cli("chat", "--model", "tiny", "--prompt", "hello there", "--prompt", "what is two plus two?",
            "--max-new-tokens", "5", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["model"] == "tiny" and doc["kind"] == "random"
    assert [x["prompt"] for x in doc["replies"]] == ["hello there", "what is two plus two?"]
    for x in doc["replies"]:
        assert 1 <= x["completion_tokens"] <= 5 and x["prompt_tokens"] > 3 and isinstance(x["reply"], str)
    # --system replaces the template's default system message: the prompt length follows it
    short, long_ = "Be brief.", "Be brief. " * 40
    n = [json.loads(cli("chat", "--model", "tiny", "--prompt", "hello there", "--system", sysmsg,
                        "--max-new-tokens", "2", "--json").stdout)["replies"][0]["prompt_tokens"]
         for sysmsg in (short, long_)]
    assert n[1] - n[0] >= 70


def test_interactive_keeps_history_and_reset_clears_it(cli):
    """Same second question: with history its prompt is longer than after /reset."""
    keep = cli("chat", "--model", "tiny", "--max-new-tokens", "4", "--json", input="first question\nsecond\n")
    reset = cli("chat", "--model", "tiny", "--max-new-tokens", "4", "--json",
                input="first question\n/reset\nsecond\n/exit\nnever read\n")
    assert keep.exit_code == 0 and reset.exit_code == 0, reset.output
    k, rs = json.loads(keep.stdout)["exchanges"], json.loads(reset.stdout)["exchanges"]
    assert [e["prompt"] for e in k] == ["first question", "second"]
    assert [e["prompt"] for e in rs] == ["first question", "second"]  # /exit stopped before "never read"
    assert k[1]["prompt_tokens"] > rs[1]["prompt_tokens"]
    fresh = json.loads(cli("chat", "--model", "tiny", "--max-new-tokens", "4", "--json", input="second\n").stdout)
    assert rs[1]["prompt_tokens"] == fresh["exchanges"][0]["prompt_tokens"]


def test_piped_stdin_session(snap_bin, ws_path):
    """A real process with piped stdin: replies on stdout, the prompt and hints on stderr only."""
    r = subprocess.run(
        [snap_bin, "--workspace", str(ws_path), "chat", "--model", "tiny", "--max-new-tokens", "3"],
        input="hi\n/unknown\n\nbye\n/exit\n", capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "you>" in r.stderr and "you>" not in r.stdout
    assert "unknown command /unknown" in r.stderr
    # one printed reply per question (a random model's reply may be blank or span lines); no hints on stdout
    assert r.stdout.count("\n") >= 2 and "/reset" not in r.stdout and "unknown command" not in r.stdout


def test_context_budget_drops_oldest_turns(tiny_model_dir):
    from snapcli.chat import ChatSession
    from snapcli.llm import make_backend

    backend, _ = make_backend("hf", None, use_cache=False)
    s = ChatSession(backend, "tiny", max_new_tokens=8, max_input_tokens=90)
    dropped = 0
    for i in range(6):
        res = s.ask(f"question number {i} about something rather long to fill the context window")
        dropped += res["history_dropped"]
        assert res["prompt_tokens"] <= 90
    assert dropped > 0 and s.history[-2]["content"].startswith("question number 5")


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model", "--prompt", "hi"], "unknown model 'no-such-model'"),
    (["--model", "tiny", "--prompt", "  "], "--prompt must not be empty"),
    (["--model", "train@latest", "--prompt", "hi"], "train"),
])
def test_bad_input_exits_2(cli, args, message):
    r = cli("chat", *args)
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output


def test_bad_number_is_a_usage_error(cli):
    r = cli("chat", "--model", "tiny", "--prompt", "hi", "--max-new-tokens", "0")
    assert r.exit_code == 2


@pytest.mark.slow
def test_smollm2_answers_a_real_question(cli, smollm2_dir):
    r = cli("chat", "--model", "smollm2", "--prompt", "What is the capital of France?", "--max-new-tokens", "24",
            "--json")
    assert r.exit_code == 0, r.output
    assert "Paris" in json.loads(r.stdout)["replies"][0]["reply"]
