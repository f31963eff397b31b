"""Claude Code support without Docker: the Anthropic route per backend, the context notice, and
`llmstack claude` (environment, --print-env, --settings [--write], the run itself with a stand-in
`claude` program and a stand-in gateway)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from llmstack import backends, claude
from tests.conftest import REPO

TINY = ("--model", "./models/tiny.gguf", "--cpu")
QWEN = ("--model", "./models/Qwen2.5-7B-Instruct")
NATIVE = ["/v1/chat/completions", "/v1/messages"]


def model_info(directory: Path) -> dict[str, dict]:
    config = yaml.safe_load((directory / "litellm-config.yaml").read_text())
    return {e["model_name"]: e["model_info"] for e in config["model_list"]}


def render(cli, *args: str):
    result = cli("render", *args)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result


# ---- the Anthropic route ---------------------------------------------------------------------

@pytest.mark.parametrize("name, version, serves", [
    ("vllm", "v0.12.0", True), ("vllm", "v0.11.0", False), ("sglang", "v0.5.6", False), ("sglang", "v0.5.9", True),
    ("llama", "b7349", True), ("llama", "b6000", False), ("llama", "latest", None), ("trtllm", "1.0.0", None),
    ("trtllm", "1.2.1", None), ("external", None, None),
])
def test_which_versions_serve_messages(name, version, serves):
    assert backends.get(name).facts(version).serves_messages is serves


@pytest.mark.parametrize("name, route", [("vllm", "native"), ("sglang", "native"), ("llama", "native"),
                                         ("trtllm", "translated"), ("external", "translated")])
def test_default_route_at_the_pinned_version(name, route):
    """vLLM and SGLang are native where their catalogue entry says /v1/messages takes Claude Code's
    shapes, vLLM from the release measured on the real server (Vllm.anthropic_routes)."""
    backend = backends.get(name)
    assert backend.facts(backend.defaults.version or None).anthropic_route == route


@pytest.mark.parametrize("name, version, route", [
    ("sglang", "v0.5.9", "translated"), ("sglang", "v0.5.12", "translated"),  # no role: system in messages yet
    ("sglang", "v0.5.14", "native"), ("sglang", "v0.5.30", "native"),  # the catalogue's claude_code_route_since
    ("vllm", "v0.23.0", "translated"), ("vllm", "v0.24.0", "translated"),  # takes Claude Code's shapes, not measured
    ("vllm", "v0.32.0", "native"),  # measured on the real server (benchmarks/RESULTS.md)
    ("vllm", "v0.33.0", "native"), ("vllm", "v0.40.0", "native"),  # later: by the catalogue (the nearest entry)
    ("llama", "b7349", "native"), ("llama", "b11312", "native"),
])
def test_the_route_follows_the_version(name, version, route):
    assert backends.get(name).facts(version).anthropic_route == route


def test_llama_is_native_and_every_claude_route_says_so(cli, workdir):
    render(cli, *TINY, "--name", "t")
    info = model_info(workdir / "compose" / "t")
    assert {name: i.get("supported_endpoints") for name, i in info.items()} == {
        "local-model": NATIVE, "claude-opus-*": NATIVE, "claude-sonnet-*": NATIVE, "claude-haiku-*": NATIVE,
        "claude-fable-*": NATIVE}
    text = (workdir / "compose" / "t" / "litellm-config.yaml").read_text()
    assert (f"passed untranslated to llama.cpp's own /v1/messages (the default for llama.cpp "
            f"{backends.get('llama').defaults.version}: measured, benchmarks/RESULTS.md)") in text
    assert "disable_hf_tokenizer_download: true" in text


def test_vllm_route_follows_the_measurement_unless_asked(cli, workdir):
    render(cli, *QWEN, "--name", "v")  # the pin (v0.33.0): native by the catalogue, after the v0.32.0 measurement
    assert model_info(workdir / "compose" / "v")["local-model"]["supported_endpoints"] == NATIVE
    assert "measured on the real vLLM 0.32.0" in (workdir / "compose" / "v" / "litellm-config.yaml").read_text()
    render(cli, *QWEN, "--name", "old", "--backend-version", "v0.24.0")  # not measured: translated
    assert "supported_endpoints" not in model_info(workdir / "compose" / "old")["local-model"]
    render(cli, *QWEN, "--name", "t", "--anthropic-route", "translated")
    assert "supported_endpoints" not in model_info(workdir / "compose" / "t")["local-model"]
    assert "(--anthropic-route)" in (workdir / "compose" / "t" / "litellm-config.yaml").read_text()


def test_llama_build_without_messages_and_image_given_as_is_are_translated(cli, workdir):
    render(cli, *TINY, "--name", "old", "--backend-version", "b6000")
    assert "supported_endpoints" not in model_info(workdir / "compose" / "old")["local-model"]
    assert "llama.cpp b6000 has no /v1/messages; it came in b7349" in (
        workdir / "compose" / "old" / "litellm-config.yaml").read_text()
    render(cli, *TINY, "--name", "own", "--backend-image", "registry.example.com/llama-server:custom")
    assert "supported_endpoints" not in model_info(workdir / "compose" / "own")["local-model"]
    render(cli, *TINY, "--name", "own2", "--backend-image", "registry.example.com/llama-server:custom",
           "--anthropic-route", "native")
    assert model_info(workdir / "compose" / "own2")["local-model"]["supported_endpoints"] == NATIVE


def test_route_from_models_yaml_and_for_external_servers(cli, workdir):
    (workdir / "models.yaml").write_text(yaml.safe_dump({"stacks": {"ext": {"models": [{
        "model": "upstream-model", "backend": "external", "api_base": "http://gpu-host:8000/v1",
        "anthropic_route": "native"}]}}}))
    render(cli, "ext", "--config", "models.yaml")
    assert model_info(workdir / "compose" / "ext")["local-model"]["supported_endpoints"] == NATIVE
    text = (workdir / "compose" / "ext" / "litellm-config.yaml").read_text()
    assert "(models.yaml: stacks.ext.models[0].anthropic_route)" in text


# ---- the context notice ----------------------------------------------------------------------

def test_render_warns_below_64k_and_says_how_to_raise_it(cli, workdir):
    result = render(cli, *TINY, "--name", "small")
    assert ("local-model: a 8192-token context is below the 64k tokens Claude Code needs (its system prompt and "
            "tools alone take 20-30k); raise it with --max-model-len 65536 or more (at most the model's own "
            "limit, 131072)") in result.stderr
    result = render(cli, *TINY, "--name", "big", "--max-model-len", "65536")
    assert "Claude Code" not in result.stderr
    result = render(cli, *QWEN, "--name", "q")  # its config.json says 32768
    assert "the model's own limit is 32768 tokens: serve a model with a longer context" in result.stderr


def test_multi_model_stack_names_the_models_yaml_key(cli, workdir):
    result = render(cli, "qwen-coder-and-chat")
    assert "raise it with max_model_len on the model 'chat' in models.yaml" in result.stderr


# ---- llmstack claude: environment, --print-env, --settings -------------------------------------

@pytest.fixture
def stack(cli, workdir) -> Path:
    render(cli, *TINY, "--name", "s", "--max-model-len", "65536")
    return workdir / "compose" / "s"


def key_of(directory: Path) -> str:
    return (directory / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()


def test_environment_points_claude_code_at_the_stack(stack):
    from llmstack import stackdir

    env = claude.environment(stackdir.load(str(stack)))
    assert env.values == {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:4000",
        "ANTHROPIC_AUTH_TOKEN": key_of(stack),
        "ANTHROPIC_MODEL": "local-model",
        "ANTHROPIC_DEFAULT_OPUS_MODEL": "local-model",
        "ANTHROPIC_DEFAULT_SONNET_MODEL": "local-model",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "local-model",
        "ANTHROPIC_DEFAULT_FABLE_MODEL": "local-model",
        "CLAUDE_CODE_DISABLE_1M_CONTEXT": "1",
        "API_TIMEOUT_MS": "1800000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384",  # a quarter of the 65536-token context
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "65536",
    }
    assert env.notes == []


def test_tiers_follow_the_stacks_claude_mapping(cli, workdir):
    from llmstack import stackdir

    render(cli, "qwen-coder-and-chat")
    env = claude.environment(stackdir.load("qwen-coder-and-chat"))
    tiers = {k: v for k, v in env.values.items() if k.startswith("ANTHROPIC_DEFAULT_")}
    assert tiers == {"ANTHROPIC_DEFAULT_OPUS_MODEL": "coder", "ANTHROPIC_DEFAULT_SONNET_MODEL": "coder",
                     "ANTHROPIC_DEFAULT_HAIKU_MODEL": "chat", "ANTHROPIC_DEFAULT_FABLE_MODEL": "coder"}
    assert env.values["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "8192"  # the smaller context, 32768
    assert env.values["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "32768"
    assert any(n.startswith("chat: a 32768-token context") for n in env.notes)


def test_the_fable_tier_is_routed_like_the_others(cli, workdir):
    """Claude Code 2.1.332's fourth tier: the gateway answers claude-fable-* (a hand-configured client
    asking for it got 400 before), mapped by `claude: {fable: ...}` like the other tiers."""
    from llmstack import stackdir

    (workdir / "fable.yaml").write_text(yaml.safe_dump({"stacks": {"s": {
        "claude": {"opus": "big", "fable": "small"},
        "models": [{"model": "./models/Qwen2.5-7B-Instruct", "alias": "big", "gpus": [0]},
                   {"model": "./models/tiny.gguf", "alias": "small", "gpus": "none"}]}}}))
    render(cli, "s", "--config", "fable.yaml")
    config = yaml.safe_load((workdir / "compose" / "s" / "litellm-config.yaml").read_text())
    routes = {e["model_name"]: e["litellm_params"]["api_base"] for e in config["model_list"]}
    assert routes["claude-fable-*"] == routes["small"] and routes["claude-opus-*"] == routes["big"]
    env = claude.environment(stackdir.load("s"))
    assert env.values["ANTHROPIC_DEFAULT_FABLE_MODEL"] == "small"


def test_print_env_is_posix_shell_that_round_trips(cli, stack):
    result = cli("claude", str(stack), "--print-env")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("export ANTHROPIC_BASE_URL=http://127.0.0.1:4000\n")
    assert "unset ANTHROPIC_API_KEY" in result.stdout
    shell = subprocess.run(["sh", "-c", result.stdout + 'printf "%s|%s|%s" "$ANTHROPIC_AUTH_TOKEN" '
                            '"$ANTHROPIC_DEFAULT_HAIKU_MODEL" "${ANTHROPIC_API_KEY-unset}"'],
                           capture_output=True, text=True, env={"PATH": os.environ["PATH"], "ANTHROPIC_API_KEY": "x"})
    assert shell.stdout == f"{key_of(stack)}|local-model|unset"


def test_print_env_quotes_values(monkeypatch, stack):
    env = claude.ClaudeEnv({"A": "it's $HOME `x`"})
    out = subprocess.run(["sh", "-c", claude.export_lines(env) + 'printf "%s" "$A"'], capture_output=True,
                         text=True).stdout
    assert out == "it's $HOME `x`"


def test_settings_prints_the_same_env_block(cli, stack):
    result = cli("claude", str(stack), "--settings")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert list(printed) == ["env"]
    assert printed["env"]["ANTHROPIC_AUTH_TOKEN"] == key_of(stack)
    assert printed["env"]["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0"


def test_settings_write_creates_the_default_file_private(cli, stack, workdir):
    result = cli("claude", str(stack), "--settings", "--write")
    assert result.exit_code == 0, result.stderr
    path = workdir / ".claude" / "settings.json"
    assert json.loads(path.read_text())["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4000"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "holds the gateway's master key (ANTHROPIC_AUTH_TOKEN)" in result.stdout
    assert not list(path.parent.glob(".settings.json.*"))  # no temporary file left behind


def test_settings_write_merges_and_keeps_other_keys(cli, stack, workdir):
    path = workdir / "mine.json"
    path.write_text(json.dumps({"permissions": {"allow": ["Bash(ls:*)"]},
                                "env": {"MY_VAR": "1", "API_TIMEOUT_MS": "5"}}))
    result = cli("claude", str(stack), "--settings", "--write", str(path))
    assert result.exit_code == 0, result.stderr
    data = json.loads(path.read_text())
    assert data["permissions"] == {"allow": ["Bash(ls:*)"]}
    assert data["env"]["MY_VAR"] == "1" and data["env"]["API_TIMEOUT_MS"] == "1800000"
    assert "replaced API_TIMEOUT_MS; kept its other settings (permissions)" in result.stdout
    assert "an `env` block of 14 variables" in result.stdout


def test_settings_write_refuses_a_file_it_cannot_read_as_settings(cli, stack, workdir):
    path = workdir / "broken.json"
    path.write_text("{not json")
    result = cli("claude", str(stack), "--settings", "--write", str(path))
    assert result.exit_code == 2
    assert f"{path}: not valid JSON" in result.stderr and "nothing was written" in result.stderr
    assert path.read_text() == "{not json"
    path.write_text("[1, 2]")
    assert "expected a JSON object" in cli("claude", str(stack), "--settings", "--write", str(path)).stderr


def test_settings_write_warns_when_git_would_commit_the_key(cli, stack, workdir):
    subprocess.run(["git", "init", "-q", str(workdir)], check=True)
    result = cli("claude", str(stack), "--settings", "--write")
    assert "It is NOT git-ignored: add it to .gitignore (echo .claude/settings.json >> .gitignore)" in result.stdout
    (workdir / ".gitignore").write_text(".claude/settings.json\n")
    result = cli("claude", str(stack), "--settings", "--write")
    assert "NOT git-ignored" not in result.stdout and "keep it out of version control" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("--print-env", "--settings"), "--print-env and --settings exclude each other"),
    (("--write",), "--write goes with --settings"),
    (("--print-env", "--", "-p", "hi"), "-p: arguments after `--` go to a claude run"),
])
def test_option_mistakes_are_one_line(cli, stack, args, message):
    result = cli("claude", str(stack), *args)
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_gateway_is_an_input_error(cli, workdir):
    render(cli, *TINY, "--name", "bare", "--no-litellm")
    result = cli("claude", "bare", "--print-env")
    assert result.exit_code == 2 and "has no LiteLLM gateway (rendered with --no-litellm)" in result.stderr


def test_missing_claude_binary_is_one_line_naming_the_install(cli, stack, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("claude", str(stack))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "llmstack: error: claude: Claude Code is not installed (no `claude` on PATH); install it with "
        "`npm install -g @anthropic-ai/claude-code`")


# ---- llmstack claude: the run (a stand-in claude and a stand-in gateway, in a subprocess) ---------

DUMP = 'import json, os, sys; print(json.dumps({"args": sys.argv[1:], "env": dict(os.environ)}))'
FAKE_CLAUDE = f"""#!/bin/sh
exec "{sys.executable}" -c '{DUMP}' "$@"
"""


class _Live(BaseHTTPRequestHandler):
    def do_GET(self):  # /health/liveliness
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_claude(tmp_path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "claude"
    program.write_text(FAKE_CLAUDE)
    program.chmod(0o755)
    return bin_dir


def run_llmstack(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmstack", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)


def test_run_execs_claude_with_the_environment_and_the_arguments(cli, workdir, fake_claude):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Live)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        render(cli, *TINY, "--name", "run", "--litellm-port", str(port), "--max-model-len", "131072")
        env = {"PATH": f"{fake_claude}:{os.environ['PATH']}", "HOME": str(workdir), "PYTHONPATH": str(REPO / "src"),
               "ANTHROPIC_API_KEY": "sk-ant-real", "API_TIMEOUT_MS": "99", "ANTHROPIC_BASE_URL": "https://elsewhere"}
        result = run_llmstack("claude", "run", "--", "-p", "hello there", "--model", "haiku", env=env, cwd=workdir)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["args"] == ["-p", "hello there", "--model", "haiku"]
    got = seen["env"]
    assert got["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port}"  # the stack's, over the user's
    assert got["ANTHROPIC_AUTH_TOKEN"] == key_of(workdir / "compose" / "run")
    assert got["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "local-model"
    assert got["API_TIMEOUT_MS"] == "99"  # a tuning value the user set wins
    assert got["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0" and got["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "32000"
    assert "ANTHROPIC_API_KEY" not in got
    assert "ANTHROPIC_API_KEY left out of this run" in result.stderr


def test_run_stops_when_the_gateway_does_not_answer(cli, workdir, fake_claude):
    from tests.e2e.conftest import free_port

    render(cli, *TINY, "--name", "down", "--litellm-port", str(free_port()), "--max-model-len", "65536")
    env = {"PATH": f"{fake_claude}:{os.environ['PATH']}", "HOME": str(workdir), "PYTHONPATH": str(REPO / "src")}
    result = run_llmstack("claude", "down", env=env, cwd=workdir)
    assert result.returncode == 1
    assert "does not answer" in result.stderr and "start the stack with `llmstack up " in result.stderr
    assert result.stdout == ""  # claude never ran


def test_settings_files_that_would_override_are_named(tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    (home / ".claude").mkdir(parents=True)
    (project / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(json.dumps({"env": {"ANTHROPIC_BASE_URL": "https://x"}}))
    (project / ".claude" / "settings.local.json").write_text(json.dumps({"env": {"ANTHROPIC_API_KEY": "k"}}))
    (project / ".claude" / "settings.json").write_text(json.dumps({"env": {"ANTHROPIC_BASE_URL": "http://gw"}}))
    notes = claude.overriding_settings({"ANTHROPIC_BASE_URL": "http://gw"}, home, project)
    assert len(notes) == 2
    assert notes[0].startswith(f"{home}/.claude/settings.json sets ANTHROPIC_BASE_URL for Claude Code")
    assert notes[1].startswith(f"{project}/.claude/settings.local.json sets ANTHROPIC_API_KEY")
