"""arena: a rustlings-style runner for ARENA interpretability exercises."""
