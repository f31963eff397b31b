"""Where a streamed answer's time goes through the gateway, from its first token to its end.

    python -m benchmarks.stream_end                  # the real vLLM (CPU build), the rendered stack
    python -m benchmarks.stream_end --engine stand-in --requests 20

A stack rendered by llmstack and started with `llmstack up` (benchmarks/gateway_path.py's Stack:
the engine's port published as well). One client sends the same streamed request directly to the
engine and through the gateway, alternating, and times four moments of each answer as it reads
it: the first token event, the last token event, the last event of any kind (the finish and usage
chunk, `[DONE]`, Anthropic's `message_delta` / `message_stop`) and the end of the response body.
The medians, and what the gateway adds to each, show whether it holds the first token, slows the
tokens in between, or holds the end of the stream (LiteLLM's end-of-stream work).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import gateway_path, loadgen  # noqa: E402
from benchmarks.common import table  # noqa: E402

MOMENTS = ("first token", "last token", "last event", "end of body")
TEXT_FIELDS = ("content", "reasoning", "reasoning_content")


def is_token(event: dict) -> bool:
    """A chat chunk carrying text (answer or reasoning), or an Anthropic content delta."""
    if event.get("type") == "content_block_delta":
        return True
    return any((choice.get("delta") or {}).get(key) for choice in event.get("choices", []) for key in TEXT_FIELDS)


def timed(client: httpx.Client, url: str, headers: dict, body: dict) -> tuple[float, float, float, float]:
    """Milliseconds from sending the request to each of MOMENTS."""
    start = time.perf_counter()
    first = last_token = last_event = None
    with client.stream("POST", url, headers=headers, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            now = last_event = time.perf_counter()
            data = line[5:].strip()
            if data != "[DONE]" and is_token(json.loads(data)):
                first = first or now
                last_token = now
    end = time.perf_counter()
    if first is None or last_token is None or last_event is None:
        raise RuntimeError(f"{url}: no token event in the answer")
    return tuple((moment - start) * 1000 for moment in (first, last_token, last_event, end))  # type: ignore[return-value]


def run(kind: str, requests: int, tokens: int) -> str:
    rows: list[list[object]] = []
    with gateway_path.Stack(kind, prefix="llmstack-bench-end") as stack:
        targets = {
            "direct": (f"http://127.0.0.1:{stack.backend_port}", {"anthropic-version": "2023-06-01"},
                       stack.engine.served),
            "gateway": (f"http://127.0.0.1:{stack.gateway_port}", {"authorization": f"Bearer {stack.key}",
                        "x-api-key": stack.key, "anthropic-version": "2023-06-01"}, "local-model"),
        }
        with httpx.Client(timeout=120) as client:
            for api, path, make in (("chat", "/v1/chat/completions", loadgen.chat_body),
                                    ("messages", "/v1/messages", loadgen.messages_body)):
                found: dict[str, list[tuple[float, ...]]] = {"direct": [], "gateway": []}
                for i in range(requests):
                    order = ("direct", "gateway") if i % 2 else ("gateway", "direct")
                    for name in order:
                        base, headers, model = targets[name]
                        found[name].append(timed(client, base + path, headers, make(model, tokens, True)))
                medians = {name: [statistics.median(r[k] for r in found[name]) for k in range(len(MOMENTS))]
                           for name in found}
                for name in ("direct", "gateway"):
                    rows.append([api, name, *(f"{v:.1f}" for v in medians[name])])
                added = [g - d for g, d in zip(medians["gateway"], medians["direct"], strict=True)]
                rows.append([api, "gateway adds", *(f"{v:+.1f}" for v in added)])
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (f"Engine: {stack.engine.name}, the rendered stack; {tokens}-token streams, one client, medians of "
            f"{requests} requests per row (alternating order); load average {load}.\n\n"
            + table(["API", "target", *(f"{m} ms" for m in MOMENTS)], rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_end", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="vllm", help="vllm (default), llama or stand-in")
    parser.add_argument("--requests", type=int, default=10, help="requests per target and API")
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args(argv)
    print(run(args.engine, args.requests, args.tokens), flush=True)


if __name__ == "__main__":
    main()
