"""Gateway levers, each measured against the backend served directly, in alternating rounds.

    python -m benchmarks.levers                          # every lever, ratios (about an hour)
    python -m benchmarks.levers --only workers --only version
    python -m benchmarks.levers --profile                # py-spy breakdown per stage (PROFILE.md)
    python -m benchmarks.levers --start                  # start time and idle memory per version

Not part of `python -m benchmarks` (which measures rendered stacks, see gateway_path.py): here the
LiteLLM proxy runs on the host, one process tree per variant, from a venv per LiteLLM version
(`litellm[proxy]==V` from the package index, cached in $LLMSTACK_BENCH_VENVS, default
~/.cache/llmstack-bench), so that a lever can be switched without building an image, py-spy can
see the gateway's Python frames, and the CPU each variant burns is read from /proc. Its
configuration is the one llmstack renders (`llmstack render`, the backend's address replaced),
plus the lever. The backend is the stand-in of benchmarks/stream_backend.py, optionally paced
like a real engine: what differs between rows is the gateway alone.

Every variant runs at once (idle ones cost nothing), and each round measures the direct path and
every variant once per scenario, in a rotating order, so that this shared machine's drift weighs
on all of them alike. Reported per scenario and variant: tokens/s as a ratio of direct, TTFT p50
added to direct's (ms), inter-token p50, and the gateway's own CPU per request and per token.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from benchmarks import flame, loadgen
from benchmarks.common import BIN, REPO, table
from llmstack.gateway import pinned_version
from tests.e2e.conftest import free_port

PINNED = pinned_version()  # the release llmstack renders (1.108.7, the 1.108 LTS line)
OLD = "1.104.5"  # the previous pin, measured against it (issue 18)
# Newer than the pin (`pip index versions litellm`, 2026-11-29): the newest of the 1.108 LTS line and
# the newest release, measured against the pin (issue 20: "newer where installable").
NEWER = ("1.108.14", "1.110.2")
VENVS = Path(os.environ.get("LLMSTACK_BENCH_VENVS", Path.home() / ".cache" / "llmstack-bench"))
ALIAS = "local-model"


# ---- processes ---------------------------------------------------------------------------------------

def litellm_venv(version: str, extras: tuple[str, ...] = ()) -> Path:
    """A venv with `litellm[proxy]==version` (plus extras), made once and cached.

    Newer releases pin companion packages of their `proxy` extra that the package index may not
    carry (1.108.14: litellm-proxy-extras==0.4.110.post1; 1.110.x: litellm-proxy==1.110.x, a
    package not published there). Then the venv gets the release's wheel and every requirement
    of its `proxy` extra as its METADATA names them, those companions taken at the newest version
    the index has, and `litellm-proxy` left out (the proxy's code is in the litellm wheel itself:
    litellm/proxy/). The benchmark's table names the version; `_substitutes` says what differed."""
    venv = VENVS / ("litellm-" + "+".join((version, *extras)))
    python = venv / "bin" / "python"
    if python.exists():
        return venv
    VENVS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    if subprocess.run([*pip, f"litellm[proxy]=={version}", "py-spy", *extras]).returncode != 0:
        wheels = Path(tempfile.mkdtemp(prefix="bench-litellm-wheel-"))
        subprocess.run([str(python), "-m", "pip", "download", "-q", "--no-deps", f"litellm=={version}",
                        "-d", str(wheels)], check=True)
        wheel = next(wheels.glob("litellm-*.whl"))
        subprocess.run([*pip, str(wheel), "py-spy", *extras, *proxy_requirements(wheel)], check=True)
    return venv


COMPANIONS = ("litellm-proxy-extras", "litellm-enterprise")  # pinned exactly by the extra; any version will do
NOT_ON_INDEX = ("litellm-proxy",)


def proxy_requirements(wheel: Path) -> list[str]:
    """The requirements of a litellm wheel's `proxy` extra, read from its METADATA, with the
    companions' exact pins dropped (see litellm_venv)."""
    import re
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(meta).decode().splitlines()
    found = []
    for line in lines:
        match = re.match(r"Requires-Dist: (.+?) ; (.*?)\s*(?:and\s+)?extra == 'proxy'$", line)
        if not match:
            continue
        requirement, marker = match.groups()
        name = re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].lower()
        if name in NOT_ON_INDEX:
            continue
        found.append((name if name in COMPANIONS else requirement) + (f" ; {marker}" if marker else ""))
    return found


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (live ones; children that exited are not counted)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


UNSET = "<unset>"  # an environment value that removes the variable


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Process:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cpus: str | None = None,
                 log: Path | None = None):
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        self.log = log or Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1])
        merged = {**os.environ, **(env or {})}
        for name in [k for k, v in merged.items() if v == UNSET]:
            del merged[name]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=merged, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)


def wait_ready(url: str, proc: Process, limit: float = 300) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"exited: {proc.log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"not ready after {limit} s: {url}")


# ---- variants ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """One gateway: a LiteLLM version, worker count, environment, config changes, CLI flags, CPUs."""

    name: str
    version: str = PINNED
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    settings: dict[str, dict] = field(default_factory=dict)  # merged into litellm-config.yaml's sections
    args: tuple[str, ...] = ()
    cpus: str | None = None  # taskset -c
    model_info: dict = field(default_factory=dict)  # merged into every model_list entry's model_info
    drop_info: tuple[str, ...] = ()  # model_info keys removed (the rendered zero prices, to measure without them)
    passthrough: bool = False  # requests go to a pass-through route (/engine/...) instead of the model routes
    extras: tuple[str, ...] = ()  # more packages in the venv (httptools...)


def rendered_config(api_base: str) -> dict:
    """llmstack's rendered litellm-config.yaml for a one-model stack, pointed at `api_base`."""
    with tempfile.TemporaryDirectory(prefix="bench-levers-") as tmp:
        model = Path(tmp) / "models" / "m"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        out = Path(tmp) / "stack"
        subprocess.run([str(BIN / "llmstack"), "render", "--model", str(model), "--backend", "vllm", "--cpu",
                        "--backend-image", "bench/stand-in:1", "--name", "bench-levers", "--output", str(out),
                        "--anthropic-route", "translated"], check=True, capture_output=True)
        config = yaml.safe_load((out / "litellm-config.yaml").read_text())
    for entry in config["model_list"]:
        entry["litellm_params"]["api_base"] = api_base
    return config


def config_for(base: dict, variant: Variant) -> dict:
    config = copy.deepcopy(base)
    for section, values in variant.settings.items():
        config.setdefault(section, {})
        config[section].update(values)
    for entry in config["model_list"]:
        entry.setdefault("model_info", {}).update(variant.model_info)
        for key in variant.drop_info:
            entry["model_info"].pop(key, None)
    if variant.passthrough:  # LiteLLM forwards /engine/<path> to the backend's /<path> as it is
        target = config["model_list"][0]["litellm_params"]["api_base"].removesuffix("/v1")
        config["general_settings"]["pass_through_endpoints"] = [
            {"path": PASSTHROUGH, "target": target, "include_subpath": True, "auth": True}]
    return config


PASSTHROUGH = "/engine"


# The environment llmstack renders for the gateway (templates/docker-compose.yml.j2).
RENDERED_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "WARNING"}


class Gateway:
    def __init__(self, variant: Variant, base: dict, work: Path):
        self.variant = variant
        self.port = free_port()
        self.key = "sk-bench-" + secrets.token_hex(16)
        self.config = work / f"{variant.name.replace(' ', '_').replace('/', '_')}.yaml"
        self.config.write_text(yaml.safe_dump(config_for(base, variant), sort_keys=False))
        self.work = work
        self.proc: Process | None = None
        self.start_s = float("nan")
        self.idle_mib = float("nan")

    def start(self) -> None:
        venv = litellm_venv(self.variant.version, self.variant.extras)
        argv = [str(venv / "bin" / "python"), "-c",
                "import sys; from litellm.proxy.proxy_cli import run_server; sys.exit(run_server())",
                "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port),
                "--num_workers", str(self.variant.workers), *self.variant.args]
        env = {**RENDERED_ENV, "LITELLM_MASTER_KEY": self.key, **self.variant.env}
        self.proc = Process(argv, env, self.variant.cpus, self.config.with_suffix(".log"))

    def wait(self) -> None:
        assert self.proc
        self.start_s = wait_ready(f"http://127.0.0.1:{self.port}/health/readiness", self.proc)
        time.sleep(2)
        self.idle_mib = rss_mib(self.proc.pids())

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def headers(self, api: str) -> dict[str, str]:
        if api == "messages":
            return {"x-api-key": self.key, "anthropic-version": "2023-06-01"}
        return {"authorization": f"Bearer {self.key}"}


# ---- measuring ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    api: str  # chat | messages
    stream: bool
    clients: int
    tokens: int = 48

    @property
    def label(self) -> str:
        return f"{self.api} {'stream' if self.stream else 'plain'} x{self.clients}"

    def body(self, model: str) -> dict:
        make = loadgen.messages_body if self.api == "messages" else loadgen.chat_body
        return make(model, self.tokens, self.stream)

    def path(self) -> str:
        return "/v1/messages" if self.api == "messages" else "/v1/chat/completions"


@dataclass
class Measured:
    results: list[loadgen.Result] = field(default_factory=list)
    cpu: float = 0.0  # gateway CPU seconds while measured

    def merged(self) -> loadgen.Result:
        return loadgen.merge(self.results)


def requests_for(scenario: Scenario, quick: bool) -> int:
    per_client = 2 if quick else (20 if scenario.clients == 1 else 3)
    return max(scenario.clients * per_client, 10 if not quick else 2)


def measure_round(scenario: Scenario, targets: dict[str, tuple[str, dict[str, str], str, list[int]]],
                  found: dict[tuple[str, str], Measured], order: list[str], quick: bool) -> None:
    for name in order:
        url, headers, model, pids = targets[name]
        before = cpu_seconds(pids)
        result = asyncio.run(loadgen.load(url + scenario.path(), headers, scenario.body(model), scenario.clients,
                                          requests_for(scenario, quick)))
        used = cpu_seconds(pids) - before
        slot = found.setdefault((scenario.label, name), Measured())
        slot.results.append(result)
        slot.cpu += used


def ratio_rows(scenarios: list[Scenario], names: list[str], found: dict[tuple[str, str], Measured]) -> list[list[str]]:
    rows = []
    for scenario in scenarios:
        direct = found[(scenario.label, "direct")].merged()
        for name in names:
            m = found[(scenario.label, name)]
            r = m.merged()
            tokens = sum(s.tokens for s in r.samples) or 1
            if name == "direct":
                rows.append([scenario.label, name, f"{r.tokens_per_s:.0f} tok/s", f"{r.ttft_p50 * 1000:.1f}",
                             _ms(r.itl_p50), "-", "-", str(r.errors)])
                continue
            ratio = r.tokens_per_s / direct.tokens_per_s if direct.tokens_per_s else float("nan")
            rows.append([scenario.label, name, f"{ratio * 100:.0f}%",
                         f"+{(r.ttft_p50 - direct.ttft_p50) * 1000:.1f}", _ms(r.itl_p50),
                         f"{m.cpu / max(1, len(r.samples)) * 1000:.1f}", f"{m.cpu / tokens * 1000:.2f}",
                         str(r.errors) + (f" ({r.first_error[:60]})" if r.errors else "")])
    return rows


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.2f}"


HEADER = ["scenario", "target", "tokens/s (direct: absolute)", "TTFT p50 ms (vs direct)", "ITL p50 ms",
          "gateway CPU ms/req", "gateway CPU ms/token", "errors"]


@dataclass(frozen=True)
class External:
    """An engine already serving (a rendered stack's published backend): its URL and model name."""

    url: str
    model: str
    title: str


def run_levers(variants: list[Variant], scenarios: list[Scenario], rounds: int, token_ms: float, ttft_ms: float,
               quick: bool = False, backend_cpus: str | None = None,
               external: External | None = None, stream_interval: int = 1) -> tuple[str, dict]:
    work = Path(tempfile.mkdtemp(prefix="bench-levers-"))
    backend_port = free_port()
    backend_url = external.url if external else f"http://127.0.0.1:{backend_port}"
    served = external.model if external else "m"
    backend = None if external else Process(
        [sys.executable, str(REPO / "benchmarks" / "stream_backend.py"), "--port", str(backend_port),
         "--host", "127.0.0.1", "--token-ms", str(token_ms), "--ttft-ms", str(ttft_ms),
         "--stream-interval", str(stream_interval)],
        cpus=backend_cpus, log=work / "backend.log")
    base = rendered_config(f"{backend_url}/v1")
    for entry in base["model_list"]:
        entry["litellm_params"]["model"] = entry["litellm_params"]["model"].rsplit("/", 1)[0] + "/" + served
    gateways = [Gateway(v, base, work) for v in variants]
    loads = [load_average()]
    try:
        if backend:
            wait_ready(f"{backend_url}/health", backend)
        failed = []
        for gateway in gateways:  # one at a time: start time measured alone, not against the others' start
            gateway.start()
            try:
                gateway.wait()
            except RuntimeError as exc:  # e.g. 2 workers re-spawned forever on a busy host (issue 16)
                gateway.stop()
                failed.append(f"{gateway.variant.name}: never ready ({str(exc).splitlines()[0][:120]})")
        gateways = [g for g in gateways if g.start_s == g.start_s]  # started (not NaN)
        targets = {"direct": (backend_url, {}, served, backend.pids() if backend else [])}
        for g in gateways:
            assert g.proc
            prefix, model = (PASSTHROUGH, served) if g.variant.passthrough else ("", ALIAS)
            targets[g.variant.name] = (f"http://127.0.0.1:{g.port}{prefix}", {}, model, g.proc.pids())
        found: dict[tuple[str, str], Measured] = {}
        names = list(targets)
        for i in range(rounds):
            for scenario in scenarios:
                order = names[i % len(names):] + names[:i % len(names)]
                per_api = {n: (u, (h or _headers(gateways, n, scenario.api)), m, p)
                           for n, (u, h, m, p) in targets.items()}
                measure_round(scenario, per_api, found, order, quick)
            loads.append(load_average())
            print(f"[levers] round {i + 1}/{rounds} done, load {loads[-1]}", file=sys.stderr, flush=True)
    finally:
        for gateway in gateways:
            gateway.stop()
        if backend:
            backend.stop()
    text = table(HEADER, ratio_rows(scenarios, names, found))
    start = table(["variant", "LiteLLM", "workers", "start to ready s", "idle RSS MiB"],
                  [[g.variant.name, g.variant.version, str(g.variant.workers), f"{g.start_s:.1f}",
                    f"{g.idle_mib:.0f}"] for g in gateways])
    engine = external.title if external else (f"stand-in, {ttft_ms:g} ms to the first token, "
                                              f"{token_ms:g} ms per token, {stream_interval} per chunk")
    if failed:
        start += "\n\nNot measured: " + "; ".join(failed) + "."
    conditions = (f"Backend: {engine}; "
                  f"{rounds} alternating rounds; load average (1/5/15 min) before and after each round: "
                  + "; ".join(loads) + ".")
    raw = {f"{k[0]} | {k[1]}": {"cpu_s": m.cpu, "samples": [[s.ttft, s.total, s.tokens] for r in m.results
                                                              for s in r.samples],
                                "walls": [r.wall for r in m.results], "errors": sum(r.errors for r in m.results)}
           for k, m in found.items()}
    return f"{conditions}\n\n{text}\n\n{start}", {"raw": raw, "loads": loads,
                                                   "start": {g.variant.name: [g.start_s, g.idle_mib] for g in gateways}}


def _headers(gateways: list[Gateway], name: str, api: str) -> dict[str, str]:
    for g in gateways:
        if g.variant.name == name:
            return g.headers(api)
    return {"anthropic-version": "2023-06-01"} if api == "messages" else {}


# ---- start time and idle memory ---------------------------------------------------------------------

def run_start(versions: list[str], workers: list[int], runs: int) -> str:
    """Start to /health/readiness and resident memory once idle, per version and worker count, in
    alternating order (one gateway at a time, the rendered configuration, a stand-in backend)."""
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    backend_port = free_port()
    backend = Process([sys.executable, str(REPO / "benchmarks" / "stream_backend.py"), "--port", str(backend_port),
                       "--host", "127.0.0.1"], log=work / "backend.log")
    base = rendered_config(f"http://127.0.0.1:{backend_port}/v1")
    found: dict[tuple[str, int], list[tuple[float, float]]] = {}
    loads = [load_average()]
    try:
        wait_ready(f"http://127.0.0.1:{backend_port}/health", backend)
        for version in versions:  # venvs made before anything is timed
            litellm_venv(version)
        for i in range(runs):
            combos = [(v, w) for v in versions for w in workers]
            for version, count in (combos if i % 2 == 0 else combos[::-1]):
                gateway = Gateway(Variant(f"{version} x{count}", version=version, workers=count), base, work)
                gateway.start()
                try:
                    gateway.wait()
                finally:
                    gateway.stop()
                found.setdefault((version, count), []).append((gateway.start_s, gateway.idle_mib))
            loads.append(load_average())
    finally:
        backend.stop()
    rows = []
    for (version, count), samples in found.items():
        starts, mems = [s for s, _ in samples], [m for _, m in samples]
        rows.append([version, str(count), f"{statistics.median(starts):.1f}", " / ".join(f"{s:.1f}" for s in starts),
                     f"{statistics.median(mems):.0f}"])
    return (f"{runs} alternating runs per row; load average before and after each run: {'; '.join(loads)}.\n\n"
            + table(["LiteLLM", "workers", "start to ready s (median)", "runs", "idle RSS MiB (median)"], rows))


# ---- profiling -------------------------------------------------------------------------------------

def py_spy(venv: Path) -> str:
    found = venv / "bin" / "py-spy"
    return str(found) if found.exists() else (shutil.which("py-spy") or "py-spy")


def run_profile(variant: Variant, scenarios: list[Scenario], seconds: float, out: Path,
                token_counts: tuple[int, int] = (8, 128), rate: int = 200) -> str:
    """py-spy (GIL-holding samples) on one gateway while each scenario runs at two answer lengths; the
    stage breakdown per request and, from the difference of the two lengths, per token."""
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    backend_port = free_port()
    backend = Process([sys.executable, str(REPO / "benchmarks" / "stream_backend.py"), "--port", str(backend_port),
                       "--host", "127.0.0.1"], log=work / "backend.log")
    gateway = Gateway(variant, rendered_config(f"http://127.0.0.1:{backend_port}/v1"), work)
    sections = []
    try:
        wait_ready(f"http://127.0.0.1:{backend_port}/health", backend)
        gateway.start()
        gateway.wait()
        assert gateway.proc
        spy = py_spy(litellm_venv(variant.version, variant.extras))
        for scenario in scenarios:
            per: dict[int, tuple[dict, int, int, float]] = {}
            for tokens in token_counts:
                sc = Scenario(scenario.api, scenario.stream, scenario.clients, tokens)
                url = f"http://127.0.0.1:{gateway.port}{sc.path()}"
                asyncio.run(loadgen.load(url, gateway.headers(sc.api), sc.body(ALIAS), sc.clients, sc.clients))
                name = f"{variant.name}-{sc.api}-{'stream' if sc.stream else 'plain'}-x{sc.clients}-{tokens}tok"
                raw = out / f"{name.replace(' ', '_').replace('/', '_')}.txt"  # "native /v1/messages"
                pids = gateway.proc.pids()
                spies = [subprocess.Popen([spy, "record", "--pid", str(pid), "--gil", "--nonblocking",
                                           "--full-filenames", "--rate", str(rate), "--format", "raw",
                                           "-o", f"{raw}.{pid}", "-d", str(int(seconds) + 30)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                         for pid in pids if _is_python(pid)]
                time.sleep(1.5)  # py-spy attached; with --gil an idle gateway adds no samples
                before, requests = cpu_seconds(pids), 0
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    r = asyncio.run(loadgen.load(url, gateway.headers(sc.api), sc.body(ALIAS), sc.clients,
                                                 sc.clients * 2))
                    requests += len(r.samples) + sc.clients  # the warm-up requests count too
                used = cpu_seconds(pids) - before
                for s in spies:
                    s.send_signal(signal.SIGINT)
                for s in spies:
                    s.wait(timeout=60)
                merged = "".join(Path(f"{raw}.{pid}").read_text() for pid in pids if Path(f"{raw}.{pid}").exists())
                raw.write_text(merged)
                for pid in pids:
                    Path(f"{raw}.{pid}").unlink(missing_ok=True)
                stages, libraries, total = flame.breakdown(flame.read(raw))
                per[tokens] = ({"stages": stages, "libraries": libraries}, total, requests, used)
            sections.append(_profile_section(scenario, per, rate, token_counts))
    finally:
        gateway.stop()
        backend.stop()
    return "\n\n".join(sections)


def _is_python(pid: int) -> bool:
    try:
        return "python" in Path(f"/proc/{pid}/comm").read_text() or "litellm" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def _profile_section(scenario: Scenario, per: dict, rate: int, token_counts: tuple[int, int]) -> str:
    """Each stage's share of the samples times the CPU per request /proc measured in the same window."""
    short, long = token_counts
    (s_views, s_total, s_req, s_cpu), (l_views, l_total, l_req, l_cpu) = per[short], per[long]
    s_ms, l_ms = s_cpu / max(1, s_req) * 1000, l_cpu / max(1, l_req) * 1000
    lines = [f"### {scenario.api}, {'streamed' if scenario.stream else 'not streamed'}, {scenario.clients} "
             f"client(s)", "",
             f"Gateway CPU per request (/proc): **{s_ms:.1f} ms** for {short} tokens ({s_req} requests), "
             f"**{l_ms:.1f} ms** for {long} tokens ({l_req} requests): {(l_ms - s_ms) / (long - short) * 1000:.0f} "
             f"µs per token, {s_ms - short * (l_ms - s_ms) / (long - short):.1f} ms per request besides. "
             f"py-spy samples: {s_total} and {l_total}.", ""]
    for view, title in (("stages", "stage"), ("libraries", "library (innermost frame)")):
        names = sorted(set(s_views[view]) | set(l_views[view]), key=lambda n: -l_views[view].get(n, 0))
        rows = []
        for name in names:
            short_ms = s_views[view].get(name, 0) / max(1, s_total) * s_ms
            long_ms = l_views[view].get(name, 0) / max(1, l_total) * l_ms
            per_token = (long_ms - short_ms) / (long - short)
            rows.append([name, f"{short_ms:.2f}", f"{long_ms:.2f}", f"{per_token * 1000:.0f}",
                         f"{short_ms - short * per_token:.2f}",
                         f"{l_views[view].get(name, 0) / max(1, l_total) * 100:.0f}%"])
        lines += [table([title, f"ms/req, {short} tok", f"ms/req, {long} tok", "µs per token",
                         "ms per request besides", f"share, {long} tok"], rows), ""]
    return "\n".join(lines)


# ---- what is measured --------------------------------------------------------------------------------

SCENARIOS = [Scenario(api, stream, clients) for api in ("chat", "messages") for stream in (True, False)
             for clients in (1, 8, 32)]


# model_info that tells LiteLLM the model costs nothing: its zero-cost diagnostic (a walk over the
# whole pricing entry after every request) returns at once when every rate used is an explicit 0
# (litellm/litellm_core_utils/llm_cost_calc/zero_cost_diagnostic.py, diagnose_zero_cost).
FREE = {"input_cost_per_token": 0, "output_cost_per_token": 0}
NATIVE = {"supported_endpoints": ["/v1/chat/completions", "/v1/messages"]}
QUIET_BOOKKEEPING = {"general_settings": {"disable_spend_logs": True, "disable_error_logs": True,
                                          "disable_spend_updates": True, "disable_budget_reservation": True}}


PRICED = Variant("without zero prices", drop_info=tuple(FREE))


def lever_sets() -> dict[str, list[Variant]]:
    """Named groups; each is measured as one alternating run (its variants against direct)."""
    rendered = Variant("rendered, 1 worker")  # llmstack's config and environment; --num_workers 1
    return {
        "version": [rendered, Variant(f"LiteLLM {OLD}", version=OLD)],
        # llmstack renders zero prices since these rows: "zero prices" measured them against the
        # rendered config before; PRICED measures the rendered config without them.
        "cost": [rendered, Variant("zero prices", model_info=FREE), PRICED],
        "logging": [
            rendered,
            Variant("LITELLM_LOG unset", env={"LITELLM_LOG": UNSET}),
            Variant("LITELLM_LOG=ERROR", env={"LITELLM_LOG": "ERROR"}),
            Variant("turn_off_message_logging", settings={"litellm_settings": {"turn_off_message_logging": True}}),
            Variant("disable_streaming_logging", settings={"litellm_settings": {"disable_streaming_logging": True}}),
            Variant("no spend/error logs, budget reservation", settings=QUIET_BOOKKEEPING),
        ],
        "http": [
            rendered,
            Variant("httpx transport", settings={"litellm_settings": {"disable_aiohttp_transport": True}}),
            Variant("httptools parser", extras=("httptools",)),
            Variant("granian server", args=("--run_granian",)),
        ],
        "image": [rendered, Variant("+opentelemetry-sdk, prisma", extras=("opentelemetry-sdk", "prisma"))],
        "workers": [rendered, Variant("2 workers", workers=2), Variant("4 workers", workers=4)],
        # The engine is held to CPU 0 for this group (BACKEND_CPUS, or `docker update` on a real
        # engine): the gateway on the other core, or anywhere.
        "cpuset": [rendered, Variant("gateway on CPU 1", cpus="1")],
        "router": [
            rendered,
            Variant("no router_settings", settings={"router_settings": {"disable_cooldowns": False}}),
            Variant("router: no pre-call checks, no retries", settings={"router_settings": {
                "enable_pre_call_checks": False, "num_retries": 0, "disable_cooldowns": True}}),
        ],
        "native": [rendered, Variant("native /v1/messages", model_info=NATIVE)],
        # The pin against newer releases, each on the route llmstack renders for vLLM >= 0.32
        # (native /v1/messages): rendered config, one worker, zero prices.
        "newer": [Variant(f"LiteLLM {v}" + (" (the pin)" if v == PINNED else ""), version=v, model_info=NATIVE)
                  for v in (PINNED, *NEWER)],
        # What URL matching costs /v1/messages (PROFILE.md, "URL matching"): without and with the
        # startup hook llmstack renders (llmstack/gateway_startup.py, imported from this checkout).
        "hoist": [Variant("native /v1/messages, no startup hook", model_info=NATIVE),
                  Variant("native, /v1/messages matched first", model_info=NATIVE,
                          env={"PYTHONPATH": str(REPO / "src"),
                               "LITELLM_WORKER_STARTUP_HOOKS": "llmstack.gateway_startup:messages_route_first"})],
        "passthrough": [rendered, Variant("pass-through route /engine", passthrough=True)],
        "combined": [
            rendered,
            Variant("zero prices + native", model_info={**FREE, **NATIVE}),
            Variant(f"zero prices + native, {OLD}", version=OLD, model_info={**FREE, **NATIVE}),
            Variant("zero prices + native + granian", model_info={**FREE, **NATIVE}, args=("--run_granian",)),
        ],
        # For a real engine (gateway_path.py --levers engine): the candidates in one run.
        "engine": [
            rendered,
            Variant(f"LiteLLM {OLD}", version=OLD),
            PRICED,
            Variant("native /v1/messages", model_info=NATIVE),
            Variant("pass-through route /engine", passthrough=True),
            Variant("granian server", args=("--run_granian",)),
        ],
    }


def sweep(sets: dict[str, list[Variant]]) -> list[Variant]:
    """Every single lever of the groups above in one run (idle gateways cost nothing): one direct
    baseline and one rendered row for all, the fewest starts; 4 workers and the image extras left out."""
    skip = {"cpuset", "image", "combined", "engine", "newer", "hoist"}
    found: dict[str, Variant] = {}
    for group, variants in sets.items():
        for variant in variants:
            if group not in skip and variant.workers <= 2:
                found.setdefault(variant.name, variant)
    return list(found.values())


BACKEND_CPUS = {"cpuset": "0"}  # groups that hold the stand-in engine to some CPUs (taskset -c)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.levers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="lever groups to run (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--token-ms", type=float, default=0.0)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--stream-interval", type=int, default=1,
                        help="the stand-in's tokens per streamed chunk after the first (llmstack renders 4 for vLLM)")
    parser.add_argument("--api", default="chat,messages")
    parser.add_argument("--mode", default="stream,plain")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--start", action="store_true", help="start time and idle memory per LiteLLM version")
    parser.add_argument("--backend-url", help="measure against this engine (e.g. a rendered stack's published "
                        "vLLM) instead of the stand-in")
    parser.add_argument("--backend-model", default="m", help="the model name that engine serves")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-levers")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the gateways it started (finally blocks)
    clients = [int(c) for c in args.clients.split(",")]
    scenarios = [s for s in SCENARIOS if s.clients in clients and s.api in args.api.split(",")
                 and ("stream" if s.stream else "plain") in args.mode.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    sets = lever_sets()
    sets["sweep"] = sweep(sets)
    if args.start:
        print(run_start([PINNED, OLD], [1, 2], 2 if args.quick else args.rounds), flush=True)
        return 0
    if args.profile:
        for name in args.only or ["rendered, 1 worker"]:
            variant = next(v for group in sets.values() for v in group if v.name == name)
            print(run_profile(variant, scenarios, 6 if args.quick else 25, args.out / "profiles"), flush=True)
        return 0
    external = External(args.backend_url, args.backend_model, f"engine at {args.backend_url} "
                        f"({args.backend_model})") if args.backend_url else None
    for group in args.only or list(sets):
        text, raw = run_levers(sets[group], scenarios, args.rounds, args.token_ms, args.ttft_ms, args.quick,
                                     BACKEND_CPUS.get(group), external, args.stream_interval)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (args.out / f"{group}-{stamp}.md").write_text(text + "\n")
        (args.out / f"{group}-{stamp}.json").write_text(json.dumps(raw))
        print(f"## {group}\n\n{text}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
