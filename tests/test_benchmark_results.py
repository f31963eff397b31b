"""RESULTS.md bookkeeping of the benchmark runner: `--only` replaces the parts it measured and
keeps the others' last figures (no timing here; the runner itself is exercised by the e2e suite)."""

from __future__ import annotations

from benchmarks.__main__ import document, sections_of
from benchmarks.gateway import Load, compare

INFO = {"date": "2026-01-01 00:00 UTC", "host": "test"}


def test_sections_round_trip_and_only_replaces_what_was_measured():
    first = document(INFO, {"CLI wall time": "cli v1", "Time to ready": "ready v1",
                            "Gateway overhead": "gateway v1"}, "## What was tuned\n\nnotes\n")
    previous = sections_of(first)
    assert previous == {"CLI wall time": "cli v1", "Time to ready": "ready v1", "Gateway overhead": "gateway v1"}

    second = document(INFO, {**previous, "CLI wall time": "cli v2"}, "## What was tuned\n\nnotes\n")
    assert sections_of(second) == {**previous, "CLI wall time": "cli v2"}
    assert second.index("## CLI wall time") < second.index("## Time to ready") < second.index("## What was tuned")
    assert second.count("notes") == 1


def test_compare_counts_wins_and_signs():
    def load(rps):
        return Load(rps=rps, p50_ms=1.0, p95_ms=2.0, chunks_per_s=0.0, errors=0)

    line = compare({(1, False): load(100), (16, True): load(50)}, {(1, False): load(90), (16, True): load(75)})
    assert "**1 of 2**" in line
    assert "plain x1 90 vs 100 (-10%)" in line
    assert "streamed x16 75 vs 50 (+50%)" in line
