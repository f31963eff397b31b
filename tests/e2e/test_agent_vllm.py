"""The strictest real template on the real vLLM server (CPU build, tests/e2e/vllm_image.py) behind
the rendered gateway, on both Anthropic routes.

The model is make_tiny_hf's random-weight Qwen3 carrying Mistral-Nemo-Instruct-2407's real chat
template (from llama.cpp's models/templates: system messages only first, strict user/assistant
alternation, nine-character tool-call ids). `llmstack render --backend vllm --cpu` checks that
template and switches the gateway hook on for the alias; a gateway-only stack (`--backend external`,
host network) in front of the same vLLM server adds the native route (`native`: /v1/messages handed
to vLLM's own handler, hook on) and `raw` (`adapt: none`). One vLLM start for the module.

The weights are random, so what is checked is that the template accepted the request (200) with
the hook and refused it without (vLLM answers the template's error as a 400): recorded Claude Code
requests (a plan-mode session with system messages in the history; a Bash round trip with
`toolu_` ids) on the translated and native routes, a recorded Codex request on the Responses
bridge, and the OpenAI SDK with a system message in the middle of the session.
"""

from __future__ import annotations

import time
import uuid

import httpx
import openai
import pytest
import yaml

from tests.agent_fixtures import conversations, real_templates
from tests.e2e import images
from tests.e2e.conftest import PROJECT_PREFIX, compose_down, free_port
from tests.e2e.test_agent_templates import STRICTEST, master_key, rendered_hook

pytestmark = pytest.mark.e2e

ALIAS = "nemo"
SERVED = "tiny-nemo"  # the model directory's name: what vLLM serves
VERSION = "v0.32.0"
CONTEXT = 65536
BOOT_LIMIT = 1500  # seconds: vLLM takes minutes to start on a loaded 2-core host
SWITCHES = ["strip_billing_header", "fold_system", "merge_turns", "tool_ids"]
ANTHROPIC = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory, vllm_cpu_image):
    from tests.conftest import Cli
    from tests.e2e.make_tiny_hf import write

    cli = Cli()
    root = tmp_path_factory.mktemp("agent-vllm")
    model = write(root / SERVED, template=real_templates()[STRICTEST])
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
    config = {"stacks": {"other": {"name": f"{name}-other", "network": "host", "models": [
        {**upstream, "alias": "native", "anthropic_route": "native", "adapt": SWITCHES},
        {**upstream, "alias": "raw", "adapt": "none"}]}}}
    (root / "models.yaml").write_text(yaml.safe_dump(config))
    rendered = cli("render", "other", "--config", str(root / "models.yaml"), "--output", str(other_dir),
                   "--litellm-image", images.litellm_image(), "--litellm-port", str(other_port),
                   "--litellm-workers", "1")
    assert rendered.exit_code == 0, rendered.stderr
    assert rendered_hook(other_dir) == {"native": SWITCHES, "raw": []} | {
        k: v for k, v in rendered_hook(other_dir).items() if k.startswith("claude-")}
    try:
        started = time.monotonic()
        up = cli("up", str(main_dir), "--timeout", str(BOOT_LIMIT))
        assert up.exit_code == 0, up.stdout + up.stderr
        print(f"\nvLLM on the CPU ready behind the gateway in {time.monotonic() - started:.0f} s")
        other = cli("up", str(other_dir), "--timeout", "600")
        assert other.exit_code == 0, other.stdout + other.stderr
        yield {"translated": (f"http://127.0.0.1:{gateway_port}", master_key(main_dir), ALIAS),
               "native": (f"http://127.0.0.1:{other_port}", master_key(other_dir), "native"),
               "raw": (f"http://127.0.0.1:{other_port}", master_key(other_dir), "raw")}
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
    return {**conversations("claude-code")[conversation][-1]["body"], "stream": False, "max_tokens": 8}


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
