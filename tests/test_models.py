"""Model registry: aliases, the real embedded model, offline errors."""

from __future__ import annotations

import json
import time

import pytest
import torch

from snapcli.errors import SnapError
from snapcli.models import load_causal_lm, model_defaults, pick_dtype, resolve_model
from snapcli.models.generation import generate_chat


def test_aliases_and_defaults(tiny_model_dir):
    assert resolve_model("tiny").path_or_id == str(tiny_model_dir)
    assert resolve_model("mistral").path_or_id == "mistralai/Mistral-7B-Instruct-v0.2"
    assert resolve_model("llama2").kind == "hub"
    assert resolve_model(str(tiny_model_dir)).kind == "local"
    assert model_defaults("mistral")["lr"] == 1e-5 and model_defaults("llama2")["lr"] == 5e-5
    assert model_defaults("meta-llama/Llama-2-7b-chat-hf")["lr"] == 5e-5
    paper = {"retain_weight": 1.0, "epochs": 3.0, "grad_accum": 4}  # appendix A: L_f + L_r, 3 epochs, 8 x 4
    for name in ("llama2", "some/model"):
        assert {k: model_defaults(name)[k] for k in paper} == paper
    assert model_defaults("smollm2") == {"lr": 1e-4, "retain_weight": 2.0, "epochs": 2.0, "grad_accum": 1}
    assert model_defaults("HuggingFaceTB/SmolLM2-135M-Instruct") == model_defaults("smollm2")
    with pytest.raises(SnapError, match="unknown model"):
        resolve_model("not a model")


def test_a_local_copy_of_a_model_gets_its_defaults(smollm2_dir, tiny_model_dir, tmp_path):
    """A user's own directory holding SmolLM2 (any name) trains with smollm2's measured recipe, not the paper's;
    so does a LoRA adapter whose base is that directory. The shape, not the name, decides."""
    import json
    import shutil

    copy = tmp_path / "my-model"
    copy.mkdir()
    shutil.copy(smollm2_dir / "config.json", copy / "config.json")
    assert model_defaults(str(copy)) == model_defaults("smollm2") != model_defaults("some/model")
    artifact_like = tmp_path / "export"
    (artifact_like / "model").mkdir(parents=True)
    shutil.copy(smollm2_dir / "config.json", artifact_like / "model" / "config.json")
    assert model_defaults(str(artifact_like)) == model_defaults("smollm2")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(copy)}))
    assert model_defaults(str(adapter)) == model_defaults("smollm2")
    llama = {"base_model_name_or_path": "meta-llama/Llama-2-7b-chat-hf"}
    (adapter / "adapter_config.json").write_text(json.dumps(llama))
    assert model_defaults(str(adapter))["lr"] == 5e-5
    # another shape (the random tiny model) or an unreadable config: the paper's recipe
    assert model_defaults(str(tiny_model_dir)) == model_defaults("some/model")
    (copy / "config.json").write_text("{not json")
    assert model_defaults(str(copy)) == model_defaults("some/model")
    assert pick_dtype(None, "cpu") == torch.float32 and pick_dtype("bf16", "cpu") == torch.bfloat16


def test_embedded_model_loads_and_answers(smollm2_dir):
    """The embedded default is a real chat model: it knows who founded Microsoft."""
    model, tok = load_causal_lm("smollm2")
    assert sum(p.numel() for p in model.parameters()) > 100e6
    assert (smollm2_dir / "model.safetensors").exists()
    out = generate_chat(model, tok, [[{"role": "user", "content": "Who founded Microsoft?"}],
                                     [{"role": "user", "content": "What is the capital of France?"}]],
                        max_new_tokens=24, batch_size=2)
    assert "Gates" in out[0]["text"] and "Paris" in out[1]["text"]


def test_batched_generation_matches_one_by_one(tiny_model_dir):
    model, tok = load_causal_lm("tiny")
    convs = [[{"role": "user", "content": q}] for q in ["hi", "a much longer question about many things?", "why?"]]
    batched = [r["text"] for r in generate_chat(model, tok, convs, max_new_tokens=8, batch_size=3)]
    single = [generate_chat(model, tok, [c], max_new_tokens=8)[0]["text"] for c in convs]
    assert batched == single


def test_hub_model_offline_is_exit_2(cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(SnapError, match="not available offline"):
        load_causal_lm("meta-llama/Llama-2-7b-chat-hf")
    assert time.monotonic() - t0 < 60


def test_models_cli(cli, tiny_model_dir, snap_home):
    rows = json.loads(cli("models", "list", "--json").stdout)
    by = {r["alias"]: r for r in rows}
    assert by["tiny"]["cached"] is True and by["llama2"]["cached"] is None and by["minilm"]["kind"] == "embedder"
    r = cli("models", "prepare", "tiny", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["path"].startswith(str(snap_home))
