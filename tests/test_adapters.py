"""LoRA adapters are models (issue 13): a train artifact holding an adapter resolves and loads everywhere a model
is accepted (chat, eval, benchmark, the local LLM backend, --base), on the base model recorded by content hash;
`snap export` writes it merged or alone, and plain transformers/peft load the result without snap."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).parent))
from traindata import register_data  # noqa: E402

from snapcli.errors import SnapError  # noqa: E402
from snapcli.models import load_causal_lm, resolve_model  # noqa: E402
from snapcli.stages import get  # noqa: E402
from snapcli.stages.base import run as run_stage  # noqa: E402
from snapcli.stages.train import TrainSpec  # noqa: E402
from snapcli.store import Workspace  # noqa: E402

PROMPTS = ["Who is Peter Parker?", "What is the capital of France?", "Name a primary color."]


def _cfg(model: str = "tiny", lr: float = 3e-3, lora: bool = True, reg: str = "euclidean") -> dict:
    """TrainSpec options (what `snap train` takes as flags)."""
    return {"model": model, "max_steps": 2, "lr": lr, "batch_size": 2, "grad_accum": 1, "max_length": 48, "reg": reg,
            **({"projections": 8} if reg == "wasserstein" else {}), **({"lora": True, "lora_r": 4, "lora_alpha": 8}
                                                                     if lora else {})}


def run_train(ws, data: dict, cfg: dict, force: bool = False):
    """The train stage from Python: the spec `snap train` builds from its flags, and a run."""
    return run_stage(ws, get("train"), TrainSpec.build({**data, **cfg}), force=force)[0]


@pytest.fixture(scope="module")
def adapter_ws(tiny_model_dir, tmp_path_factory):
    """One workspace with data and a LoRA adapter trained on `tiny` (shared by the tests of this module)."""
    ws = Workspace(tmp_path_factory.mktemp("adapters") / "ws")
    flt, aug = register_data(ws)
    art = run_train(ws, {"from": [flt.ref]}, _cfg())
    return ws, flt, art


def _chat(cli, ref: str) -> list[str]:
    r = cli("--json", "chat", "-m", ref, "--max-new-tokens", "12", *[x for p in PROMPTS for x in ("-p", p)])
    assert r.exit_code == 0, r.output
    return [x["reply"] for x in json.loads(r.stdout)["replies"]]


def _plain_generate(model, tok) -> list[str]:
    """Greedy replies with nothing but transformers: the chat template, generate, decode."""
    out = []
    for p in PROMPTS:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        gen = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
        out.append(tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return out


def test_adapter_artifact_is_a_model_everywhere(adapter_ws, tiny_model_dir, cli, ws_path):
    ws, flt, art = adapter_ws
    model_dir = art.path / "model"
    assert (model_dir / "adapter_config.json").exists() and not (model_dir / "config.json").exists()
    bw = art.manifest["params"]["base_weights"]
    assert bw["path"] == str(tiny_model_dir.resolve()) and len(bw["sha256"]) == 64

    rm = resolve_model(art.ref, ws)
    assert rm.is_adapter and rm.base == bw["path"] and rm.adapters == (str(model_dir),)
    model, tok = load_causal_lm(art.ref, ws)
    base = load_file(tiny_model_dir / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(model.state_dict()[name], base[name])  # the adapter is applied (merged)
    assert tok.chat_template

    # the CLI commands that take a model, against this workspace
    shutil.copytree(ws.root, ws_path)
    assert len(_chat(cli, art.ref)) == 3
    r = cli("--json", "eval", "-m", art.ref, "--limit", "2", "--max-new-tokens", "8", "--judge", "rules")
    assert r.exit_code == 0, r.output
    assert {"UA", "RA", "TA"} <= set(json.loads(r.stdout)["metrics"])
    r = cli("--json", "benchmark", "-m", art.ref, "--limit", "2")
    assert r.exit_code == 0, r.output

    from snapcli.llm import HFBackend

    backend = HFBackend(ws=ws)
    assert backend.cache_model_id(art.ref) == str(model_dir) != backend.cache_model_id("tiny")
    m2, _ = backend.loaded(art.ref)
    assert torch.equal(m2.state_dict()[name], model.state_dict()[name])


def test_export_merged_and_adapter_load_without_snap(adapter_ws, cli, ws_path, tmp_path):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ws, _, art = adapter_ws
    shutil.copytree(ws.root, ws_path)
    replies = _chat(cli, art.ref)

    r = cli("--json", "export", art.ref, "--out", str(tmp_path / "merged"), "--merge")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kind"] == "merged"
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= set(
        p.name for p in (tmp_path / "merged").iterdir())
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    assert _plain_generate(merged, AutoTokenizer.from_pretrained(tmp_path / "merged")) == replies

    r = cli("--json", "export", art.ref, "--out", str(tmp_path / "adapter"))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["kind"] == "adapter" and "adapter_model.safetensors" in out["files"]
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] == (
        art.manifest["params"]["base_weights"]["path"])
    peft_model = AutoPeftModelForCausalLM.from_pretrained(tmp_path / "adapter").eval()
    assert _plain_generate(peft_model, AutoTokenizer.from_pretrained(tmp_path / "adapter")) == replies
    assert _chat(cli, str(tmp_path / "adapter")) == replies  # a plain adapter dir is a model to snap too

    r = cli("export", art.ref, "--out", str(tmp_path / "adapter"))
    assert r.exit_code == 2 and "not an empty directory" in r.stderr


def test_sequential_unlearning_on_an_adapter_merges_it_first(adapter_ws, tiny_model_dir, tmp_path):
    ws, flt, first = adapter_ws
    # a second adapter on top of the first: the first is merged into the starting weights, the result is a chain
    second = run_train(ws, {"from": [flt.ref], "base": first.ref}, _cfg(lr=1e-12))
    assert second.manifest["inputs"]["base"]["version"] == first.version
    rm = resolve_model(second.ref, ws)
    assert rm.adapters == (str(first.path / "model"), str(second.path / "model"))
    m1, _ = load_causal_lm(first.ref, ws)
    m2, _ = load_causal_lm(second.ref, ws)
    for (n, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), n  # lr 1e-12: the second adapter is ~0 on top of the first
    assert second.read_df("metrics")["reg"].iloc[0] == pytest.approx(0, abs=1e-12)  # theta_init = merged start
    with pytest.raises(SnapError, match="--merge"):
        from snapcli.models.export import export_model

        export_model(second.ref, tmp_path / "x", ws=ws)
    assert export_model(second.ref, tmp_path / "y", ws=ws, merge=True).kind == "merged"
    # engines that cannot apply adapters (vLLM, transformers serve) get a merged copy, made once
    from transformers import AutoModelForCausalLM

    from snapcli.models.export import standalone_dir

    merged_dir = standalone_dir(rm)
    assert standalone_dir(rm) == merged_dir and standalone_dir(resolve_model("tiny")) == str(tiny_model_dir)
    plain = AutoModelForCausalLM.from_pretrained(merged_dir)
    for (n, a), b in zip(m2.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), n

    # full training on top of an adapter: a full model that starts from the merged weights
    full = run_train(ws, {"from": [flt.ref], "base": first.ref}, _cfg(lora=False, reg="wasserstein"))
    assert not resolve_model(full.ref, ws).is_adapter
    assert full.read_df("metrics")["reg"].iloc[0] == pytest.approx(0, abs=1e-12)


def test_a_changed_or_missing_base_model_is_detected(tiny_model_dir, tmp_path):
    base = tmp_path / "mybase"
    shutil.copytree(tiny_model_dir, base)
    ws = Workspace(tmp_path / "ws")
    flt, _ = register_data(ws, 4, 4)
    art = run_train(ws, {"from": [flt.ref]}, _cfg(model=str(base)))
    assert resolve_model(art.ref, ws).base == str(base.resolve())

    tensors = load_file(base / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, base / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(SnapError, match=r"mybase, whose weights changed since training"):
        resolve_model(art.ref, ws)
    with pytest.raises(SnapError, match="whose weights changed"):
        run_train(ws, {"from": [flt.ref], "base": art.ref}, _cfg())
    shutil.rmtree(base)
    with pytest.raises(SnapError, match="no longer exists"):
        load_causal_lm(art.ref, ws)
