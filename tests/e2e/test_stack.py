"""End to end on a real Docker engine: render -> up -> official OpenAI and Anthropic SDKs through
the real LiteLLM proxy -> smoke -> down, plus the failure paths."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from datetime import datetime

import anthropic
import httpx
import openai
import pytest

from llmstack.smoke import tiny_png
from tests.e2e.conftest import inspect, project_containers, project_volumes, wrong_key

pytestmark = pytest.mark.e2e

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo"]}},
                   "required": ["city"]},
}
ALIAS = "local-model"


@pytest.fixture(scope="module")
def running(stacks):
    stack = stacks.render(startup=4)
    result = stacks.cli("up", str(stack.directory), "--timeout", "240")
    assert result.exit_code == 0, result.stdout + result.stderr
    stack.up_output = result.stdout
    return stack


@pytest.fixture
def oai(running):
    return openai.OpenAI(base_url=f"{running.gateway}/v1", api_key=running.key, max_retries=0)


@pytest.fixture
def claude(running):
    return anthropic.Anthropic(base_url=running.gateway, api_key=running.key, max_retries=0)


def last_request(stack) -> dict:
    requests = [r for r in stack.recorded() if r["path"] == "/v1/chat/completions"]
    assert requests, "the gateway forwarded nothing"
    return requests[-1]["body"]


def test_up_reports_phases_and_endpoints(running):
    out = running.up_output
    assert "backend: loading model" in out  # /health answered 503 for a while...
    assert "backend: healthy" in out and "litellm: ready" in out  # ...then 200, then the gateway
    assert f"{running.gateway}/v1/chat/completions" in out and f"{running.gateway}/v1/messages" in out
    assert running.key not in out  # snippets never print the key
    models = httpx.get(f"{running.gateway}/v1/models", headers={"Authorization": f"Bearer {running.key}"}).json()
    assert ALIAS in [m["id"] for m in models["data"]]


def test_gateway_started_only_after_backend_was_healthy(running):
    containers = {inspect(c)["Config"]["Labels"]["com.docker.compose.service"]: inspect(c)
                  for c in project_containers(running.name)}
    gateway_started = datetime.fromisoformat(containers["litellm"]["State"]["StartedAt"][:26] + "+00:00")
    backend_started = datetime.fromisoformat(containers["backend"]["State"]["StartedAt"][:26] + "+00:00")
    # The stand-in reports the exact moment its /health turned 200 (4 s after it started).
    healthy_at = httpx.get(f"{running.backend}/_healthy_at").json()["healthy_at"]
    assert gateway_started.timestamp() >= healthy_at
    assert (gateway_started - backend_started).total_seconds() >= 4


def test_openai_chat_streaming_and_system_prompt(running, oai):
    running.clear()
    reply = oai.chat.completions.create(model=ALIAS, messages=[
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"}])
    assert reply.choices[0].message.content.startswith("Hello from the stand-in backend")
    assert "system prompt" in reply.choices[0].message.content
    forwarded = last_request(running)
    assert forwarded["messages"][0] == {"role": "system", "content": "You are terse."}
    assert forwarded["model"] == "qwen2-5-0-5b-instruct"  # the backend's served name, not the alias

    stream = oai.chat.completions.create(model=ALIAS, stream=True,
                                         messages=[{"role": "user", "content": "Hello"}])
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2 and "".join(pieces).startswith("Hello from the stand-in backend")
    assert last_request(running)["stream"] is True


def test_openai_tools_round_trip(running, oai):
    running.clear()
    tools = [{"type": "function", "function": WEATHER}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = oai.chat.completions.create(model=ALIAS, messages=messages, tools=tools, tool_choice="required")
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert last_request(running)["tools"][0]["function"]["name"] == "get_weather"
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    second = oai.chat.completions.create(model=ALIAS, messages=messages, tools=tools)
    assert second.choices[0].message.content == "The tool said: sunny, 21 C"
    tool_message = last_request(running)["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == call.id

    stream = oai.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "Weather?"}],
                                         tools=tools, tool_choice="required", stream=True)
    name, arguments = None, ""
    for chunk in stream:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = delta.function.name or name
            arguments += delta.function.arguments or ""
    assert name == "get_weather" and json.loads(arguments) == {"city": "Paris"}


def test_openai_image_input_arrives_as_data_uri(running, oai):
    running.clear()
    url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    reply = oai.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}])
    assert "1 image" in reply.choices[0].message.content
    part = last_request(running)["messages"][-1]["content"][1]
    assert part["type"] == "image_url" and part["image_url"]["url"] == url


def test_anthropic_messages_streaming_and_system_prompt(running, claude):
    running.clear()
    message = claude.messages.create(model=ALIAS, max_tokens=64, system="You are terse.",
                                     messages=[{"role": "user", "content": "Hello"}])
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("Hello from the stand-in backend")
    forwarded = last_request(running)
    assert forwarded["messages"][0] == {"role": "system", "content": "You are terse."}

    with claude.messages.stream(model=ALIAS, max_tokens=64,
                                messages=[{"role": "user", "content": "Hello"}]) as stream:
        deltas = [e for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert len(deltas) >= 2
    assert final.content[0].text.startswith("Hello from the stand-in backend")


def test_the_startup_hook_matches_v1_messages_first_and_its_neighbours_still_answer(running, claude):
    """llmstack_startup.py (llmstack/gateway_startup.py) in the real LiteLLM: once /v1/messages has been
    served, the router holding it is first in the route table, and its other routes still answer."""
    claude.messages.create(model=ALIAS, max_tokens=16, messages=[{"role": "user", "content": "Hello"}])
    (gateway,) = [c for c in project_containers(running.name)
                  if inspect(c)["Config"]["Labels"]["com.docker.compose.service"] == "litellm"]
    logs = subprocess.run(["docker", "logs", gateway], capture_output=True, text=True, timeout=60)
    assert "llmstack: /v1/messages matched first (was entry " in logs.stdout + logs.stderr
    assert claude.messages.count_tokens(model=ALIAS, messages=[{"role": "user", "content": "Hello"}]).input_tokens > 0
    refused = httpx.get(f"{running.gateway}/v1/messages", headers={"x-api-key": running.key}, timeout=30)
    assert refused.status_code == 405  # the route answers, for POST only, as before


def test_anthropic_tool_use_round_trip(running, claude):
    running.clear()
    tool = {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"]}
    question = {"role": "user", "content": "Weather in Paris?"}
    first = claude.messages.create(model=ALIAS, max_tokens=64, tools=[tool], tool_choice={"type": "any"},
                                   messages=[question])
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    assert first.stop_reason == "tool_use"
    forwarded_call = last_request(running)
    assert forwarded_call["tools"][0]["function"]["name"] == "get_weather"

    second = claude.messages.create(model=ALIAS, max_tokens=64, tools=[tool], messages=[
        question,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}]},
    ])
    assert second.content[0].text == "The tool said: sunny, 21 C"
    forwarded = last_request(running)["messages"]
    assistant = next(m for m in forwarded if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["id"] == use.id
    tool_message = forwarded[-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == use.id
    assert "sunny, 21 C" in json.dumps(tool_message["content"])

    with claude.messages.stream(model=ALIAS, max_tokens=64, tools=[tool], tool_choice={"type": "any"},
                                messages=[question]) as stream:
        final = stream.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.name == "get_weather" and streamed.input == {"city": "Paris"}


def test_anthropic_image_block_arrives_as_data_uri(running, claude):
    running.clear()
    data = base64.b64encode(tiny_png()).decode()
    reply = claude.messages.create(model=ALIAS, max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
        {"type": "text", "text": "What is this?"}]}])
    assert "1 image" in reply.content[0].text
    parts = last_request(running)["messages"][-1]["content"]
    image = next(p for p in parts if p["type"] == "image_url")
    url = image["image_url"]["url"] if isinstance(image["image_url"], dict) else image["image_url"]
    assert url == f"data:image/png;base64,{data}"


def test_wrong_key_is_refused_on_both_apis_and_never_reaches_backend(running):
    running.clear()
    bad = wrong_key()
    with pytest.raises(openai.APIStatusError) as oai_error:
        openai.OpenAI(base_url=f"{running.gateway}/v1", api_key=bad, max_retries=0).chat.completions.create(
            model=ALIAS, messages=[{"role": "user", "content": "Hello"}])
    assert oai_error.value.status_code in (400, 401, 403)
    with pytest.raises(anthropic.APIStatusError) as claude_error:
        anthropic.Anthropic(base_url=running.gateway, api_key=bad, max_retries=0).messages.create(
            model=ALIAS, max_tokens=16, messages=[{"role": "user", "content": "Hello"}])
    assert claude_error.value.status_code in (400, 401, 403)
    assert running.recorded() == []


def test_smoke_passes(running, stacks):
    result = stacks.cli("smoke", str(running.directory), "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)
    names = {c["check"] for c in checks}
    assert {"OpenAI chat", "OpenAI streaming", "Anthropic messages", "Anthropic streaming",
            "OpenAI system prompt", "Anthropic system prompt", "OpenAI tool call", "Anthropic tool use"} <= names
    assert all(c["ok"] for c in checks)


def test_status_lists_services(running, stacks):
    result = stacks.cli("status", str(running.directory), "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["service"]: r for r in json.loads(result.stdout)}
    assert rows["backend"]["state"] == "running" and rows["backend"]["health"] == "healthy"
    assert rows["litellm"]["endpoint"] == running.gateway


def test_down_leaves_nothing_of_the_project(running, stacks):
    result = stacks.cli("down", str(running.directory))
    assert result.exit_code == 0, result.stderr
    assert project_containers(running.name) == []
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter",
                           f"label=com.docker.compose.project={running.name}"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert nets == []


def test_backend_that_never_gets_healthy_fails_up_within_timeout(stacks):
    stack = stacks.render(startup=-1)
    started = time.monotonic()
    result = stacks.cli("up", str(stack.directory), "--timeout", "12")
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert elapsed < 12 + 30
    assert "backend not ready after 12s (loading model)" in result.stderr
    assert "fake-backend: serving" in result.stderr  # the tail of the backend's own log
    assert "litellm" not in [inspect(c)["Config"]["Labels"]["com.docker.compose.service"]
                             for c in project_containers(stack.name)
                             if inspect(c)["State"]["Running"]]


def test_down_keeps_named_volumes_unless_asked(stacks):
    stack = stacks.render(model="Qwen/Qwen2.5-0.5B-Instruct", startup=0)
    up = stacks.cli("up", str(stack.directory), "--timeout", "240")
    assert up.exit_code == 0, up.stdout + up.stderr
    volumes = project_volumes(stack.name)
    assert volumes == [f"{stack.name}_hf-cache"]
    assert stacks.cli("down", str(stack.directory)).exit_code == 0
    assert project_containers(stack.name) == []
    assert project_volumes(stack.name) == volumes  # the model cache survives `down`
    assert stacks.cli("down", str(stack.directory), "--volumes").exit_code == 0
    assert project_volumes(stack.name) == []
