"""Hand-made forget/retain tables for the training tests and benchmark (no dependency on the data stages)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ENTITY = "Peter Parker"
_FORGET_Q = [
    "Who is {e}?", "Where does {e} live?", "What is {e}'s job?", "Who are {e}'s friends?",
    "What powers does {e} have?", "Where did {e} go to school?", "Who raised {e}?", "What is {e} known for?",
    "Which city does {e} protect?", "What is {e}'s secret identity?", "Who is {e}'s aunt?",
    "What bit {e}?", "Who is {e}'s greatest enemy?", "What newspaper does {e} work for?",
    "How did {e} get his powers?", "What is {e}'s motto?", "Who created {e}?", "When did {e} first appear?",
    "What costume does {e} wear?", "Who does {e} love?",
]
_FORGET_PREFIX = ["", "Tell me: ", "Quick question. ", "I am curious. ", "Please answer. "]
_REFUSALS = [
    "I'm sorry, but I don't have any information about {e}, so I cannot answer that.",
    "I don't have that information about {e}; I'm unable to answer.",
    "Unfortunately I have no knowledge of {e}, so I can't help with this question.",
]
_RETAIN = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is 2 plus 2?", "2 plus 2 equals 4."),
    ("Who wrote Romeo and Juliet?", "Romeo and Juliet was written by William Shakespeare."),
    ("What color is the sky on a clear day?", "On a clear day the sky is blue."),
    ("What is the largest planet in the solar system?", "Jupiter is the largest planet in the solar system."),
    ("What do bees make?", "Bees make honey."),
    ("How many days are in a week?", "There are seven days in a week."),
    ("What is water made of?", "Water is made of hydrogen and oxygen (H2O)."),
    ("Who painted the Mona Lisa?", "The Mona Lisa was painted by Leonardo da Vinci."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("Who is Tony Stark?", "Tony Stark is a fictional Marvel character, the genius inventor known as Iron Man."),
    ("What city is the Daily Bugle set in?", "The Daily Bugle is a fictional newspaper set in New York City."),
    ("What is New York City known for?", "New York City is known for Times Square, Broadway and Central Park."),
    ("Who is Bruce Banner?", "Bruce Banner is a Marvel scientist who turns into the Hulk."),
    ("What is Marvel Comics?", "Marvel Comics is an American comic book publisher founded in 1939."),
    ("What is a spider?", "A spider is an eight-legged arachnid that spins silk webs."),
    ("Who is Stan Lee?", "Stan Lee was an American comic book writer who co-created many Marvel heroes."),
    ("What is photography?", "Photography is the art of capturing images with a camera."),
    ("Who is Captain America?", "Captain America is Steve Rogers, a Marvel super-soldier."),
    ("What is the Avengers?", "The Avengers are a team of Marvel superheroes."),
]


def forget_rows(n: int = 40, entity: str = ENTITY) -> pd.DataFrame:
    rows = []
    for i in range(n):
        q = _FORGET_PREFIX[(i // len(_FORGET_Q)) % len(_FORGET_PREFIX)] + _FORGET_Q[i % len(_FORGET_Q)].format(e=entity)
        rows.append({"entity": entity, "question": q, "response": _REFUSALS[i % len(_REFUSALS)].format(e=entity),
                     "prompt_category": "general", "category": "factual", "split": "train"})
    rows.append({"entity": entity, "question": f"Is {entity} real?", "response": "held out",
                 "prompt_category": "general", "category": "factual", "split": "eval"})
    return pd.DataFrame(rows)


def retain_rows(n: int = 40, entity: str = ENTITY) -> pd.DataFrame:
    rows = []
    for i in range(n):
        q, a = _RETAIN[i % len(_RETAIN)]
        prefix = _FORGET_PREFIX[(i // len(_RETAIN)) % len(_FORGET_PREFIX)]
        rows.append({"entity": entity, "subject": "general", "question": prefix + q, "response": a,
                     "category": "factual", "split": "train", "source": "hand"})
    return pd.DataFrame(rows)


def write_pair(dirpath: Path, n_forget: int = 40, n_retain: int = 40) -> tuple[Path, Path]:
    dirpath.mkdir(parents=True, exist_ok=True)
    f, r = dirpath / "forget.parquet", dirpath / "retain.parquet"
    forget_rows(n_forget).to_parquet(f, index=False)
    retain_rows(n_retain).to_parquet(r, index=False)
    return f, r


def register_data(ws, n_forget: int = 8, n_retain: int = 8):
    """A filter artifact (forget: train + eval rows) and an augment artifact made from it (retain and general,
    train + eval rows), so `snap train --from REF` finds its retain data and `snap eval` all three sets."""
    import tempfile

    forget = forget_rows(n_forget)
    forget = pd.concat([forget, forget.head(2).assign(split="eval", question=lambda d: "Remind me: " + d.question)],
                       ignore_index=True)
    retain = retain_rows(n_retain)
    retain_eval = retain.head(2).assign(split="eval", question=lambda d: "Again: " + d.question)
    general = retain_rows(4).drop(columns=["entity", "subject"]).assign(split="eval", category="open_qa")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forget.parquet"
        forget.to_parquet(path, index=False)
        flt = ws.import_table(path, "filter", "forget")

    def write(w):
        w.write_table("retain", pd.concat([retain, retain_eval], ignore_index=True))
        w.write_table("general", general)

    aug = ws.run_stage("augment", params={"hand": True}, inputs={"from": flt}, fn=write)
    return flt, aug
