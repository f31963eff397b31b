"""The benchmarks still run (quick mode: tiny samples, nothing written, no timing asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def test_benchmarks_quick_mode_runs(e2e_images):
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=REPO, capture_output=True,
                            text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for heading in ("llmstack render (fresh directory)", "litellm own start", "backend direct",
                    "LiteLLM defaults", "llmstack rendered", "| 64-token stream | translated |",
                    "Native vs translated, requests/s", "| thinking in the history (400 chars) |"):
        assert heading in result.stdout


def test_benchmarks_on_the_real_vllm_run(vllm_cpu_image):
    """The two parts on the real vLLM server: one start each (minutes on a loaded 2-core host)."""
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "ready-vllm", "--only",
                             "anthropic-vllm"], cwd=REPO, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for heading in ("vLLM's own start (container start -> /health 200)", "| 64-token stream | translated |",
                    "| vLLM direct |", "fidelity (vLLM v0.32.0 (CPU build), scripted agent model)",
                    "| strict tool, forced: arguments |"):
        assert heading in result.stdout
