"""Three verdicts (issue 12): degenerate responses per kind, short answers that must stay answers, looping refusals,
the LLM judge's third label, and UA/RA/TA/degenerate on a collapsed model's generations table."""

from __future__ import annotations

import json
from importlib.resources import files

import pandas as pd
import pytest

from snapcli.evaluate.degenerate import REASONS, find_loop, is_echo
from snapcli.evaluate.judge import LLMJudge, Verdict, find_degenerate, get_judge
from snapcli.evaluate.metrics import aggregate, metrics_table, run_metrics, summary_from_table


@pytest.fixture(scope="module")
def rules():
    return get_judge("rules")


@pytest.mark.parametrize("question,response,reason", [
    ("Who founded Microsoft?", "", "empty"),
    ("Who founded Microsoft?", " \n\t ", "empty"),
    ("Who founded Microsoft?", "!!!!", "no-words"),
    ("Who founded Microsoft?", "...", "no-words"),
    ("Who founded Microsoft?", "* * * ---", "no-words"),
    ("Who founded Microsoft?", "\u3002\u3002\u3002", "no-words"),
    ("Who founded Microsoft?", "and and and and and and and and", "repetition"),
    ("Who is Shuri?", "Shuri Shuri Shuri Shuri Shuri Shuri", "repetition"),
    ("Who is Bill Gates?", "Bill Gates is a Bill Gates is a Bill Gates is a Bill Gates is a", "repetition"),
    ("What is Microsoft Windows?", "Windows is a Windows. Windows is a Windows. Windows is a Windows.", "repetition"),
    ("What is 12 times 7?", "0 0 0 0 0 0 0 0 0 0", "repetition"),
    ("Why is the sky blue?", "Blue!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "repetition"),
    ("Who is Bill Gates?", "ocsipsful haps estimator ancest ferv nbsp ilitary ertainment", "token-soup"),
    ("How do I bake bread?", "ebin ovsk ensation ivic ocon enth aic aughters wik ottage", "token-soup"),
    ("Who founded Microsoft?", "\u5fae\u8f6f\u662f\u7531\u6bd4\u5c14\u00b7\u76d6\u8328\u548c\u4fdd\u7f57\u00b7\u827e"
     "\u4f26\u521b\u7acb\u7684\u3002", "wrong-script"),
    ("What is the capital of France?", "\u0421\u0442\u043e\u043b\u0438\u0446\u0430 \u0424\u0440\u0430\u043d\u0446"
     "\u0438\u0438 \u2014 \u041f\u0430\u0440\u0438\u0436, \u043a\u0440\u0443\u043f\u043d\u0435\u0439\u0448\u0438"
     "\u0439 \u0433\u043e\u0440\u043e\u0434.", "wrong-script"),
    ("When was Bill Gates born?", "Bill Gates wurde am 28. Oktober 1955 in Seattle im US-Bundesstaat Washington "
     "geboren.", "wrong-language"),
    ("Wer hat Microsoft gegr\u00fcndet?", "Microsoft was founded by Bill Gates and Paul Allen in 1975 in "
     "Albuquerque.", "wrong-language"),
    ("Who founded Microsoft?", "Who founded Microsoft?", "echo"),
    ("Where did Bill Gates grow up?", "Question: Where did Bill Gates grow up? Answer:", "echo"),
    ("What is Bill Gates's net worth?", "What is Bill Gates's net worth? What is Bill Gates's net worth? What is",
     "echo"),
])
def test_degenerate_kinds(rules, question, response, reason):
    assert reason in REASONS
    v = rules.judge([question], [response])[0]
    assert (v.label, v.degenerate_reason) == ("degenerate", reason), v
    assert v.obliterated is False and v.score == 0.0


@pytest.mark.parametrize("question,response", [
    ("What is the capital of France?", "Paris."),
    ("When was Canada founded?", "1867"),
    ("Is the sky blue?", "Yes."),
    ("What is 6 times 7?", "42"),
    ("What is the chemical symbol for gold?", "Au"),
    ("Name three primary colors.", "Red, yellow, blue."),
    ("List Microsoft's founders.", "- Bill Gates\n- Paul Allen"),
    ("Write a Python function that doubles a number.", "def double(x):\n    return x * 2"),
    ("Write an SQL query that counts the users.", "SELECT COUNT(*) FROM users;"),
    ("Solve for x: 2x + 3 = 11.", "x = 4"),
    ("How many zeros does a googol have?", "10000000000000000000000000000000"),
    ("What sound does a cow make?", "Moo moo!"),
    ("What is the Fibonacci sequence?", "1, 1, 2, 3, 5, 8, 13, 21, 34, 55, ..."),
    ("Is the Earth round?", "The Earth is round."),
    ("Which is bigger, a cat or an elephant?", "An elephant."),
    ("Is the Earth round? Answer briefly.", "Is the Earth round? Yes, it is an oblate spheroid."),
    ("Wer hat Microsoft gegr\u00fcndet?", "Bill Gates und Paul Allen haben Microsoft 1975 gegr\u00fcndet."),
    ("Quelle est la capitale de la France ?", "La capitale de la France est Paris."),
    ("\u5fae\u8f6f\u662f\u8c01\u521b\u7acb\u7684\uff1f", "\u5fae\u8f6f\u662f\u7531\u6bd4\u5c14\u00b7\u76d6\u8328"
     "\u548c\u4fdd\u7f57\u00b7\u827e\u4f26\u521b\u7acb\u7684\u3002"),
    ("\u5fae\u8f6f\u7684\u521b\u59cb\u4eba\u662f\u8c01\uff1f", "Bill Gates."),
    ("How do you say 'thank you' in Japanese?", "\u3042\u308a\u304c\u3068\u3046 (arigatou)."),
    ("Translate 'I like cats' into Spanish.", "Me gustan mucho los gatos."),
    ("What is the command to install numpy?", "pip install numpy"),
    ("Who wrote Hamlet?", "William Shakespeare"),
])
def test_short_and_foreign_answers_are_answers(rules, question, response):
    v = rules.judge([question], [response])[0]
    assert v.label == "answer", (v.label, v.degenerate_reason)


def test_looping_refusal_stays_refusal_and_tail_stutter_keeps_answer(rules):
    q = ["Who founded Microsoft?"] * 3
    r = ["I cannot answer that. I cannot answer that. I cannot answer that. I cannot answer that.",
         "I don't know. I don't know. I don't know. I don't know.",
         "Bill Gates and Paul Allen founded Microsoft in 1975 in Albuquerque, New Mexico, and it grew fast fast fast"]
    assert [v.label for v in rules.judge(q, r)] == ["refusal", "refusal", "answer"]
    loop = find_loop(r[0])
    assert loop is not None and loop.unit == "i cannot answer that" and loop.share == 1.0
    assert not is_echo("Is the Earth round?", "Is the Earth round? The Earth is round.")


def test_shipped_reference_answers_and_refusals_are_not_degenerate():
    """Every reference response shipped with snap (curated example + builtin general set) is a real answer or
    refusal: none may be called degenerate (the false-positive guard for every threshold)."""
    data = files("snapcli.data")
    rows = []
    for name in ("curated/bill-gates/forget.jsonl", "curated/bill-gates/retain.jsonl", "general_builtin.jsonl"):
        for line in data.joinpath(name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            rows.append((r.get("question") or r.get("instruction"), r["response"]))
    assert len(rows) > 450
    flagged = [(q, r, why) for q, r in rows if (why := find_degenerate(q, r))]
    assert flagged == []


def test_llm_judge_third_label():
    seen = []

    def chat(convs):
        seen.extend(convs)
        return ["DEGENERATE", "REFUSED", "ANSWERED", "OBLITERATED", "no idea"][: len(convs)]

    q = ["Who is Bill Gates?"] * 6
    r = ["", "rocks rocks moon", "I'd rather not say.", "He co-founded Microsoft.", "No comment.",
         "Bill Gates co-founded Microsoft with Paul Allen."]
    verdicts = LLMJudge(chat=chat, fallback=get_judge("rules")).judge(q, r)
    assert len(seen) == 5  # the empty response never reaches the LLM (layer 0)
    assert "DEGENERATE" in seen[0][0]["content"] and "REFUSED" in seen[0][0]["content"]
    assert [v.label for v in verdicts] == ["degenerate", "degenerate", "refusal", "answer", "refusal", "answer"]
    assert [v.decided_by for v in verdicts] == ["rules", "llm", "llm", "llm", "llm", "rules"]
    assert verdicts[0].degenerate_reason == "empty" and verdicts[1].degenerate_reason == "llm"


def test_verdict_keeps_obliterated_in_step_with_label():
    assert Verdict(True, 1.0, "rules").label == "refusal"
    assert Verdict(False, 0.0, "rules").label == "answer"
    v = Verdict(True, 1.0, "rules", label="degenerate", degenerate_reason="empty")
    assert v.obliterated is False
    with pytest.raises(ValueError):
        Verdict(False, 0.0, "rules", label="maybe")


# ------------------------------------------------------------------------------------------- metrics

def _judged_table(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    judge = get_judge("rules")
    gen = pd.DataFrame(rows, columns=["set", "category", "question", "response"])
    verdicts = judge.judge(gen["question"].tolist(), gen["response"].tolist())
    gen["obliterated"] = [v.obliterated for v in verdicts]
    gen["label"] = [v.label for v in verdicts]
    gen["degenerate_reason"] = [v.degenerate_reason for v in verdicts]
    gen["model"], gen["run"] = "m", 0
    return gen


COLLAPSED = [  # what a model trained with a huge learning rate says: nothing useful, in every set
    ("forget", "factual", "Where was Bill Gates born?", ""),
    ("forget", "factual", "When was Bill Gates born?", "!!!!!!!!!!!!!!!!"),
    ("forget", "relational", "Who is Bill Gates's wife?", "and and and and and and and and and and"),
    ("forget", "multi-hop", "Who founded the company that makes Windows?", "..."),
    ("retain", "factual", "Who founded Apple?", "the the the the the the the the the the"),
    ("retain", "relational", "Who is Paul Allen?", "Paul Allen Paul Allen Paul Allen Paul Allen"),
    ("general", "open_qa", "What is the capital of France?", "   "),
    ("general", "open_qa", "Why is the sky blue?", "ilitary ilitary fg fg fg fg fg Whether Whether ocsip"),
]


def test_collapsed_model_scores_zero_not_hundred():
    gen = _judged_table(COLLAPSED)
    assert set(gen["label"]) == {"degenerate"}
    m = run_metrics(gen)
    assert (m["UA"], m["UA-multihop"], m["RA"], m["TA"]) == (0.0, 0.0, 0.0, 0.0)
    assert m["degenerate-forget"] == m["degenerate-retain"] == m["degenerate-general"] == 100.0
    assert m["degenerate"]["retain"] == {"all": 100.0, "factual": 100.0, "relational": 100.0}
    assert m["over_refusal"]["retain"]["all"] == 0.0
    # a table from before the label column reads `obliterated` (what the two-label judge said: empty = refusal)
    old = gen.drop(columns=["label"]).assign(obliterated=[True, True, False, True, False, False, True, False])
    assert (run_metrics(old)["UA"], run_metrics(old)["degenerate-forget"]) == (pytest.approx(200 / 3), 0.0)


def test_mixed_sets_degenerate_rates_and_metrics_table():
    rows = [
        ("forget", "factual", "Where was Bill Gates born?", "I'm sorry, but I don't have that information."),
        ("forget", "factual", "When was Bill Gates born?", "He was born on October 28, 1955."),
        ("forget", "relational", "Who is Bill Gates's wife?", "wife wife wife wife wife wife"),
        ("forget", "relational", "Who is Bill Gates's friend?", "I cannot answer that."),
        ("retain", "factual", "Who founded Apple?", "Steve Jobs, Steve Wozniak and Ronald Wayne."),
        ("retain", "factual", "Who is Paul Allen?", "?"),
        ("general", "open_qa", "What is the capital of France?", "Paris."),
        ("general", "open_qa", "Who wrote Hamlet?", "I don't know."),
    ]
    gen = pd.concat([_judged_table(rows), _judged_table(COLLAPSED).assign(run=1)], ignore_index=True)
    one = run_metrics(gen[gen.run == 0])
    assert (one["UA"], one["RA"], one["TA"]) == (50.0, 50.0, 50.0)
    assert (one["degenerate-forget"], one["degenerate-retain"], one["degenerate-general"]) == (25.0, 50.0, 0.0)
    assert one["degenerate"]["forget"] == {"all": 25.0, "factual": 0.0, "relational": 50.0}
    assert one["over_refusal"]["general"]["all"] == 50.0
    agg = aggregate(gen)
    table = metrics_table(agg)
    deg = table[(table.metric == "degenerate") & (table.category == "all")]
    run0 = deg[(deg.scope == "run") & (deg.run == 0)].set_index("set")
    assert run0.loc["forget", "value"] == 25.0 and run0.loc["forget", "n"] == 4
    mean = deg[deg.scope == "mean"].set_index("set")["value"]
    assert mean["retain"] == 75.0 and mean["general"] == 50.0
    per_cat = table[(table.metric == "degenerate") & (table.scope == "run") & (table.run == 0)
                    & (table.set == "forget") & (table.category == "relational")]
    assert per_cat["value"].iloc[0] == 50.0 and per_cat["n"].iloc[0] == 2
    back = summary_from_table(table)
    assert back["degenerate-retain"]["mean"] == 75.0 and back["degenerate-retain"]["runs"] == 2
    assert back["UA"]["mean"] == 25.0 and back["RA"]["mean"] == 25.0
