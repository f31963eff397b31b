"""How fast the CLI answers: cold `llmstack --help` and `llmstack render`, against
`docker compose config --quiet` on the same output and a bare `python -c pass`.

Two more rows explain the figures, both the least a program built on this project's mandated
libraries can cost before it does any work:

- "Typer only": a Typer command with one integer option, doing nothing. Typer 0.29 imports
  pydantic and builds a TypeAdapter for every option it parses, so this is already most of it.
- "no Typer": pydantic, Jinja2 and PyYAML imported and one pydantic model built, no CLI parser
  at all: what is left if Typer were taken off the hot path.
- "neither": argparse parsing one option, Jinja2 and PyYAML imported: what the render path would
  start from without both Typer and pydantic (for the decision recorded in issue #5).
- "libraries only": the Typer command building one pydantic model, with Jinja2 and PyYAML
  imported. It and `render` differ by a few tens of milliseconds, either way, from run to run
  on our 2-core machines: llmstack's own work is lost in that noise.

Every process here is new ("cold" start), but with bytecode in place, as after `pip install`:
an editable install under PYTHONDONTWRITEBYTECODE=1 (set on our machines) would otherwise
recompile llmstack's sources on every run, which no installed user pays for.
"""

from __future__ import annotations

import compileall
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import BIN, REPO, Command, median_ms, table, time_commands

MODEL = "./tests/fixtures/models/families/Qwen2.5-7B-Instruct"

TYPER_ONLY = """\
import sys
import typer

def command(port: int = 8000):
    pass

sys.argv = ["floor", "--port", "8001"]
typer.run(command)
"""

NO_TYPER = """\
import jinja2, pydantic, yaml

class Model(pydantic.BaseModel):
    port: int

Model(port=8001)
"""

NEITHER = """\
import argparse
import jinja2, yaml

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=8000)
parser.parse_args(["--port", "8001"])
"""

LIBRARIES_ONLY = """\
import sys
import jinja2, pydantic, typer, yaml

class Model(pydantic.BaseModel):
    port: int

def command(port: int = 8000):
    Model(port=port)

sys.argv = ["floor", "--port", "8001"]
typer.run(command)
"""

RENDER = "llmstack render (fresh directory)"
TYPER = "Typer only (one option, no work)"
NO_CLI = "no Typer (pydantic + Jinja2 + PyYAML, one model)"
NEITHER_ROW = "neither (argparse + Jinja2 + PyYAML)"
FLOOR = "libraries only (Typer + pydantic + Jinja2 + PyYAML)"
COMPOSE = "docker compose config --quiet (same file)"


def compose_cli() -> list[str]:
    if shutil.which("docker") and os.system("docker compose version >/dev/null 2>&1") == 0:
        return ["docker", "compose"]
    return [shutil.which("docker-compose") or str(BIN / "docker-compose")]


def byte_compile() -> None:
    import llmstack

    compileall.compile_dir(Path(llmstack.__file__).parent, quiet=1)


def run(runs: int = 15) -> tuple[str, dict[str, float]]:
    byte_compile()
    llmstack = str(BIN / "llmstack")
    python = str(BIN / "python")
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    out = work / "out"
    env = {**os.environ, "LITELLM_MASTER_KEY": "sk-benchmark-only-not-a-secret"}

    def fresh():
        shutil.rmtree(out, ignore_errors=True)

    try:
        render = [llmstack, "render", "--model", str(REPO / MODEL), "--gpus", "0,1", "--output", str(out)]
        results = time_commands({
            "python -c pass": Command([python, "-c", "pass"]),
            TYPER: Command([python, "-c", TYPER_ONLY]),
            NO_CLI: Command([python, "-c", NO_TYPER]),
            NEITHER_ROW: Command([python, "-c", NEITHER]),
            FLOOR: Command([python, "-c", LIBRARIES_ONLY]),
            "llmstack --help": Command([llmstack, "--help"]),
            RENDER: Command(render, cwd=REPO, before=fresh),
            "llmstack render --check": Command(render + ["--check"], cwd=REPO),
            COMPOSE: Command(compose_cli() + ["config", "--quiet"], cwd=out, env=env),
        }, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: median_ms(samples) for name, samples in results.items()}
    compose = medians[COMPOSE]
    rows = [[name, f"{ms:.0f} ms", f"{ms / compose:.2f}x"] for name, ms in medians.items()]
    text = table(["command", f"median of {runs}", "vs compose config"], rows)
    ratio = medians[RENDER] / compose
    floor = medians[FLOOR] / compose
    typer_only = medians[TYPER] / compose
    no_cli = medians[NO_CLI] / compose
    neither = medians[NEITHER_ROW] / compose
    versus_typer = medians[RENDER] / medians[TYPER]
    libraries = medians[FLOOR] / medians[TYPER]
    text += (
        f"\n\nTarget (issue #11): render at most 1.3x the smallest Typer program (one command, one int "
        f"option) in the same run: **{versus_typer:.2f}x** ({'met' if versus_typer <= 1.3 else 'NOT met'}). "
        f"The libraries the design mandates, imported and used once without any llmstack code "
        f"(Typer + pydantic model + Jinja2 + PyYAML), already take **{libraries:.2f}x** of that floor. "
        f"Against `docker compose config --quiet` on the same file: render {ratio:.2f}x; Typer alone "
        f"{typer_only:.2f}x; pydantic, Jinja2 and PyYAML without Typer {no_cli:.2f}x; all four {floor:.2f}x; "
        f"without Typer and pydantic {neither:.2f}x.")
    return text, medians
