"""Data generation helpers that do not depend on the writer's strength (issue 11): question bank, surface variants,
neighbours, and what the model being unlearned knows about the target."""
