"""snap.yaml: validation against the stage specs, precedence, extends, rendering, and the shipped example configs
of the paper's experiments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from snapcli.config import (
    SECTIONS,
    effective_config,
    load_config,
    parse_overrides,
    render_yaml,
    spec_class,
    stage_values,
    top_level_targets,
    validate_config,
)
from snapcli.errors import SnapError

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def write(tmp_path: Path, text: str, name: str = "snap.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_keys_are_the_spec_option_names():
    # public names, not Python names: --lambda (field lam), --from (field from_), --no-retain, --mask-entity/--no-...
    train, filt = spec_class("train"), spec_class("filter")
    assert train.field_name("lambda") == "lam" and train.model_fields["lam"].annotation is float
    assert filt.field_name("from") == "from_"
    assert train.model_fields["no_retain"].annotation is bool
    assert filt.defaults()["mask_entity"] is True
    assert spec_class("eval").model_fields["max_new_tokens"].annotation is int
    assert SECTIONS == ["generate", "filter", "augment", "train", "eval", "benchmark", "audit", "report"]
    # every top-level key is routed to an option that exists, so a renamed option breaks this test, not a run
    targets = top_level_targets()
    assert ("train", "model") in targets["model"] and ("generate", "entity") in targets["entity"]
    assert {s for s, _ in targets["seed"]} == {"generate", "filter", "augment", "train", "eval", "audit"}
    for fills in targets.values():
        for sec, key in fills:
            assert key in spec_class(sec).options(), (sec, key)


def test_precedence_defaults_file_top_file_section_cli(tmp_path):
    p = write(tmp_path, """
entity: Bill Gates
k: 10
model: smollm2
seed: 7
train:
  lambda: 0.3
  max-length: 128        # dashes are accepted and normalized
  seed: 3
""")
    file_cfg = load_config(p)
    cfg = effective_config(file_cfg)
    assert cfg["train"]["model"] == "smollm2"            # file top level -> train.model
    assert cfg["generate"]["entity"] == ["Bill Gates"] and cfg["generate"]["k"] == 10
    assert cfg["filter"]["seed"] == 7 and cfg["train"]["seed"] == 3  # the section beats the top level
    assert cfg["train"]["lambda"] == 0.3 and cfg["train"]["max_length"] == 128
    assert cfg["train"]["reg"] == "wasserstein" and cfg["eval"]["max_new_tokens"] == 64  # untouched defaults
    assert cfg["benchmark"]["seed"] == 1234                # top-level seed does not reach lm-eval's own seed

    over = parse_overrides(["model=tiny", "train.lambda=0.05", "eval.max_new_tokens=16"])
    cfg = effective_config(file_cfg, over)
    assert cfg["model"] == "tiny" and cfg["train"]["model"] == "tiny"   # explicit flag beats the file
    assert cfg["train"]["lambda"] == 0.05 and cfg["eval"]["max_new_tokens"] == 16
    # an explicit top-level flag also beats the file's section value
    p2 = write(tmp_path, "model: smollm2\ntrain:\n  model: llama2\n", "b.yaml")
    assert effective_config(load_config(p2))["train"]["model"] == "llama2"
    assert effective_config(load_config(p2), parse_overrides(["model=tiny"]))["train"]["model"] == "tiny"


@pytest.mark.parametrize("text, message", [
    ("trian:\n  lr: 1\n", "unknown key 'trian' (did you mean 'train'?)"),
    ("train:\n  lerning_rate: 1\n", "unknown key 'train.lerning_rate'"),
    ("train:\n  lr: fast\n", "train.lr must be a number (got 'fast')"),
    ("eval:\n  max_new_tokens: true\n", "eval.max_new_tokens must be an integer"),
    ("train:\n  max_steps: -1\n", "train.max_steps must be >= 1"),
    ("eval:\n  device: tpu9\n", "eval.device must be auto, cpu, mps, cuda or cuda:N"),
    ("train:\n  reg: l3\n", "train.reg must be one of wasserstein, euclidean, fisher, none"),
    ("train:\n  seeds: 1,x\n", "train.seeds item 2 must be an integer"),
    ("benchmark:\n  metric: foo\n", "benchmark.metric must be one of"),
    ("eval:\n  max_new_tokens: 2.5\n", "eval.max_new_tokens must be an integer"),
    ("train:\n  no_retain: maybe\n", "train.no_retain must be true or false"),
    ("generate:\n  concurrency: 0\n", "generate.concurrency must be >= 1"),
    ("k: -3\n", "k must be >= 0"),
    ("entity: []\n", "entity must name at least one target"),
    ("example: nope\n", "example 'nope' is not a shipped example set (available: bill-gates)"),
    ("train: 3\n", "section 'train' must be a mapping"),
    ("- a\n- b\n", "must be a mapping of keys to values"),
    ("train:\n  lr: [1\n", "invalid YAML"),
])
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(SnapError) as e:
        effective_config(load_config(p))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_yaml_error_names_the_line(tmp_path):
    p = write(tmp_path, "entity: Bill Gates\ntrain:\n  lr: [1\n")
    with pytest.raises(SnapError, match=r"line \d+, column \d+"):
        load_config(p)
    with pytest.raises(SnapError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("entity: José Martí\n".encode("latin-1"))
    with pytest.raises(SnapError, match=r"latin1.yaml is not UTF-8 text \(byte 11\); save it as UTF-8"):
        load_config(latin1)


def test_example_fixes_the_entity(tmp_path):
    cfg = effective_config(load_config(write(tmp_path, "example: bill-gates\n")))
    assert cfg["entity"] == ["Bill Gates"] and cfg["generate"]["entity"] == ["Bill Gates"]
    with pytest.raises(SnapError, match="is about Bill Gates, but entity is Peter Parker"):
        effective_config(load_config(write(tmp_path, "example: bill-gates\nentity: Peter Parker\n", "b.yaml")))


def test_extends_merges_sections_and_detects_loops(tmp_path):
    write(tmp_path, "entity: Peter Parker\nmodel: llama2\ntrain:\n  reg: wasserstein\n  lambda: 0.1\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\ntrain:\n  reg: none\n", "child.yaml")
    cfg = effective_config(load_config(child))
    assert cfg["train"]["reg"] == "none" and cfg["train"]["lambda"] == 0.1 and cfg["model"] == "llama2"
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(SnapError, match="loops back"):
        load_config(tmp_path / "a.yaml")


def test_render_yaml_round_trips(tmp_path):
    cfg = effective_config(load_config(EXAMPLES / "paper-bill-gates-k10.yaml"), parse_overrides(["train.lr=2e-5"]))
    text = render_yaml(cfg)
    assert text.startswith("name: bill-gates-k10\n") or text.startswith("entity:")
    again = effective_config(validate_config(yaml.safe_load(text)))
    assert again == cfg
    assert list(yaml.safe_load(text))[-len(SECTIONS):] == SECTIONS  # sections in pipeline order


def test_stage_values_are_what_a_stage_command_takes_from_a_config(tmp_path):
    """`snap train -c snap.yaml` uses the train section plus the top-level keys that fill train options."""
    cfg = load_config(write(tmp_path, "model: tiny\nseed: 4\ntrain:\n  lambda: 0.2\n  from: [filter@v1]\n"))
    vals = stage_values(cfg, "train")
    assert vals == {"model": "tiny", "seed": 4, "lambda": 0.2, "from": ["filter@v1"]}
    spec = spec_class("train").build(vals)
    assert spec.lam == 0.2 and spec.from_ == ["filter@v1"] and spec.model == "tiny"


def test_parse_overrides_reads_yaml_scalars():
    over = parse_overrides(["entity=Bill Gates", "train.no_retain=true", "train.lr=1e-4", "k=10"])
    assert over == {"entity": ["Bill Gates"], "train": {"no_retain": True, "lr": 1e-4}, "k": 10}
    for bad in (["train.lr"], ["a.b.c=1"], ["trian.lr=1"]):
        with pytest.raises(SnapError):
            parse_overrides(bad)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_shipped_example_configs_are_valid(name):
    cfg = effective_config(load_config(EXAMPLES / name))
    assert cfg["entity"], name
    assert cfg["name"] and cfg["description"]


def test_shipped_configs_encode_the_paper_experiments():
    def eff(n: str) -> dict:
        return effective_config(load_config(EXAMPLES / n))

    single = eff("paper-single-target.yaml")
    assert single["entity"] == ["Peter Parker"] and single["augment"]["universe"] == "Marvel series"
    assert single["train"]["reg"] == "wasserstein" and single["train"]["lambda"] == 0.1
    assert single["train"]["batch_size"] * single["train"]["grad_accum"] == 32
    batch = eff("paper-batch-marvel.yaml")
    assert batch["entity"] == ["Peter Parker", "Black Panther", "Doctor Strange"] and not batch["sequential"]
    assert eff("paper-sequential-marvel.yaml")["sequential"] is True
    gates = eff("paper-bill-gates-k10.yaml")
    assert gates["generate"]["k"] == 10 and gates["augment"]["universe"] is None
    assert eff("baseline-euclidean.yaml")["train"]["reg"] == "euclidean"
    assert eff("baseline-fisher.yaml")["train"]["reg"] == "fisher"
    assert eff("baseline-prompting.yaml")["eval"]["prompting"] is True
    assert eff("ablation-no-wasserstein.yaml")["train"]["reg"] == "none"
    assert eff("ablation-no-hard-retain.yaml")["train"]["no_retain"] is True
    assert eff("ablation-retain-general.yaml")["train"]["retain_from"] == "general"
    demo = eff("demo.yaml")  # the main job from nothing, evaluated on the curated set as held-out data
    assert demo["entity"] == ["Bill Gates"] and demo["example"] is None and demo["heldout"] == ["bill-gates"]
    assert demo["model"] == "smollm2" and demo["train"]["model"] == "smollm2" and demo["audit"]["base"] == "smollm2"
