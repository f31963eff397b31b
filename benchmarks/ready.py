"""Time to ready: from the moment the backend turns healthy to `llmstack up` returning ready.

The stand-in backend answers /health 503 for a fixed time, then 200, and reports that exact
moment. LiteLLM's own start time (its container start to /health/readiness 200) is measured
alongside, so the part llmstack and Compose add is: total - LiteLLM's own start.

On the real vLLM server (`run_vllm`: the e2e CPU image, make_agent_hf's model, rendered with
`--backend vllm --cpu`), the whole of `llmstack up` is split into vLLM's own start (its container
start to /health 200), LiteLLM's own start (likewise, to /health/readiness 200) and what is left:
llmstack's and Compose's part (creating the containers, Docker noticing the backend healthy and
starting the gateway, `up` noticing the gateway ready and sending its one-token request).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.common import BIN, table
from tests.e2e import images
from tests.e2e.conftest import free_port


def started_at(container: str) -> float:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container], capture_output=True,
                         text=True, check=True).stdout.strip()
    # 2026-11-23T22:51:03.123456789Z -> seconds since the epoch
    stamp = out[:26].rstrip("Z")
    return datetime.fromisoformat(stamp + "+00:00").timestamp()


class FirstReady(threading.Thread):
    """The first moment a URL answers 200 (`at`, None until then), polled every 20 ms."""

    def __init__(self, url: str, limit: float = 300):
        # A fresh connection each time: a pooled one can miss a short loading phase.
        super().__init__(daemon=True)
        self.url, self.limit, self.at = url, limit, None

    def run(self):
        deadline = time.time() + self.limit
        while time.time() < deadline:
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    self.at = time.time()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)


def one_run(startup: float = 8.0) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-ready-"))
    model = work / "models" / "m"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")  # a model directory (an empty one is refused)
    name = f"llmstack-bench-{int(time.time() * 1000) % 10_000_000}"
    out = work / name
    gateway, backend = free_port(), free_port()
    llmstack = str(BIN / "llmstack")
    subprocess.run([llmstack, "render", "--model", str(model), "--backend", "vllm", "--cpu", "--name", name,
                    "--output", str(out), "--backend-image", images.fake_backend_image(),
                    "--litellm-image", images.litellm_image(), "--litellm-port", str(gateway),
                    "--port", str(backend), "--publish-backend", f"--extra-arg=--fake-startup-seconds={startup}"],
                   check=True, capture_output=True)
    watcher = FirstReady(f"http://127.0.0.1:{gateway}/health/readiness")
    watcher.start()
    try:
        result = subprocess.run([llmstack, "up", str(out), "--timeout", "300"], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"llmstack up failed: {result.stderr[-1500:]}")
        returned = time.time()
        watcher.join(timeout=10)
        healthy_at = httpx.get(f"http://127.0.0.1:{backend}/_healthy_at", timeout=5).json()["healthy_at"]
        gateway_started = started_at(f"{name}-litellm-1")
        own = watcher.at - gateway_started
        return {
            "total": returned - healthy_at,
            "litellm own start": own,
            "overhead": returned - healthy_at - own,
            "backend healthy -> gateway container started": gateway_started - healthy_at,
            "gateway ready -> up returned": returned - watcher.at,
        }
    finally:
        subprocess.run([llmstack, "down", str(out), "--volumes"], capture_output=True)


TOTAL, VLLM_OWN = "total (`llmstack up`)", "vLLM's own start (container start -> /health 200)"
LITELLM_OWN, REST = "LiteLLM's own start (container start -> /health/readiness 200)", "llmstack and Compose (the rest)"


def one_vllm_run() -> dict[str, float]:
    from tests.e2e.make_agent_hf import write
    from tests.e2e.vllm_image import vllm_image

    work = Path(tempfile.mkdtemp(prefix="bench-ready-vllm-"))
    model = write(work / "agent-qwen3")
    name = f"llmstack-bench-{int(time.time() * 1000) % 10_000_000}"
    out = work / name
    gateway, backend = free_port(), free_port()
    llmstack = str(BIN / "llmstack")
    subprocess.run([llmstack, "render", "--model", str(model), "--backend", "vllm", "--cpu", "--name", name,
                    "--output", str(out), "--backend-image", vllm_image(), "--max-model-len", "65536",
                    "--litellm-image", images.litellm_image(), "--litellm-port", str(gateway), "--litellm-workers", "1",
                    "--port", str(backend), "--publish-backend", "--extra-arg=--enforce-eager"],
                   check=True, capture_output=True)
    health = FirstReady(f"http://127.0.0.1:{backend}/health", limit=1800)
    ready = FirstReady(f"http://127.0.0.1:{gateway}/health/readiness", limit=1800)
    health.start()
    ready.start()
    try:
        started = time.time()
        result = subprocess.run([llmstack, "up", str(out), "--timeout", "1500"], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"llmstack up failed: {result.stderr[-1500:]}")
        returned = time.time()
        health.join(timeout=10)
        ready.join(timeout=10)
        assert health.at is not None and ready.at is not None
        backend_started, gateway_started = started_at(f"{name}-backend-1"), started_at(f"{name}-litellm-1")
        vllm_own, litellm_own = health.at - backend_started, ready.at - gateway_started
        total = returned - started
        return {
            TOTAL: total,
            VLLM_OWN: vllm_own,
            LITELLM_OWN: litellm_own,
            REST: total - vllm_own - litellm_own,
            "rest: up started -> backend container started": backend_started - started,
            "rest: vLLM /health 200 -> gateway container started": gateway_started - health.at,
            "rest: gateway ready -> up returned": returned - ready.at,
        }
    finally:
        subprocess.run([llmstack, "down", str(out), "--volumes"], capture_output=True)


def run_vllm(runs: int = 3) -> tuple[str, dict[str, float]]:
    samples = [one_vllm_run() for _ in range(runs)]
    keys = list(samples[0])
    medians = {k: statistics.median(s[k] for s in samples) for k in keys}
    rows = [[k, f"{medians[k]:.1f} s", " / ".join(f"{s[k]:.1f}" for s in samples)] for k in keys]
    text = table(["phase (real vLLM 0.32 CPU build)", f"median of {runs}", "runs"], rows)
    total = medians[TOTAL]
    text += (f"\n\nOf `llmstack up` ({total:.0f} s), vLLM's own start is **{medians[VLLM_OWN] / total:.0%}**, "
             f"LiteLLM's {medians[LITELLM_OWN] / total:.0%}, llmstack and Compose **{medians[REST] / total:.0%}** "
             f"({medians[REST]:.1f} s).")
    return text, medians


def run(runs: int = 3, startup: float = 8.0) -> tuple[str, dict[str, float]]:
    samples = [one_run(startup) for _ in range(runs)]
    keys = list(samples[0])
    medians = {k: statistics.median(s[k] for s in samples) for k in keys}
    rows = [[k, f"{medians[k]:.2f} s", " / ".join(f"{s[k]:.2f}" for s in samples)] for k in keys]
    text = table(["phase", f"median of {runs}", "runs"], rows)
    ok = medians["overhead"] < 3.0
    text += (f"\n\nTarget: under 3 s plus LiteLLM's own start time: overhead **{medians['overhead']:.2f} s** "
             f"({'met' if ok else 'NOT met'}).")
    return text, medians


if __name__ == "__main__":
    text, medians = run(runs=1)
    print(text)
    print(json.dumps(medians))
