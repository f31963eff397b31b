"""Gateway overhead: requests/s and p50/p95 latency straight to the backend vs through LiteLLM,
sequential and at 16/64 concurrent clients, non-streaming and streaming (chunks/s).

Each LiteLLM variant is a stack rendered by llmstack (the stand-in backend answers instantly),
so what is measured is exactly what a user runs. Variants differ only in the gateway settings.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.common import BIN, percentile, table
from tests.e2e import images
from tests.e2e.conftest import free_port

BODY = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 16}


@dataclass
class Load:
    rps: float
    p50_ms: float
    p95_ms: float
    chunks_per_s: float
    errors: int


async def _one(client: httpx.AsyncClient, url: str, headers: dict, body: dict, stream: bool) -> tuple[float, int]:
    start = time.perf_counter()
    if stream:
        chunks = 0
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                raise httpx.HTTPStatusError("bad status", request=response.request, response=response)
            async for line in response.aiter_lines():
                if line.startswith("data:") and "[DONE]" not in line:
                    chunks += 1
        return time.perf_counter() - start, chunks
    response = await client.post(url, json=body, headers=headers)
    if response.status_code != 200:
        raise httpx.HTTPStatusError("bad status", request=response.request, response=response)
    return time.perf_counter() - start, 0


async def _load(url: str, headers: dict, model: str, concurrency: int, requests: int, stream: bool) -> Load:
    body = {**BODY, "model": model, "stream": stream}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    chunks = 0
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for _ in range(min(concurrency, 4)):  # warm the connections and the gateway's caches
            await _one(client, url, headers, body, stream)

        async def worker():
            nonlocal chunks, errors
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    elapsed, n = await _one(client, url, headers, body, stream)
                    latencies.append(elapsed)
                    chunks += n
                except httpx.HTTPError:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return Load(rps=len(latencies) / wall, p50_ms=statistics.median(latencies) * 1000 if latencies else float("nan"),
                p95_ms=percentile(latencies, 95) * 1000, chunks_per_s=chunks / wall, errors=errors)


class Stack:
    """A rendered stand-in stack, started with `llmstack up`, taken down on exit."""

    def __init__(self, label: str, *render_args: str, mutate=None):
        self.label = label
        self.work = Path(tempfile.mkdtemp(prefix="bench-gw-"))
        model = self.work / "models" / "m"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")  # a model directory (an empty one is refused)
        self.name = f"llmstack-bench-{int(time.time() * 1000) % 10_000_000}"
        self.dir = self.work / self.name
        self.gateway_port, self.backend_port = free_port(), free_port()
        self.llmstack = str(BIN / "llmstack")
        subprocess.run([self.llmstack, "render", "--model", str(model), "--backend", "vllm", "--cpu",
                        "--name", self.name, "--output", str(self.dir),
                        "--backend-image", images.fake_backend_image(), "--litellm-image", images.litellm_image(),
                        "--litellm-port", str(self.gateway_port), "--port", str(self.backend_port),
                        "--publish-backend", "--extra-arg=--fake-startup-seconds=0", *render_args],
                       check=True, capture_output=True)
        self.key = (self.dir / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        if mutate:
            mutate(self.dir / "docker-compose.yml")

    def __enter__(self):
        result = subprocess.run([self.llmstack, "up", str(self.dir), "--timeout", "300"], capture_output=True,
                                text=True)
        if result.returncode != 0:
            self.__exit__()
            raise RuntimeError(f"llmstack up failed for {self.label}: {result.stderr[-1500:]}")
        return self

    def __exit__(self, *exc):
        subprocess.run([self.llmstack, "down", str(self.dir), "--volumes"], capture_output=True)


def litellm_defaults(compose_file: Path) -> None:
    """The same stack with LiteLLM's own defaults: no worker count, default logging."""
    import yaml

    data = yaml.safe_load(compose_file.read_text())
    gateway = data["services"]["litellm"]
    command = gateway["command"]
    if "--num_workers" in command:
        index = command.index("--num_workers")
        del command[index:index + 2]
    gateway["environment"].pop("LITELLM_LOG", None)
    compose_file.write_text(yaml.safe_dump(data, sort_keys=False))  # Compose syntax survives as is


SCENARIOS = [(1, False), (16, False), (64, False), (1, True), (16, True), (64, True)]


def measure(url: str, headers: dict, model: str, requests: dict[int, int]) -> dict[tuple[int, bool], Load]:
    return {(c, s): asyncio.run(_load(url, headers, model, c, requests[c], s)) for c, s in SCENARIOS}


def _rows(label: str, results: dict[tuple[int, bool], Load]) -> list[list[str]]:
    rows = []
    for (c, s), r in results.items():
        rows.append([label, "stream" if s else "plain", str(c), f"{r.rps:.0f}", f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}",
                     f"{r.chunks_per_s:.0f}" if s else "-", str(r.errors)])
    return rows


def run(quick: bool = False, variants: list[tuple] | None = None) -> tuple[str, dict]:
    requests = {1: 20, 16: 48, 64: 128} if quick else {1: 200, 16: 800, 64: 1600}
    variants = variants or [
        ("LiteLLM defaults", [], litellm_defaults),
        ("llmstack rendered", []),
    ]
    all_rows: list[list[str]] = []
    summary: dict = {}
    direct_done = False
    for label, args, *mutate in variants:
        with Stack(label, *args, mutate=mutate[0] if mutate else None) as stack:
            if not direct_done:
                direct = measure(f"http://127.0.0.1:{stack.backend_port}/v1/chat/completions", {}, "m", requests)
                all_rows += _rows("backend direct", direct)
                summary["backend direct"] = direct
                direct_done = True
            via = measure(f"http://127.0.0.1:{stack.gateway_port}/v1/chat/completions",
                          {"Authorization": f"Bearer {stack.key}"}, "local-model", requests)
            all_rows += _rows(label, via)
            summary[label] = via
    text = table(["target", "mode", "clients", "req/s", "p50 ms", "p95 ms", "chunks/s", "errors"], all_rows)
    if {"LiteLLM defaults", "llmstack rendered"} <= summary.keys():
        text += "\n\n" + compare(summary["LiteLLM defaults"], summary["llmstack rendered"])
    return text, summary


def compare(defaults: dict[tuple[int, bool], Load], rendered: dict[tuple[int, bool], Load]) -> str:
    """One line: in how many scenarios the rendered settings beat LiteLLM's defaults, and by how much."""
    parts, wins = [], 0
    for key in defaults:
        before, after = defaults[key].rps, rendered[key].rps
        wins += after > before
        clients, stream = key
        parts.append(f"{'streamed' if stream else 'plain'} x{clients} {after:.0f} vs {before:.0f} "
                     f"({(after / before - 1) * 100:+.0f}%)")
    return (f"Rendered settings vs LiteLLM's defaults, req/s: faster in **{wins} of {len(defaults)}** "
            f"scenarios: " + "; ".join(parts) + ".")


if __name__ == "__main__":
    text, _ = run(quick=True)
    print(text)
