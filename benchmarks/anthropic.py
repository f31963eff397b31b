"""Native vs translated: Anthropic /v1/messages through the gateway to a real server, llama.cpp or vLLM.

One stack rendered by llmstack, with one alias per route serving the same scripted agent model
(tests/e2e/make_agent_gguf.py for llama.cpp, make_agent_hf.py for vLLM): `native` (LiteLLM hands
/v1/messages to the server's own /v1/messages untranslated) and `translated` (LiteLLM turns it into
chat completions). llama.cpp: two servers (the e2e image), one per alias. vLLM (the e2e CPU image,
vLLM 0.32.0): one server, reached by both aliases (the second is a gateway-only `external` entry
pointing at the first's service), through the same gateway on the same network. The model's work is
tiny and identical, so the differences are the gateway's.

Speed: requests/s, p50/p95 latency and streamed events/s for a short answer, a 64-token stream
and smoke's Claude-Code-shaped request, with 1 and 8 clients; the server's own /v1/messages,
direct, as the baseline. Routes are measured in alternating rounds so drift weighs on both alike.
Fidelity: what each route keeps of Claude Code's conversation, probed once each.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from benchmarks.common import BIN, percentile, table
from llmstack.smoke import CLAUDE_CODE_BETAS, claude_code_request
from tests.e2e import images
from tests.e2e.conftest import free_port
from tests.e2e.make_agent_gguf import LONG, RUN_BASH, TOOL_OUTPUT
from tests.e2e.make_agent_gguf import write as write_agent_gguf

ROUTES = ("native", "translated")
VERSION = "2023-06-01"
BASH = {"name": "Bash", "description": "Run a shell command.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}
TITLES = {"llama": "llama.cpp", "vllm": "vLLM"}
VLLM_VERSION = "v0.32.0"  # what the e2e image runs (tests/e2e/vllm_image.py)


def _models(engine: str, work: Path, ports: dict[str, int]) -> list[dict]:
    """The stack's models.yaml entries: one alias per route."""
    if engine == "llama":
        model = write_agent_gguf(work / "agent.gguf")
        server = images.llama_server_image()
        return [{"model": str(model), "backend": "llama", "alias": route, "image": server, "gpus": "none",
                 "port": ports[route], "publish_port": True, "max_model_len": 65536, "anthropic_route": route}
                for route in ROUTES]
    from tests.e2e.make_agent_hf import write as write_agent_hf
    from tests.e2e.vllm_image import vllm_image

    model = write_agent_hf(work / "agent-qwen3")
    port = ports["translated"]
    # The e2e image has no C++ compiler for torch.compile: eager (the official CPU image compiles).
    # vLLM reports cached prompt tokens (Anthropic usage's cache_read_input_tokens) only with
    # --enable-prompt-tokens-details (vllm/entrypoints/anthropic/serving.py); llmstack does not render it.
    return [{"model": str(model), "backend": "vllm", "alias": "translated", "image": vllm_image(), "gpus": "none",
             "version": VLLM_VERSION, "port": port, "publish_port": True, "max_model_len": 65536,
             "extra_args": ["--enforce-eager", "--enable-prompt-tokens-details"], "anthropic_route": "translated"},
            {"model": "agent-qwen3", "backend": "external", "alias": "native",
             "api_base": f"http://backend-translated:{port}/v1", "anthropic_route": "native"}]


class RoutesStack:
    """The two-route stack, started with `llmstack up`, taken down on exit."""

    def __init__(self, engine: str = "llama"):
        self.engine, self.title = engine, TITLES[engine]
        self.work = Path(tempfile.mkdtemp(prefix="bench-anthropic-"))
        self.name = f"llmstack-bench-{int(time.time() * 1000) % 10_000_000}"
        self.dir = self.work / self.name
        self.ports = {route: free_port() for route in ROUTES}
        if engine == "vllm":  # one server for both aliases
            self.ports["native"] = self.ports["translated"]
        self.gateway_port = free_port()
        models = _models(engine, self.work, self.ports)
        self.served = {m["alias"]: Path(m["model"]).name for m in models}
        (self.work / "models.yaml").write_text(yaml.safe_dump({"stacks": {"routes": {"name": self.name,
                                                                                      "models": models}}}))
        self.llmstack = str(BIN / "llmstack")
        subprocess.run([self.llmstack, "render", "routes", "--config", str(self.work / "models.yaml"),
                        "--output", str(self.dir), "--litellm-image", images.litellm_image(),
                        "--litellm-port", str(self.gateway_port),
                        # vLLM's mode: one gateway worker (two did not get ready beside a vLLM start on a loaded
                        # 2-core host; both routes share the one gateway alike)
                        *(["--litellm-workers", "1"] if engine == "vllm" else [])], check=True, capture_output=True)
        self.key = (self.dir / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.headers = {"x-api-key": self.key, "anthropic-version": VERSION, "anthropic-beta": CLAUDE_CODE_BETAS}

    def direct(self, route: str) -> str:
        return f"http://127.0.0.1:{self.ports[route]}"

    def direct_model(self, route: str) -> str:
        """The model name the server itself answers to (llama.cpp takes any)."""
        return self.served[route] if self.engine == "vllm" else route

    def __enter__(self):
        timeout = "1500" if self.engine == "vllm" else "300"  # vLLM starts in minutes on a loaded 2-core host
        result = subprocess.run([self.llmstack, "up", str(self.dir), "--timeout", timeout], capture_output=True,
                                text=True)
        if result.returncode != 0:
            self.__exit__()
            raise RuntimeError(f"llmstack up failed: {result.stderr[-1500:]}")
        return self

    def __exit__(self, *exc):
        subprocess.run([self.llmstack, "down", str(self.dir), "--volumes"], capture_output=True)


# ---- speed -----------------------------------------------------------------------------------------

# name -> (request body for a model, client counts). The Claude-Code-shaped request is measured
# with one client only: with several, llama.cpp's slots each read its 9,500-token (byte-level)
# prompt once, which drowns the gateway's share.
SCENARIOS = {
    "short answer": (lambda model: {"model": model, "max_tokens": 32,
                                    "messages": [{"role": "user", "content": "Say hello."}]}, (1, 8)),
    "64-token stream": (lambda model: {"model": model, "max_tokens": 64, "stream": True,
                                       "messages": [{"role": "user", "content": f"{LONG}, please."}]}, (1, 8)),
    "Claude Code request": (claude_code_request, (1,)),
}


async def _one(client: httpx.AsyncClient, url: str, headers: dict, body: dict) -> tuple[float, int]:
    start = time.perf_counter()
    if body.get("stream"):
        events = 0
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                raise httpx.HTTPStatusError("bad status", request=response.request, response=response)
            async for line in response.aiter_lines():
                if line.startswith("event: error") or line.startswith('data: {"error"'):
                    raise httpx.StreamError("an error event mid-stream")  # counted as an error
                events += line.startswith("data:")
        return time.perf_counter() - start, events
    response = await client.post(url, json=body, headers=headers)
    if response.status_code != 200:
        raise httpx.HTTPStatusError("bad status", request=response.request, response=response)
    return time.perf_counter() - start, 0


async def _load(url: str, headers: dict, body: dict, concurrency: int,
                requests: int) -> tuple[list[float], int, float, int]:
    """(latencies, events, wall seconds, errors) for `requests` requests from `concurrency` clients."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    events = errors = 0
    remaining = requests
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        await _one(client, url, headers, body)  # warm: the connection and llama.cpp's prompt cache

        async def worker():
            nonlocal remaining, events, errors
            while remaining > 0:
                remaining -= 1
                try:
                    elapsed, n = await _one(client, url, headers, body)
                    latencies.append(elapsed)
                    events += n
                except (httpx.HTTPError, httpx.StreamError):
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, events, wall, errors


def speed(stack: RoutesStack, quick: bool) -> tuple[list[list[str]], dict]:
    rounds = 1 if quick else 4
    per_round = {1: 5 if quick else 50, 8: 8 if quick else 100}
    if stack.engine == "vllm" and not quick:  # the CPU build serves a few requests/s: fewer, same rounds
        per_round = {1: 12, 8: 24}
    # llama.cpp closes a connection after a streamed answer: a fresh one per request, direct.
    direct = {"anthropic-version": VERSION, **({"connection": "close"} if stack.engine == "llama" else {})}
    baseline = f"{stack.title} direct"
    targets = {baseline: (f"{stack.direct('native')}/v1/messages", direct),
               **{route: (f"{stack.gateway}/v1/messages?beta=true", stack.headers) for route in ROUTES}}
    rows, summary = [], {}
    for scenario, (make, client_counts) in SCENARIOS.items():
        for clients in client_counts:
            samples = {t: ([], 0, 0.0, 0) for t in targets}
            for _ in range(rounds):
                for target, (url, headers) in targets.items():
                    model = stack.direct_model("native") if target == baseline else target
                    lat, ev, wall, err = asyncio.run(_load(url, headers, make(model), clients, per_round[clients]))
                    old = samples[target]
                    samples[target] = (old[0] + lat, old[1] + ev, old[2] + wall, old[3] + err)
            for target, (lat, ev, wall, err) in samples.items():
                streamed = bool(make("x").get("stream"))
                rows.append([scenario, target, str(clients), f"{len(lat) / wall:.0f}",
                             f"{statistics.median(lat) * 1000:.1f}" if lat else "-",
                             f"{percentile(lat, 95) * 1000:.1f}" if lat else "-",
                             f"{ev / wall:.0f}" if streamed else "-", str(err)])
                summary[(scenario, clients, target)] = (len(lat) / wall, statistics.median(lat) if lat else 0.0)
    return rows, summary


def verdict(summary: dict, title: str = "llama.cpp") -> str:
    parts, faster = [], 0
    keys = sorted({(s, c) for s, c, _ in summary}, key=lambda k: (list(SCENARIOS).index(k[0]), k[1]))
    for scenario, clients in keys:
        native, translated = summary[(scenario, clients, "native")], summary[(scenario, clients, "translated")]
        direct = summary[(scenario, clients, f"{title} direct")]
        faster += native[0] > translated[0]
        overhead = [(r[1] - direct[1]) * 1000 for r in (native, translated)]
        parts.append(f"{scenario} x{clients}: {native[0]:.0f} vs {translated[0]:.0f} req/s, gateway adds "
                     f"{overhead[0]:.0f} vs {overhead[1]:.0f} ms at p50")
    return (f"Native vs translated, requests/s: native faster in **{faster} of {len(keys)}** scenarios: "
            + "; ".join(parts) + ".")


# ---- fidelity --------------------------------------------------------------------------------------

def _post(stack: RoutesStack, body: dict, path: str = "/v1/messages") -> dict:
    response = httpx.post(f"{stack.gateway}{path}", json=body, headers=stack.headers, timeout=120)
    response.raise_for_status()
    return response.json()


def _stream(stack: RoutesStack, body: dict) -> list[dict]:
    with httpx.stream("POST", f"{stack.gateway}/v1/messages?beta=true", json={**body, "stream": True},
                      headers=stack.headers, timeout=120) as response:
        response.raise_for_status()
        return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


def _prompt_tokens(usage: dict) -> int:
    """The whole prompt: Anthropic's input_tokens leaves out what was read from or written to the
    prompt cache (vLLM's own /v1/messages reports both, vllm/entrypoints/anthropic/serving.py)."""
    return usage["input_tokens"] + sum(usage.get(k) or 0 for k in ("cache_read_input_tokens",
                                                                      "cache_creation_input_tokens"))


def _probe(stack: RoutesStack, route: str) -> dict[str, str]:
    found: dict[str, str] = {}
    hello = {"model": route, "max_tokens": 32, "messages": [{"role": "user", "content": "Say hello."}]}
    answer = _post(stack, hello)
    blocks = [b["type"] for b in answer["content"]]
    signature = next((b.get("signature") for b in answer["content"] if b["type"] == "thinking"), "n/a")
    found["thinking block in the answer"] = f"{' + '.join(blocks)} (signature {json.dumps(signature)})"
    events = _stream(stack, claude_code_request(route))
    order = [f"{e['type'].removeprefix('content_block_')} {e['index']}" for e in events
             if e["type"] in ("content_block_start", "content_block_stop")]
    found["Claude-Code-shaped request, streamed"] = "accepted; blocks " + ", ".join(order)
    start_usage = next(e["message"]["usage"] for e in events if e["type"] == "message_start")
    found["usage in message_start"] = (f"input {start_usage.get('input_tokens')}, cache read "
                                       f"{start_usage.get('cache_read_input_tokens')}")
    again = _post(stack, {**claude_code_request(route), "stream": False})["usage"]
    found["prompt-cache reads reported (Claude-Code-shaped request again)"] = (
        f"{again.get('cache_read_input_tokens')} of {_prompt_tokens(again)} tokens")

    def prompt(thinking: str) -> int:
        usage = _post(stack, {"model": route, "max_tokens": 8, "messages": [
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": thinking, "signature": "s"},
                                              {"type": "text", "text": "Hi."}]},
            {"role": "user", "content": "Again."}]})["usage"]
        return _prompt_tokens(usage)

    found["thinking in the history (400 chars)"] = f"prompt grows by {prompt('x' * 400) - prompt('x')} tokens"

    def with_system(text: str) -> int:  # Claude Code sends one mid-conversation
        usage = _post(stack, {"model": route, "max_tokens": 8, "messages": [
            {"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hi."},
            {"role": "system", "content": text}, {"role": "user", "content": "Again."}]})["usage"]
        return _prompt_tokens(usage)

    grown = with_system("y" * 400) - with_system("y")
    found["`role: system` inside messages (400 chars)"] = f"prompt grows by {grown} tokens"
    call = _post(stack, {"model": route, "max_tokens": 128, "tools": [BASH],
                         "messages": [{"role": "user", "content": RUN_BASH}]})
    found["tool call"] = f"{' + '.join(b['type'] for b in call['content'])}, stop_reason {call['stop_reason']}"
    use = next((b for b in call["content"] if b["type"] == "tool_use"), None)
    if use is None:  # a fidelity row, not a crash: the table says what came back instead
        found["tool result back to the model"] = "not asked (no tool_use came back)"
    else:
        result = _post(stack, {"model": route, "max_tokens": 32, "tools": [BASH], "messages": [
            {"role": "user", "content": RUN_BASH}, {"role": "assistant", "content": [use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": TOOL_OUTPUT}]}]})
        found["tool result back to the model"] = "answer " + " + ".join(
            f"{b['type']} {b.get('text') or b.get('thinking')!r}" for b in result["content"])
    counted = _post(stack, {"model": route, "messages": hello["messages"], "tools": [BASH]},
                    "/v1/messages/count_tokens")["input_tokens"]
    own = httpx.post(f"{stack.direct(route)}/v1/messages/count_tokens",
                     json={"model": stack.direct_model(route), "messages": hello["messages"], "tools": [BASH]},
                     timeout=30).json()
    found[f"count_tokens (gateway / {stack.title}'s own)"] = f"{counted} / {own.get('input_tokens')}"
    city = {"type": "string", "enum": ["Paris", "Tokyo"]}
    weather = {"name": "get_weather", "description": "Current weather for a city.", "strict": True,
               "input_schema": {"type": "object", "properties": {"city": city}, "required": ["city"]}}
    forced = _post(stack, {"model": route, "max_tokens": 128, "tools": [weather], "thinking": {"type": "disabled"},
                           "tool_choice": {"type": "tool", "name": "get_weather"},
                           "messages": [{"role": "user", "content": "Weather in Paris?"}]})
    inputs = [b.get("input") for b in forced["content"] if b["type"] == "tool_use"]
    found["strict tool, forced: arguments"] = json.dumps(inputs[0]) if inputs else "no tool_use"
    return found


def fidelity(stack: RoutesStack) -> list[list[str]]:
    probes = {route: _probe(stack, route) for route in ROUTES}
    return [[what, probes["native"][what], probes["translated"][what]] for what in probes["native"]]


def run(quick: bool = False, engine: str = "llama") -> tuple[str, dict]:
    with RoutesStack(engine) as stack:
        rows, summary = speed(stack, quick)
        checks = fidelity(stack)
    text = table(["request", "target", "clients", "req/s", "p50 ms", "p95 ms", "events/s", "errors"], rows)
    text += "\n\n" + verdict(summary, stack.title)
    what = f"{stack.title} {VLLM_VERSION} (CPU build)" if engine == "vllm" else stack.title
    text += "\n\n" + table([f"fidelity ({what}, scripted agent model)", "native", "translated"], checks)
    return text, summary


if __name__ == "__main__":
    import sys

    print(run(quick=True, engine=sys.argv[1] if len(sys.argv) > 1 else "llama")[0])
