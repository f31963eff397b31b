"""How fast the CLI answers: cold `llmstack --help` and `llmstack render`, against
`docker compose config --quiet` on the same output and a bare `python -c pass`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import BIN, REPO, median_ms, table, time_command

MODEL = "./tests/fixtures/models/Qwen2.5-7B-Instruct"


def compose_cli() -> list[str]:
    if shutil.which("docker") and os.system("docker compose version >/dev/null 2>&1") == 0:
        return ["docker", "compose"]
    return [shutil.which("docker-compose") or str(BIN / "docker-compose")]


def run(runs: int = 15) -> tuple[str, dict[str, float]]:
    llmstack = str(BIN / "llmstack")
    python = str(BIN / "python")
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    out = work / "out"
    env = {**os.environ, "LITELLM_MASTER_KEY": "sk-benchmark-only-not-a-secret"}

    def fresh():
        shutil.rmtree(out, ignore_errors=True)

    try:
        results = {
            "python -c pass": time_command([python, "-c", "pass"], runs),
            "llmstack --help": time_command([llmstack, "--help"], runs),
            "llmstack render (fresh directory)": time_command(
                [llmstack, "render", "--model", str(REPO / MODEL), "--gpus", "0,1", "--output", str(out)],
                runs, cwd=REPO, before=fresh),
            "llmstack render --check": time_command(
                [llmstack, "render", "--model", str(REPO / MODEL), "--gpus", "0,1", "--output", str(out),
                 "--check"], runs, cwd=REPO),
            "docker compose config --quiet (same file)": time_command(
                compose_cli() + ["config", "--quiet"], runs, cwd=out, env=env),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: median_ms(samples) for name, samples in results.items()}
    compose = medians["docker compose config --quiet (same file)"]
    rows = [[name, f"{ms:.0f} ms", f"{ms / compose:.2f}x"] for name, ms in medians.items()]
    text = table(["command", f"median of {runs}", "vs compose config"], rows)
    ratio = medians["llmstack render (fresh directory)"] / compose
    text += f"\n\nTarget: render within 2x of `docker compose config` on the same file: **{ratio:.2f}x** " \
            f"({'met' if ratio <= 2 else 'NOT met'})."
    return text, medians
