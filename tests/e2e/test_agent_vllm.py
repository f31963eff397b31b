"""The strictest real template on the real vLLM server (CPU build, tests/e2e/vllm_image.py) behind
the rendered gateway, on both Anthropic routes, driven by the real agent CLIs.

The model is make_agent_hf's scripted Qwen3 (it thinks, answers, calls Bash or Codex's exec_command
when asked and acknowledges the tool's output) carrying Mistral-Nemo-Instruct-2407's real chat
template (from llama.cpp's models/templates: system messages only first, strict user/assistant
alternation, nine-character tool-call ids): vLLM runs the real template on every request and
answers what it refuses with a 400 carrying the template's message. `llmstack render --backend vllm
--cpu` checks that template and switches the gateway hook on for the alias (the translated
Anthropic route); a gateway-only stack (`--backend external`, host network) in front of the same
vLLM server adds the native route (`native`: /v1/messages handed to vLLM's own handler, hook on;
Claude Code's opus, haiku and fable tiers) and `raw` (`adapt: none`; the sonnet tier). One vLLM
start for the module.

- The real Claude Code CLI on both routes: a plain answer, the same session continued in plan mode
  (system messages inside the history), a Bash round trip; the sonnet tier (`raw`) is refused.
- The real Codex CLI (`codex exec`) on the Responses bridge: a plain answer and a shell command
  round trip.
- Recorded Claude Code requests (a plan-mode session; a Bash round trip with `toolu_` ids) on both
  routes, a recorded Codex request on the Responses bridge and the OpenAI SDK with a system message
  in the middle of the session: answered with the hook, refused by the template without it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.agent_fixtures import conversations, real_templates
from tests.e2e import claude_code as cc
from tests.e2e import codex as cx
from tests.e2e import images
from tests.e2e.conftest import PROJECT_PREFIX, compose_down, free_port
from tests.e2e.make_agent_gguf import ANSWER, RUN_BASH, TOOL_OUTPUT, TOOL_SEEN
from tests.e2e.test_agent_templates import STRICTEST, codex_args, master_key, rendered_hook
from tests.e2e.test_claude_llama import SMALL_CLAUDE

pytestmark = pytest.mark.e2e

ALIAS = "nemo"
SERVED = "tiny-nemo"  # the model directory's name: what vLLM serves
VERSION = "v0.32.0"
CONTEXT = 65536
BOOT_LIMIT = 1500  # seconds: vLLM takes minutes to start on a loaded 2-core host
SWITCHES = ["strip_billing_header", "fold_system", "merge_turns", "tool_ids"]
ANTHROPIC = {"anthropic-version": "2023-06-01"}
CLI_TIMEOUT = 300  # seconds per CLI run: each request is a few thousand byte tokens on a loaded core


@dataclass
class Stacks:
    routes: dict[str, tuple[str, str, str]]  # route -> (gateway URL, key, alias)
    directories: dict[str, Path]  # Anthropic route -> the stack `llmstack claude` runs on

    def __getitem__(self, route: str) -> tuple[str, str, str]:
        return self.routes[route]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory, vllm_cpu_image):
    from tests.conftest import Cli
    from tests.e2e.make_agent_hf import write

    cli = Cli()
    root = tmp_path_factory.mktemp("agent-vllm")
    model = write(root / SERVED, real_template=real_templates()[STRICTEST])
    name = f"{PROJECT_PREFIX}agent-vllm-{uuid.uuid4().hex[:6]}"
    gateway_port, backend_port, other_port = free_port(), free_port(), free_port()
    main_dir, other_dir = root / name, root / f"{name}-other"
    rendered = cli("render", "--model", str(model), "--backend", "vllm", "--cpu", "--backend-image", vllm_cpu_image,
                   "--backend-version", VERSION, "--max-model-len", str(CONTEXT), "--name", name,
                   "--litellm-alias", ALIAS, "--anthropic-route", "translated",
                   "--output", str(main_dir), "--litellm-image", images.litellm_image(),
                   "--litellm-port", str(gateway_port), "--port", str(backend_port), "--publish-backend",
                   "--litellm-workers", "1", "--extra-arg=--enforce-eager")
    assert rendered.exit_code == 0, rendered.stderr
    assert rendered_hook(main_dir)[ALIAS] == SWITCHES  # from the render's own check of the template
    cpu_settings(main_dir)
    upstream = {"backend": "external", "model": SERVED, "api_base": f"http://127.0.0.1:{backend_port}/v1"}
    claude = {"opus": "native", "sonnet": "raw", "haiku": "native", "fable": "native"}
    config = {"stacks": {"other": {"name": f"{name}-other", "network": "host", "claude": claude, "models": [
        {**upstream, "alias": "native", "anthropic_route": "native", "adapt": SWITCHES},
        {**upstream, "alias": "raw", "adapt": "none"}]}}}
    (root / "models.yaml").write_text(yaml.safe_dump(config))
    rendered = cli("render", "other", "--config", str(root / "models.yaml"), "--output", str(other_dir),
                   "--litellm-image", images.litellm_image(), "--litellm-port", str(other_port),
                   "--litellm-workers", "1")
    assert rendered.exit_code == 0, rendered.stderr
    switched = rendered_hook(other_dir)
    assert switched == {"native": SWITCHES, "raw": [], "claude-opus-*": SWITCHES, "claude-sonnet-*": [],
                        "claude-haiku-*": SWITCHES, "claude-fable-*": SWITCHES}, switched
    try:
        started = time.monotonic()
        up = cli("up", str(main_dir), "--timeout", str(BOOT_LIMIT))
        assert up.exit_code == 0, up.stdout + up.stderr
        print(f"\nvLLM on the CPU ready behind the gateway in {time.monotonic() - started:.0f} s")
        other = cli("up", str(other_dir), "--timeout", "600")
        assert other.exit_code == 0, other.stdout + other.stderr
        yield Stacks({"translated": (f"http://127.0.0.1:{gateway_port}", master_key(main_dir), ALIAS),
                      "native": (f"http://127.0.0.1:{other_port}", master_key(other_dir), "native"),
                      "raw": (f"http://127.0.0.1:{other_port}", master_key(other_dir), "raw")},
                     {"translated": main_dir, "native": other_dir})
    finally:
        compose_down(other_dir)
        compose_down(main_dir)


def cpu_settings(directory) -> None:
    """What vLLM's CPU build needs and main's `--cpu` render does not write yet (tests/e2e/test_vllm.py
    CPU_CHANGES; the `vllmcpu` branch renders them): the host's /dev/shm (EngineCore wants 160 MiB,
    Docker gives 64), a KV cache size instead of 0.9 x the host's RAM, no usage report."""
    path = directory / "docker-compose.yml"
    compose = yaml.safe_load(path.read_text())
    backend = compose["services"]["backend"]
    backend["ipc"] = "host"
    backend.setdefault("environment", {}).update({"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1",
                                                  "HF_HUB_OFFLINE": "1"})
    path.write_text(yaml.safe_dump(compose, sort_keys=False))


def post(stacks, route: str, path: str, body: dict) -> httpx.Response:
    url, key, alias = stacks[route]
    headers = {"Authorization": f"Bearer {key}", **(ANTHROPIC if path == "/v1/messages" else {})}
    return httpx.post(f"{url}{path}", json={**body, "model": alias}, headers=headers, timeout=600)


def claude_code_body(conversation: str) -> dict:
    """The recorded request with Bash as its only tool: the agent model's prompt costs a token per byte,
    and Claude Code's 21 tool schemas alone (61,000 characters) would not fit its 65,536 tokens. The
    shapes the template refuses are in the messages, which stay as recorded."""
    body = conversations("claude-code")[conversation][-1]["body"]
    tools = [t for t in body["tools"] if t["name"] == "Bash"]
    return {**body, "tools": tools, "stream": False, "max_tokens": 8}


@pytest.mark.parametrize("conversation", ["plan_continue", "bash"])
@pytest.mark.parametrize("route", ["translated", "native"])
def test_claude_code_requests_with_the_hook(stacks, route, conversation):
    reply = post(stacks, route, "/v1/messages", claude_code_body(conversation))
    assert reply.status_code == 200, reply.text[:2000]
    assert reply.json()["type"] == "message"


@pytest.mark.parametrize("conversation", ["plan_continue", "bash"])
def test_claude_code_requests_without_the_hook_are_refused(stacks, conversation):
    reply = post(stacks, "raw", "/v1/messages", claude_code_body(conversation))
    assert reply.status_code >= 400, reply.text[:2000]
    assert "alternate" in reply.text or "roles are supported" in reply.text or "length 9" in reply.text, reply.text


@pytest.mark.parametrize("route", ["translated", "raw"])
def test_a_recorded_codex_request_on_the_responses_bridge(stacks, route):
    body = {**conversations("codex")["shell"][-1]["body"], "stream": False, "max_output_tokens": 8}
    reply = post(stacks, route, "/v1/responses", body)
    if route == "raw":  # Codex's two developer messages and its two user messages
        assert reply.status_code >= 400 and "alternate" in reply.text, reply.text[:2000]
    else:
        assert reply.status_code == 200, reply.text[:2000]


def test_openai_sdk_mid_session_system_messages(stacks):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."},
                {"role": "assistant", "content": "Hello."}, {"role": "system", "content": "Now plan first."},
                {"role": "user", "content": "Again."}]
    for route in ("translated", "raw"):
        url, key, alias = stacks[route]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=600)
        if route == "raw":
            with pytest.raises(openai.BadRequestError, match="alternate"):
                client.chat.completions.create(model=alias, messages=messages, max_tokens=8)
        else:
            reply = client.chat.completions.create(model=alias, messages=messages, max_tokens=8)
            assert reply.choices[0].finish_reason in ("stop", "length")


# ---- the real agent CLIs -------------------------------------------------------------------------

@pytest.mark.parametrize("route", ["translated", "native"])
def test_claude_code_answers_then_plans(stacks, claude_code, workspace, route):
    """A plain answer, then the same session continued in plan mode: Claude Code sends system
    messages after the user's turn and inside the history (tests/fixtures/agents), which the
    template refuses unless the hook folds them."""
    directory = stacks.directories[route]
    first = cc.llmstack_claude(directory, claude_code, workspace, "-p", "Say hello.", "--output-format", "json",
                               *SMALL_CLAUDE, timeout=CLI_TIMEOUT)  # kept, for --continue
    assert first.code == 0 and first.text == ANSWER, first
    again = cc.llmstack_claude(directory, claude_code, workspace, "-p", "Now plan a change.", "--output-format",
                               "json", "--continue", "--permission-mode", "plan", *SMALL_CLAUDE, timeout=CLI_TIMEOUT)
    assert again.code == 0 and not again.result.get("is_error") and again.text == ANSWER, again


@pytest.mark.parametrize("route", ["translated", "native"])
def test_claude_code_bash_round_trip(stacks, claude_code, workspace, route):
    args = cc.print_args(f"Please {RUN_BASH}.", *SMALL_CLAUDE, "--allowedTools", "Bash(echo:*)")
    done = cc.llmstack_claude(stacks.directories[route], claude_code, workspace, *args, timeout=CLI_TIMEOUT)
    assert done.code == 0 and not done.result.get("is_error"), done
    assert done.text == TOOL_SEEN, done  # said only once Bash's output reached the model as a tool result
    assert done.result.get("num_turns", 0) >= 2, done


def test_claude_code_without_the_hook_is_refused(stacks, claude_code, workspace):
    """The sonnet tier of the gateway-only stack is `raw`: Claude Code's system message after the
    user's turn reaches the template as it is and is refused."""
    done = cc.llmstack_claude(stacks.directories["native"], claude_code, workspace,
                              *cc.print_args("Say hello.", *SMALL_CLAUDE, "--model", "sonnet"), timeout=CLI_TIMEOUT)
    assert done.code == 1 and done.result.get("is_error") is True, done


@pytest.mark.parametrize("prompt, expected", [("Say hello.", ANSWER), (f"Please {RUN_BASH}.", TOOL_SEEN)])
def test_codex_exec_on_the_responses_bridge(stacks, codex_binary, tmp_path, prompt, expected):
    """`codex exec` through the rendered gateway's /v1/responses (LiteLLM's bridge to vLLM's chat
    completions, hook on): Codex's two developer messages and two user messages are folded and
    merged, exec_command's call id becomes nine characters on the way back."""
    url, key, alias = stacks["translated"]
    done = cx.run(codex_binary, tmp_path, prompt, *codex_args(url, alias, tmp_path), key=key, timeout=CLI_TIMEOUT)
    assert done.code == 0 and done.text == expected, done
    if expected == TOOL_SEEN:  # the model says it only once the command's output reached it
        ran = [c for c in done.commands if TOOL_OUTPUT in (c.get("command") or "")]
        assert ran and TOOL_OUTPUT in (ran[0].get("aggregated_output") or ""), done
