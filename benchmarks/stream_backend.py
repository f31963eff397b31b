"""A fast streaming stand-in for an OpenAI/Anthropic-compatible engine (standard library only).

The gateway's cost per request and per streamed chunk does not depend on the engine, so this
server answers with almost no CPU of its own: every request gets `max_tokens` one-token chunks
(words of a short list), streamed as server-sent events with HTTP/1.1 chunked transfer encoding and
keep-alive, as vLLM's uvicorn server sends them. Optionally it paces them like a real engine:
`--ttft-ms` before the first token, `--token-ms` between tokens (a GPU engine's decode step), so
the gateway's added latency shows against a realistic rhythm instead of a burst.

Routes: GET /health, GET /v1/models, POST /v1/chat/completions (streamed or not, with
`stream_options.include_usage`), POST /v1/messages (Anthropic, streamed or not: the native
route a gateway can pass through untranslated), POST /v1/messages/count_tokens.

    python benchmarks/stream_backend.py --port 8000 [--token-ms 7 --ttft-ms 20]

Accepts and ignores unknown flags (so a rendered vLLM command line can start it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

# Varied words: LiteLLM ends a stream whose chunks repeat the same text 100 times in a row
# (REPEATED_STREAMING_CHUNK_LIMIT), so a constant token would not stream long answers through it.
WORDS = [" the", " quick", " brown", " fox", " jumps", " over", " lazy", " dog", " and", " runs",
         " away", " from", " every", " other", " animal", " here"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default="m")
    parser.add_argument("--model", default=None)
    parser.add_argument("--token-ms", type=float, default=0.0, help="pause between streamed tokens")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="pause before the first token")
    parser.add_argument("--stream-interval", type=int, default=1,
                        help="tokens per streamed chunk after the first, as vLLM and SGLang (rendered: 4)")
    args, _unknown = parser.parse_known_args(argv)
    return args


ARGS = parse_args(sys.argv[1:])


def _sse(payload: dict, event: str | None = None) -> bytes:
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return (b"event: " + event.encode() + b"\n" + data) if event else data


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _pace(first: bool) -> None:
    delay = ARGS.ttft_ms if first else ARGS.token_ms
    if delay > 0:
        await asyncio.sleep(delay / 1000)


async def _texts(n: int):
    """The streamed text, paced per token: the first token alone, then `--stream-interval` tokens
    per chunk (and what is left at the end), as vLLM and SGLang send them."""
    pending: list[str] = []
    for i in range(n):
        await _pace(i == 0)
        pending.append(WORDS[i % len(WORDS)])
        if i == 0 or len(pending) >= ARGS.stream_interval or i == n - 1:
            yield "".join(pending)
            pending = []


def _chat_chunk(ident: str, model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


async def chat_stream(writer: asyncio.StreamWriter, body: dict, n: int) -> None:
    ident, model = f"chatcmpl-{time.monotonic_ns()}", body.get("model", ARGS.served_model_name)
    writer.write(_chunked(_sse(_chat_chunk(ident, model, {"role": "assistant", "content": ""}))))
    async for text in _texts(n):
        writer.write(_chunked(_sse(_chat_chunk(ident, model, {"content": text}))))
        await writer.drain()
    writer.write(_chunked(_sse(_chat_chunk(ident, model, {}, "length"))))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n}
        writer.write(_chunked(_sse({**_chat_chunk(ident, model, {}), "choices": [], "usage": usage})))
    writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")


async def messages_stream(writer: asyncio.StreamWriter, body: dict, n: int) -> None:
    ident, model = f"msg_{time.monotonic_ns()}", body.get("model", ARGS.served_model_name)
    start = {"type": "message_start", "message": {
        "id": ident, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 8, "output_tokens": 0}}}
    writer.write(_chunked(_sse(start, "message_start")))
    writer.write(_chunked(_sse({"type": "content_block_start", "index": 0,
                                "content_block": {"type": "text", "text": ""}}, "content_block_start")))
    async for text in _texts(n):
        delta = {"type": "text_delta", "text": text}
        writer.write(_chunked(_sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")))
        await writer.drain()
    writer.write(_chunked(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop")))
    writer.write(_chunked(_sse({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                                "usage": {"output_tokens": n}}, "message_delta")))
    writer.write(_chunked(_sse({"type": "message_stop"}, "message_stop")) + b"0\r\n\r\n")


async def whole(body: dict, n: int, anthropic: bool) -> dict:
    for i in range(n):
        await _pace(i == 0)
    text, model = "".join(WORDS[i % len(WORDS)] for i in range(n)), body.get("model", ARGS.served_model_name)
    if anthropic:
        return {"id": f"msg_{time.monotonic_ns()}", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens", "stop_sequence": None,
                "usage": {"input_tokens": 8, "output_tokens": n}}
    return {"id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                         "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n}}


def _head(status: str, ctype: str, length: int | None) -> bytes:
    size = f"content-length: {length}\r\n" if length is not None else "transfer-encoding: chunked\r\n"
    return f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\n{size}\r\n".encode()


async def _send_json(writer: asyncio.StreamWriter, payload: object, status: str = "200 OK") -> None:
    data = json.dumps(payload).encode()
    writer.write(_head(status, "application/json", len(data)) + data)
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            pairs = (line.split(":", 1) for line in lines[1:] if ":" in line)
            headers = {k.strip().lower(): v.strip() for k, v in pairs}
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            path = target.split("?", 1)[0]
            if method == "GET" and path == "/health":
                await _send_json(writer, {})
            elif method == "GET" and path == "/v1/models":
                await _send_json(writer, {"object": "list", "data": [
                    {"id": ARGS.served_model_name, "object": "model", "created": 0, "owned_by": "bench"}]})
            elif method == "POST" and path == "/v1/messages/count_tokens":
                await _send_json(writer, {"input_tokens": 8})
            elif method == "POST" and path in ("/v1/chat/completions", "/v1/messages"):
                body = json.loads(raw or b"{}")
                n = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
                anthropic = path == "/v1/messages"
                if body.get("stream"):
                    writer.write(_head("200 OK", "text/event-stream; charset=utf-8", None))
                    await (messages_stream if anthropic else chat_stream)(writer, body, n)
                    await writer.drain()
                else:
                    await _send_json(writer, await whole(body, n, anthropic))
            else:
                await _send_json(writer, {"error": f"no route {method} {path}"}, "404 Not Found")
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, ARGS.host, ARGS.port, backlog=1024)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    sys.stderr.write(f"stream-backend on {ARGS.host}:{ARGS.port} (ttft {ARGS.ttft_ms} ms, "
                     f"{ARGS.token_ms} ms/token)\n")
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
