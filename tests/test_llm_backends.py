"""LLM backends for real: the openai backend against `transformers serve` on loopback, retries and the
concurrency bound against a scripted endpoint, the local backend with the tiny model, and the request cache
surviving a killed `snap generate`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from snapcli.errors import RunFailed, SnapError
from snapcli.llm import HFBackend, LLMCache, OpenAIBackend, Sampling, cache_dir, choose_backend
from snapcli.store import Workspace

sys.path.insert(0, str(Path(__file__).parent))
import openai_stub  # noqa: E402

HERE = Path(__file__).parent


# the LLM writer alone (no probing of a local model, no bank, no derived questions, no related-entity calls)
WRITER_ONLY = ["--no-probe", "--bank-ratio", "0", "--derived", "0", "--kind", "person", "--k", "0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served(smollm2_dir):
    """`transformers serve` on 127.0.0.1 with the embedded SmolLM2; stopped by its PID after the session."""
    exe = Path(sys.executable).parent / "transformers"
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", str(smollm2_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("transformers serve did not become ready in 180 s")
        time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def stub():
    server, state = openai_stub.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


# ------------------------------------------------------------------ against a real server


@pytest.mark.slow
def test_openai_backend_against_transformers_serve(served, tmp_path, no_key):
    cache = LLMCache(tmp_path / "cache")
    b = OpenAIBackend(cache, base_url=served, concurrency=2)
    model = b.default_model("question")
    assert model.endswith("smollm2")  # the server's only model, since gpt-4-turbo is not served
    convs = [[{"role": "user", "content": "Who founded Microsoft?"}], [{"role": "user", "content": "Say hi."}]]
    out = b.chat_many(model, convs, Sampling(0.0, 1.0, 6, 0))
    assert all(c.text and not c.cached for c in out)
    u = b.usage.to_dict()[model]
    assert u["requests"] == 2 and u["prompt_tokens"] > 0 and 0 < u["completion_tokens"] <= 12
    again = b.chat_many(model, convs, Sampling(0.0, 1.0, 6, 0))
    assert [c.text for c in again] == [c.text for c in out] and all(c.cached for c in again)
    assert b.usage.to_dict()[model]["requests"] == 2 and len(cache) == 2
    # the keyless placeholder is not the user's key and nothing key-like is written
    assert "snap-no-key" not in "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))


@pytest.mark.slow
def test_generate_cli_via_base_url(served, run_snap, ws_path, no_key):
    p = run_snap("--json", "generate", "--entity", "Bill Gates", "--base-url", served, "--categories", "general",
                 "--calls", "1", "--per-call", "1", "--responder", "template", *WRITER_ONLY, timeout=300)
    assert p.returncode in (0, 1), p.stderr
    assert "LLM backend: openai" in p.stderr and "--base-url is set" in p.stderr
    if p.returncode == 1:  # the 135M model can fail to write a parseable question; the error says so
        assert "wrote nothing parseable" in p.stderr
        assert not (ws_path / "generate").exists()
        return
    data = json.loads(p.stdout)
    assert data["rows"]["questions"] >= 1
    mf = json.loads((ws_path / "generate" / "v0001" / "manifest.json").read_text())
    assert mf["params"]["backend"] == "openai" and mf["params"]["endpoint"]["base_url"] == served
    assert any(u["requests"] >= 1 for u in mf["extra"]["usage"].values())


# ------------------------------------------------------------------ failure modes (scripted endpoint)


def test_retries_on_429_and_5xx_then_succeeds(stub, no_key):
    url, state = stub
    state.fail_plan["flaky"] = [429, 503, 500]
    b = OpenAIBackend(None, base_url=f"{url}/flaky/v1", backoff=0.01)
    out = b.chat_many(openai_stub.MODEL, [[{"role": "user", "content": "Generate 3 questions about Ada Lovelace."}]],
                      Sampling())
    assert "Ada Lovelace" in out[0].text
    u = b.usage.to_dict()[openai_stub.MODEL]
    assert u["retries"] == 3 and u["requests"] == 1 and state.requests == 4


def test_gives_up_after_max_retries(stub, no_key):
    url, state = stub
    state.fail_plan["flaky"] = [500] * 10
    b = OpenAIBackend(None, base_url=f"{url}/flaky/v1", backoff=0.01, max_retries=2)
    with pytest.raises(RunFailed, match="still failing after 2 retries"):
        b.chat_many(openai_stub.MODEL, [[{"role": "user", "content": "hi"}]], Sampling())
    assert state.requests == 3


def test_refused_key_and_bad_request_are_not_retried(stub, monkeypatch):
    url, state = stub
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-123456")
    b = OpenAIBackend(None, base_url=f"{url}/auth/v1", backoff=0.01)
    with pytest.raises(SnapError, match="refused the API key"):
        b.chat_many(openai_stub.MODEL, [[{"role": "user", "content": "hi"}]], Sampling())
    b = OpenAIBackend(None, base_url=f"{url}/bad/v1", backoff=0.01)
    with pytest.raises(RunFailed, match="max_tokens is too large"):
        b.chat_many(openai_stub.MODEL, [[{"role": "user", "content": "hi"}]], Sampling())
    b = OpenAIBackend(None, base_url=f"{url}/v1")
    with pytest.raises(SnapError, match="has no model 'gpt-9'"):
        b.chat_many("gpt-9", [[{"role": "user", "content": "hi"}]], Sampling())
    assert state.requests == 3


def test_concurrency_is_bounded(stub, no_key):
    url, state = stub
    state.delay = 0.15
    b = OpenAIBackend(None, base_url=f"{url}/v1", concurrency=3)
    convs = [[{"role": "user", "content": f"Generate 3 questions about Person {chr(65 + i)}."}] for i in range(9)]
    out = b.chat_many(openai_stub.MODEL, convs, Sampling())
    assert [f"Person {chr(65 + i)}" in c.text for i, c in enumerate(out)] == [True] * 9  # input order kept
    assert state.max_inflight == 3


def test_official_api_without_key_is_a_clear_error(no_key, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(SnapError, match="OPENAI_API_KEY"):
        OpenAIBackend(None)


def test_default_backend_choice(no_key, monkeypatch):
    assert choose_backend(None, None)[0] == "hf"
    assert choose_backend(None, "http://127.0.0.1:1/v1")[0] == "openai"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert choose_backend("auto", None) == ("openai", "OPENAI_API_KEY is set")
    assert choose_backend("local", None)[0] == "hf"  # `local` is an alias of the in-process hf backend
    assert choose_backend("vllm", None)[0] == "vllm"
    with pytest.raises(SnapError, match="unknown backend"):
        choose_backend("anthropic", None)


# ------------------------------------------------------------------ local backend


def test_local_backend_batches_and_caches(tiny_model_dir, tmp_path):
    ws = Workspace(tmp_path / "ws")
    b = HFBackend(LLMCache(cache_dir(ws)), ws=ws, batch_size=2)
    convs = [[{"role": "user", "content": f"Question number {i}?"}] for i in range(3)]
    s = Sampling(0.0, 1.0, 5, 0)
    first = b.chat_many("tiny", convs, s)
    assert len(first) == 3 and all(c.completion_tokens == 5 for c in first)  # random model never stops early
    second = b.chat_many("tiny", convs, s)
    assert [c.text for c in second] == [c.text for c in first] and all(c.cached for c in second)
    b.chat_many("tiny", convs, Sampling(0.0, 1.0, 4, 0))  # other sampling params: a different cache key
    u = b.usage.to_dict()["tiny"]
    assert u["requests"] == 6 and u["cached"] == 3
    assert len(list((tmp_path / "ws" / "cache" / "llm").rglob("*.json"))) == 6




def test_cache_lookups_never_list_the_cache(tmp_path, monkeypatch):
    """`if cache:` once counted every file (a glob per request: quadratic in the cache's size; 4 s of a 424-question
    eval). An empty cache is truthy and a lookup is one file read."""
    cache = LLMCache(tmp_path / "cache")
    assert cache and len(cache) == 0
    cache.put("ab" + "0" * 62, {"text": "hi"})

    def no_glob(*a, **k):
        raise AssertionError("the cache directory was listed")

    monkeypatch.setattr(LLMCache, "__len__", no_glob)
    assert cache and cache.get("ab" + "0" * 62)["text"] == "hi"
# ------------------------------------------------------------------ kill and rerun


def test_killed_generate_replays_finished_calls(snap_bin, ws_path, no_key, tmp_path):
    port = _free_port()
    server = subprocess.Popen([sys.executable, str(HERE / "openai_stub.py"), str(port), "0.2"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert "listening" in server.stdout.readline()
        args = [snap_bin, "-w", str(ws_path), "-q", "--json", "generate", "--entity", "Ada Lovelace",
                "--base-url", f"http://127.0.0.1:{port}/v1", "--categories", "general,5w1h", "--calls", "3",
                "--per-call", "3", "--concurrency", "1", *WRITER_ONLY]
        # 2 categories x 3 calls + one refusal per question: 24 requests at 0.2 s each
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        cache = ws_path / "cache" / "llm"
        deadline = time.monotonic() + 60
        while len(list(cache.rglob("*.json"))) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        finished = len(list(cache.rglob("*.json")))
        assert 8 <= finished < 24
        assert not (ws_path / "generate").exists()  # nothing half-written published
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        usage = json.loads(p.stdout)["usage"][openai_stub.MODEL]
        total = len(list(cache.rglob("*.json")))
        assert usage["cached"] == finished  # every call finished before the kill was replayed for free
        assert usage["requests"] == total - finished > 0  # and only the rest was asked again
        assert total == 24
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
