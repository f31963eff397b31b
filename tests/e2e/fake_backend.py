"""A stand-in for vLLM's HTTP surface, for the end-to-end tests (stdlib only: it runs in a bare
Debian image). It accepts vLLM's command-line flags and:

- answers GET /health 503 for the first --fake-startup-seconds, then 200 (never, if negative);
- lists the served model on GET /v1/models;
- answers POST /v1/chat/completions, streamed or not: a text reply, or a tool call when
  `tools` are sent (and tool_choice is not "none") and the last message is not a tool result;
- with a `Bash` tool among the tools (Claude Code's), calls it only when asked: a user message
  holding RUN_BASH gets a call running `echo TOOL_OUTPUT` (or the command written after
  `RUN_BASH:`), anything else a text reply; the tool's result comes back as a text reply;
- accepts image parts;
- answers 500 to a request whose last message contains FAKE-500 (a request every replica fails on);
- records every request it receives (with its wall-clock time) but its health and model probes
  (so also what others send it, e.g. a tokenizer download pointed at it): GET /_requests returns
  them, DELETE /_requests clears;
- tells when it turned healthy (GET /_healthy_at, wall clock), for the time-to-ready benchmark;
- exits on SIGTERM as a real server does (as PID 1 Python would ignore it, and `docker stop`
  would wait its whole timeout before killing it).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORDED: list[dict] = []
LOCK = threading.Lock()
RUN_BASH = "llmstack-run-bash"
TOOL_OUTPUT = "llmstack-tool-ok"
UNRECORDED = ("/health", "/v1/models", "/_requests", "/_healthy_at")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fake-startup-seconds", type=float, default=2.0)
    parser.add_argument("--fake-chunks", type=int, default=4)
    args, unknown = parser.parse_known_args(argv)
    args.unknown = unknown
    return args


ARGS = parse_args(sys.argv[1:])
SERVED = ARGS.served_model_name or ARGS.model
STARTED = time.monotonic()
STARTED_WALL = time.time()


def healthy() -> bool:
    if ARGS.fake_startup_seconds < 0:
        return False
    return time.monotonic() - STARTED >= ARGS.fake_startup_seconds


def example_value(schema: dict):
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return "x"


def tool_call_for(tools: list[dict]) -> dict:
    function = tools[0]["function"]
    params = function.get("parameters") or {}
    props = params.get("properties") or {}
    arguments = {name: example_value(props[name]) for name in params.get("required", list(props))}
    return {
        "id": "call_" + uuid.uuid4().hex[:12],
        "type": "function",
        "function": {"name": function["name"], "arguments": json.dumps(arguments)},
    }


def text_of(content) -> str:
    """A message's text: a string, or the text parts of a list."""
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return content or ""


def bash_call(messages: list[dict]) -> dict | None:
    """Claude Code's Bash tool, called when a user message asks for it (and only once)."""
    if any(m.get("role") == "tool" for m in messages):
        return None
    for message in reversed(messages):
        text = text_of(message.get("content")) if message.get("role") == "user" else ""
        if RUN_BASH in text:
            command = f"echo {TOOL_OUTPUT}"
            if f"{RUN_BASH}:" in text:
                command = text.split(f"{RUN_BASH}:", 1)[1].splitlines()[0].strip() or command
            return {"id": "call_" + uuid.uuid4().hex[:12], "type": "function",
                    "function": {"name": "Bash",
                                 "arguments": json.dumps({"command": command, "description": "Run it"})}}
    return None


def reply_text(messages: list[dict]) -> str:
    results = [m for m in messages if m.get("role") == "tool"]
    if results:  # the last tool result (Claude Code may add a user or system message after it)
        return f"The tool said: {text_of(results[-1].get('content')).strip()}"
    has_system = any(m.get("role") == "system" for m in messages)
    images = sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if part.get("type") == "image_url"
    )
    text = "Hello from the stand-in backend."
    if has_system:
        text += " I saw a system prompt."
    if images:
        text += f" I saw {images} image(s)."
    return text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every non-streamed response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # visible in `docker logs`; health probes are not logged
        if self.path == "/health":
            return
        sys.stderr.write("fake-backend: " + (fmt % args) + "\n")

    def _send_json(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def _record(self, body=None) -> None:
        if self.path.split("?")[0] in UNRECORDED:
            return
        with LOCK:
            RECORDED.append({"at": time.time(), "method": self.command, "path": self.path,
                             "authorization": self.headers.get("Authorization"), "body": body})

    def do_HEAD(self):
        self._record()
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self._record()
        if self.path == "/health":
            if healthy():
                self._send_json(200, {})
            else:
                self._send_json(503, {"error": "Loading model"})
        elif self.path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [
                {"id": SERVED, "object": "model", "created": 0, "owned_by": "fake"}]})
        elif self.path == "/_requests":
            with LOCK:
                self._send_json(200, list(RECORDED))
        elif self.path == "/_healthy_at":  # wall-clock moment /health turned 200 (benchmarks)
            at = STARTED_WALL + ARGS.fake_startup_seconds if ARGS.fake_startup_seconds >= 0 else None
            self._send_json(200, {"healthy_at": at})
        else:
            self._send_json(404, {"error": f"no route {self.path}"})

    def do_DELETE(self):
        if self.path == "/_requests":
            with LOCK:
                RECORDED.clear()
            self._send_json(200, {})
        else:
            self._send_json(404, {"error": "no route"})

    def do_POST(self):
        body = self._body()
        self._record(body)
        if self.path != "/v1/chat/completions":
            self._send_json(404, {"error": f"no route {self.path}"})
            return
        if not healthy():
            self._send_json(503, {"error": "Loading model"})
            return
        messages = body.get("messages") or []
        if "FAKE-500" in json.dumps(messages[-1:]):  # a request this server fails on (an internal error)
            self._send_json(500, {"error": "internal error (asked for by the request)"})
            return
        tools = body.get("tools") or []
        if any(t.get("function", {}).get("name") == "Bash" for t in tools):  # Claude Code: only when asked
            call = bash_call(messages) if body.get("tool_choice") != "none" else None
        else:
            wants_tool = (
                tools
                and body.get("tool_choice") != "none"
                and not (messages and messages[-1].get("role") == "tool")
            )
            call = tool_call_for(tools) if wants_tool else None
        text = None if call else reply_text(messages)
        if body.get("stream"):
            self._stream(body, text, call)
        else:
            message = {"role": "assistant", "content": text}
            if call:
                message["tool_calls"] = [call]
            self._send_json(200, {
                "id": "chatcmpl-" + uuid.uuid4().hex[:12],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", SERVED),
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if call else "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
            })

    def _stream(self, body: dict, text: str | None, call: dict | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        ident = "chatcmpl-" + uuid.uuid4().hex[:12]

        def chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> None:
            payload = {
                "id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", SERVED),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                payload["usage"] = usage
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if call:
            args = call["function"]["arguments"]
            half = len(args) // 2
            chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                   "function": {"name": call["function"]["name"], "arguments": ""}}]})
            for piece in (args[:half], args[half:]):
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            chunk({}, "tool_calls")
        else:
            words = text.split(" ")
            size = max(1, len(words) // max(1, ARGS.fake_chunks))
            for i in range(0, len(words), size):
                piece = " ".join(words[i:i + size])
                chunk({"content": piece if i == 0 else " " + piece})
            chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            self.wfile.write(b"data: " + json.dumps({
                "id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", SERVED), "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
            }).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class Server(ThreadingHTTPServer):
    request_queue_size = 256  # 64 concurrent benchmark clients must not overflow the backlog

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up (a healthcheck probe timing out, a cancelled stream) is routine:
        # a traceback per probe would push the server's own lines out of the log tail `up` shows.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main() -> None:
    server = Server((ARGS.host, ARGS.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write(f"fake-backend: serving {SERVED!r} on {ARGS.host}:{ARGS.port} "
                     f"(healthy after {ARGS.fake_startup_seconds}s; ignored flags: {ARGS.unknown})\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
