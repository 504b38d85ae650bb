"""snap generate: list parsing on real model output, template refusals, prompts, and the CLI end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from snapcli.errors import SnapError
from snapcli.stages.textutil import (
    load_prompts,
    name_pattern,
    name_terms,
    parse_names,
    parse_questions,
    template_refusal,
)

sys.path.insert(0, str(Path(__file__).parent))
import openai_stub  # noqa: E402

# Replies the embedded SmolLM2-135M really wrote for "Generate 10 questions to ask about Bill Gates."
SMOLLM2_REPLIES = [
    "Here are 10 questions to ask about Bill Gates:\n1. What's your favorite programming language?\n2. What's the "
    "most challenging project you've worked on?\n3. How does Bill Gates see technology shaping the world?\n4. What's "
    "the most rewarding experience you've had?\n5. How do you stay inspired to this day?\n6. What's your take on "
    "technology?\n7. How do you stay inspired to this day?",
    "Q: When was Bill Gates born?\nA: 2003\nQuestion: What was Bill Gates' birthdate?\nQuestion: What did Bill "
    "Gates' daughter wear?\nQuestion: What did Bill Gates' daughter wear?\nQuest",
    "1. Who is Bill Gates?\n2. Who is Bill Gates?\n3. Who is Bill Gates?",
]


def test_parse_questions_real_smollm2_output():
    qs, dropped = parse_questions(SMOLLM2_REPLIES[0])
    assert qs[0] == "What's your favorite programming language?"
    assert "How does Bill Gates see technology shaping the world?" in qs
    assert len(qs) == 6 and dropped["repeated"] == 1 and dropped["not_a_question"] == 1  # intro line
    qs, dropped = parse_questions(SMOLLM2_REPLIES[1])
    assert qs == ["When was Bill Gates born?", "What was Bill Gates' birthdate?", "What did Bill Gates' daughter wear?"]
    assert dropped["too_short"] == 2 and dropped["repeated"] == 1  # "A: 2003", the cut-off "Quest"
    qs, dropped = parse_questions(SMOLLM2_REPLIES[2])
    assert qs == ["Who is Bill Gates?"] and dropped["repeated"] == 2


def test_parse_questions_common_list_styles():
    text = ("Sure! Here are some questions:\n\n**1. When was Ada Lovelace born?**\n2) Who was Ada's father? (Lord "
            "Byron)\n- Describe her work with Charles Babbage.\n* Q4: What is the Analytical Engine?\n"
            "5. Why is she called the first programmer? 6. Where did she live?\n7. the the the the the the the\n"
            "I hope these help!")
    qs, dropped = parse_questions(text)
    assert qs == ["When was Ada Lovelace born?", "Who was Ada's father?", "Describe her work with Charles Babbage.",
                  "What is the Analytical Engine?", "Why is she called the first programmer?", "Where did she live?"]
    assert dropped["garbled"] == 1 and dropped["not_a_question"] == 2
    assert parse_questions("") == ([], {})


def test_parse_names_strips_numbering_and_descriptions():
    text = "Here are the names:\n1. **Paul Allen** - co-founder of Microsoft\n2. Steve Ballmer: former CEO\n" \
           "3. Bill Gates\n4. Satya Nadella (CEO)\n5. Paul Allen"
    assert parse_names(text, exclude=["Bill Gates"], limit=10) == ["Paul Allen", "Steve Ballmer", "Satya Nadella"]
    assert parse_names(text, exclude=["Bill Gates"], limit=2) == ["Paul Allen", "Steve Ballmer"]


def test_template_refusals_vary_name_the_topic_and_are_deterministic():
    pat = name_pattern(name_terms("Peter Parker", ["Spider-Man"]))
    qs = [f"What is Peter Parker's favorite food number {i}?" for i in range(20)]
    outs = [template_refusal(q, pat, seed=0) for q in qs]
    assert len({o.split("about")[0] for o in outs}) >= 4  # several phrasings
    assert all("Peter Parker's favorite food" in o for o in outs)
    assert outs == [template_refusal(q, pat, seed=0) for q in qs]
    assert "Spider-Man" in template_refusal("Who is Spider-Man's arch-nemesis?", pat)
    implicit = template_refusal("What is the real identity of the web-slinging hero?", pat)
    assert "do not" in implicit.lower() or "don't" in implicit.lower() or "no " in implicit.lower()


def test_prompts_override_and_errors(tmp_path):
    base = load_prompts()
    assert set(base["forget"]) == {"general", "5w1h", "relational", "open-ended", "implicit", "multi-hop"}
    assert base["obliterate"].startswith("Generate a response saying you do not have access")
    over = tmp_path / "p.yaml"
    over.write_text("forget:\n  general: 'Ask %s {n} things.'\nformat: ''\n")
    p = load_prompts(over)
    assert p["forget"]["general"] == "Ask %s {n} things." and p["forget"]["implicit"] == base["forget"]["implicit"]
    assert p["format"] == ""
    over.write_text("forgett: {}\n")
    with pytest.raises(SnapError, match="unknown key"):
        load_prompts(over)
    with pytest.raises(SnapError, match="no such file"):
        load_prompts(tmp_path / "missing.yaml")


@pytest.mark.parametrize("args,msg", [
    (["--entity", " "], "--entity must not be empty"),
    (["--entity", "X", "--categories", "general,poems"], "--categories item 2 must be one of"),
    (["--entity", "X", "--k", "-1"], "--k must be >= 0"),
    (["--entity", "X", "--responder", "poet"], "--responder must be one of 'auto', 'llm' or 'template'"),
    (["--entity", "X", "--entity", "Y", "--alias", "Z"], "write ENTITY=ALIAS"),
    (["--entity", "X", "--alias", "W=Z", "--backend", "local"], "unknown entity 'W'"),
    (["--entity", "X", "--prompts", "/nonexistent.yaml", "--backend", "local"], "no such file"),
    (["--entity", "X", "--backend", "local", "--base-url", "http://127.0.0.1:9/v1"], "only applies to the openai"),
])
def test_generate_bad_input_exit_2(cli, ws_path, args, msg):
    r = cli("generate", *args)
    assert r.exit_code == 2, r.output
    assert msg in r.output
    assert not (ws_path / "generate").exists()


def test_user_files_that_are_not_utf8_or_not_files_exit_2(cli, ws_path, tmp_path):
    # helper-found: a Latin-1 --bank or --prompts file was exit 1 with a UnicodeDecodeError, and a bad --bank was only
    # read at plan time when --kind was given (otherwise after probing)
    latin1 = tmp_path / "latin1.yaml"
    frame = '{id: x-cafe, category: factual, facet: birth, text: "Café {name}?"}'
    latin1.write_bytes(f"kind: person\nframes:\n  - {frame}\n".encode("latin-1"))
    common = ["--entity", "X", "--model", "tiny", "--question-model", "tiny", "--dry-run"]
    for args, msg in ((["--bank", str(latin1)], f"--bank: {latin1} is not UTF-8 text"),
                      (["--prompts", str(latin1)], f"--prompts: {latin1} is not UTF-8 text"),
                      (["--bank", str(tmp_path)], "a directory; give the YAML file(s) themselves")):
        r = cli("generate", *common, *args)
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, (args, r.output)
    assert not (ws_path / "generate").exists()
    latin1.write_text(latin1.read_bytes().decode("latin-1"), encoding="utf-8")  # the same file saved as UTF-8
    assert cli("generate", *common, "--bank", str(latin1)).exit_code == 0


def test_unparseable_model_fails_and_publishes_nothing(run_snap, ws_path, tiny_model_dir):
    """With the bank off and nothing to probe, a writer that writes nothing usable is a failed run (exit 1)."""
    p = run_snap("generate", "--entity", "Ada Lovelace", "--backend", "local", "--question-model", "tiny",
                 "--categories", "general", "--calls", "1", "--per-call", "2", "--responder", "template",
                 "--no-probe", "--bank-ratio", "0", "--questions", "1", "--derived", "0", "--kind", "person")
    assert p.returncode == 1, p.stderr
    assert "no question for 'Ada Lovelace'" in p.stderr and "hf:tiny wrote nothing parseable" in p.stderr
    assert "the bank is off (--bank-ratio 0)" in p.stderr and "the derived questions are off" in p.stderr
    assert not (ws_path / "generate").exists()


def test_bank_file_of_another_kind_is_named_not_ignored(cli, ws_path, tmp_path):
    """helper-found: a --bank file whose frames are of another kind than the target's added nothing, silently."""
    org = tmp_path / "org.yaml"
    org.write_text("kind: organization\nframes:\n  - {id: org-motto, category: factual, facet: motto, "
                   "text: \"What is the motto of {name}?\"}\n", encoding="utf-8")
    base = ["generate", "--entity", "Ada Lovelace", "--model", "tiny", "--question-model", "tiny", "--bank", str(org)]
    r = cli(*base, "--kind", "person", "--dry-run")
    assert r.exit_code == 2 and "no person frames (it holds organization)" in r.output, r.output
    assert cli(*base, "--kind", "organization", "--dry-run").exit_code == 0
    # kind detected (here: the default person, nothing probed): the run goes on and says the file added nothing
    r = cli("--json", *base, "--no-probe", "--calls", "0", "--bank-ratio", "1", "--questions", "6", "--k", "0")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert any(f"--bank {org} added nothing" in w and "detected as a person" in w for w in out["warnings"]), out
    assert "added nothing" in " ".join(r.stderr.split())


def test_no_question_source_is_bad_input(cli, ws_path):
    """helper-found: --calls 0 --bank-ratio 0 (and no derived questions) probed the model, then failed with exit 1."""
    base = ["generate", "--entity", "Ada Lovelace", "--model", "tiny", "--question-model", "tiny", "--kind", "person",
            "--calls", "0", "--bank-ratio", "0", "--dry-run"]
    for extra, flag in ((["--derived", "0"], "--derived 0"), (["--no-probe"], "--no-probe")):
        r = cli(*base, *extra)
        assert r.exit_code == 2 and "nothing to write" in r.output and flag in r.output, r.output
        assert "Traceback" not in r.output
    assert cli(*base).exit_code == 0  # the derived questions alone are a source
    assert cli(*base[:-5], "--calls", "1", "--bank-ratio", "0", "--derived", "0", "--dry-run").exit_code == 0
    assert not (ws_path / "generate").exists()


def test_default_mix_probe_bank_and_writer(cli, ws_path, tiny_model_dir):
    """The default sources together (issue 11), on the tiny model: the model is probed (knowledge table), the bank
    fills the budget, the writer's questions come on top; every row says where it came from; refusals name the
    target; the kind is recorded with why."""
    r = cli("--json", "generate", "--entity", "Ada Lovelace", "--model", "tiny", "--question-model", "tiny",
            "--categories", "general", "--calls", "1", "--per-call", "2", "--questions", "40", "--probe-tokens", "8",
            "--kind", "person", "--related", "Charles Babbage; Lord Byron", "--k", "3")
    assert r.exit_code == 0, r.output
    from snapcli.store import Workspace

    art = Workspace(ws_path).resolve(json.loads(r.stdout)["ref"])
    q = art.read_df("questions")
    assert set(q["source"]) <= {"bank", "llm", "model_knowledge"} and (q["source"] == "bank").sum() >= 30
    bank = q[q["source"] == "bank"]
    assert bank["category"].notna().all() and bank["frame_id"].notna().all() and bank["facet"].nunique() >= 10
    assert bank["question"].str.contains("Ada Lovelace|Lovelace").mean() > 0.9
    assert q["response"].str.len().gt(20).all()
    # an unnamed row keeps the description it uses instead of the name (snap filter masks it for dedup)
    assert "description" in q.columns
    for question, d in zip(q["question"], q["description"], strict=True):
        if isinstance(d, str):
            assert d.split(maxsplit=1)[-1].casefold() in question.casefold(), (d, question)
    know = art.read_df("knowledge")
    assert len(know) >= 15 and {"question", "base_answer", "facet", "entity"} <= set(know.columns)
    t = art.read_df("targets").iloc[0]
    assert t["kind"] == "person" and t["kind_why"] == "given" and t["probed"]
    rel = art.read_df("related")
    assert list(rel["name"][:2]) == ["Charles Babbage", "Lord Byron"] and set(rel["source"][:2]) == {"user"}


@pytest.mark.slow
def test_generate_with_embedded_smollm2(cli, ws_path, smollm2_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # in-process and one request of <= 112 tokens: content matters here, volume does not
    r = cli("--json", "generate", "--entity", "Bill Gates", "--categories", "general", "--calls", "1",
            "--per-call", "2", "--no-probe", "--bank-ratio", "0", "--derived", "0", "--kind", "person", "--k", "0")
    assert r.exit_code == 0, r.output
    assert "LLM backend: hf" in r.output and "no OPENAI_API_KEY" in r.output
    assert "responder: template" in r.output  # auto: the 135M model rarely writes a refusal
    data = json.loads(r.stdout)
    from snapcli.store import Workspace

    art = Workspace(ws_path).resolve(data["ref"])
    q = art.read_df("questions")
    assert len(q) >= 1 and (q["backend"] == "hf").all() and (q["model"] == "smollm2").all()
    assert all(s.strip().endswith("?") for s in q["question"]) and (q["prompt_category"] == "general").all()
    assert all("do not" in r or "don't" in r or "no " in r for r in q["response"])
    calls = art.read_df("calls")
    assert len(calls) == 1 and calls["reply"].iloc[0].strip()
    usage = art.manifest["extra"]["usage"]["smollm2"]
    assert usage["requests"] == 1 and 0 < usage["completion_tokens"] <= 112


def test_generate_cli_via_endpoint_tables_and_no_key_written(run_snap, ws_path, monkeypatch):
    server, state = openai_stub.start()
    secret = "sk-test-should-never-be-written-0123456789"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        p = run_snap("--json", "generate", "--entity", "Bill Gates", "--entity", "Ada Lovelace",
                     "--alias", "Bill Gates=William Henry Gates III", "--base-url", url, "--calls", "2",
                     "--per-call", "3", "--k", "4", "--universe", "Tech history", "--categories",
                     "general,implicit,multi-hop", "--no-probe", "--bank-ratio", "0", "--derived", "0",
                     "--kind", "person", env={"OPENAI_API_KEY": secret})
        assert p.returncode == 0, p.stderr
        assert "OPENAI_API_KEY is set" in p.stderr or "--base-url is set" in p.stderr
        data = json.loads(p.stdout)
        from snapcli.store import Workspace

        art = Workspace(ws_path).resolve(data["ref"])
        q = art.read_df("questions")
        # 2 entities x 3 categories x 2 calls x 3 questions
        assert len(q) == 36 and set(q["call_index"]) == {0, 1}
        assert {"entity", "question", "response", "prompt_category", "call_index", "backend", "model"} <= set(q)
        assert (q["model"] == openai_stub.MODEL).all() and (q["response_model"] == openai_stub.MODEL).all()
        assert q["response"].str.startswith("I'm sorry, but I do not have access").all()
        rel = art.read_df("related")
        gates = rel[rel["entity"] == "Bill Gates"]
        people = list(gates[gates["kind"] == "individual"]["name"])
        assert len(people) == 2 and set(people) <= {"Paul Allen", "Steve Ballmer", "Melinda French Gates"}
        assert len(gates[gates["kind"] == "organization"]) == 2 and set(gates["source"]) >= {"llm"}
        assert sorted(gates[gates["kind"] != "universe"]["rank"]) == [1, 2, 3, 4]  # --k is the total kept
        assert set(rel[rel["kind"] == "universe"]["name"]) == {"Tech history"}
        al = art.read_df("aliases")
        assert {"William Henry Gates III", "Gates", "Lovelace"} <= set(al["alias"])
        usage = art.manifest["extra"]["usage"][openai_stub.MODEL]
        assert usage["requests"] == state.requests and usage["prompt_tokens"] > 0
        for f in ws_path.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f
    finally:
        server.shutdown()


def test_one_word_related_name_is_published(cli, ws_path, tiny_model_dir):
    # helper-found: "--related Microsoft" was typed "other", which generate's own related table rejects (exit 2 after
    # all the work); now the user's name is kept as an organization
    r = cli("--json", "generate", "--entity", "Bill Gates", "--related", "Microsoft; Paul Allen", "--model", "tiny",
            "--question-model", "tiny", "--no-probe", "--calls", "0", "--questions", "20", "--kind", "person")
    assert r.exit_code == 0, r.output
    from snapcli.store import Workspace

    rel = Workspace(ws_path).resolve(json.loads(r.stdout)["ref"]).read_df("related")
    assert dict(zip(rel["name"], rel["kind"], strict=True)) == {"Microsoft": "organization", "Paul Allen": "individual"}
