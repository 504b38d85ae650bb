"""Evaluation: generation, refusal judge, metrics, reports, capability benchmarks."""
