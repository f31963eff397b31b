"""One gateway in front of several hosts (issue #11), end to end on a real Docker engine.

Two stand-in backends run in their own Compose projects, as on two GPU hosts: each is a
backend-only stack (`llmstack render --no-litellm`, which publishes the backend on `--bind`).
One gateway stack (`--backend external --api-base URL1 --api-base URL2`) serves them as replicas
of one alias. The gateway runs on the host network (`--network host`), so it reaches the hosts'
published ports on 127.0.0.1 as it would reach `http://gpu-host-1:8000/v1` across a LAN; no
traffic leaves the loopback interface.

Steady traffic from the official OpenAI and Anthropic SDKs (streamed and not, the alias and a
Claude Code model name) flows through the gateway while one host's stack is taken down and
brought back: no request may fail, and the host must take traffic again within the rendered
`cooldown_time`.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import yaml

from tests.e2e.conftest import PROJECT_PREFIX, free_port, project_containers

pytestmark = pytest.mark.e2e

ALIAS = "local-model"
KEY_VARIABLE = "LLMSTACK_E2E_UPSTREAM_KEY"
CLAUDE_MODEL = "claude-sonnet-5"  # what Claude Code asks for: the claude-sonnet-* route
ALIAS_CLIENTS = ("openai", "openai-stream", "anthropic")  # the other client asks for CLAUDE_MODEL


@dataclass
class Host:
    """A backend-only stack: one stand-in backend published on 127.0.0.1:port."""

    directory: Path
    port: int

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[dict]:
        try:
            recorded = httpx.get(f"http://127.0.0.1:{self.port}/_requests", timeout=2).json()
        except httpx.HTTPError:
            return []
        return [r for r in recorded if r["path"] == "/v1/chat/completions"]


@dataclass
class Fleet:
    hosts: list[Host]
    gateway: Path
    url: str
    key: str
    upstream_key: str
    served: str
    router: dict = field(default_factory=dict)


def _render(stacks, name: str, *args: str) -> Path:
    out = stacks.root / name
    result = stacks.cli("render", "--name", name, "--output", str(out), *args)
    assert result.exit_code == 0, result.stderr
    stacks.started.append(out)  # taken down by the factory, whatever happens
    return out


def _up(stacks, directory: Path, *args: str) -> None:
    result = stacks.cli("up", str(directory), "--timeout", "240", *args)
    assert result.exit_code == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def fleet(stacks) -> Fleet:
    model = stacks.root / "models" / "Qwen2.5-0.5B-Instruct"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text("{}")
    run = PROJECT_PREFIX + secrets.token_hex(4)
    hosts = []
    for n in (1, 2):
        port = free_port()
        directory = _render(
            stacks, f"{run}-host{n}", "--model", str(model), "--backend", "vllm", "--cpu", "--no-litellm",
            "--bind", "127.0.0.1", "--port", str(port), "--backend-image", stacks.images["backend"],
            "--extra-arg=--fake-startup-seconds=0")
        hosts.append(Host(directory, port))
    command = yaml.safe_load((hosts[0].directory / "docker-compose.yml").read_text())["services"]["backend"]["command"]
    served = command[command.index("--served-model-name") + 1]  # what the backend answers to
    gateway_port = free_port()
    gateway = _render(
        stacks, f"{run}-gateway", "--backend", "external", "--model", served,
        *[arg for host in hosts for arg in ("--api-base", host.api_base)],
        "--api-key-env", KEY_VARIABLE, "--network", "host", "--litellm-port", str(gateway_port),
        "--litellm-image", stacks.images["litellm"], "--litellm-workers", "1")  # busy shared hosts
    upstream_key = "upstream-" + secrets.token_hex(8)
    env = gateway / ".env"
    env.write_text(env.read_text() + f"{KEY_VARIABLE}={upstream_key}\n")
    key = env.read_text().split("LITELLM_MASTER_KEY=", 1)[1].split("\n", 1)[0].strip()
    for host in hosts:
        _up(stacks, host.directory, "--no-wait")
    _up(stacks, gateway)
    for host in hosts:
        _up(stacks, host.directory)
    router = yaml.safe_load((gateway / "litellm-config.yaml").read_text())["router_settings"]
    return Fleet(hosts, gateway, f"http://127.0.0.1:{gateway_port}", key, upstream_key, served, router)


@dataclass
class Outcome:
    client: str
    started: float
    ended: float
    error: str | None


class Traffic:
    """Steady requests through the gateway from the official SDKs, one thread per kind."""

    def __init__(self, fleet: Fleet, pause: float = 0.02):
        self.fleet = fleet
        self.pause = pause
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        oai = openai.OpenAI(base_url=f"{fleet.url}/v1", api_key=fleet.key, max_retries=0, timeout=30)
        claude = anthropic.Anthropic(base_url=fleet.url, api_key=fleet.key, max_retries=0, timeout=30)
        def messages(client: str) -> list[dict]:  # the backends' request logs tell the clients apart
            return [{"role": "user", "content": f"Hello from {client}"}]

        def openai_chat():
            reply = oai.chat.completions.create(model=ALIAS, messages=messages("openai"), max_tokens=16)
            assert reply.choices[0].message.content.startswith("Hello from the stand-in backend")

        def openai_stream():
            text = "".join(chunk.choices[0].delta.content or "" for chunk in oai.chat.completions.create(
                model=ALIAS, messages=messages("openai-stream"), max_tokens=16, stream=True) if chunk.choices)
            assert text.startswith("Hello from the stand-in backend"), text

        def anthropic_messages():
            reply = claude.messages.create(model=ALIAS, max_tokens=16, messages=messages("anthropic"))
            assert reply.content[0].text.startswith("Hello from the stand-in backend")

        def claude_code_name():
            reply = claude.messages.create(model=CLAUDE_MODEL, max_tokens=16, messages=messages(CLAUDE_MODEL))
            assert reply.content[0].text.startswith("Hello from the stand-in backend")

        self.calls = {"openai": openai_chat, "openai-stream": openai_stream, "anthropic": anthropic_messages,
                      CLAUDE_MODEL: claude_code_name}
        self.threads = [threading.Thread(target=self._loop, args=(name, call), daemon=True)
                        for name, call in self.calls.items()]

    def _loop(self, name, call) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            error = None
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none may escape
                error = f"{type(exc).__name__}: {str(exc)[:300]}"
            with self.lock:
                self.outcomes.append(Outcome(name, started, time.monotonic(), error))
            time.sleep(self.pause)

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def between(self, start: float, end: float) -> list[Outcome]:
        with self.lock:
            return [o for o in self.outcomes if start <= o.started < end]


def _client_of(request: dict) -> str:
    content = request["body"]["messages"][-1]["content"]
    if isinstance(content, list):  # an Anthropic request, translated: a list of text parts
        content = "".join(part.get("text", "") for part in content)
    return content.removeprefix("Hello from ")


def _wait_for(predicate, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until predicate() held, or None after timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    return None


def test_a_host_goes_down_and_comes_back_without_a_failed_request(fleet, stacks):
    first, second = fleet.hosts
    cooldown = fleet.router.get("cooldown_time", 5)  # 5: LiteLLM's default
    returned: dict[str, float] = {}  # client -> seconds from host 1 answering again to its first request there
    with Traffic(fleet) as traffic:
        started = time.monotonic()
        assert _wait_for(lambda: all(len(h.chat_requests()) >= 5 for h in fleet.hosts), 60) is not None, \
            "both hosts take traffic"
        # Host 1 goes away: its own stack, taken down by its own operator (`llmstack down` on that host).
        outage = time.monotonic()
        down = stacks.cli("down", str(first.directory))
        assert down.exit_code == 0, down.stderr
        assert project_containers(first.directory.name) == []
        # Longer than a cooldown: the gateway tries the dead host again meanwhile.
        time.sleep(cooldown + 2)
        restart = time.monotonic()
        _up(stacks, first.directory)
        healthy = time.monotonic()

        # From the moment host 1 answers again (the stand-in's wall clock) to each client's first
        # request there, as the host's own request log tells.
        back = httpx.get(f"http://127.0.0.1:{first.port}/_healthy_at", timeout=5).json()["healthy_at"]

        def every_client_reached_host_1() -> bool:
            for request in first.chat_requests():
                returned.setdefault(_client_of(request), request["at"] - back)
            return set(returned) >= set(traffic.calls)

        _wait_for(every_client_reached_host_1, cooldown + 10)
        time.sleep(0.5)
    ended = time.monotonic()

    outcomes = traffic.between(started, ended)
    failures = [o for o in outcomes if o.error]
    report = [f"router_settings {fleet.router}; {len(outcomes)} requests in {ended - started:.1f}s; "
              f"host 1 down for {healthy - outage:.1f}s (up took {healthy - restart:.1f}s); "
              f"first request to host 1 once it answered again: "
              + ", ".join(f"{name} {returned[name]:.2f}s" for name in traffic.calls if name in returned)]
    for name in traffic.calls:
        mine = [o for o in outcomes if o.client == name]
        during = [o for o in mine if outage <= o.started < healthy]
        report.append(f"{name}: {len(mine)} requests, {len(during)} while host 1 was down, "
                      f"{sum(1 for o in mine if o.error)} failed")
        assert len(during) >= 5, "too little traffic during the outage to prove anything"
    report += [f"failed {o.started - outage:+.2f}s after host 1 went down ({o.client}): {o.error}" for o in failures]
    print("\n".join(report))
    assert failures == [], "\n".join(report)

    # Host 1 takes traffic again within the rendered cooldown_time of being back. Claude Code's
    # wildcard route never leaves a replica out; the alias's replicas are left out for the cooldown.
    assert set(returned) == set(traffic.calls), "\n".join(report)
    assert min(returned[name] for name in ALIAS_CLIENTS) <= cooldown, "\n".join(report)
    assert max(returned.values()) <= cooldown + 2, "\n".join(report)  # + a random pick or two under load

    # Both hosts saw the upstream key from the gateway's .env and the served name, nothing else.
    for host in fleet.hosts:
        requests = host.chat_requests()
        assert {r["authorization"] for r in requests} == {f"Bearer {fleet.upstream_key}"}
        assert {r["body"]["model"] for r in requests} == {fleet.served}


def test_a_request_every_replica_fails_on_does_not_take_the_alias_out(fleet):
    """allowed_fails 1 leaves out a replica that failed twice. A request that fails everywhere (the
    backend answers 500 to it: its retries and the failover all fail) gets its error, and the
    requests after it are served as before."""
    for host in fleet.hosts:
        httpx.delete(f"http://127.0.0.1:{host.port}/_requests", timeout=5)
    oai = openai.OpenAI(base_url=f"{fleet.url}/v1", api_key=fleet.key, max_retries=0, timeout=30)
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "FAKE-500"}])
    tried = [len(host.chat_requests()) for host in fleet.hosts]
    assert all(tried), tried  # the failover sent it to the replica its retries had not reached
    for _ in range(20):
        reply = oai.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "Hello"}])
        assert reply.choices[0].message.content.startswith("Hello from the stand-in backend")
