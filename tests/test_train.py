"""`snap train` on the tiny random Llama: every regularizer trains, checkpoints reload, a killed run resumes
exactly, batch/sequential/seeds work, and bad input exits 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from traindata import forget_rows, retain_rows, write_pair  # noqa: E402

from snapcli.stages import get  # noqa: E402
from snapcli.stages.base import run as run_stage  # noqa: E402
from snapcli.stages.train import TrainSpec  # noqa: E402
from snapcli.store import Workspace  # noqa: E402

FAST = ["--model", "tiny", "--batch-size", "2", "--grad-accum", "2", "--max-length", "48"]


@pytest.fixture
def data(tmp_path):
    return write_pair(tmp_path / "data", 12, 12)


def _train(ws, forget, retain, reg: str = "wasserstein", steps: int = 4, **kw):
    """The train stage driven from Python: a spec (the same one `snap train` builds from its flags) and a run."""
    spec = TrainSpec.build({"from": [str(forget)], "retain": [str(retain)], "model": "tiny", "max_steps": steps,
                            "lr": 3e-3, "batch_size": 2, "grad_accum": 2, "max_length": 48, "reg": reg,
                            "lambda": kw.pop("lam", 0.1), **({"projections": 16} if reg == "wasserstein" else {}),
                            **kw})
    return run_stage(ws, get("train"), spec)[0]


@pytest.mark.parametrize("reg", ["wasserstein", "euclidean", "fisher", "none"])
def test_each_regularizer_trains_and_the_model_reloads(tiny_model_dir, ws, data, reg):
    forget, retain = data
    art = _train(ws, forget, retain, reg)
    m = art.read_df("metrics")
    assert list(m["step"]) == list(range(1, 5))
    assert m["loss_f"].iloc[-1] < m["loss_f"].iloc[0]
    assert (m["loss_r"] > 0).all() and (m["step_seconds"] > 0).all() and (m["peak_mem_mb"] > 0).all()
    if reg == "none":
        assert (m["reg"] == 0).all()
    else:
        assert m["reg"].iloc[-1] > 0
    mem = art.manifest["extra"]["train"]["memory"]
    if reg == "fisher":
        assert mem["fisher_bytes"] == mem["theta_init_bytes"] > 0
    # the published checkpoint is a normal model dir: it loads and differs from the base weights
    from snapcli.models import load_causal_lm

    model, tok = load_causal_lm(art.ref, ws)
    base = load_file(tiny_model_dir / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(model.state_dict()[name], base[name])
    assert (art.path / "model" / "hyperparameters.yaml").read_text().count(f"name: {reg}") == 1
    assert tok.chat_template


def test_killed_run_resumes_identically(tiny_model_dir, tmp_path, data, snap_bin):
    forget, retain = data
    args = [*FAST, "--from", str(forget), "--retain", str(retain), "--max-steps", "10", "--save-every", "2",
            "--lr", "3e-3", "--projections", "16"]
    ws_kill = tmp_path / "ws-kill"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([snap_bin, "-w", str(ws_kill), "-q", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    scratch = ws_kill / ".scratch" / "train"
    while time.monotonic() < deadline and not list(scratch.glob("*/step-*/trainer.json")):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (ws_kill / "train").exists() or not list((ws_kill / "train").glob("v*")), "nothing may be published"
    ckpt = max(scratch.glob("*/step-*"), key=lambda p: int(p.name.split("-")[1]))
    killed_at = int(ckpt.name.split("-")[1])
    assert killed_at < 10

    resumed = subprocess.run([snap_bin, "-w", str(ws_kill), "--json", "train", *args], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    out = json.loads(resumed.stdout)
    assert out["resumed_from_step"] == killed_at

    fresh = subprocess.run([snap_bin, "-w", str(tmp_path / "ws-fresh"), "--json", "train", *args], env=env,
                           capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    a = load_file(Path(out["model_dir"]) / "model.safetensors")
    b = load_file(Path(json.loads(fresh.stdout)["model_dir"]) / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-6), k
    ma = Workspace(ws_kill).resolve("train@latest").read_df("metrics")
    mb = Workspace(tmp_path / "ws-fresh").resolve("train@latest").read_df("metrics")
    cols = ["step", "loss_f", "loss_r", "reg", "lr"]
    pd.testing.assert_frame_equal(ma[cols], mb[cols], rtol=1e-5)
    assert not list(scratch.glob("*/step-*")), "checkpoints are removed once the run is published"


def _augment(ws: Workspace, forget_art, general: bool = True):
    """An augment artifact made from `forget_art`, registered by hand (the augment stage is not needed)."""

    def write(w):
        w.write_table("retain", retain_rows(8))
        if general:
            g = retain_rows(6).drop(columns=["entity", "subject"])
            g["response"] = "general: " + g["response"]
            w.write_table("general", g)

    return ws.run_stage("augment", params={"hand": True}, inputs={"from": forget_art}, fn=write)


def test_default_retain_general_no_retain_batch_sequential_and_seeds(tiny_model_dir, ws, cli, tmp_path):
    p1, p2 = tmp_path / "f1.parquet", tmp_path / "f2.parquet"
    forget_rows(6).to_parquet(p1)
    forget_rows(6, entity="Black Panther").to_parquet(p2)
    f1 = ws.import_table(p1, "filter", "forget")
    f2 = ws.import_table(p2, "filter", "forget")
    aug1 = _augment(ws, f1)
    aug2 = _augment(ws, f2, general=False)
    steps = ["--max-steps", "1", "--projections", "8"]

    r = cli("--json", "train", *FAST, *steps, "--from", f1.ref, "--retain-from", "retain")
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    art = ws.resolve(first["ref"])
    assert art.manifest["inputs"]["retain"]["content_hash"] == aug1.content_hash

    r = cli("--json", "train", *FAST, *steps, "--from", f1.ref, "--retain-from", "general")
    assert r.exit_code == 0, r.output
    gen = ws.resolve(json.loads(r.stdout)["ref"])
    assert gen.ref != first["ref"]

    r = cli("--json", "train", *FAST, *steps, "--from", f1.ref, "--retain-from", "both")
    assert r.exit_code == 0, r.output
    both = ws.resolve(json.loads(r.stdout)["ref"]).manifest["extra"]["train"]["retain_examples"]
    assert both == art.manifest["extra"]["train"]["retain_examples"] + gen.manifest["extra"]["train"]["retain_examples"]
    # the default (both) is D_r plus D_g's train rows when there are any: f2's augment has no general table
    r = cli("--json", "train", *FAST, *steps, "--from", f2.ref)
    assert r.exit_code == 0, r.output
    assert ws.resolve(json.loads(r.stdout)["ref"]).manifest["extra"]["train"]["retain_examples"] == len(
        aug2.read_df("retain").query("split == 'train'"))
    r = cli("train", *FAST, *steps, "--from", f2.ref, "--retain-from", "general")
    assert r.exit_code == 2 and "general" in r.stderr  # asked for D_g explicitly: there is none

    r = cli("--json", "train", *FAST, "--max-steps", "1", "--from", f1.ref, "--no-retain", "--reg", "none")
    assert r.exit_code == 0, r.output
    assert (ws.resolve(json.loads(r.stdout)["ref"]).read_df("metrics")["loss_r"] == 0).all()

    # batch unlearning: two targets at once, each with its own augment data
    r = cli("--json", "train", *FAST, *steps, "--from", f1.ref, "--from", f2.ref)
    assert r.exit_code == 0, r.output
    batch = ws.resolve(json.loads(r.stdout)["ref"])
    assert {"from", "from_2", "retain", "retain_2"} <= set(batch.manifest["inputs"])
    assert batch.manifest["extra"]["train"]["forget_examples"] == 12
    assert batch.manifest["inputs"]["retain_2"]["content_hash"] == aug2.content_hash

    # sequential unlearning: continue from the first unlearned model
    r = cli("--json", "train", *FAST, *steps, "--from", f2.ref, "--base", first["ref"])
    assert r.exit_code == 0, r.output
    seq = ws.resolve(json.loads(r.stdout)["ref"])
    assert seq.manifest["inputs"]["base"]["version"] == art.version

    # several seeds: one version each; rerunning is a cache hit
    r = cli("--json", "train", *FAST, *steps, "--from", f1.ref, "--seeds", "1,2")
    assert r.exit_code == 0, r.output
    runs = json.loads(r.stdout)
    assert [x["seed"] for x in runs] == [1, 2] and runs[0]["ref"] != runs[1]["ref"]
    again = json.loads(cli("--json", "train", *FAST, *steps, "--from", f1.ref, "--seeds", "1,2").stdout)
    assert all(x["cached"] for x in again)
    # a new row encoding (snapcli/train/data.py) trains again instead of reusing the old model
    from snapcli.stages import train as train_stage

    assert ws.resolve(runs[0]["ref"]).manifest["params"]["encode_version"] == train_stage.ENCODE_VERSION
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_stage, "ENCODE_VERSION", train_stage.ENCODE_VERSION + 1)
        again = json.loads(cli("--json", "train", *FAST, *steps, "--from", f1.ref, "--seeds", "1").stdout)
        again = again[0] if isinstance(again, list) else again  # one seed: one object
        assert again["cached"] is False


def test_bad_input_exits_2(tiny_model_dir, ws, cli, tmp_path, data):
    forget, retain = data
    no_resp = tmp_path / "noresp.parquet"
    forget_rows(4).drop(columns=["response"]).to_parquet(no_resp)
    evals = tmp_path / "evalonly.parquet"
    forget_rows(4).assign(split="eval").to_parquet(evals)
    r = cli("train", "--model", "tiny", "--retain", str(retain))  # --from defaults to filter@latest: none yet
    assert r.exit_code == 2 and "no forget data" in r.output, r.output
    f = ws.import_table(forget, "filter", "forget")
    ok = ["--from", str(forget), "--retain", str(retain), "--max-steps", "1"]
    cases = {
        "missing column(s) response": ["--from", str(no_resp), "--retain", str(retain)],
        "no usable split=train rows": ["--from", str(evals), "--retain", str(retain)],
        "unknown model": [*ok, "--model", "no-such-model"],
        "--reg must be one of wasserstein, euclidean, fisher, none": [*ok, "--reg", "l2"],
        "--projections is an option of --reg wasserstein, not of --reg euclidean": [*ok, "--reg", "euclidean",
                                                                                     "--projections", "8"],
        "--reg fisher needs retain data": ["--from", str(forget), "--no-retain", "--reg", "fisher",
                                           "--max-steps", "1"],
        "--lambda must be": [*ok, "--lambda", "-0.5"],
        "not a train artifact": [*ok, "--base", f.ref],
        "no augment artifact was made": ["--from", f.ref],
        "is a 'filter' artifact": ["--from", str(forget), "--retain", f.ref],
    }
    for needle, args in cases.items():
        r = cli("train", "--model", "tiny", *args) if "--model" not in args else cli("train", *args)
        assert r.exit_code == 2, (needle, r.output)
        assert needle in " ".join(r.output.split()), (needle, r.output)
    assert not (Path(ws.root) / "train").exists()


def test_retain_weight_scales_the_retain_loss(tiny_model_dir, ws, cli, tmp_path):
    """--retain-weight w trains on L_f + w L_r + lambda R: the first step sees the same losses whatever w (same
    batches, same start), the logged total uses w, and the update differs; w = 0 is the forget loss alone."""
    p = tmp_path / "f.parquet"
    forget_rows(6).to_parquet(p)
    f = ws.import_table(p, "filter", "forget")
    _augment(ws, f)
    runs = {}
    for w in ("0", "1", "3"):
        r = cli("--json", "train", *FAST, "--max-steps", "2", "--reg", "none", "--from", f.ref, "--retain-weight", w)
        assert r.exit_code == 0, r.output
        art = ws.resolve(json.loads(r.stdout)["ref"])
        runs[w] = (art.read_df("metrics"), load_file(Path(art.path) / "model" / "model.safetensors"))
        assert art.manifest["params"]["retain_weight"] == float(w)
    m0, m1, m3 = (runs[w][0].iloc[0] for w in ("0", "1", "3"))
    assert m1["loss_r"] > 0 and abs(m1["loss_r"] - m3["loss_r"]) < 1e-6 and abs(m1["loss_f"] - m3["loss_f"]) < 1e-6
    assert abs(m3["loss"] - (m3["loss_f"] + 3 * m3["loss_r"])) < 1e-5 and abs(m0["loss"] - m0["loss_f"]) < 1e-6
    w1, w3 = runs["1"][1], runs["3"][1]
    assert any(not torch.equal(w1[k], w3[k]) for k in w1)


def test_unset_options_take_the_models_measured_defaults():
    """`snap train` with no --lr/--retain-weight/--epochs/--grad-accum trains the model's own recipe (smollm2: the
    one measured on held-out sets, issue 11; any other model: the paper's); a given flag always wins."""
    smol = TrainSpec.build({}).loop_config("smollm2")
    assert (smol.lr, smol.retain_weight, smol.epochs, smol.grad_accum) == (1e-4, 2.0, 2.0, 1)
    paper = TrainSpec.build({}).loop_config("mistral")
    assert (paper.lr, paper.retain_weight, paper.epochs, paper.grad_accum) == (1e-5, 1.0, 3.0, 4)
    given = TrainSpec.build({"lr": 3e-5, "retain_weight": 1, "epochs": 3, "grad_accum": 4}).loop_config("smollm2")
    assert (given.lr, given.retain_weight, given.epochs, given.grad_accum) == (3e-5, 1.0, 3.0, 4)
