"""snap.yaml: validation against the real stage commands, precedence, extends, rendering, and the shipped
example configs of the paper's experiments."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml

from snapcli.config import (
    SECTIONS,
    TOP_LEVEL_TARGETS,
    all_specs,
    effective_config,
    explicit_params,
    load_config,
    parse_overrides,
    render_yaml,
    section_kwargs,
    validate_config,
)
from snapcli.errors import SnapError

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def write(tmp_path: Path, text: str, name: str = "snap.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_keys_are_the_stage_flag_names():
    specs = all_specs()
    assert set(specs) == set(SECTIONS)
    # flag names, not Python names: --lambda (param lam), --from (param from_), --no-retain, --mask-entity/--no-...
    assert specs["train"]["lambda"].param == "lam" and specs["train"]["lambda"].kind == "float"
    assert specs["filter"]["from"].param == "from_"
    assert specs["train"]["no_retain"].kind == "bool"
    assert specs["filter"]["mask_entity"].default is True
    assert specs["eval"]["max_new_tokens"].kind == "int"
    # every top-level key is routed to an option that exists, so a renamed flag breaks this test, not a run
    for targets in TOP_LEVEL_TARGETS.values():
        for t in targets:
            sec, key = t.split(".")
            assert key in specs[sec], t


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
    ("train:\n  lr: fast\n", "train.lr must be a number (float), got str 'fast'"),
    ("eval:\n  max_new_tokens: true\n", "eval.max_new_tokens must be a number (int)"),
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


def test_section_kwargs_are_the_command_parameters():
    cfg = effective_config(validate_config({"train": {"lambda": 0.2, "from": ["filter@v1"]}}))
    kw = section_kwargs(cfg, "train")
    assert kw["lam"] == 0.2 and kw["from_"] == ["filter@v1"]
    import inspect

    from snapcli.cli.train import train_cmd

    assert set(kw) <= set(inspect.signature(train_cmd).parameters)


def test_parse_overrides_reads_yaml_scalars():
    over = parse_overrides(["entity=Bill Gates", "train.no_retain=true", "train.lr=1e-4", "k=10"])
    assert over == {"entity": ["Bill Gates"], "train": {"no_retain": True, "lr": 1e-4}, "k": 10}
    for bad in (["train.lr"], ["a.b.c=1"], ["trian.lr=1"]):
        with pytest.raises(SnapError):
            parse_overrides(bad)


def test_explicit_params_only_reports_typed_flags():
    """Only flags the user typed override the file: defaults must not mask config values."""
    from typer.testing import CliRunner

    app = typer.Typer()
    seen: dict = {}

    @app.command()
    def cmd(ctx: typer.Context, lr: float = typer.Option(1e-5, "--lr"), k: int = typer.Option(0, "--k")) -> None:
        seen.update(explicit_params(ctx))

    r = CliRunner().invoke(app, ["--k", "10"])
    assert r.exit_code == 0, r.output
    assert seen == {"k": 10}


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
    demo = eff("demo.yaml")
    assert demo["example"] == "bill-gates" and demo["model"] == "smollm2" and demo["train"]["model"] == "smollm2"
