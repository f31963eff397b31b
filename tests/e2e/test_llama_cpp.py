"""A real llama.cpp server on the CPU behind the real LiteLLM proxy: render (auto-detected as
llama) -> up -> official OpenAI and Anthropic SDKs (chat, streaming, system prompt, grammar-forced
tool calls streamed and not) -> smoke -> down."""

from __future__ import annotations

import json
import threading
import time

import anthropic
import httpx
import openai
import pytest
import yaml

from tests.e2e import images
from tests.e2e.conftest import PROJECT_PREFIX, compose_down, free_port, project_containers
from tests.e2e.make_tiny_gguf import write as write_tiny_gguf

pytestmark = pytest.mark.e2e

ALIAS = "local-model"
CITIES = ["Paris", "Tokyo"]
WEATHER = {"name": "get_weather", "description": "Current weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": CITIES}},
                          "required": ["city"]}}


class HealthWatcher(threading.Thread):
    """Polls the backend's published /health from before `up` until it answers 200."""

    def __init__(self, url: str, limit: float = 240):
        super().__init__(daemon=True)
        self.url, self.limit, self.seen = url, limit, []

    def run(self):
        deadline = time.monotonic() + self.limit
        while time.monotonic() < deadline:
            try:  # a fresh connection each time: a pooled one can miss the short loading phase
                code = httpx.get(self.url, timeout=5).status_code
            except httpx.HTTPError:
                code = None
            if code is not None and (not self.seen or self.seen[-1] != code):
                self.seen.append(code)
            if code == 200:
                return
            time.sleep(0.002)


@pytest.fixture(scope="module")
def llama(tmp_path_factory, docker_engine):
    from tests.conftest import Cli

    cli = Cli()
    litellm, server = images.litellm_image(), images.llama_server_image()
    root = tmp_path_factory.mktemp("llama")
    # Eight layers and a 1M-token context: allocating and clearing ~2 GB of KV cache keeps the real
    # server in its loading state (/health 503) for two to three seconds, long enough to observe.
    model = write_tiny_gguf(root / "tiny-hermes.gguf", n_layer=8)
    name = PROJECT_PREFIX + "llama-" + str(int(time.time() * 1000) % 100000)
    gateway_port, backend_port = free_port(), free_port()
    out = root / name
    rendered = cli("render", "--model", str(model), "--cpu", "--name", name, "--output", str(out),
                   "--backend-image", server, "--litellm-image", litellm,
                   "--litellm-port", str(gateway_port), "--port", str(backend_port), "--publish-backend",
                   "--max-model-len", str(1 << 20), "--litellm-workers", "1")  # busy shared hosts
    assert rendered.exit_code == 0, rendered.stderr
    watcher = HealthWatcher(f"http://127.0.0.1:{backend_port}/health")
    watcher.start()
    try:
        up = cli("up", str(out), "--timeout", "240")
        watcher.join(timeout=5)
        assert up.exit_code == 0, up.stdout + up.stderr
        key = (out / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        yield {"dir": out, "name": name, "gateway": f"http://127.0.0.1:{gateway_port}", "key": key,
               "up": up.stdout, "health": watcher.seen, "cli": cli}
    finally:
        compose_down(out)


@pytest.fixture
def oai(llama):
    return openai.OpenAI(base_url=f"{llama['gateway']}/v1", api_key=llama["key"], max_retries=0)


@pytest.fixture
def claude(llama):
    return anthropic.Anthropic(base_url=llama["gateway"], api_key=llama["key"], max_retries=0)


def test_rendered_as_llama_cpu_and_up_waits_for_health(llama):
    compose = yaml.safe_load((llama["dir"] / "docker-compose.yml").read_text())
    backend = compose["services"]["backend"]
    assert backend["command"][:2] == ["-m", "/models/tiny-hermes.gguf"]  # auto-detected as llama
    assert "--jinja" in backend["command"] and "deploy" not in backend
    assert backend["healthcheck"]["test"][1] == "curl"
    # The real server answered 503 while loading, then 200; `up` reported the phases.
    assert llama["health"][-1] == 200
    assert 503 in llama["health"], llama["health"]
    assert llama["health"].index(503) < llama["health"].index(200)
    assert "backend: healthy" in llama["up"] and "litellm: ready" in llama["up"]


def test_openai_chat_streaming_and_system_prompt(oai):
    reply = oai.chat.completions.create(model=ALIAS, max_tokens=8, messages=[
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"}])
    assert reply.choices[0].message.content
    stream = oai.chat.completions.create(model=ALIAS, max_tokens=8, stream=True,
                                         messages=[{"role": "user", "content": "Hello"}])
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2


def test_anthropic_messages_streaming_and_system_prompt(claude):
    message = claude.messages.create(model=ALIAS, max_tokens=8, system="You are terse.",
                                     messages=[{"role": "user", "content": "Hello"}])
    assert message.content[0].type == "text" and message.content[0].text
    with claude.messages.stream(model=ALIAS, max_tokens=8, messages=[{"role": "user", "content": "Hello"}]) as s:
        deltas = [e for e in s if e.type == "content_block_delta"]
    assert len(deltas) >= 2


def test_openai_forced_tool_call(oai):
    tools = [{"type": "function", "function": WEATHER}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    reply = oai.chat.completions.create(model=ALIAS, max_tokens=128, messages=messages, tools=tools,
                                        tool_choice="required")
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] in CITIES
    stream = oai.chat.completions.create(model=ALIAS, max_tokens=128, messages=messages, tools=tools,
                                         tool_choice="required", stream=True)
    name, arguments = None, ""
    for chunk in stream:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = delta.function.name or name
            arguments += delta.function.arguments or ""
    assert name == "get_weather" and json.loads(arguments)["city"] in CITIES


def test_anthropic_forced_tool_use(claude):
    tool = {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"]}
    question = [{"role": "user", "content": "Weather in Paris?"}]
    message = claude.messages.create(model=ALIAS, max_tokens=128, tools=[tool], tool_choice={"type": "any"},
                                     messages=question)
    use = next(b for b in message.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input["city"] in CITIES
    with claude.messages.stream(model=ALIAS, max_tokens=128, tools=[tool], tool_choice={"type": "any"},
                                messages=question) as stream:
        final = stream.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.name == "get_weather" and streamed.input["city"] in CITIES


def test_smoke_and_down(llama):
    cli = llama["cli"]
    smoke = cli("smoke", str(llama["dir"]), "--json")
    assert smoke.exit_code == 0, smoke.stdout + smoke.stderr
    checks = {c["check"]: c for c in json.loads(smoke.stdout)}
    assert checks["OpenAI tool call"]["ok"] and checks["Anthropic tool use"]["ok"]
    assert "OpenAI image input" not in checks  # no --mmproj: the alias declares no vision
    down = cli("down", str(llama["dir"]))
    assert down.exit_code == 0, down.stderr
    assert project_containers(llama["name"]) == []
