"""Shared helpers: timing, machine description, Markdown tables."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _timed(argv: list[str], cwd: Path | None, env: dict | None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode()[-300:]}")
    return elapsed


@dataclass(frozen=True)
class Command:
    argv: list[str]
    cwd: Path | None = None
    env: dict | None = None
    before: Callable[[], None] | None = None


def time_commands(commands: dict[str, Command], runs: int) -> dict[str, list[float]]:
    """Wall times of whole processes, taken in rounds (each round runs every command once, after
    one warm-up round) so that a machine slowing down or speeding up mid-run weighs on every
    command alike instead of on whichever happened to run then."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs + 1):
        for name, command in commands.items():
            if command.before:
                command.before()
            elapsed = _timed(command.argv, command.cwd, command.env)
            if i:
                samples[name].append(elapsed)
    return samples


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "n/a"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "n/a"


def machine() -> dict[str, str]:
    from llmstack import __version__

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    compose = shutil.which("docker-compose") or str(BIN / "docker-compose")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem}",
        "python": platform.python_version(),
        "llmstack": __version__,
        "docker engine": _version(["docker", "version", "--format", "{{.Server.Version}}"]),
        "compose": _version([compose, "version", "--short"]),
    }


def table(header: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def write_section(path: Path, title: str, body: str) -> None:
    """Replace the `## title` section of a results file with `body` (or add it before the notes,
    the first `## What ...` section, or at the end): every other section is left as it is."""
    text = path.read_text() if path.exists() else ""
    head = f"## {title}\n"
    block = f"{head}\n{body.strip()}\n\n"
    if head in text:
        before, rest = text.split(head, 1)
        after = rest.split("\n## ", 1)
        text = before + block + ("## " + after[1] if len(after) > 1 else "")
    elif "\n## What " in text:
        before, after = text.split("\n## What ", 1)
        text = before + "\n" + block + "## What " + after
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
