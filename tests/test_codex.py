"""`llmstack codex` without Docker: the provider settings, --print-config (a config.toml fragment
that reads back), --print-env, the run itself with a stand-in `codex` program and a stand-in
gateway, and the key kept off proxies and unverified gateways. The real Codex CLI through a real
stack: tests/e2e/test_agent_templates.py."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import tomllib

from llmstack import codex, stackdir
from tests.conftest import REPO
from tests.test_claude import _Live, key_of, render, run_llmstack

TINY = ("--model", "./models/tiny.gguf", "--cpu")
FAKE_CODEX = """#!/bin/sh
exec "{python}" -c 'import json, os, sys; print(json.dumps({{"args": sys.argv[1:], "env": dict(os.environ)}}))' "$@"
"""


@pytest.fixture
def stack(cli, workdir) -> Path:
    render(cli, *TINY, "--name", "s", "--max-model-len", "65536")
    return workdir / "compose" / "s"


@pytest.fixture
def fake_codex(tmp_path) -> Path:
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "codex"
    program.write_text(FAKE_CODEX.format(python=sys.executable))
    program.chmod(0o755)
    return bin_dir


def test_the_settings_point_codex_at_the_gateway(stack):
    cfg = codex.config(stackdir.load(str(stack)))
    assert (cfg.alias, cfg.base_url, cfg.context, cfg.key) == ("local-model", "http://127.0.0.1:4000/v1", 65536,
                                                               key_of(stack))
    settings = dict(cfg.settings())
    assert settings["model_providers.llmstack"] == {"name": "llmstack", "base_url": "http://127.0.0.1:4000/v1",
                                                    "env_key": "LLMSTACK_API_KEY", "wire_api": "responses"}
    assert settings["model_provider"] == "llmstack" and settings["model"] == "local-model"
    assert settings["model_context_window"] == 65536
    assert settings["analytics.enabled"] is False and settings["features.plugins"] is False
    assert settings["web_search"] == "disabled" and settings["features.multi_agent"] is False


def test_print_config_is_a_config_toml_fragment_without_the_key(cli, stack):
    result = cli("codex", str(stack), "--print-config")
    assert result.exit_code == 0, result.stderr
    data = tomllib.loads(result.stdout)
    assert data["model"] == "local-model" and data["model_provider"] == "llmstack"
    assert data["model_providers"]["llmstack"]["base_url"] == "http://127.0.0.1:4000/v1"
    assert data["model_providers"]["llmstack"]["env_key"] == "LLMSTACK_API_KEY"
    assert data["analytics"] == {"enabled": False}
    assert data["features"] == {"plugins": False, "multi_agent": False, "goals": False}
    assert key_of(stack) not in result.stdout


def test_command_args_are_the_same_settings_as_c_flags():
    cfg = codex.CodexConfig("a", "http://127.0.0.1:4000/v1", "sk-x", 4096)
    args = codex.command_args(cfg, ["exec", "hi"])
    assert args[-2:] == ["exec", "hi"]  # Codex's root options first, the subcommand after them
    flags = dict(value.split("=", 1) for value in args[1:-2:2])
    assert all(flag == "-c" for flag in args[:-2:2])
    assert tomllib.loads("\n".join(f"{key.replace('.', '_')} = {value}" for key, value in flags.items()))
    assert flags["model"] == '"a"' and flags["model_context_window"] == "4096"
    assert flags["model_providers.llmstack"].startswith('{name = "llmstack", base_url = "http://127.0.0.1:4000/v1"')
    assert "sk-x" not in " ".join(args)  # the key travels in the environment only
    # a model the user names wins over ours
    assert not any(a.startswith("model=") for a in codex.command_args(cfg, ["-m", "b", "exec", "hi"]))


def test_toml_strings_read_back_exactly():
    for text in ['a"b\\c', "tab\there", "line\nbreak", "\x7f\x00", "naïve ✓ 😀"]:
        assert tomllib.loads(f"x = {codex.toml_value(text)}")["x"] == text


def test_print_env_exports_the_key_and_no_proxy_for_loopback(cli, stack):
    result = cli("codex", str(stack), "--print-env")
    assert result.exit_code == 0, result.stderr
    done = subprocess.run(["sh", "-c", result.stdout + 'printf "%s\\n%s" "$LLMSTACK_API_KEY" "$NO_PROXY"'],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"], "NO_PROXY": "corp"})
    key, no_proxy = done.stdout.splitlines()
    assert key == key_of(stack) and no_proxy == "corp,127.0.0.1,localhost,::1"


def test_an_alias_that_is_not_in_the_stack_is_one_line(cli, stack):
    result = cli("codex", str(stack), "--model", "other", "--print-config")
    assert result.exit_code == 2 and "no alias of" in result.stderr and "local-model" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--print-config", "--print-env"], "exclude each other"),
    (["--print-config", "--", "exec", "x"], "arguments after `--` go to a codex run"),
    (["--model", "local-model", "--", "-m", "x"], "name the alias once"),
])
def test_option_mistakes_are_one_line(cli, stack, args, message):
    result = cli("codex", str(stack), *args)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_hand_edited_manifest_gets_no_key(cli, stack):
    manifest = stack / "llmstack-manifest.yaml"
    manifest.write_text(manifest.read_text().replace("127.0.0.1:4000", "203.0.113.9:4000"))
    result = cli("codex", str(stack), "--print-env")
    assert result.exit_code == 2 and "edited by hand" in result.stderr and key_of(stack) not in result.stdout


def test_no_gateway_is_an_input_error(cli, workdir):
    render(cli, *TINY, "--name", "bare", "--no-litellm")
    result = cli("codex", str(workdir / "compose" / "bare"), "--print-config")
    assert result.exit_code == 2 and "no LiteLLM gateway" in result.stderr


def test_missing_codex_binary_is_one_line_naming_the_install(cli, stack, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("codex", str(stack))
    assert result.exit_code != 0 and "npm install -g @openai/codex" in result.stderr


def test_run_execs_codex_with_the_settings_the_key_and_no_proxy(cli, workdir, fake_codex):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Live)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        render(cli, *TINY, "--name", "run", "--litellm-port", str(port), "--max-model-len", "65536")
        env = {"PATH": f"{fake_codex}:{os.environ['PATH']}", "HOME": str(workdir), "PYTHONPATH": str(REPO / "src"),
               "HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "corp"}
        result = run_llmstack("codex", "run", "--", "exec", "--json", "hello there", env=env, cwd=workdir)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["args"][-3:] == ["exec", "--json", "hello there"]
    assert f'model_providers.llmstack={{name = "llmstack", base_url = "http://127.0.0.1:{port}/v1", ' \
           'env_key = "LLMSTACK_API_KEY", wire_api = "responses"}' in seen["args"]
    assert seen["env"]["LLMSTACK_API_KEY"] == key_of(workdir / "compose" / "run")
    assert seen["env"]["NO_PROXY"] == seen["env"]["no_proxy"] == "corp,127.0.0.1,localhost,::1"


def test_run_stops_when_the_gateway_does_not_answer(cli, workdir, fake_codex):
    from tests.e2e.conftest import free_port

    render(cli, *TINY, "--name", "down", "--litellm-port", str(free_port()), "--max-model-len", "65536")
    env = {"PATH": f"{fake_codex}:{os.environ['PATH']}", "HOME": str(workdir), "PYTHONPATH": str(REPO / "src")}
    result = run_llmstack("codex", "down", env=env, cwd=workdir)
    assert result.returncode == 1 and "does not answer" in result.stderr
    assert result.stdout == ""  # codex never ran
