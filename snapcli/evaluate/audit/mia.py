"""Membership signal: does the unlearned model still assign its old answers a high likelihood? (issue 12, item 6)

Scores (higher = more "member-like", the convention of RWKU's eval_mia and of the Min-K% papers):

- ``loss``   mean token log-likelihood of the scored tokens (Yeom et al. 2018; the LOSS attack);
- ``mink``   mean of the lowest k% token log-likelihoods (Min-K% Prob, Shi et al. 2024, k = 20%);
- ``mink++`` mean of the lowest k% z-scores (log p(x_t) - mu_t) / sigma_t, where mu_t and sigma_t^2 are the mean
  and variance of log p(z) under the model's own next-token distribution p(. | x_<t) (Min-K%++, Zhang et al. 2024,
  arXiv 2404.02936; the same formula as open-unlearning's and RWKU's implementations).

A text is a plain string (every token after the first is scored) or a (question, answer) pair, rendered with the
model's chat template and scored on the answer tokens only (snapcli.train.data.encode, as in training).

`mia_compare` asks the question of issue 12: positives = the base model's answers to the forget questions,
negatives = its answers to retain questions, AUC of the score before (base model) and after (unlearned model).
Before, both sets are the model's own generations, so the AUC sits near 0.5. A model that really lost the
knowledge finds its old forget answers unlikely: the AUC falls well below 0.5. An AUC that stays where it was
means the old answers are as likely as before - the knowledge is hidden behind a refusal, not removed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from snapcli.errors import SnapError
from snapcli.train.data import IGNORE, Example, collate, encode

Text = str | tuple[str, str]


class MIAMethod(abc.ABC):
    """One membership score: `score(token_logprobs, z_scores) -> float` for one text's scored tokens."""

    name = "base"
    needs_vocab_stats = False

    def __init__(self, k: float = 0.2):
        if not 0.0 < k <= 1.0:
            raise SnapError(f"MIA k must be in (0, 1] (got {k})")
        self.k = k

    @abc.abstractmethod
    def score(self, token_lp: torch.Tensor, z: torch.Tensor | None) -> float:
        """Membership score of one text (higher = more likely seen); token_lp: (n,) log-probs, z: (n,) or None."""

    def _lowest_k_mean(self, values: torch.Tensor) -> float:
        n = max(1, int(values.numel() * self.k))
        return float(torch.sort(values).values[:n].mean())


class LossMIA(MIAMethod):
    name = "loss"

    def score(self, token_lp, z):
        return float(token_lp.mean())


class MinKMIA(MIAMethod):
    name = "mink"

    def score(self, token_lp, z):
        return self._lowest_k_mean(token_lp)


class MinKPlusPlusMIA(MIAMethod):
    name = "mink++"
    needs_vocab_stats = True

    def score(self, token_lp, z):
        assert z is not None
        return self._lowest_k_mean(z)


MIA_METHODS: dict[str, type[MIAMethod]] = {c.name: c for c in (LossMIA, MinKMIA, MinKPlusPlusMIA)}


def get_mia_method(name: str, k: float = 0.2) -> MIAMethod:
    if name not in MIA_METHODS:
        raise SnapError(f"unknown MIA method '{name}' (choose from {', '.join(MIA_METHODS)})")
    return MIA_METHODS[name](k=k)


def _example(tok, text: Text, max_length: int) -> Example:
    if isinstance(text, tuple):
        question, answer = text
        return encode(tok, str(question), str(answer), max_length, loss_on="response")
    ids = tok(str(text), add_special_tokens=True)["input_ids"][:max_length]
    return Example(list(ids), list(ids))


def token_stats(model, tok, texts: Sequence[Text], *, batch_size: int = 8, max_length: int = 256,
                vocab_stats: bool = True) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Per text: (log p of each scored token [T], Min-K%++ z-score of each [T] or None). T >= 1 or the text is
    rejected: a text with no scored token (empty answer) raises SnapError naming it."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    device = next(model.parameters()).device
    examples = [_example(tok, t, max_length) for t in texts]
    for i, e in enumerate(examples):
        if sum(lab != IGNORE for lab in e.labels[1:]) == 0:
            raise SnapError(f"MIA text {i} has no token to score ({str(texts[i])[:60]!r})")
    out: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start:start + batch_size], pad)
            with torch.no_grad():
                logits = model(input_ids=batch["input_ids"].to(device),
                               attention_mask=batch["attention_mask"].to(device), use_cache=False).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            labels = batch["labels"][:, 1:].to(device)
            mask = labels != IGNORE
            tok_lp = logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            z = None
            if vocab_stats:
                p = logp.exp()
                mu = (p * logp).sum(-1)
                var = (p * logp.square()).sum(-1) - mu.square()
                z = (tok_lp - mu) / var.clamp_min(1e-12).sqrt()
            for row in range(labels.shape[0]):
                m = mask[row]
                out.append((tok_lp[row][m].cpu(), z[row][m].cpu() if z is not None else None))
    finally:
        model.train(was_training)
    return out


def mia_scores(model, tok, texts: Sequence[Text], method: str = "mink++", *, k: float = 0.2,
               batch_size: int = 8, max_length: int = 256) -> list[float]:
    """One membership score per text (higher = more member-like); method: loss | mink | mink++."""
    m = get_mia_method(method, k)
    stats = token_stats(model, tok, texts, batch_size=batch_size, max_length=max_length,
                        vocab_stats=m.needs_vocab_stats)
    return [m.score(lp, z) for lp, z in stats]


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Area under the ROC curve of `pos` scored above `neg`: P(score(pos) > score(neg)) + 0.5 P(tie), computed as
    the Mann-Whitney U statistic with average ranks for ties. 1.0 = every positive above every negative, 0.5 = no
    signal. Raises ValueError for an empty side or a NaN score."""
    if not len(pos) or not len(neg):
        raise ValueError("auc needs at least one positive and one negative score")
    vals = [(float(v), 1) for v in pos] + [(float(v), 0) for v in neg]
    if any(v != v for v, _ in vals):
        raise ValueError("auc got a NaN score")
    vals.sort(key=lambda t: t[0])
    rank_sum = 0.0
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1][0] == vals[i][0]:
            j += 1
        avg_rank = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += avg_rank * sum(lab for _, lab in vals[i:j + 1])
        i = j + 1
    n_pos, n_neg = len(pos), len(neg)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@dataclass
class MIAResult:
    method: str
    auc_before: float | None
    auc_after: float
    forget_mean_before: float | None
    forget_mean_after: float
    retain_mean_before: float | None
    retain_mean_after: float
    n_forget: int
    n_retain: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def mia_compare(unlearned, tok, forget: Sequence[Text], retain: Sequence[Text], *, base=None,
                methods: Sequence[str] = ("loss", "mink", "mink++"), k: float = 0.2, batch_size: int = 8,
                max_length: int = 256) -> list[MIAResult]:
    """AUC of forget (positive) vs retain (negative) texts under each method, for the unlearned model and, when
    `base` is given, the base model. One forward pass per text per model covers every method."""
    if not forget or not retain:
        raise SnapError("MIA needs at least one forget and one retain text")
    ms = [get_mia_method(m, k) for m in methods]
    vocab = any(m.needs_vocab_stats for m in ms)

    def scores(model) -> dict[str, tuple[list[float], list[float]]]:
        st = token_stats(model, tok, [*forget, *retain], batch_size=batch_size, max_length=max_length,
                         vocab_stats=vocab)
        all_s = {m.name: [m.score(lp, z) for lp, z in st] for m in ms}
        return {n: (s[:len(forget)], s[len(forget):]) for n, s in all_s.items()}

    after = scores(unlearned)
    before = scores(base) if base is not None else None
    out = []
    for m in ms:
        f_a, r_a = after[m.name]
        f_b, r_b = before[m.name] if before else (None, None)
        out.append(MIAResult(
            method=m.name, auc_before=auc(f_b, r_b) if f_b else None, auc_after=auc(f_a, r_a),
            forget_mean_before=sum(f_b) / len(f_b) if f_b else None, forget_mean_after=sum(f_a) / len(f_a),
            retain_mean_before=sum(r_b) / len(r_b) if r_b else None, retain_mean_after=sum(r_a) / len(r_a),
            n_forget=len(forget), n_retain=len(retain),
        ))
    return out
