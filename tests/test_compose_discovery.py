"""Compose discovery and engine checks, with fake `docker` / `docker-compose` programs on PATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmstack import compose
from llmstack.errors import LlmstackError


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d))  # only the fakes (they run under /bin/sh by absolute path)
    monkeypatch.setattr(compose, "_beside_python", lambda program: None)  # not the test venv's own Compose
    return d


PLUGIN = 'if [ "$1 $2" = "compose version" ]; then echo "2.29.7"; exit 0; fi\n'
NO_PLUGIN = 'if [ "$1" = "compose" ]; then echo "docker: \'compose\' is not a docker command." >&2; exit 1; fi\n'
ENGINE_UP = 'if [ "$1" = "version" ]; then echo "27.3.1"; exit 0; fi\n'
ENGINE_DOWN = ('if [ "$1" = "version" ]; then echo "Cannot connect to the Docker daemon at '
               'unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; fi\n')


def test_plugin_is_preferred(bin_dir):
    fake(bin_dir, "docker", PLUGIN)
    fake(bin_dir, "docker-compose", 'echo "Docker Compose version v2.20.0"\n')
    found = compose.find_compose()
    assert found.argv == ("docker", "compose") and found.version == "2.29.7"


def test_standalone_v2_when_no_plugin(bin_dir):
    fake(bin_dir, "docker", NO_PLUGIN)
    fake(bin_dir, "docker-compose", '[ "$2" = "--short" ] && echo "5.6.1" || echo "Docker Compose version v5.6.1"\n')
    found = compose.find_compose()
    assert found.argv == (str(bin_dir / "docker-compose"),) and found.version_tuple == (5, 6, 1)


def test_compose_v1_is_refused(bin_dir):
    fake(bin_dir, "docker", NO_PLUGIN)
    # v1 knows no --short and prints "docker-compose version 1.29.2, build 5becea4c"
    fake(bin_dir, "docker-compose",
         'if [ "$2" = "--short" ]; then echo "no such option: --short" >&2; exit 1; fi\n'
         'echo "docker-compose version 1.29.2, build 5becea4c"\n')
    with pytest.raises(LlmstackError, match="Compose v1"):
        compose.find_compose()


def test_no_compose_at_all(bin_dir):
    fake(bin_dir, "docker", NO_PLUGIN)
    with pytest.raises(LlmstackError, match="Docker Compose v2 not found"):
        compose.find_compose()


def test_compose_beside_llmstacks_own_python_when_not_on_path(tmp_path, monkeypatch):
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    fake(venv, "docker-compose", 'echo "Docker Compose version v5.6.1"\n')
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # neither docker nor docker-compose on PATH
    monkeypatch.setattr("sys.executable", str(venv / "python"))
    monkeypatch.setattr("sys.prefix", str(tmp_path / "venv"))
    found = compose.find_compose()
    assert found.argv == (str(venv / "docker-compose"),) and found.version == "5.6.1"


def test_engine_reachable_and_not(bin_dir):
    fake(bin_dir, "docker", ENGINE_UP)
    assert compose.check_engine() == "27.3.1"
    fake(bin_dir, "docker", ENGINE_DOWN)
    with pytest.raises(LlmstackError, match="cannot reach the Docker engine .*Is the docker daemon running"):
        compose.check_engine()


def test_no_docker_cli(bin_dir):
    with pytest.raises(LlmstackError, match="docker CLI is not installed"):
        compose.check_engine()


def test_up_without_engine_is_one_clear_line(cli, workdir, bin_dir):
    assert cli("render", "--model", "./models/tiny.gguf", "--cpu", "--name", "t").exit_code == 0
    fake(bin_dir, "docker", ENGINE_DOWN)
    result = cli("up", "compose/t")
    assert result.exit_code != 0
    assert "Docker engine" in result.stderr and "Traceback" not in result.stderr
    os.environ.pop("LITELLM_MASTER_KEY", None)
