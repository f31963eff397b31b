"""llmstack benchmarks: `python -m benchmarks` (see README "Benchmarks")."""
