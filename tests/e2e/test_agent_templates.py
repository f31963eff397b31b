"""Agent clients on real routes, behind the gateway as `llmstack render` writes it (the hook file,
its mount, `callbacks`, per-alias `llmstack_adapt`, /v1/responses through LiteLLM's bridge).

1. The real LiteLLM proxy loads the rendered hook and runs it on every route: /v1/chat/completions,
   /v1/messages translated and native (pass-through), /v1/responses (the bridge): the recorded
   Claude Code and Codex requests reach the stand-in backend adapted (switches from `adapt:`).
2. The real Codex CLI (`codex exec`) through the gateway to the real llama.cpp server serving the
   scripted agent model (make_agent_gguf): a plain answer and a shell command round trip, on
   LiteLLM's Responses bridge (with the hook) and on llama.cpp's own /v1/responses.
3. The strictest real template (Mistral-Nemo-Instruct-2407's, from llama.cpp's models/templates)
   carried by the agent GGUF and run by the real llama.cpp server on every request: the render
   checks it, switches the hook on for the alias, and the real Claude Code CLI (plain answer, a
   plan-mode session that sends system messages inside the history, a Bash round trip), the real
   Codex CLI (plain answer, shell round trip) and the OpenAI SDK (system messages mid-session) get
   answers; an alias of the same model with `adapt: none` gets the template's refusals.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import yaml

from llmstack import gateway_hook
from tests.agent_fixtures import conversations
from tests.e2e import codex as cx
from tests.e2e import images
from tests.e2e.conftest import PROJECT_PREFIX, compose_down, free_port
from tests.e2e.make_agent_gguf import ANSWER, RUN_BASH, TOOL_OUTPUT, TOOL_SEEN
from tests.e2e.make_agent_gguf import write as write_agent_gguf

pytestmark = pytest.mark.e2e

SWITCHES = ["strip_billing_header", "fold_system", "merge_turns", "tool_ids", "split_tool_calls"]
# The strictest real template the hook makes whole (tests/fixtures/agents/findings.json): every
# recorded conversation refused as sent (system messages after the first, two turns of one role,
# tool-call ids that are not nine letters and digits), none after fold_system, merge_turns, tool_ids.
STRICTEST = "mistralai-Mistral-Nemo-Instruct-2407.jinja"
HOOK = Path(gateway_hook.__file__)


def rendered_hook(stack: Path) -> dict[str, list[str]]:
    """The rendered gateway's hook: loaded by `callbacks`, mounted read-only; alias -> switches."""
    config = yaml.safe_load((stack / "litellm-config.yaml").read_text())
    assert config["litellm_settings"]["callbacks"] == ["llmstack_hook.proxy_handler_instance"]
    assert (stack / "llmstack_hook.py").read_text().endswith(HOOK.read_text())
    compose = yaml.safe_load((stack / "docker-compose.yml").read_text())
    assert {"type": "bind", "source": "./llmstack_hook.py", "target": "/app/llmstack_hook.py",
            "read_only": True} in compose["services"]["litellm"]["volumes"]
    return {e["model_name"]: e.get("model_info", {}).get("llmstack_adapt", []) for e in config["model_list"]}


def master_key(stack: Path) -> str:
    return (stack / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()


# ---- 1. the hook on every route, stand-in backends ----------------------------------------------

class Routes:
    def __init__(self, directory, gateway, backends, key):
        self.directory, self.gateway, self.backends, self.key = directory, gateway, backends, key

    def recorded(self, alias: str) -> list[dict]:
        return httpx.get(f"{self.backends[alias]}/_requests", timeout=10).json()

    def clear(self) -> None:
        for url in self.backends.values():
            httpx.delete(f"{url}/_requests", timeout=10)


@pytest.fixture(scope="module")
def routes(tmp_path_factory, e2e_images):
    """Three aliases on stand-in backends: `strict` (every switch, translated /v1/messages),
    `native` (every switch, /v1/messages passed through to the backend) and `plain` (no switch)."""
    from tests.conftest import Cli

    cli = Cli()
    root = tmp_path_factory.mktemp("agent-routes")
    name = PROJECT_PREFIX + "hook-" + str(int(time.time() * 1000) % 100000)
    aliases = ("strict", "native", "plain")
    ports = {alias: free_port() for alias in aliases}
    models = []
    for alias in aliases:
        (root / "models" / alias).mkdir(parents=True)
        (root / "models" / alias / "config.json").write_text("{}")
        models.append({"model": str(root / "models" / alias), "backend": "vllm", "alias": alias,
                       "image": e2e_images["backend"], "gpus": "none", "port": ports[alias], "publish_port": True,
                       "max_model_len": 131072, "extra_args": ["--fake-startup-seconds=0"],
                       **({"anthropic_route": "native"} if alias == "native" else {}),
                       **({"adapt": SWITCHES} if alias != "plain" else {})})
    config = {"stacks": {"hook": {"name": name, "models": models,
                                  "claude": {"opus": "strict", "sonnet": "native", "haiku": "plain"}}}}
    (root / "models.yaml").write_text(yaml.safe_dump(config))
    out = root / name
    port = free_port()
    rendered = cli("render", "hook", "--config", str(root / "models.yaml"), "--output", str(out),
                   "--litellm-image", e2e_images["litellm"], "--litellm-port", str(port), "--litellm-workers", "1")
    assert rendered.exit_code == 0, rendered.stderr
    switched = rendered_hook(out)
    assert (switched["strict"], switched["native"], switched["plain"]) == (SWITCHES, SWITCHES, [])
    try:
        up = cli("up", str(out), "--timeout", "300")
        assert up.exit_code == 0, up.stdout + up.stderr
        yield Routes(out, f"http://127.0.0.1:{port}",
                     {alias: f"http://127.0.0.1:{p}" for alias, p in ports.items()}, master_key(out))
    finally:
        compose_down(out)


def roles(messages: list[dict]) -> list[str]:
    return [m["role"] for m in messages]


def no_repeats(messages: list[dict]) -> bool:
    pairs = zip(messages, messages[1:], strict=False)
    return all(a["role"] != b["role"] for a, b in pairs if a["role"] in ("user", "assistant"))


@pytest.mark.parametrize("alias", ["strict", "plain"])
def test_chat_completions_route(routes, alias):
    routes.clear()
    body = {"model": alias, "messages": [
        {"role": "system", "content": "x-anthropic-billing-header: cc_version=1; cc_entrypoint=x;\nBe brief."},
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
        {"role": "system", "content": "Plan mode."}, {"role": "user", "content": "go"}]}
    reply = httpx.post(f"{routes.gateway}/v1/chat/completions", json=body,
                       headers={"Authorization": f"Bearer {routes.key}"}, timeout=60)
    assert reply.status_code == 200, reply.text
    forwarded = [r["body"] for r in routes.recorded(alias) if r["path"] == "/v1/chat/completions"][-1]
    if alias == "plain":  # no switch: untouched
        assert roles(forwarded["messages"]) == ["system", "user", "assistant", "system", "user"]
        return
    assert roles(forwarded["messages"]) == ["system", "user", "assistant", "user"]
    assert forwarded["messages"][0]["content"] == "Be brief."
    assert forwarded["messages"][-1]["content"] == "Plan mode.\n\ngo"


def test_messages_translated_route_with_a_recorded_claude_code_request(routes):
    routes.clear()
    body = {**conversations("claude-code")["plan_continue"][-1]["body"], "model": "strict", "stream": False}
    headers = {"x-api-key": routes.key, "anthropic-version": "2023-06-01"}
    reply = httpx.post(f"{routes.gateway}/v1/messages", json=body, headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    forwarded = [r["body"] for r in routes.recorded("strict") if r["path"] == "/v1/chat/completions"][-1]
    messages = forwarded["messages"]
    assert roles(messages)[0] == "system" and "system" not in roles(messages)[1:]
    assert no_repeats(messages), roles(messages)
    assert "x-anthropic-billing-header" not in json.dumps(messages)


def test_messages_native_route_passes_the_adapted_body_through(routes):
    """The native route hands /v1/messages to the backend as it is: the stand-in records it (and
    answers 404, which is what makes it a stand-in)."""
    routes.clear()
    body = {**conversations("claude-code")["plain"][-1]["body"], "model": "native", "stream": False}
    headers = {"x-api-key": routes.key, "anthropic-version": "2023-06-01"}
    httpx.post(f"{routes.gateway}/v1/messages", json=body, headers=headers, timeout=60)
    passed = [r["body"] for r in routes.recorded("native") if r["path"].startswith("/v1/messages")]
    assert passed, routes.recorded("native")
    sent = passed[-1]
    assert [m["role"] for m in sent["messages"]] == ["user"]  # the trailing system message merged into it
    assert "x-anthropic-billing-header" not in json.dumps(sent["system"])


def test_responses_route_with_a_recorded_codex_request(routes):
    routes.clear()
    body = {**conversations("codex")["shell"][-1]["body"], "model": "strict", "stream": False}
    reply = httpx.post(f"{routes.gateway}/v1/responses", json=body,
                       headers={"Authorization": f"Bearer {routes.key}"}, timeout=60)
    assert reply.status_code == 200, reply.text
    forwarded = [r["body"] for r in routes.recorded("strict") if r["path"] == "/v1/chat/completions"][-1]
    messages = forwarded["messages"]
    assert roles(messages)[0] == "system" and "system" not in roles(messages)[1:], roles(messages)
    assert "developer" not in roles(messages) and no_repeats(messages)
    calls = [c["id"] for m in messages for c in m.get("tool_calls") or []]
    assert calls and all(len(c) == 9 and c.isalnum() for c in calls)


def test_without_the_switches_the_same_codex_request_keeps_its_shapes(routes):
    routes.clear()
    body = {**conversations("codex")["shell"][-1]["body"], "model": "plain", "stream": False}
    reply = httpx.post(f"{routes.gateway}/v1/responses", json=body,
                       headers={"Authorization": f"Bearer {routes.key}"}, timeout=60)
    assert reply.status_code == 200, reply.text
    forwarded = [r["body"] for r in routes.recorded("plain") if r["path"] == "/v1/chat/completions"][-1]
    assert roles(forwarded["messages"])[:4] == ["system", "system", "user", "user"]


# ---- 2. the real Codex CLI on the real llama.cpp server --------------------------------------------

RESPONSES_ROUTES = ("bridge", "native")
# Codex's own prompt is ~31,000 characters, each one token for the byte-vocabulary agent model
# (minutes of prompt processing on two cores): replace its instructions and leave out the optional
# parts, as SMALL_CLAUDE does for Claude Code. Codex 0.171.0 config keys (strings of the binary).
SMALL_CODEX = ("-c", "include_apps_instructions=false", "-c", "include_environment_context=false",
               "-c", "include_collaboration_mode_instructions=false", "-c", "skills.include_instructions=false")


@pytest.fixture(scope="module")
def llama_stack(tmp_path_factory, docker_engine):
    """Two llama.cpp services serving the agent model: `bridge` (Responses through LiteLLM's bridge
    to chat completions, every hook switch on) and `native` (llama.cpp's own /v1/responses)."""
    from tests.conftest import Cli

    cli = Cli()
    root = tmp_path_factory.mktemp("codex-llama")
    model = write_agent_gguf(root / "agent.gguf")
    name = PROJECT_PREFIX + "codex-" + str(int(time.time() * 1000) % 100000)
    ports = {route: free_port() for route in RESPONSES_ROUTES}
    gateway_port = free_port()
    config = {"stacks": {"codex": {"name": name, "models": [
        {"model": str(model), "backend": "llama", "alias": route, "image": images.llama_server_image(),
         "gpus": "none", "port": ports[route], "publish_port": True, "max_model_len": 65536,
         **({"adapt": SWITCHES} if route == "bridge" else {"responses_route": "native"})}
        for route in RESPONSES_ROUTES]}}}
    (root / "models.yaml").write_text(yaml.safe_dump(config))
    out = root / name
    rendered = cli("render", "codex", "--config", str(root / "models.yaml"), "--output", str(out),
                   "--litellm-image", images.litellm_image(), "--litellm-port", str(gateway_port),
                   "--litellm-workers", "1")
    assert rendered.exit_code == 0, rendered.stderr
    assert rendered_hook(out)["bridge"] == SWITCHES
    config = yaml.safe_load((out / "litellm-config.yaml").read_text())
    bridged = {e["model_name"]: e["litellm_params"].get("use_chat_completions_api") for e in config["model_list"]}
    assert bridged["bridge"] is True and bridged["native"] is None
    try:
        up = cli("up", str(out), "--timeout", "300")
        assert up.exit_code == 0, up.stdout + up.stderr
        yield f"http://127.0.0.1:{gateway_port}", master_key(out)
    finally:
        compose_down(out)


def codex_args(gateway: str, alias: str, workspace: Path) -> list[str]:
    instructions = workspace / "instructions.md"
    instructions.write_text("You are a terse coding agent.\n")
    return [*cx.provider_args(f"{gateway}/v1", alias), *cx.FUNCTION_TOOLS_ONLY, *SMALL_CODEX,
            "-c", f'model_instructions_file="{instructions}"']


@pytest.mark.parametrize("route", RESPONSES_ROUTES)
def test_codex_exec_plain_answer(llama_stack, codex_binary, tmp_path, route):
    gateway, key = llama_stack
    done = cx.run(codex_binary, tmp_path, "Say hello.", *codex_args(gateway, route, tmp_path), key=key,
                  timeout=300)
    assert done.code == 0, done
    assert done.text == ANSWER, done


@pytest.mark.parametrize("route", RESPONSES_ROUTES)
def test_codex_exec_shell_round_trip(llama_stack, codex_binary, tmp_path, route):
    gateway, key = llama_stack
    done = cx.run(codex_binary, tmp_path, f"Please {RUN_BASH}.", *codex_args(gateway, route, tmp_path), key=key,
                  timeout=300)
    assert done.code == 0, done
    ran = [c for c in done.commands if TOOL_OUTPUT in (c.get("command") or "")]
    assert ran and TOOL_OUTPUT in (ran[0].get("aggregated_output") or ""), done
    assert done.text == TOOL_SEEN, done  # the model only says this when the output reached it


def test_codex_exec_with_a_wrong_key_fails(llama_stack, codex_binary, tmp_path):
    gateway, _ = llama_stack
    done = cx.run(codex_binary, tmp_path, "Say hello.", *codex_args(gateway, "bridge", tmp_path),
                  key="sk-wrong-key-0000", timeout=300)
    assert done.code != 0 and not done.text, done


# ---- 3. the strictest real template on the real llama.cpp server: the render switches the hook on --

@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory, docker_engine):
    """The agent model carrying Mistral-Nemo-Instruct-2407's real template, served twice: `adapted`
    with the switches the render's own check of the GGUF's template sets, `raw` (`adapt: none`)
    without the hook's help. Claude Code's opus (and haiku, fable) tier goes to `adapted`, sonnet
    to `raw`."""
    from tests.agent_fixtures import real_templates
    from tests.conftest import Cli

    cli = Cli()
    root = tmp_path_factory.mktemp("strict-llama")
    model = write_agent_gguf(root / "strict.gguf", real_template=real_templates()[STRICTEST])
    name = PROJECT_PREFIX + "strict-" + str(int(time.time() * 1000) % 100000)
    aliases = ("adapted", "raw")
    ports = {alias: free_port() for alias in aliases}
    gateway_port = free_port()
    config = {"stacks": {"strict": {"name": name, "claude": {"opus": "adapted", "sonnet": "raw", "haiku": "adapted",
                                                             "fable": "adapted"},
                                    "models": [
        {"model": str(model), "backend": "llama", "alias": alias, "image": images.llama_server_image(),
         "gpus": "none", "port": ports[alias], "publish_port": True, "max_model_len": 65536,
         **({"adapt": "none"} if alias == "raw" else {})} for alias in aliases]}}}
    (root / "models.yaml").write_text(yaml.safe_dump(config))
    out = root / name
    rendered = cli("render", "strict", "--config", str(root / "models.yaml"), "--output", str(out),
                   "--litellm-image", images.litellm_image(), "--litellm-port", str(gateway_port),
                   "--litellm-workers", "1")
    assert rendered.exit_code == 0, rendered.stderr
    switched = rendered_hook(out)
    assert switched["adapted"] == ["strip_billing_header", "fold_system", "merge_turns", "tool_ids"], switched
    assert switched["raw"] == switched["claude-sonnet-*"] == []
    assert switched["claude-opus-*"] == switched["adapted"]
    assert "Tool call IDs should be alphanumeric strings with length 9!" in (out / "litellm-config.yaml").read_text()
    try:
        up = cli("up", str(out), "--timeout", "300")
        assert up.exit_code == 0, up.stdout + up.stderr
        yield out, f"http://127.0.0.1:{gateway_port}", master_key(out)
    finally:
        compose_down(out)


def test_openai_sdk_mid_session_system_messages(strict_stack):
    import openai

    _, gateway, key = strict_stack
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."},
                {"role": "assistant", "content": "Hello."}, {"role": "system", "content": "Now plan first."},
                {"role": "user", "content": "Again."}]
    with pytest.raises(openai.BadRequestError, match="conversation roles must alternate"):
        client.chat.completions.create(model="raw", messages=messages, max_tokens=16)
    reply = client.chat.completions.create(model="adapted", messages=messages, max_tokens=16)
    assert reply.choices[0].message.content == ANSWER


@pytest.mark.parametrize("prompt, expected", [("Say hello.", ANSWER), (f"Please {RUN_BASH}.", TOOL_SEEN)])
def test_codex_on_the_strict_template(strict_stack, codex_binary, tmp_path, prompt, expected):
    _, gateway, key = strict_stack
    done = cx.run(codex_binary, tmp_path, prompt, *codex_args(gateway, "adapted", tmp_path), key=key, timeout=300)
    assert done.code == 0 and done.text == expected, done
    refused = cx.run(codex_binary, tmp_path / "raw", prompt, *codex_args(gateway, "raw", tmp_path), key=key,
                     timeout=300)
    assert refused.code != 0 and not refused.text, refused  # Codex's two instruction messages


def test_claude_code_on_the_strict_template(strict_stack, claude_code, workspace):
    from tests.e2e import claude_code as cc
    from tests.e2e.test_claude_llama import SMALL_CLAUDE

    directory, _, _ = strict_stack
    plain = cc.llmstack_claude(directory, claude_code, workspace, *cc.print_args("Say hello.", *SMALL_CLAUDE),
                               timeout=240)
    assert plain.code == 0 and plain.text == ANSWER, plain
    bash = cc.llmstack_claude(directory, claude_code, workspace,
                              *cc.print_args(f"Please {RUN_BASH}.", *SMALL_CLAUDE, "--allowedTools", "Bash(echo:*)"),
                              timeout=240)
    assert bash.code == 0 and bash.text == TOOL_SEEN, bash
    # A session continued in plan mode: system messages inside the history (tests/fixtures/agents).
    first = cc.llmstack_claude(directory, claude_code, workspace, "-p", "Say hello.", "--output-format", "json",
                               *SMALL_CLAUDE, timeout=240)
    assert first.code == 0, first
    again = cc.llmstack_claude(directory, claude_code, workspace, "-p", "Now plan a change.", "--output-format",
                               "json", "--continue", "--permission-mode", "plan", *SMALL_CLAUDE, timeout=240)
    assert again.code == 0 and again.text == ANSWER, again
    # The sonnet tier's alias has no switches: Claude Code's system message after the user's turn
    # (made a second user turn by the translation) is refused there.
    raw = cc.llmstack_claude(directory, claude_code, workspace,
                             *cc.print_args("Say hello.", *SMALL_CLAUDE, "--model", "sonnet"), timeout=240)
    assert raw.code == 1 and raw.result.get("is_error") is True, raw
