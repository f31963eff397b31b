"""Which rendered directory the runtime commands (up, down, status, logs, smoke) act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmstack.errors import LlmstackError
from llmstack.stackdir import locate


def stack(root: Path, name: str) -> Path:
    directory = root / "compose" / name
    directory.mkdir(parents=True)
    (directory / "docker-compose.yml").write_text("services: {}\n")
    return directory


def test_named_stack_or_directory(workdir):
    a = stack(workdir, "a")
    assert locate("a") == a.resolve()
    assert locate(str(a)) == a.resolve()
    with pytest.raises(LlmstackError, match=r"^b: no docker-compose.yml there \(nor in compose/b\)"):
        locate("b")


def test_without_a_target_this_directory_wins(workdir):
    stack(workdir, "a")
    (workdir / "docker-compose.yml").write_text("services: {}\n")
    assert locate(None) == workdir.resolve()


def test_without_a_target_the_only_rendered_stack(workdir):
    a = stack(workdir, "a")
    assert locate(None) == a.resolve()


def test_without_a_target_several_stacks_are_named(workdir, cli):
    stack(workdir, "b")
    stack(workdir, "a")
    with pytest.raises(LlmstackError, match=r"several stacks under compose/ \(a, b\); name one"):
        locate(None)
    result = cli("down")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "llmstack: error: several stacks under compose/ (a, b); name one, e.g. `a`"]


def test_without_a_target_and_nothing_rendered(workdir, cli):
    result = cli("status")
    assert result.exit_code == 2
    assert "no docker-compose.yml here and no stack under compose/" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_logs_takes_a_lone_service_name_for_the_default_stack(workdir):
    from llmstack.stackdir import load_with_service

    directory = stack(workdir, "a")
    (directory / "llmstack-manifest.yaml").write_text(
        "format: 1\nstack: {project: a, services: [backend, litellm], backends: [backend]}\n")
    found, service = load_with_service("litellm", None)
    assert (found.directory, service) == (directory.resolve(), "litellm")
    found, service = load_with_service("a", "backend")
    assert (found.directory, service) == (directory.resolve(), "backend")
    with pytest.raises(LlmstackError, match=r"^gateway: no such service in .*; pick one of: backend, litellm$"):
        load_with_service("a", "gateway")
    with pytest.raises(LlmstackError, match=r"^nope: no docker-compose.yml there"):
        load_with_service("nope", None)
