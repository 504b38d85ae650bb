"""The curated Bill Gates example set: shape, splits, separation of forget and retain, diversity, refusals that
leak nothing, and that it can stand in for the filter/augment stage artifacts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import torch

from snapcli.curated import (
    EXAMPLE_TABLES,
    example_fingerprint,
    import_example,
    list_examples,
    load_example,
    validate_example_table,
)
from snapcli.errors import SnapError

REPO = Path(__file__).resolve().parents[1]

TARGET_WORDS = re.compile(r"\b(?:bill|gates|melinda)\b", re.I)  # him, his family name, his foundation's names
TARGET_NAME = re.compile(r"\b(?:bill|gates)\b", re.I)
REFUSAL = re.compile(
    r"(do not|don't) have (any )?(access|information|details)|not something I have access|cannot answer|"
    r"can't answer|unable to (answer|provide)|not able to answer", re.I,
)
# Facts about the target that a refusal must never state unless the question already does.
GOLD = [
    "1955", "october 28", "seattle", "harvard", "lakeside", "microsoft", "paul allen", "melinda", "windows",
    "ms-dos", "ibm", "altair", "basic", "albuquerque", "1975", "traf-o-data", "medina", "xanadu", "giving pledge",
    "buffett", "foundation", "codex leicester", "the road ahead", "climate disaster", "source code", "terrapower",
    "breakthrough energy", "cascade", "polio", "ballmer", "nadella", "jobs", "apple", "jennifer", "rory", "phoebe",
    "mary maxwell", "lawyer", "chief software architect", "chairman", "richest", "forbes", "knight", "kbe",
    "medal of freedom", "gates notes", "internet tidal wave", "bridge", "tennis", "pancake", "trey", "lanai",
    "hawaii", "pirates of silicon valley", "anthony michael hall", "inside bill's brain", "pie", "speeding",
    "farmland", "270,000", "1590", "papadimitriou", "epstein", "kildall", "cp/m", "suzman",
]
STOP = set("the a an of in on at to and or for with about by from his her its their was were is are did does do "
           "what which who whom when where why how has have had been be this that as after before into over "
           "ever also than most more".split())


@pytest.fixture(scope="module")
def sets() -> dict[str, pd.DataFrame]:
    return load_example("bill-gates")


@pytest.fixture(scope="module")
def embedder():
    from sentence_transformers import SentenceTransformer

    from snapcli.models import embedder_path

    # one thread: on the shared 2-core CI box two threads oversubscribe and run ~5x slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield SentenceTransformer(embedder_path("minilm"), device="cpu")
    torch.set_num_threads(before)


def test_list_and_exact_columns(sets):
    assert "bill-gates" in list_examples()
    for table, df in sets.items():
        assert list(df.columns) == EXAMPLE_TABLES[table][2]
        assert set(df["entity"]) == {"Bill Gates"}
        assert set(df["source"]) == {"curated"}
        assert df["question"].is_unique


def test_split_sizes_follow_the_paper(sets):
    f, r = sets["forget"], sets["retain"]
    # 100 training rows, proportional across the four categories; multi-hop only in eval
    assert (f["split"] == "train").sum() == 100 and 55 <= (f["split"] == "eval").sum() <= 65
    assert set(f[f["category"] == "multi-hop"]["split"]) == {"eval"}
    assert 12 <= (f["category"] == "multi-hop").sum() <= 20
    assert (r["split"] == "train").sum() == 100 and 55 <= (r["split"] == "eval").sum() <= 65
    for df, cats in ((f, ["factual", "relational", "open-ended", "implicit"]), (r, ["factual", "relational",
                                                                               "open-ended", "implicit"])):
        for c in cats:
            sub = df[df["category"] == c]
            train_share = (sub["split"] == "train").mean()
            assert 0.5 < train_share < 0.8, (c, train_share)  # every category is in both splits, proportionally
    # the refusal categories in the contract and prompt categories are covered
    assert set(f["category"]) == {"factual", "relational", "open-ended", "implicit", "multi-hop"}
    assert set(f["prompt_category"]) == {"general", "5w1h", "relational", "open-ended", "implicit", "multi-hop"}


def test_forget_and_retain_do_not_overlap(sets):
    assert not set(sets["forget"]["question"]) & set(sets["retain"]["question"])
    assert not set(sets["forget"]["response"]) & set(sets["retain"]["response"])


def test_retain_never_mentions_the_target(sets):
    r = sets["retain"]
    for col in ("subject", "question", "response"):
        hits = r[r[col].str.contains(TARGET_WORDS)]
        assert hits.empty, f"{col} mentions the target: {hits[col].tolist()[:3]}"
    assert r["subject"].nunique() >= 15
    for s in ["Paul Allen", "Steve Ballmer", "Satya Nadella", "Warren Buffett", "Microsoft", "Berkshire Hathaway",
              "Steve Jobs", "Apple", "Mark Zuckerberg", "Jeff Bezos", "Amazon", "Windows"]:
        assert (r["subject"] == s).sum() >= 3, s


def test_implicit_questions_never_name_the_target(sets):
    f = sets["forget"]
    hidden = f[f["category"].isin(["implicit", "multi-hop"])]
    assert len(hidden) >= 30
    assert not hidden["question"].str.contains(TARGET_NAME).any()
    named = f[~f["category"].isin(["implicit", "multi-hop"])]
    assert named["question"].str.contains("Bill Gates").all()


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9'-]+", text.lower().replace("'s", "")) if len(w) > 2 and w not in STOP}


def test_forget_responses_refuse_name_the_topic_and_leak_nothing(sets):
    f = sets["forget"]
    openings = set()
    for q, a in zip(f["question"], f["response"], strict=True):
        assert REFUSAL.search(a), a
        ql, al = q.lower(), a.lower()
        leaked = [g for g in GOLD if g in al and g not in ql]
        assert not leaked, (q, a, leaked)
        assert set(re.findall(r"\d+", a)) <= set(re.findall(r"\d+", q)), (q, a)  # no new dates or numbers
        qw = _content_words(q)
        overlap = len(qw & _content_words(a)) / len(qw)
        assert overlap >= 0.4, (q, a, overlap)  # names what was asked, like the paper's refusals
        openings.add(" ".join(a.split()[:5]))
    assert len(openings) >= 8  # varied phrasing, not one canned sentence


def test_no_near_duplicate_questions(sets, embedder):
    """MiniLM cosine < 0.9: forget questions with the target masked; retain questions of the same subject with the
    subject masked (across subjects the names are what differs, so they are compared as written)."""
    f, r = sets["forget"], sets["retain"]

    def mask(q: str, name: str) -> str:
        out = q.replace(name, "X")
        return out.replace("Gates", "X") if name == "Bill Gates" else out

    # one encode call for every text the checks need (the embedder's per-call overhead dominates on 2 cores)
    forget_masked = [mask(q, "Bill Gates") for q in f["question"]]
    retain_plain = r["question"].tolist()
    retain_masked = [mask(q, s) for q, s in zip(r["question"], r["subject"], strict=True)]
    forget_plain = f["question"].tolist()
    emb = embedder.encode(forget_masked + retain_plain + retain_masked + forget_plain, normalize_embeddings=True,
                          convert_to_tensor=True)
    nf, nr = len(f), len(r)
    fm, rp, rm, fp = emb[:nf], emb[nf:nf + nr], emb[nf + nr:nf + 2 * nr], emb[nf + 2 * nr:]

    def worst(a, b, same: bool, texts_a: list[str], texts_b: list[str], keep=None):
        sim = a @ b.T
        if same:
            sim.fill_diagonal_(-1)
        if keep is not None:
            sim = sim.masked_fill(~keep, -1)
        i, j = divmod(int(sim.argmax()), sim.shape[1])
        return float(sim[i, j]), texts_a[i], texts_b[j]

    assert worst(fm, fm, True, forget_masked, forget_masked)[0] < 0.9, worst(fm, fm, True, forget_masked,
                                                                               forget_masked)
    assert worst(rp, rp, True, retain_plain, retain_plain)[0] < 0.9, worst(rp, rp, True, retain_plain, retain_plain)
    subj = r["subject"].tolist()
    same_subject = torch.tensor([[a == b for b in subj] for a in subj])
    res = worst(rm, rm, True, retain_masked, retain_masked, keep=same_subject)
    assert res[0] < 0.9, res
    # a forget question and a retain question are never the same question in disguise
    res = worst(fp, rp, False, forget_plain, retain_plain)
    assert res[0] < 0.9, res


def test_validation_names_the_problem(sets):
    bad = sets["retain"].drop(columns=["subject"])
    with pytest.raises(SnapError, match="missing: subject"):
        validate_example_table("retain", bad)
    bad = sets["forget"].copy()
    bad.loc[bad.index[0], "split"] = "test"
    with pytest.raises(SnapError, match="unknown split test"):
        validate_example_table("forget", bad)
    bad = sets["forget"].copy()
    bad.loc[bad["category"] == "multi-hop", "split"] = "train"
    with pytest.raises(SnapError, match="multi-hop"):
        validate_example_table("forget", bad)
    with pytest.raises(SnapError, match="unknown example set 'nope'.*bill-gates"):
        load_example("nope")


def test_import_example_publishes_linked_stage_artifacts(ws, sets):
    import snapcli.stages

    snapcli.stages.load_all()  # registers stage schemas that write_table validates

    arts = import_example(ws, "bill-gates", general_size=50)
    assert arts["forget"].stage == "filter" and arts["retain"].stage == "augment"
    forget = ws.resolve("filter@latest").read_df("forget")
    pd.testing.assert_frame_equal(forget, sets["forget"])
    aug = ws.resolve("augment@latest")
    assert len(aug.read_df("retain")) == len(sets["retain"])
    general = aug.read_df("general")
    assert len(general) == 50 and set(general["split"]) == {"eval"}
    # linked like a real augment of that filter: train/eval find the retain data from the forget artifact
    assert ws.find_derived("augment", "from", arts["forget"]).ref == arts["retain"].ref
    assert arts["forget"].manifest["extra"]["example"]["fingerprint"] == example_fingerprint("bill-gates")
    again = import_example(ws, "bill-gates", general_size=50)
    assert again["forget"].cached and again["retain"].cached and again["retain"].ref == arts["retain"].ref


def test_examples_cli(cli):
    listing = json.loads(cli("examples", "list", "--json").stdout)
    assert [x["name"] for x in listing] == ["bill-gates"] and listing[0]["entity"] == ["Bill Gates"]
    r = cli("examples", "import", "bill-gates", "--no-general", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["forget"]["rows"] == {"forget": len(load_example("bill-gates")["forget"])}
    assert doc["retain"]["rows"] == {"retain": len(load_example("bill-gates")["retain"])}
    bad = cli("examples", "import", "nope")
    assert bad.exit_code == 2 and "unknown example set 'nope'" in bad.output


def test_build_script_reproduces_the_shipped_files(tmp_path):
    """The JSONL is generated from the hand-written sources; a hand edit to the JSONL alone would drift."""
    code = (
        "import runpy, sys, pathlib; sys.argv=['build.py'];"
        f"mod = runpy.run_path({str(REPO / 'examples/bill-gates/build.py')!r}, run_name='lib');"
        "import json;"
        "print(json.dumps({'forget': mod['forget_rows'](), 'retain': mod['retain_rows']()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    built = json.loads(out)
    for table in ("forget", "retain"):
        shipped = [json.loads(x) for x in
                   (REPO / f"snapcli/data/curated/bill-gates/{table}.jsonl").read_text().splitlines()]
        assert built[table] == shipped


def test_examples_ship_in_the_wheel(tmp_path):
    """Installed (non-editable) snap finds the set too: the JSONL files are package data in the wheel.
    Built from a copy so the checkout gets no build/ or egg-info droppings."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(REPO / "snapcli", src / "snapcli", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        if (REPO / f).exists():
            shutil.copy(REPO / f, src / f)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "w"),
         str(src)], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"wheel build failed: {proc.stderr[-800:]}"
    wheel = next((tmp_path / "w").glob("snapcli-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for table in ("forget", "retain"):
        assert f"snapcli/data/curated/bill-gates/{table}.jsonl" in names
