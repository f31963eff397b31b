"""The real Claude Code CLI for the end-to-end tests: installed from npm at a pinned version into
the e2e cache (once), run non-interactively, offline and bounded (see shared TESTING.md §7).

    python -m tests.e2e.claude_code     # install it if missing (what .ci/run does), print its path
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.images import CACHE, log

VERSION = os.environ.get("LLMSTACK_E2E_CLAUDE_CODE", "2.1.332")
PACKAGE = "@anthropic-ai/claude-code"
PREFIX = CACHE / f"claude-code-{VERSION}"
BINARY = PREFIX / "node_modules" / ".bin" / "claude"


def installed() -> Path | None:
    """The pinned Claude Code, if it is installed and answers `--version`."""
    if not BINARY.exists():
        return None
    try:
        out = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return BINARY if out.startswith(VERSION) else None


def install() -> Path:
    """`npm install PACKAGE@VERSION` into the cache (npm keeps its own download cache too)."""
    found = installed()
    if found:
        return found
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm is not installed (apt-get install npm)")
    PREFIX.mkdir(parents=True, exist_ok=True)
    log(f"npm install {PACKAGE}@{VERSION} (a ~245 MB native binary, once)")
    subprocess.run([npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "--loglevel=error",
                    f"{PACKAGE}@{VERSION}"], check=True, stdout=subprocess.DEVNULL)
    found = installed()
    if not found:
        raise RuntimeError(f"npm installed {PACKAGE}@{VERSION} but {BINARY} does not run")
    return found


@dataclass
class Run:
    code: int
    result: dict  # Claude Code's `--output-format json` object ({} when it printed none)
    stdout: str
    stderr: str
    seconds: float

    @property
    def text(self) -> str:
        return str(self.result.get("result", ""))

    def __str__(self) -> str:
        return (f"exit {self.code} after {self.seconds:.1f}s\nstdout: {self.stdout[-1500:]}\n"
                f"stderr: {self.stderr[-1500:]}")


def environment(binary: Path, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: a fresh HOME, nothing of the caller's Anthropic settings, bounded retries."""
    env = {
        "PATH": f"{binary.parent}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "IS_SANDBOX": "1",  # root may skip permission prompts (only --allowedTools is used here)
        "CLAUDE_CODE_MAX_RETRIES": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
    }
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> Run:
    """One bounded, non-interactive run; prints nothing on the terminal."""
    start = time.monotonic()
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -9
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")) + "\n(timed out)"
    result: dict = {}
    for line in reversed(stdout.strip().splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            result = parsed
            break
    return Run(code, result, stdout, stderr, time.monotonic() - start)


def print_args(prompt: str, *extra: str) -> list[str]:
    """Claude Code's non-interactive mode: one prompt, one JSON object out, nothing saved."""
    return ["-p", prompt, "--output-format", "json", "--no-session-persistence", *extra]


if __name__ == "__main__":
    print(install())


def llmstack_claude(directory: Path, binary: Path, workspace: Path, *claude_args: str, timeout: float = 120,
                    **env: str) -> Run:
    """`llmstack claude DIR -- ARGS` as a user runs it (a subprocess: it execs claude), with a fresh
    HOME (workspace/home) and working directory (workspace/work)."""
    llmstack = Path(sys.executable).parent / "llmstack"
    argv = [str(llmstack), "claude", str(directory), "--", *claude_args]
    return run(argv, environment(binary, workspace / "home", **env), workspace / "work", timeout=timeout)
