"""Claude Code against a rendered stack with the stand-in backend: Claude model names through the
gateway (wildcards, an exact alias first), /v1/messages/count_tokens answered offline, smoke's
Claude-Code-shaped request, and the real Claude Code CLI (as a new user would point it, through
`llmstack claude`, each model tier, a Bash tool round trip, a wrong key).

The stack serves two stand-in backends: `main` (served name with "llama-3" in it, which makes
LiteLLM try a Hugging Face tokenizer download unless told not to) takes every Claude tier, and
an alias named exactly `claude-haiku-4-5` shows that an exact name beats the wildcards.
"""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import pytest
import yaml

from tests.e2e import claude_code as cc
from tests.e2e.conftest import PROJECT_PREFIX, compose_down, free_port, wrong_key

pytestmark = pytest.mark.e2e

MAIN, EXACT = "main", "claude-haiku-4-5"
MAIN_SERVED = "meta-llama-3-1-8b-instruct"


class Stack:
    def __init__(self, directory, gateway, backends, key, name):
        self.directory, self.gateway, self.backends, self.key, self.name = directory, gateway, backends, key, name

    def recorded(self, alias: str) -> list[dict]:
        return httpx.get(f"{self.backends[alias]}/_requests", timeout=5).json()

    def chats(self, alias: str = MAIN) -> list[dict]:
        return [r["body"] for r in self.recorded(alias) if r["path"] == "/v1/chat/completions"]

    def clear(self) -> None:
        for url in self.backends.values():
            httpx.delete(f"{url}/_requests", timeout=5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, e2e_images):
    from tests.conftest import Cli

    cli = Cli()
    root = tmp_path_factory.mktemp("claude")
    name = PROJECT_PREFIX + "claude-" + str(int(time.time() * 1000) % 100000)
    ports = {MAIN: free_port(), EXACT: free_port()}
    gateway_port = free_port()
    models = []
    for alias, directory in ((MAIN, "Meta-Llama-3.1-8B-Instruct"), (EXACT, "Qwen2.5-0.5B-Instruct")):
        (root / "models" / directory).mkdir(parents=True)
        (root / "models" / directory / "config.json").write_text("{}")
        models.append({"model": str(root / "models" / directory), "backend": "vllm", "alias": alias,
                       "image": e2e_images["backend"], "gpus": "none", "port": ports[alias], "publish_port": True,
                       "max_model_len": 131072, "extra_args": ["--fake-startup-seconds=0"]})
    config = {"stacks": {"claude-e2e": {"name": name, "claude": {"opus": MAIN, "sonnet": MAIN, "haiku": MAIN},
                                        "models": models}}}
    (root / "models.yaml").write_text(yaml.safe_dump(config))
    out = root / name
    rendered = cli("render", "claude-e2e", "--config", str(root / "models.yaml"), "--output", str(out),
                   "--litellm-image", e2e_images["litellm"], "--litellm-port", str(gateway_port),
                   "--litellm-workers", "1")  # starts twice as fast on a busy machine
    assert rendered.exit_code == 0, rendered.stderr
    # Point the gateway's Hugging Face downloads at the stand-in, which records them: a tokenizer
    # download for the "llama-3" name would show up there.
    compose = yaml.safe_load((out / "docker-compose.yml").read_text())
    compose["services"]["litellm"]["environment"]["HF_ENDPOINT"] = f"http://backend-{MAIN}:{ports[MAIN]}"
    (out / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    try:
        up = cli("up", str(out), "--timeout", "240")
        assert up.exit_code == 0, up.stdout + up.stderr
        key = (out / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        yield Stack(out, f"http://127.0.0.1:{gateway_port}",
                    {alias: f"http://127.0.0.1:{port}" for alias, port in ports.items()}, key, name)
    finally:
        compose_down(out)


@pytest.fixture
def client(stack):
    return anthropic.Anthropic(base_url=stack.gateway, api_key=stack.key, max_retries=0)


# ---- through the gateway, by HTTP ------------------------------------------------------------------

def test_claude_model_names_reach_the_mapped_alias_and_an_exact_name_wins(stack, client):
    for model, backend in (("claude-opus-4-8", MAIN), ("claude-sonnet-5", MAIN),
                           ("claude-haiku-4-5-20251001", MAIN), ("claude-haiku-4-5", EXACT), (MAIN, MAIN)):
        stack.clear()
        reply = client.messages.create(model=model, max_tokens=32, messages=[{"role": "user", "content": "Hello"}])
        assert reply.content[0].text.startswith("Hello from the stand-in backend"), model
        assert reply.model == model  # the gateway answers in the name it was asked
        assert len(stack.chats(backend)) == 1, (model, backend)
        assert stack.chats(MAIN if backend == EXACT else EXACT) == [], model
    with pytest.raises(anthropic.BadRequestError):  # only the three tiers are served
        client.messages.create(model="claude-3-5-sonnet-latest", max_tokens=8,
                               messages=[{"role": "user", "content": "Hello"}])
    listed = httpx.get(f"{stack.gateway}/v1/models", headers={"Authorization": f"Bearer {stack.key}"}).json()
    assert sorted(m["id"] for m in listed["data"]) == sorted([MAIN, EXACT])  # wildcards are not listed


def test_count_tokens_answers_at_the_gateway_without_any_download(stack):
    stack.clear()
    body = {"messages": [{"role": "user", "content": "Count these words, please."}],
            "tools": [{"name": "Bash", "description": "Run a command.",
                       "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]}
    headers = {"x-api-key": stack.key, "anthropic-version": "2023-06-01"}
    for model in (MAIN, "claude-opus-4-8"):
        started = time.monotonic()
        answer = httpx.post(f"{stack.gateway}/v1/messages/count_tokens?beta=true", json={**body, "model": model},
                            headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["input_tokens"] > 0
        assert time.monotonic() - started < 5
    counted = httpx.post(f"{stack.gateway}/utils/token_counter", headers={"Authorization": f"Bearer {stack.key}"},
                         json={"model": MAIN, "messages": body["messages"]}, timeout=30).json()
    assert counted["model_used"] == MAIN_SERVED and counted["tokenizer_type"] == "openai_tokenizer"
    # Without `disable_hf_tokenizer_download` this name makes LiteLLM 1.104.5 ask HF_ENDPOINT for
    # /Xenova/llama-3-tokenizer/... (measured); the stand-in behind HF_ENDPOINT saw nothing at all.
    assert stack.recorded(MAIN) == [] and stack.recorded(EXACT) == []


def test_smoke_sends_a_claude_code_shaped_request(stack):
    from tests.conftest import Cli

    stack.clear()
    result = Cli()("smoke", str(stack.directory), "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    shaped = checks[f"{MAIN}: Claude Code request (claude-opus-4-5)"]
    assert shaped["ok"] and "blocks: text" in shaped["detail"]
    assert checks[f"{MAIN}: Anthropic count_tokens"]["ok"]
    forwarded = next(b for b in stack.chats(MAIN) if len(b.get("tools") or []) == 25)
    messages = forwarded["messages"]
    assert messages[0]["role"] == "system" and "Answer briefly." in json.dumps(messages[0])
    # The `role: system` message inside `messages` reaches the backend, as a user message (LiteLLM
    # 1.104.5's translation; vLLM 0.12.0's own /v1/messages would refuse the request instead).
    assert [m["role"] for m in messages[1:]] == ["user", "user"]
    assert "Agents available: none." in json.dumps(messages[2])
    assert forwarded["stream"] is True


# ---- the real Claude Code CLI ----------------------------------------------------------------------

def test_claude_code_as_a_new_user_points_it(stack, claude_code, workspace):
    """Only ANTHROPIC_BASE_URL and the key, no model named: Claude Code 2.1.332 asks for claude-opus-5-5."""
    stack.clear()
    env = cc.environment(claude_code, workspace / "home", ANTHROPIC_BASE_URL=stack.gateway,
                         ANTHROPIC_AUTH_TOKEN=stack.key, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
    done = cc.run([str(claude_code), *cc.print_args("Say hello.")], env, workspace / "work")
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text.startswith("Hello from the stand-in backend"), done
    forwarded = stack.chats(MAIN)[-1]
    # 2.1.332 sends 12 tools and defers the rest behind ToolSearch (21 with the experimental betas off)
    assert forwarded["model"] == MAIN_SERVED and len(forwarded["tools"]) >= 10
    system = json.dumps(forwarded["messages"][0])
    assert "x-anthropic-billing-header" in system  # what llmstack claude turns off


def test_llmstack_claude_plain_answer_without_choosing_a_model(stack, claude_code, workspace):
    stack.clear()
    done = cc.llmstack_claude(stack.directory, claude_code, workspace, *cc.print_args("Say hello."))
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text.startswith("Hello from the stand-in backend"), done
    assert list(done.result.get("modelUsage", {})) == [MAIN]  # the opus tier, asked by its alias
    forwarded = stack.chats(MAIN)[-1]
    assert "x-anthropic-billing-header" not in json.dumps(forwarded["messages"])  # ATTRIBUTION_HEADER=0
    assert forwarded["max_tokens"] == 32000  # CLAUDE_CODE_MAX_OUTPUT_TOKENS: a quarter of 131072, capped
    assert stack.chats(EXACT) == []


@pytest.mark.parametrize("tier", ["haiku", "sonnet", "opus"])
def test_llmstack_claude_each_model_tier(stack, claude_code, workspace, tier):
    stack.clear()
    done = cc.llmstack_claude(stack.directory, claude_code, workspace, *cc.print_args("Say hello.", "--model", tier))
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text.startswith("Hello from the stand-in backend"), done
    assert MAIN in done.result.get("modelUsage", {})
    assert stack.chats(MAIN)


def test_llmstack_claude_bash_tool_round_trip(stack, claude_code, workspace):
    stack.clear()
    done = cc.llmstack_claude(stack.directory, claude_code, workspace,
                           *cc.print_args("Please llmstack-run-bash now.", "--allowedTools", "Bash(echo:*)"))
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text == "The tool said: llmstack-tool-ok", done
    assert done.result.get("num_turns", 0) >= 2
    chats = stack.chats(MAIN)
    call = next(c for b in chats for m in b["messages"] if m["role"] == "assistant"
                for c in m.get("tool_calls") or [])
    assert call["function"]["name"] == "Bash"
    assert json.loads(call["function"]["arguments"])["command"] == "echo llmstack-tool-ok"
    result = next(m for b in chats for m in b["messages"] if m["role"] == "tool")
    assert result["tool_call_id"] == call["id"] and "llmstack-tool-ok" in json.dumps(result["content"])


def test_llmstack_claude_with_a_wrong_key_is_refused(stack, claude_code, workspace):
    stack.clear()
    done = cc.llmstack_claude(stack.directory, claude_code, workspace, *cc.print_args("Say hello."),
                           LITELLM_MASTER_KEY=wrong_key())
    assert done.code == 1 and done.result.get("is_error") is True, done
    assert done.result.get("api_error_status") in (400, 401, 403), done
    assert stack.recorded(MAIN) == [] and stack.recorded(EXACT) == []
