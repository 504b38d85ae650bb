"""The audit toolkit (issue 12): leakage without gold facts, adversarial probes, relearning and quantization
attacks, the membership signal, and the certificate. See docs/audit.md.

    from snapcli.evaluate.audit import run_audit, AuditConfig, build_certificate, render_html, verify
"""

from snapcli.evaluate.audit.attacks import ATTACKS, AttackOutcome, get_attack, parse_attacks, recovery
from snapcli.evaluate.audit.certificate import (
    EXIT_REQUIREMENT_FAILED,
    build_certificate,
    check_requirements,
    parse_requirements,
    render_html,
    verify,
)
from snapcli.evaluate.audit.leakage import LEAK_THRESHOLD, LeakScore, leakage_rate, leakage_scores
from snapcli.evaluate.audit.mia import MIA_METHODS, auc, mia_compare, mia_scores
from snapcli.evaluate.audit.probes import PROBES, get_probe, parse_probes
from snapcli.evaluate.audit.runner import AuditConfig, AuditResult, base_answers, run_audit

__all__ = [
    "ATTACKS", "EXIT_REQUIREMENT_FAILED", "LEAK_THRESHOLD", "MIA_METHODS", "PROBES", "AttackOutcome", "AuditConfig",
    "AuditResult", "LeakScore", "auc", "base_answers", "build_certificate", "check_requirements", "get_attack",
    "get_probe", "leakage_rate", "leakage_scores", "mia_compare", "mia_scores", "parse_attacks", "parse_probes",
    "parse_requirements", "recovery", "render_html", "run_audit", "verify",
]
