"""Time to ready: from the moment the backend turns healthy to `llmstack up` returning ready.

The stand-in backend answers /health 503 for a fixed time, then 200, and reports that exact
moment. LiteLLM's own start time (its container start to /health/readiness 200) is measured
alongside, so the part llmstack and Compose add is: total - LiteLLM's own start.
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


def _started_at(container: str) -> float:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container], capture_output=True,
                         text=True, check=True).stdout.strip()
    # 2026-11-23T22:51:03.123456789Z -> seconds since the epoch
    stamp = out[:26].rstrip("Z")
    return datetime.fromisoformat(stamp + "+00:00").timestamp()


class FirstReady(threading.Thread):
    def __init__(self, url: str, limit: float = 300):
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
        gateway_started = _started_at(f"{name}-litellm-1")
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
