"""Fixtures for the end-to-end suite: a real Docker engine, real Compose, locally built images.

Without a reachable engine these tests are skipped, except under LLMSTACK_REQUIRE_DOCKER=1
(what CI sets), where a missing engine or Compose fails the run instead.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing
from tests.e2e import images

PROJECT_PREFIX = "llmstack-e2e-"


@pytest.fixture(scope="session")
def docker_engine() -> str:
    from llmstack.compose import check_engine, find_compose
    from llmstack.errors import LlmstackError

    try:
        version = check_engine()
        find_compose()
    except LlmstackError as exc:
        missing(f"end-to-end tests need a Docker engine and Compose v2: {exc}", "LLMSTACK_REQUIRE_DOCKER")
    return version


@pytest.fixture(scope="session")
def e2e_images(docker_engine) -> dict[str, str]:
    return {"litellm": images.litellm_image(), "backend": images.fake_backend_image()}


@pytest.fixture(scope="session")
def vllm_cpu_image(docker_engine) -> str:
    """The real vLLM server's image (CPU build, tests/e2e/vllm_image.py): built once, then cached."""
    from tests.e2e.vllm_image import ImageUnavailable, vllm_image

    try:
        return vllm_image()
    except ImageUnavailable as exc:
        missing(f"the real vLLM image cannot be built: {exc}", "LLMSTACK_REQUIRE_DOCKER")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compose_down(directory: Path, volumes: bool = True) -> None:
    from llmstack.compose import Project, find_compose

    args = ["down", "--remove-orphans", "--timeout", "5"] + (["--volumes"] if volumes else [])
    Project(find_compose(), directory).run(*args, check=False)


def project_containers(project: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def project_volumes(project: str) -> list[str]:
    out = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def inspect(container: str) -> dict:
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


@dataclass
class RunningStack:
    name: str
    directory: Path
    gateway: str
    backend: str  # the stand-in backend's published URL (for its request log)
    key: str

    def recorded(self) -> list[dict]:
        return httpx.get(f"{self.backend}/_requests", timeout=5).json()

    def clear(self) -> None:
        httpx.delete(f"{self.backend}/_requests", timeout=5)


class StackFactory:
    """Renders stacks into a temporary directory and takes down every project it started."""

    def __init__(self, root: Path, images: dict[str, str], cli):
        self.root = root
        self.images = images
        self.cli = cli
        self.started: list[Path] = []

    def render(self, *extra: str, model: str | None = None, startup: float = 2.0) -> RunningStack:
        name = PROJECT_PREFIX + uuid.uuid4().hex[:8]
        model_dir = self.root / "models" / "Qwen2.5-0.5B-Instruct"
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "config.json").write_text("{}")
        gateway_port, backend_port = free_port(), free_port()
        out = self.root / name
        result = self.cli(
            "render", "--model", model or str(model_dir), "--backend", "vllm", "--cpu", "--name", name,
            "--output", str(out), "--backend-image", self.images["backend"],
            "--litellm-image", self.images["litellm"], "--litellm-port", str(gateway_port),
            "--port", str(backend_port), "--publish-backend",
            f"--extra-arg=--fake-startup-seconds={startup}",
            # One gateway worker: on these shared 2-core hosts uvicorn kept re-spawning the
            # default two (issue #16; what the default should be is measured in benchmarks/).
            *([] if any(a.startswith("--litellm-workers") for a in extra) else ["--litellm-workers", "1"]),
            *extra,
        )
        assert result.exit_code == 0, result.stderr
        self.started.append(out)
        key = (out / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        return RunningStack(name, out, f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{backend_port}", key)

    def cleanup(self) -> None:
        for directory in self.started:
            compose_down(directory)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory, e2e_images):
    from tests.conftest import Cli

    factory = StackFactory(tmp_path_factory.mktemp("stacks"), e2e_images, Cli())
    yield factory
    factory.cleanup()


def wrong_key() -> str:
    return "sk-wrong-" + secrets.token_hex(8)


@pytest.fixture(scope="session")
def claude_code(docker_engine) -> Path:
    """The real Claude Code CLI at the pinned version (`.ci/run` installs it: python -m tests.e2e.claude_code)."""
    from tests.e2e import claude_code as cc

    found = cc.installed()
    if found is None:
        missing(f"Claude Code {cc.VERSION} is not installed in {cc.PREFIX}; install it with "
                "`python -m tests.e2e.claude_code` (what .ci/run does)", "LLMSTACK_REQUIRE_DOCKER")
    return found


@pytest.fixture(scope="session")
def codex_binary(docker_engine) -> Path:
    """The real Codex CLI at the pinned version (python -m tests.e2e.codex installs it)."""
    from tests.e2e import codex as cx

    found = cx.installed()
    if found is None:
        missing(f"Codex {cx.VERSION} is not installed in {cx.PREFIX}; install it with `python -m tests.e2e.codex`",
                "LLMSTACK_REQUIRE_DOCKER")
    return found


@pytest.fixture
def workspace(tmp_path):
    """A fresh HOME and working directory for one Claude Code run."""
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path
