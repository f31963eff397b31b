"""Where the gateway's time to the first token goes: a timestamping relay between gateway and engine.

    python -m benchmarks.ttft                              # stand-in engine, paced like vLLM here
    python -m benchmarks.ttft --engine http://127.0.0.1:PORT --served NAME   # an engine already up

One client, streamed chat completions (and Anthropic messages), sequential requests. The gateway
(host-run LiteLLM, the configuration `llmstack render` writes, see benchmarks/levers.py) reaches
its engine through a relay in this process that timestamps every read in both directions and
parses the engine's server-sent events, so each request splits into:

- before upstream: client request sent -> the gateway's request reaches the engine (auth,
  routing, pre-call work);
- engine: that request -> the engine's first token event;
- gateway hold: the engine's first token event -> the client's first token event;
- per token: the engine's n-th token event -> the client's n-th one (median), and how many
  token events the engine had sent when the client saw its first.

The same requests also go to the engine through the relay alone ("direct"), in alternating
order, as the baseline. Variants (`--variant NAME=KEY:VALUE,...`) add LiteLLM settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import levers, loadgen
from benchmarks.common import REPO, table, write_section
from tests.e2e.conftest import free_port

TITLE = "Time to first token through the gateway"
RAW: list[dict] = []  # every request's timestamps (perf_counter: CLOCK_MONOTONIC, as other processes see it)


@dataclass
class Relay:
    """TCP relay to `target_port`; records (time, connection, token?) for every event from upstream
    and the time of every read from the client side."""

    target_port: int
    port: int = field(default_factory=free_port)
    up_reads: list[float] = field(default_factory=list)  # client->engine reads
    tokens: list[float] = field(default_factory=list)  # engine->client token events (time read)
    server: asyncio.AbstractServer | None = None
    requests: list[bytes] = field(default_factory=list)  # the first read of every request (head and body)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def to_engine() -> None:
            while data := await reader.read(65536):
                self.up_reads.append(time.perf_counter())
                up_writer.write(data)
                if data.startswith(b"POST "):
                    self.requests.append(data[:4000])
            up_writer.close()

        async def to_client() -> None:
            buffer = b""
            while data := await up_reader.read(65536):
                now = time.perf_counter()
                writer.write(data)
                buffer += data
                *events, buffer = buffer.split(b"\n\n")
                for raw in events:
                    at = raw.find(b"data:")
                    if at < 0:
                        continue
                    text = raw[at + 5:].strip()
                    if text.startswith(b"{"):
                        try:
                            if loadgen._is_token(json.loads(text)):
                                self.tokens.append(now)
                        except ValueError:
                            pass
            writer.close()

        await asyncio.gather(to_engine(), to_client(), return_exceptions=True)


@dataclass
class Split:
    before_upstream: float
    engine: float
    hold: float
    lag_p50: float  # engine's n-th token -> client's n-th token, median over n
    ahead: int  # engine token events already relayed when the client saw its first
    client_ttft: float
    client_itl: float


async def one(relay: Relay, url: str, headers: dict[str, str], body: dict, relayed: bool = True) -> Split:
    conn = loadgen.Connection(url)
    data = json.dumps(body).encode()
    try:
        await loadgen.one(conn, data, headers, True)  # warm connection (and the gateway's pool)
        mark_up, mark_tok = len(relay.up_reads), len(relay.tokens)
        start = time.perf_counter()
        status, fields = await conn.request(data, headers)
        times: list[float] = []
        buffer = b""
        async for piece in conn.chunks(fields):
            now = time.perf_counter()
            buffer += piece
            *events, buffer = buffer.split(b"\n\n")
            for raw in events:
                for line in raw.split(b"\n"):
                    text = line[5:].strip() if line.startswith(b"data:") else b""
                    if text.startswith(b"{") and loadgen._is_token(json.loads(text)):
                        times.append(now)
    finally:
        conn.close()
    if status != 200 or not times:
        raise RuntimeError(f"status {status}, {len(times)} token events")
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    RAW.append({"url": url, "start": start, "client_tokens": times, "relayed": relayed,
                "engine_reads": [t for t in relay.up_reads if t >= start], "engine_tokens": relay.tokens[mark_tok:]})
    if not relayed:  # a gateway whose engine traffic this relay does not see: the client's view only
        nan = float("nan")
        return Split(nan, nan, nan, nan, 0, times[0] - start, statistics.median(gaps))
    ups = [t for t in relay.up_reads[mark_up:] if t >= start]
    toks = relay.tokens[mark_tok:]
    lags = [c - e for c, e in zip(times, toks, strict=False)]
    return Split(ups[0] - start, toks[0] - ups[0], times[0] - toks[0], statistics.median(lags),
                 sum(1 for t in toks if t <= times[0]), times[0] - start, statistics.median(gaps))


def _median(rows: list[Split], name: str) -> float:
    return statistics.median(getattr(r, name) for r in rows)


async def run(args: argparse.Namespace) -> str:
    work = Path(tempfile.mkdtemp(prefix="bench-ttft-"))
    backend = None
    stack = None
    if args.vllm:  # the rendered stack on the real vLLM (CPU build): its engine, and its own gateway too
        from benchmarks import gateway_path

        if args.vllm_image:  # images already built (under another tag): never build them here
            from tests.e2e import vllm_image

            vllm_image.vllm_image = lambda *_: args.vllm_image
        if args.litellm_image:
            gateway_path.images.litellm_image = lambda *_: args.litellm_image
        stack = gateway_path.Stack("vllm", prefix="llmstack-bench-ttft")
        await asyncio.to_thread(stack.__enter__)
        args.engine, args.served = f"http://127.0.0.1:{stack.backend_port}", stack.engine.served
    if args.engine:
        engine_port = int(args.engine.rsplit(":", 1)[1].split("/")[0])
        served = args.served
    else:
        engine_port, served = free_port(), "m"
        backend = levers.Process([sys.executable, str(REPO / "benchmarks" / "stream_backend.py"), "--port",
                                  str(engine_port), "--host", "127.0.0.1", "--token-ms", str(args.token_ms),
                                  "--ttft-ms", str(args.ttft_ms)], log=work / "backend.log")
    relay = Relay(engine_port)
    await relay.start()
    base = levers.rendered_config(f"http://127.0.0.1:{relay.port}/v1")
    for entry in base["model_list"]:
        entry["litellm_params"]["model"] = entry["litellm_params"]["model"].rsplit("/", 1)[0] + "/" + served
    variants = [levers.Variant("rendered")]
    for spec in args.variant:
        name, _, rest = spec.partition("=")
        settings: dict[str, dict] = {}
        env: dict[str, str] = {}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition(":")
            if key.startswith("env."):
                env[key[4:]] = value
            else:
                section, _, option = key.rpartition(".")
                settings.setdefault(section or "litellm_settings", {})[option] = yaml_value(value)
        variants.append(levers.Variant(name, settings=settings, env=env))
    gateways = [levers.Gateway(v, base, work) for v in variants]
    found: dict[tuple[str, str], list[Split]] = {}
    try:
        if backend:
            await asyncio.to_thread(levers.wait_ready, f"http://127.0.0.1:{engine_port}/health", backend)
        for g in gateways:
            g.start()
            await asyncio.to_thread(g.wait)
        targets: dict[str, tuple[str, dict[str, str] | None, str]] = {
            "direct": (f"http://127.0.0.1:{relay.port}", {}, served)}
        targets.update({g.variant.name: (f"http://127.0.0.1:{g.port}", None, levers.ALIAS) for g in gateways})
        shares: dict[str, int] = {}
        if stack:
            for weight in (1024, *args.shares):  # Docker's default cpu_shares, then the ones asked for
                name = f"rendered stack's own gateway (container, cpu_shares {weight})"
                shares[name] = weight
                targets[name] = (f"http://127.0.0.1:{stack.gateway_port}", {
                    "authorization": f"Bearer {stack.key}", "x-api-key": stack.key,
                    "anthropic-version": "2023-06-01"}, levers.ALIAS)
        for i in range(args.requests):
            for api in args.api:
                names = list(targets)
                for name in names[i % len(names):] + names[:i % len(names)]:
                    url, headers, model = targets[name]
                    gw = next((g for g in gateways if g.variant.name == name), None)
                    hdrs = headers or (gw.headers(api) if gw else {"anthropic-version": "2023-06-01"})
                    path = "/v1/messages" if api == "messages" else "/v1/chat/completions"
                    if name in shares and stack:  # the gateway container's CPU weight for this request
                        subprocess.run(["docker", "update", "--cpu-shares", str(shares[name]),
                                        f"{stack.name}-litellm-1"], check=True, capture_output=True)
                    make = loadgen.messages_body if api == "messages" else loadgen.chat_body
                    split = await one(relay, url + path, hdrs, make(model, args.tokens, True),
                                      relayed=not (stack and name.startswith("rendered stack")))
                    found.setdefault((api, name), []).append(split)
    finally:
        for g in gateways:
            g.stop()
        if backend:
            backend.stop()
        if stack:
            await asyncio.to_thread(stack.__exit__)
    for raw in [r for r in relay.requests if b"user-agent" in r.lower()][-len(args.api):]:
        print("a gateway's request to the engine:\n" + raw.decode("utf-8", "replace"), file=sys.stderr)
    rows: list[list[object]] = []
    for (api, name), splits in found.items():
        cells: list[object] = [api, name, len(splits)]
        cells += [f"{_median(splits, k) * 1000:.1f}" for k in
                  ("client_ttft", "before_upstream", "engine", "hold", "lag_p50", "client_itl")]
        rows.append([*cells, f"{statistics.median(s.ahead for s in splits):.0f}"])
    header = ["API", "target", "requests", "client TTFT ms", "before upstream ms", "engine ms",
              "gateway hold ms", "per-token lag p50 ms", "client ITL p50 ms",
              "engine tokens sent before client's first"]
    engine = args.engine or f"stand-in, {args.ttft_ms:g} ms to the first token, {args.token_ms:g} ms/token"
    return (f"Engine: {engine}; {args.tokens}-token streams, one client, medians of {args.requests} requests per row "
            f"(alternating order); load average {levers.load_average()}.\n\n" + table(header, rows))


def yaml_value(text: str) -> object:
    import yaml

    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", help="URL of an engine already serving (default: start the stand-in)")
    parser.add_argument("--served", default="m", help="the model name that engine serves")
    parser.add_argument("--vllm", action="store_true",
                        help="start the rendered stack on the real vLLM (CPU build) and measure its gateway too")
    parser.add_argument("--vllm-image", help="the vLLM CPU image to use (default: tests/e2e's, built if missing)")
    parser.add_argument("--litellm-image", help="the LiteLLM image to use (default: tests/e2e's)")
    parser.add_argument("--shares", type=int, action="append", default=[],
                        help="with --vllm: its gateway container at this cpu_shares too (Docker's default 1024)")
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--token-ms", type=float, default=7.0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--api", action="append", choices=["chat", "messages"])
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=section.option:value,env.NAME:value,... (a LiteLLM setting per variant)")
    parser.add_argument("--write", metavar="NOTE", help="write the table into RESULTS.md, with this note above it")
    parser.add_argument("--dump", metavar="FILE", help="every request's timestamps, as JSON")
    args = parser.parse_args(argv)
    args.api = args.api or ["chat"]
    text = asyncio.run(run(args))
    print(text)
    if args.dump:
        Path(args.dump).write_text(json.dumps(RAW))
    if args.write:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_section(REPO / "benchmarks" / "RESULTS.md", TITLE, f"{args.write}\n\n_Measured {stamp}._\n\n{text}")


if __name__ == "__main__":
    main()
