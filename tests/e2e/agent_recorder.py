"""A recording stand-in for the APIs the agent CLIs speak (stdlib only): Anthropic's `/v1/messages`
(Claude Code) and OpenAI's `/v1/responses` (Codex), answered with scripted replies so the real
CLIs go through their real request shapes, and every request kept for the fixtures
(tests/fixtures/agents, written by tests/agents_capture.py).

The script, the same for both APIs (the cue words are in the prompt the capture sends):

- the last input is a tool result: a text reply quoting it (`The tool said: ...`);
- the last user text holds RUN_BASH: a call of the client's shell tool running `echo TOOL_OUTPUT`
  (Claude Code's `Bash`; Codex's `shell` / `exec_command` / `shell_command`, whichever it sent);
- it holds RUN_PATCH: a call of Codex's `apply_patch` (a custom/freeform tool, or a function tool
  with an `input` argument) adding PATCH_FILE;
- it holds THINK: a thinking (Anthropic) / reasoning (Responses) block before the text;
- anything else: GREETING.

    python -m tests.e2e.agent_recorder --port 8123      # serves on 127.0.0.1 until killed
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUN_BASH = "llmstack-run-bash"
RUN_PATCH = "llmstack-run-patch"
AS_FUNCTION = "as-a-function"  # with RUN_PATCH: call apply_patch as a function tool whatever its type
THINK = "llmstack-think"
TOOL_OUTPUT = "llmstack-tool-ok"
GREETING = "Hello from the recorder."
THOUGHT = "The user wants an answer; think briefly first."
PATCH_FILE = "llmstack-patched.txt"
PATCH = f"*** Begin Patch\n*** Add File: {PATCH_FILE}\n+patched by the recorder\n*** End Patch\n"
SHELL_TOOLS = ("shell", "exec_command", "shell_command", "Bash")
KEPT_HEADERS = ("anthropic-beta", "anthropic-version", "content-type", "openai-beta")


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def add(self, entry: dict) -> None:
        with self.lock:
            self.requests.append(entry)

    def take(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


RECORDER = Recorder()


def _text(content) -> str:
    """The text of an Anthropic or Responses content value (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return ""


# ---- what to answer ----------------------------------------------------------------------------

def anthropic_turn(body: dict) -> tuple[str, dict]:
    """('text'|'bash'|'tool_result', detail) for an Anthropic request."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content")
    if isinstance(content, list):
        results = [p for p in content if isinstance(p, dict) and p.get("type") == "tool_result"]
        if results:
            return "tool_result", {"output": _text(results[-1].get("content"))}
    users = [m for m in messages if m.get("role") == "user"]
    text = _text(users[-1].get("content")) if users else ""
    tools = {t.get("name") for t in body.get("tools") or []}
    if RUN_BASH in text and "Bash" in tools:
        return "bash", {"think": THINK in text}
    return "text", {"think": THINK in text}


def responses_turn(body: dict) -> tuple[str, dict]:
    """('text'|'shell'|'patch'|'tool_result', detail) for a Responses request."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    items = items or []
    last = items[-1] if items else {}
    if last.get("type") in ("function_call_output", "custom_tool_call_output"):
        output = last.get("output")
        return "tool_result", {"output": output if isinstance(output, str) else json.dumps(output)}
    users = [i for i in items if i.get("role") == "user"]
    text = _text(users[-1].get("content")) if users else ""
    tools = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, dict)}
    think = THINK in text
    if RUN_PATCH in text and "apply_patch" in tools:
        return "patch", {"tool": tools["apply_patch"], "think": think, "function": AS_FUNCTION in text}
    if RUN_BASH in text:
        for name in SHELL_TOOLS:
            if name in tools:
                return "shell", {"tool": tools[name], "think": think}
    return "text", {"think": think}


def shell_arguments(tool: dict, command: str) -> dict:
    """Arguments for a shell tool, by the parameter names its schema declares."""
    props = ((tool.get("parameters") or {}).get("properties") or {})
    if "cmd" in props:
        return {"cmd": command}
    if "command" in props and (props["command"].get("type") == "array"):
        return {"command": ["bash", "-lc", command]}
    return {"command": command}


# ---- the HTTP side -----------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("agent-recorder: " + (fmt % args) + "\n")

    def _json(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, body) -> None:
        if self.path.startswith("/_"):
            return
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() in KEPT_HEADERS}
        RECORDER.add({"at": time.time(), "method": self.command, "path": self.path, "headers": headers,
                      "body": body})

    def do_HEAD(self):
        self._record(None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        if self.path == "/_requests":
            self._json(200, RECORDER.take())
            return
        self._record(None)
        if self.path.split("?")[0] in ("/v1/models", "/models"):
            self._json(200, {"object": "list", "data": [], "models": []})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_DELETE(self):
        if self.path == "/_requests":
            RECORDER.clear()
            self._json(200, {})
        else:
            self._json(404, {"error": {"message": "no route"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        self._record(body)
        path = self.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
        elif path == "/v1/messages":
            self._anthropic(body)
        elif path in ("/v1/responses", "/responses"):
            self._responses(body)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    # -- SSE helpers
    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _event(self, name: str, data: dict) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    # -- Anthropic
    def _anthropic(self, body: dict) -> None:
        kind, detail = anthropic_turn(body)
        blocks: list[dict] = []
        if detail.get("think"):
            blocks.append({"type": "thinking", "thinking": THOUGHT, "signature": "recorder-signature"})
        if kind == "tool_result":
            blocks.append({"type": "text", "text": f"The tool said: {detail['output'].strip()}"})
        elif kind == "bash":
            blocks.append({"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": "Bash",
                           "input": {"command": f"echo {TOOL_OUTPUT}", "description": "Print a word"}})
        else:
            blocks.append({"type": "text", "text": GREETING})
        stop = "tool_use" if kind == "bash" else "end_turn"
        message = {"id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
                   "model": body.get("model", "recorder"), "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": 100, "output_tokens": 10, "cache_read_input_tokens": 0,
                             "cache_creation_input_tokens": 0}}
        if not body.get("stream"):
            self._json(200, {**message, "content": blocks})
            return
        self._start_stream()
        self._event("message_start", {"type": "message_start",
                                      "message": {**message, "content": [], "stop_reason": None,
                                                  "usage": {**message["usage"], "output_tokens": 1}}})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {"type": "text", "text": ""}})
                self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "text_delta", "text": block["text"]}})
            elif block["type"] == "thinking":
                self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {"type": "thinking", "thinking": ""}})
                self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "thinking_delta",
                                                              "thinking": block["thinking"]}})
                self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "signature_delta",
                                                              "signature": block["signature"]}})
            else:
                self._event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {**block, "input": {}}})
                self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "input_json_delta",
                                                              "partial_json": json.dumps(block["input"])}})
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": 10}})
        self._event("message_stop", {"type": "message_stop"})

    # -- Responses
    def _responses(self, body: dict) -> None:
        kind, detail = responses_turn(body)
        items: list[dict] = []
        if detail.get("think"):
            items.append({"type": "reasoning", "id": "rs_" + uuid.uuid4().hex[:16],
                          "summary": [{"type": "summary_text", "text": THOUGHT}]})
        if kind == "tool_result":
            items.append(_message_item(f"The tool said: {detail['output'].strip()}"))
        elif kind == "shell":
            tool = detail["tool"]
            items.append({"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:16],
                          "call_id": "call_" + uuid.uuid4().hex[:16], "name": tool["name"], "status": "completed",
                          "arguments": json.dumps(shell_arguments(tool, f"echo {TOOL_OUTPUT}"))})
        elif kind == "patch":
            tool = detail["tool"]
            call_id = "call_" + uuid.uuid4().hex[:16]
            if tool.get("type") == "custom" and not detail.get("function"):
                items.append({"type": "custom_tool_call", "id": "ctc_" + uuid.uuid4().hex[:16], "call_id": call_id,
                              "name": "apply_patch", "input": PATCH, "status": "completed"})
            else:
                items.append({"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:16], "call_id": call_id,
                              "name": "apply_patch", "arguments": json.dumps({"input": PATCH}),
                              "status": "completed"})
        else:
            items.append(_message_item(GREETING))
        response = {"id": "resp_" + uuid.uuid4().hex[:16], "object": "response", "created_at": int(time.time()),
                    "model": body.get("model", "recorder"), "status": "completed", "output": items,
                    "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": 110}}
        if not body.get("stream"):
            self._json(200, response)
            return
        self._start_stream()
        self._event("response.created", {"type": "response.created",
                                         "response": {**response, "status": "in_progress", "output": []}})
        for index, item in enumerate(items):
            self._event("response.output_item.added", {"type": "response.output_item.added", "output_index": index,
                                                       "item": item})
            if item["type"] == "message":
                self._event("response.output_text.delta", {"type": "response.output_text.delta",
                                                           "item_id": item["id"], "output_index": index,
                                                           "content_index": 0,
                                                           "delta": item["content"][0]["text"]})
            self._event("response.output_item.done", {"type": "response.output_item.done", "output_index": index,
                                                      "item": item})
        self._event("response.completed", {"type": "response.completed", "response": response})


def _message_item(text: str) -> dict:
    return {"type": "message", "id": "msg_" + uuid.uuid4().hex[:16], "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


class Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(port: int = 0, host: str = "127.0.0.1") -> Server:
    """Start the recorder on a thread; returns the server (`server.server_address[1]` is the port)."""
    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args()
    server = Server((args.host, args.port), Handler)
    sys.stderr.write(f"agent-recorder: serving on {args.host}:{args.port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
