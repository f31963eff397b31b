"""A lean load generator for streamed and plain LLM requests, and what it measures.

Clients share these two cores with the gateway and the engine, so the client must cost as
little as possible and the same for every target: a plain HTTP/1.1 client on asyncio streams
(keep-alive, chunked or sized bodies, one `json.loads` per server-sent event) instead of httpx,
whose per-line cost would be a large part of what it measures.

Per request it records the time to the first token (the first event carrying generated text:
`delta.content` / `delta.reasoning*` / tool-call arguments in chat completions, a
`content_block_delta` in Anthropic messages), the times of every later token event, and the
token count the answer reports (usage) or, lacking one, the token events seen.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from benchmarks.common import percentile


@dataclass
class Sample:
    ttft: float  # seconds to the first token (the whole answer when not streamed)
    total: float
    tokens: int
    gaps: list[float] = field(default_factory=list)  # seconds between consecutive token events


@dataclass
class Result:
    samples: list[Sample]
    wall: float
    errors: int
    first_error: str = ""

    @property
    def tokens_per_s(self) -> float:
        return sum(s.tokens for s in self.samples) / self.wall if self.wall else 0.0

    @property
    def requests_per_s(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0

    @property
    def ttft_p50(self) -> float:
        return statistics.median(s.ttft for s in self.samples) if self.samples else float("nan")

    @property
    def ttft_p95(self) -> float:
        return percentile([s.ttft for s in self.samples], 95)

    @property
    def itl_p50(self) -> float:
        """Median gap between consecutive tokens of a streamed answer (NaN when not streamed)."""
        gaps = [g for s in self.samples for g in s.gaps]
        return statistics.median(gaps) if gaps else float("nan")

    @property
    def total_p50(self) -> float:
        return statistics.median(s.total for s in self.samples) if self.samples else float("nan")


def merge(results: list[Result]) -> Result:
    """Rounds of one target pooled: samples together, walls added."""
    errors = sum(r.errors for r in results)
    first = next((r.first_error for r in results if r.first_error), "")
    return Result([s for r in results for s in r.samples], sum(r.wall for r in results), errors, first)


class HttpError(Exception):
    pass


class Connection:
    """One kept-alive HTTP/1.1 connection; reopened when the server closes it."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2 ** 22)

    def close(self) -> None:
        if self.writer:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        for attempt in (0, 1):
            if self.writer is None:
                await self._open()
            assert self.reader and self.writer
            head = (f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                    f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                    + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
            self.writer.write(head.encode() + body)
            try:
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()  # a kept-alive connection the server had closed: once more, fresh
                if attempt:
                    raise
                continue
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            fields = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if ":" in x)}
            return status, fields
        raise HttpError("unreachable")

    async def chunks(self, fields: dict[str, str]):
        """The body as it arrives (chunked, sized, or until close)."""
        assert self.reader
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                data = await self.reader.readexactly(size + 2)
                yield data[:-2]
        elif "content-length" in fields:
            yield await self.reader.readexactly(int(fields["content-length"]))
        else:
            while data := await self.reader.read(65536):
                yield data
            self.close()
        if fields.get("connection", "").lower() == "close":
            self.close()


def _is_token(event: dict) -> bool:
    kind = event.get("type")
    if kind is not None:  # Anthropic
        return kind == "content_block_delta"
    for choice in event.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning") or delta.get("tool_calls"):
            return True
    return False


def _usage_tokens(event: dict) -> int | None:
    usage = event.get("usage") or (event.get("message") or {}).get("usage")
    if not usage:
        return None
    return usage.get("completion_tokens") or usage.get("output_tokens")


async def one(conn: Connection, body: bytes, headers: dict[str, str], stream: bool) -> Sample:
    start = time.perf_counter()
    status, fields = await conn.request(body, headers)
    if not stream or "text/event-stream" not in fields.get("content-type", ""):
        data = b"".join([c async for c in conn.chunks(fields)])
        end = time.perf_counter()
        if status != 200:
            raise HttpError(f"{status}: {data[:300]!r}")
        payload = json.loads(data)
        return Sample(end - start, end - start, _usage_tokens(payload) or 0)
    if status != 200:
        data = b"".join([c async for c in conn.chunks(fields)])
        raise HttpError(f"{status}: {data[:300]!r}")
    buffer = b""
    times: list[float] = []
    reported = None
    async for piece in conn.chunks(fields):
        now = time.perf_counter()
        buffer += piece
        *events, buffer = buffer.split(b"\n\n")
        for raw in events:
            for line in raw.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                text = line[5:].strip()
                if text == b"[DONE]":
                    continue
                event = json.loads(text)
                if "error" in event or event.get("type") == "error":
                    raise HttpError(f"error event: {text[:300]!r}")
                if _is_token(event):
                    times.append(now)
                reported = _usage_tokens(event) or reported
    end = time.perf_counter()
    if not times:
        raise HttpError("a stream without a token")
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return Sample(times[0] - start, end - start, reported or len(times), gaps)


async def load(url: str, headers: dict[str, str], body: dict, clients: int, requests: int) -> Result:
    """`requests` requests from `clients` concurrent clients, each on its own kept-alive connection
    (one warm-up request per client first, not counted)."""
    data = json.dumps(body).encode()
    stream = bool(body.get("stream"))
    conns = [Connection(url) for _ in range(clients)]
    samples: list[Sample] = []
    errors = 0
    first_error = ""
    remaining = requests

    async def warm(conn: Connection) -> None:
        nonlocal errors, first_error
        try:
            await one(conn, data, headers, stream)
        except (HttpError, OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            errors += 1
            first_error = first_error or f"warm-up: {exc}"

    async def client(conn: Connection) -> None:
        nonlocal remaining, errors, first_error
        while remaining > 0:
            remaining -= 1
            try:
                samples.append(await one(conn, data, headers, stream))
            except (HttpError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                conn.close()
                errors += 1
                first_error = first_error or str(exc)

    await asyncio.gather(*(warm(c) for c in conns))
    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    wall = time.perf_counter() - start
    for conn in conns:
        conn.close()
    return Result(samples, wall, errors, first_error)


def chat_body(model: str, tokens: int, stream: bool) -> dict:
    body: dict = {"model": model, "max_tokens": tokens, "stream": stream, "temperature": 0,
                  "messages": [{"role": "user", "content": "Tell me a story."}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def messages_body(model: str, tokens: int, stream: bool) -> dict:
    return {"model": model, "max_tokens": tokens, "stream": stream, "temperature": 0,
            "messages": [{"role": "user", "content": "Tell me a story."}]}
