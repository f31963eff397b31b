"""The committed examples under compose/ are exactly what llmstack renders today, and every
one of them passes the real Compose CLI's validation (`config --quiet`)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, compose_config_quiet
from tests.examples import COMPOSE, EXAMPLES, render_args


@pytest.fixture
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def test_every_backend_has_an_example():
    from llmstack.backends import names

    rendered = " ".join(" ".join(args) for args in EXAMPLES.values())
    for backend in names():
        assert any(backend in name for name in EXAMPLES), backend
    assert "--cpu" in rendered and "qwen-coder-and-chat" in EXAMPLES


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_golden_example_is_up_to_date(cli, at_repo_root, name):
    result = cli(*render_args(name), "--check")
    assert result.exit_code == 0, (
        f"compose/{name} differs from a fresh render: {result.stderr}\n"
        "If the change is intended, run `python -m tests.examples` and commit the diff."
    )


@pytest.mark.parametrize("name", COMPOSE)
def test_golden_example_passes_compose_config(name):
    result = compose_config_quiet(REPO / "compose" / name)
    assert result.returncode == 0, result.stderr


def test_no_secret_in_committed_examples():
    for path in (REPO / "compose").rglob("*"):
        if path.is_file() and path.name != ".env":
            text = path.read_text()
            assert "LITELLM_MASTER_KEY=sk-" not in text
            assert "master_key: sk-" not in text
