"""Claude Code on a real llama.cpp server, both Anthropic routes side by side: the fidelity half
of "native vs translated" (the speed half is `python -m benchmarks --only anthropic`).

One stack, two llama.cpp services serving the same scripted agent model (make_agent_gguf: it
thinks, answers, calls Bash when asked and acknowledges the tool's output), one behind the
gateway's native route (LiteLLM hands /v1/messages to llama.cpp untranslated) and one behind the
translated route (chat completions). Claude Code's opus and haiku tiers go to the native one,
sonnet to the translated one.
"""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import pytest
import yaml

from llmstack.smoke import CLAUDE_CODE_BETAS, claude_code_request
from tests.e2e import claude_code as cc
from tests.e2e import images
from tests.e2e.conftest import PROJECT_PREFIX, compose_down, free_port, wrong_key
from tests.e2e.make_agent_gguf import ANSWER, BASH_COMMAND, RUN_BASH, THINKING, TOOL_OUTPUT, TOOL_SEEN
from tests.e2e.make_agent_gguf import write as write_agent_gguf

pytestmark = pytest.mark.e2e

ROUTES = ("native", "translated")
BASH = {"name": "Bash", "description": "Run a shell command.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"},
                                                           "description": {"type": "string"}},
                         "required": ["command"]}}
SMALL_CLAUDE = ("--system-prompt", "You are terse.", "--tools", "Bash")  # byte-token prompts: keep them small


class Stack:
    def __init__(self, directory, name, gateway, backends, key):
        self.directory, self.name, self.gateway, self.backends, self.key = directory, name, gateway, backends, key


@pytest.fixture(scope="module")
def stack(tmp_path_factory, docker_engine):
    from tests.conftest import Cli

    cli = Cli()
    root = tmp_path_factory.mktemp("claude-llama")
    model = write_agent_gguf(root / "agent.gguf")
    name = PROJECT_PREFIX + "cllama-" + str(int(time.time() * 1000) % 100000)
    ports = {route: free_port() for route in ROUTES}
    gateway_port = free_port()
    server = images.llama_server_image()
    models = [{"model": str(model), "backend": "llama", "alias": route, "image": server, "gpus": "none",
               "port": ports[route], "publish_port": True, "max_model_len": 65536, "anthropic_route": route}
              for route in ROUTES]
    config = {"stacks": {"claude-llama": {"name": name, "models": models,
                                          "claude": {"opus": "native", "sonnet": "translated", "haiku": "native"}}}}
    (root / "models.yaml").write_text(yaml.safe_dump(config))
    out = root / name
    rendered = cli("render", "claude-llama", "--config", str(root / "models.yaml"), "--output", str(out),
                   "--litellm-image", images.litellm_image(), "--litellm-port", str(gateway_port),
                   "--litellm-workers", "1")
    assert rendered.exit_code == 0, rendered.stderr
    assert "Claude Code" not in rendered.stderr  # 65536 tokens: no context notice
    try:
        up = cli("up", str(out), "--timeout", "300")
        assert up.exit_code == 0, up.stdout + up.stderr
        key = (out / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        yield Stack(out, name, f"http://127.0.0.1:{gateway_port}",
                    {route: f"http://127.0.0.1:{port}" for route, port in ports.items()}, key)
    finally:
        compose_down(out)


@pytest.fixture
def client(stack):
    return anthropic.Anthropic(base_url=stack.gateway, api_key=stack.key, max_retries=0)


def test_rendered_routes(stack):
    config = yaml.safe_load((stack.directory / "litellm-config.yaml").read_text())
    info = {e["model_name"]: e["model_info"] for e in config["model_list"]}
    assert info["native"]["supported_endpoints"] == ["/v1/chat/completions", "/v1/messages"]
    assert "supported_endpoints" not in info["translated"]
    assert info["claude-opus-*"] == info["native"] and info["claude-sonnet-*"] == info["translated"]


# ---- fidelity, by HTTP ----------------------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES)
def test_claude_code_shaped_request_streams_thinking_and_text(stack, route):
    body = claude_code_request(route)
    headers = {"x-api-key": stack.key, "anthropic-version": "2023-06-01", "anthropic-beta": CLAUDE_CODE_BETAS}
    with httpx.stream("POST", f"{stack.gateway}/v1/messages?beta=true", json=body, headers=headers,
                      timeout=120) as response:
        assert response.status_code == 200, response.read()
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    blocks = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert blocks == ["thinking", "text"]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == THINKING
    assert "".join(d.get("text", "") for d in deltas) == ANSWER
    # llama.cpp's own stream opens the text block before it closes the thinking block (and sends the
    # thinking block's empty signature last); the translation closes each block before the next, as
    # Anthropic's API does. Claude Code reads both (test_claude_code_answers).
    order = [(e["type"], e.get("index")) for e in events if e["type"].startswith("content_block_")
             and e.get("delta", {}).get("type") != "signature_delta"]
    if route == "native":
        assert order.index(("content_block_start", 1)) < order.index(("content_block_stop", 0))
    else:
        assert order.index(("content_block_stop", 0)) < order.index(("content_block_start", 1))


@pytest.mark.parametrize("route", ROUTES)
def test_thinking_block_and_usage(stack, client, route):
    ask = {"model": route, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}],
           "thinking": {"type": "enabled", "budget_tokens": 1024}}
    first = client.messages.create(**ask)
    assert [b.type for b in first.content] == ["thinking", "text"]
    assert first.content[0].thinking == THINKING and first.content[1].text == ANSWER
    assert first.stop_reason == "end_turn"
    # An empty signature from llama.cpp itself; none at all from the translation.
    assert first.content[0].signature == ("" if route == "native" else None)
    again = client.messages.create(**ask)  # the same prompt: llama.cpp's prompt cache answers it
    usage = again.usage
    assert usage.cache_read_input_tokens and usage.cache_read_input_tokens > 0
    assert usage.output_tokens == first.usage.output_tokens
    with client.messages.stream(**ask) as stream:
        start = next(e for e in stream if e.type == "message_start")
        final = stream.get_final_message()
    # Native: the real prompt size already in message_start (what a client shows while it streams);
    # translated: zeros there, the figures only in the closing message_delta.
    if route == "native":
        assert start.message.usage.input_tokens + (start.message.usage.cache_read_input_tokens or 0) > 0
    else:
        assert start.message.usage.input_tokens == 0
    assert final.usage.input_tokens + (final.usage.cache_read_input_tokens or 0) > 0


@pytest.mark.parametrize("route", ROUTES)
def test_thinking_in_the_history_reaches_the_model_on_both_routes(stack, client, route):
    def prompt_tokens(thinking: str) -> int:
        reply = client.messages.create(model=route, max_tokens=16, messages=[
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": thinking, "signature": "s"},
                                              {"type": "text", "text": "Hi."}]},
            {"role": "user", "content": "Again."}])
        return reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0)

    grown = prompt_tokens("x" * 400) - prompt_tokens("x")
    # Natively llama.cpp turns the block into reasoning_content for the template; LiteLLM 1.108.7's
    # translation does the same (1.104.5 dropped thinking blocks of the history: measured, this test).
    assert grown >= 399


@pytest.mark.parametrize("route", ROUTES)
def test_tool_use_streamed_and_not_and_the_result_round_trip(stack, client, route):
    ask = [{"role": "user", "content": f"Please {RUN_BASH}."}]
    call = client.messages.create(model=route, max_tokens=128, tools=[BASH], messages=ask)
    assert call.stop_reason == "tool_use"
    use = next(b for b in call.content if b.type == "tool_use")
    assert use.name == "Bash" and use.input == {"command": BASH_COMMAND}
    # The translation adds an empty text block before the tool call; llama.cpp's own route does not.
    assert [b.type for b in call.content] == (["tool_use"] if route == "native" else ["text", "tool_use"])
    with client.messages.stream(model=route, max_tokens=128, tools=[BASH], messages=ask) as stream:
        streamed = stream.get_final_message()
    streamed_uses = [(b.name, b.input) for b in streamed.content if b.type == "tool_use"]
    assert streamed_uses == [("Bash", {"command": BASH_COMMAND})]
    answer = client.messages.create(model=route, max_tokens=32, tools=[BASH], messages=[
        *ask,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in call.content
                                          if b.type == "tool_use"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": [{"type": "text", "text": TOOL_OUTPUT}]},
                                     {"type": "text", "text": "<system-reminder>Carry on.</system-reminder>"}]}])
    assert answer.content[-1].text == TOOL_SEEN  # the model saw the output as a tool message


@pytest.mark.parametrize("route", ROUTES)
def test_count_tokens_is_the_gateways_estimate(stack, route):
    body = {"model": route, "messages": [{"role": "user", "content": "Count these words, please."}],
            "tools": [BASH]}
    headers = {"x-api-key": stack.key, "anthropic-version": "2023-06-01"}
    estimate = httpx.post(f"{stack.gateway}/v1/messages/count_tokens", json=body, headers=headers, timeout=30)
    assert estimate.status_code == 200 and estimate.json()["input_tokens"] > 0
    # The backend's own count is exact (llama.cpp serves count_tokens too), but LiteLLM 1.104.5 never
    # forwards it, whichever the route: the gateway answers with its tiktoken estimate.
    own = httpx.post(f"{stack.backends[route]}/v1/messages/count_tokens", json=body, timeout=30).json()
    assert own["input_tokens"] > 0 and own["input_tokens"] != estimate.json()["input_tokens"]


# ---- the real Claude Code CLI --------------------------------------------------------------------

@pytest.mark.parametrize("tier, route", [(None, "native"), ("opus", "native"), ("sonnet", "translated"),
                                         ("haiku", "native")])
def test_claude_code_answers(stack, claude_code, workspace, tier, route):
    model = ("--model", tier) if tier else ()
    args = cc.print_args("Say hello.", *SMALL_CLAUDE, *model)
    done = cc.llmstack_claude(stack.directory, claude_code, workspace, *args, timeout=180)
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text == ANSWER, done
    assert list(done.result.get("modelUsage", {})) == [route]  # the alias, so the route, of the tier


@pytest.mark.parametrize("tier, route", [("opus", "native"), ("sonnet", "translated")])
def test_claude_code_bash_round_trip(stack, claude_code, workspace, tier, route):
    args = cc.print_args(f"Please {RUN_BASH}.", *SMALL_CLAUDE, "--model", tier, "--allowedTools", "Bash(echo:*)")
    done = cc.llmstack_claude(stack.directory, claude_code, workspace, *args, timeout=180)
    assert done.code == 0 and not done.result.get("is_error"), done
    # The model only says this when Bash's output reached it as a tool message (make_agent_gguf).
    assert done.text == TOOL_SEEN, done
    assert done.result.get("num_turns", 0) >= 2


def test_claude_code_with_a_wrong_key_is_refused(stack, claude_code, workspace):
    args = cc.print_args("Say hello.", *SMALL_CLAUDE)
    done = cc.llmstack_claude(stack.directory, claude_code, workspace, *args, timeout=180,
                              LITELLM_MASTER_KEY=wrong_key())
    assert done.code == 1 and done.result.get("is_error") is True, done
    assert done.result.get("api_error_status") in (400, 401, 403), done
