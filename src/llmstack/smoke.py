"""`llmstack smoke`: exercise a running gateway through both APIs and report each check."""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

ANTHROPIC_VERSION = "2023-06-01"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo"]}},
        "required": ["city"],
    },
}


# What Claude Code (2.1.x) sends on every turn: beta headers and `?beta=true`, a billing line and
# system blocks with cache_control, about 25 tools, adaptive thinking with an effort,
# context_management, and a `role: system` message inside `messages`; always streamed.
CLAUDE_CODE_BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
                     "prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24")
CLAUDE_CODE_TOOLS = ("Agent", "Bash", "Edit", "Glob", "Grep", "NotebookEdit", "Read", "Skill", "TaskCreate",
                     "TaskGet", "TaskList", "TaskOutput", "TaskStop", "TaskUpdate", "TodoWrite", "WebFetch",
                     "WebSearch", "Write", "CronCreate", "CronDelete", "CronList", "EnterWorktree", "ExitWorktree",
                     "SendMessage", "ScheduleWakeup")


def claude_code_request(model: str, prompt: str = "Say hello.") -> dict:
    """A request shaped like Claude Code's (not its text): the parts that trip gateways and backends."""
    tools = [{"name": name, "description": f"The {name} tool.",
              "input_schema": {"type": "object",
                               "properties": {"input": {"type": "string", "description": "What to do."}},
                               "required": ["input"], "additionalProperties": False,
                               "$schema": "https://json-schema.org/draft/2020-12/schema"}}
             for name in CLAUDE_CODE_TOOLS]
    return {
        "model": model,
        "max_tokens": 256,
        "stream": True,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=0.0.0.000; cc_entrypoint=llmstack-smoke;"},
            {"type": "text", "text": "You are an agent for software engineering tasks.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Answer briefly.", "cache_control": {"type": "ephemeral"}},
        ],
        "tools": tools,
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nToday is a good day.\n</system-reminder>"},
                {"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Agents available: none."},
        ],
        "metadata": {"user_id": "llmstack-smoke"},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    }


@dataclass
class Check:
    check: str
    ok: bool
    latency_ms: float
    detail: str


class CheckFailed(Exception):
    pass


class CheckTimedOut(CheckFailed):
    pass


def tiny_png() -> bytes:
    """A valid 2x2 red PNG, built here so no file or network is needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _sse_events(response: httpx.Response, deadline: float | None = None) -> list[tuple[str | None, Any]]:
    """The events of a streamed answer; CheckTimedOut once the deadline passes (a stream that
    trickles never trips a read timeout)."""
    events: list[tuple[str | None, Any]] = []
    event: str | None = None
    for line in response.iter_lines():
        if deadline is not None and time.monotonic() > deadline:
            raise CheckTimedOut("the stream was still going at the deadline")
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
            events.append((event, data if data == "[DONE]" else json.loads(data)))
            event = None
    return events


def _kinds(events: list[tuple[str | None, Any]]) -> list[str | None]:
    """The event types of an Anthropic stream, without `ping`: a stream "may include any number of
    ping events" anywhere (Anthropic's streaming docs); a slow answer through LiteLLM starts with one."""
    return [e[1].get("type") for e in events if isinstance(e[1], dict) and e[1].get("type") != "ping"]


DEFAULT_TIMEOUT = 120.0  # seconds per check: a first request may wait for a cold prompt cache
CONNECT_TIMEOUT = 10.0


def http_client(base_url: str, timeout: float) -> httpx.Client:
    """A client for the gateway: every request bounded; never through HTTP(S)_PROXY to a gateway
    on this machine (the master key would reach the proxy)."""
    from llmstack.stackdir import is_loopback

    return httpx.Client(base_url=base_url.rstrip("/"), trust_env=not is_loopback(base_url),
                        timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)))


# A model that thinks first (Qwen3, DeepSeek-R1 behind a reasoning parser) can spend a check's few
# tokens on reasoning and answer nothing: its reply is then asked for again with thinking off, the
# chat template's switch on the OpenAI API (vLLM, SGLang and llama.cpp take chat_template_kwargs; a
# template without the switch ignores it) and Anthropic's own on /v1/messages. Only sent to a model
# that was seen thinking.
NO_THINKING_OPENAI = {"chat_template_kwargs": {"enable_thinking": False}}
NO_THINKING_ANTHROPIC = {"thinking": {"type": "disabled"}}
THINKING_NOTE = " (asked again with thinking off: the first reply was all reasoning)"


def _reasoning(message: dict) -> str:
    """The reasoning text of an OpenAI message or delta (vLLM 0.32 `reasoning`, others `reasoning_content`)."""
    text = message.get("reasoning_content") or message.get("reasoning")
    return text if isinstance(text, str) else ""


class Smoke:
    def __init__(self, base_url: str, key: str, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.deadline: float | None = None  # of the check under way
        self.client = http_client(base_url, timeout)
        self.openai_headers = {"Authorization": f"Bearer {key}"}
        self.anthropic_headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}

    def _post(self, path: str, body: dict, headers: dict) -> dict:
        response = self.client.post(path, json=body, headers=headers)
        if response.status_code != 200:
            raise CheckFailed(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.json()

    # ---- OpenAI --------------------------------------------------------------------------
    def _openai(self, body: dict) -> dict:
        return self._post("/v1/chat/completions", body, self.openai_headers)

    def _openai_reply(self, body: dict, answered: Callable[[dict], bool]) -> tuple[dict, str]:
        """The reply's message, asked again with thinking off when it was only reasoning."""
        message = self._openai(body)["choices"][0]["message"]
        if answered(message) or not _reasoning(message):
            return message, ""
        return self._openai({**body, **NO_THINKING_OPENAI})["choices"][0]["message"], THINKING_NOTE

    def openai_chat(self, alias: str, system: bool = False) -> str:
        messages = [{"role": "user", "content": "Say hello."}]
        if system:
            messages.insert(0, {"role": "system", "content": "You are terse."})
        message, note = self._openai_reply({"model": alias, "messages": messages, "max_tokens": 32},
                                           lambda m: bool(m.get("content")))
        content = message.get("content")
        if not isinstance(content, str) or not content:
            raise CheckFailed(f"no text in the reply: {message}")
        return f"{len(content)} chars{note}"

    def _openai_stream(self, body: dict) -> tuple[list, list[str], bool]:
        with self.client.stream("POST", "/v1/chat/completions", json=body, headers=self.openai_headers) as r:
            if r.status_code != 200:
                raise CheckFailed(f"HTTP {r.status_code}: {r.read()[:200]!r}")
            events = _sse_events(r, self.deadline)
        deltas = [e[1]["choices"][0]["delta"] for e in events if e[1] != "[DONE]" and e[1].get("choices")]
        return events, [d["content"] for d in deltas if d.get("content")], any(_reasoning(d) for d in deltas)

    def openai_stream(self, alias: str) -> str:
        body = {"model": alias, "messages": [{"role": "user", "content": "Say hello."}],
                "max_tokens": 32, "stream": True}
        events, texts, reasoned = self._openai_stream(body)
        note = ""
        if not texts and reasoned:
            (events, texts, _), note = self._openai_stream({**body, **NO_THINKING_OPENAI}), THINKING_NOTE
        if not texts or events[-1][1] != "[DONE]":
            raise CheckFailed(f"{len(events)} events, {len(texts)} with text, last {events[-1][1] if events else None}")
        return f"{len(texts)} text chunks{note}"

    def openai_tools(self, alias: str) -> str:
        message, note = self._openai_reply(
            {"model": alias, "messages": [{"role": "user", "content": "Weather in Paris?"}],
             "tools": [{"type": "function", "function": WEATHER_TOOL}], "tool_choice": "required", "max_tokens": 256},
            lambda m: bool(m.get("tool_calls")))
        calls = message.get("tool_calls") or []
        if not calls or calls[0]["function"]["name"] != "get_weather":
            raise CheckFailed(f"no get_weather call: {message}")
        json.loads(calls[0]["function"]["arguments"])
        return f"get_weather({calls[0]['function']['arguments']}){note}"

    def openai_vision(self, alias: str) -> str:
        url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
        data = self._openai({"model": alias, "max_tokens": 32, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What colour is this?"},
            {"type": "image_url", "image_url": {"url": url}}]}]})
        return f"{len(data['choices'][0]['message'].get('content') or '')} chars"

    # ---- Anthropic -----------------------------------------------------------------------
    def _anthropic(self, body: dict) -> dict:
        return self._post("/v1/messages", body, self.anthropic_headers)

    def _anthropic_reply(self, body: dict, answered: Callable[[dict], bool]) -> tuple[dict, str]:
        """The answer, asked again with thinking off when it was only thinking blocks."""
        data = self._anthropic(body)
        blocks = {b.get("type") for b in data.get("content", [])}
        if answered(data) or "thinking" not in blocks:
            return data, ""
        return self._anthropic({**body, **NO_THINKING_ANTHROPIC}), THINKING_NOTE

    def anthropic_messages(self, alias: str, system: bool = False) -> str:
        body: dict = {"model": alias, "max_tokens": 32, "messages": [{"role": "user", "content": "Say hello."}]}
        if system:
            body["system"] = "You are terse."

        def texts(data: dict) -> list[str]:
            return [b["text"] for b in data.get("content", []) if b.get("type") == "text" and b.get("text")]

        data, note = self._anthropic_reply(body, lambda d: bool(texts(d)))
        if data.get("type") != "message" or not texts(data):
            raise CheckFailed(f"no text block: {str(data)[:200]}")
        return f"{sum(len(t) for t in texts(data))} chars{note}"

    def anthropic_stream(self, alias: str) -> str:
        body = {"model": alias, "max_tokens": 32, "stream": True,
                "messages": [{"role": "user", "content": "Say hello."}]}
        with self.client.stream("POST", "/v1/messages", json=body, headers=self.anthropic_headers) as r:
            if r.status_code != 200:
                raise CheckFailed(f"HTTP {r.status_code}: {r.read()[:200]!r}")
            events = _sse_events(r, self.deadline)
        kinds = _kinds(events)
        deltas = [e[1] for e in events if isinstance(e[1], dict) and e[1].get("type") == "content_block_delta"]
        if not kinds or kinds[0] != "message_start" or kinds[-1] != "message_stop" or not deltas:
            raise CheckFailed(f"unexpected event sequence: {kinds[:8]}")
        return f"{len(deltas)} deltas"

    def anthropic_tools(self, alias: str) -> str:
        tool = {"name": WEATHER_TOOL["name"], "description": WEATHER_TOOL["description"],
                "input_schema": WEATHER_TOOL["parameters"]}
        data, note = self._anthropic_reply(
            {"model": alias, "max_tokens": 256, "tools": [tool], "tool_choice": {"type": "any"},
             "messages": [{"role": "user", "content": "Weather in Paris?"}]},
            lambda d: any(b.get("type") == "tool_use" for b in d.get("content", [])))
        uses = [b for b in data.get("content", []) if b.get("type") == "tool_use"]
        if not uses or uses[0]["name"] != "get_weather" or not isinstance(uses[0].get("input"), dict):
            raise CheckFailed(f"no get_weather tool_use: {str(data)[:200]}")
        return f"get_weather({json.dumps(uses[0]['input'])}){note}"

    def claude_code(self, model: str) -> str:
        headers = {**self.anthropic_headers, "anthropic-beta": CLAUDE_CODE_BETAS}
        with self.client.stream("POST", "/v1/messages?beta=true", json=claude_code_request(model),
                                headers=headers) as r:
            if r.status_code != 200:
                raise CheckFailed(f"HTTP {r.status_code}: {r.read()[:200]!r}")
            events = _sse_events(r, self.deadline)
        kinds = _kinds(events)
        errors = [e[1] for e in events if isinstance(e[1], dict) and e[1].get("type") == "error"]
        if errors or not kinds or kinds[0] != "message_start" or kinds[-1] != "message_stop":
            raise CheckFailed(f"unexpected event sequence: {(errors or kinds)[:8]}")
        blocks = [e[1]["content_block"]["type"] for e in events
                  if isinstance(e[1], dict) and e[1].get("type") == "content_block_start"]
        if not blocks:
            raise CheckFailed("no content block in the answer")
        return f"{len(kinds)} events, blocks: {', '.join(blocks)}"

    def count_tokens(self, model: str) -> str:
        body = {k: v for k, v in claude_code_request(model).items() if k in ("model", "system", "tools", "messages")}
        data = self._post("/v1/messages/count_tokens?beta=true", body, self.anthropic_headers)
        if not isinstance(data.get("input_tokens"), int) or data["input_tokens"] <= 0:
            raise CheckFailed(f"no input_tokens: {str(data)[:200]}")
        return f"{data['input_tokens']} input tokens"

    def anthropic_vision(self, alias: str) -> str:
        data = self._anthropic({"model": alias, "max_tokens": 32, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(tiny_png()).decode()}},
            {"type": "text", "text": "What colour is this?"}]}]})
        return f"{len(data.get('content', []))} blocks"


def claude_models(aliases: list[str], claude_routes: dict[str, str] | None) -> dict[str, str]:
    """alias -> the Claude model name Claude Code would ask for it (the first tier routed there);
    the alias itself when the stack has no Claude routes."""
    names: dict[str, str] = {}
    for pattern, alias in (claude_routes or {}).items():
        names.setdefault(alias, pattern.replace("*", "4-5"))
    return {alias: names.get(alias, alias) for alias in aliases}


def run_checks(base_url: str, key: str, aliases: list[tuple[str, bool, bool]],
               on_result: Callable[[Check], None] | None = None,
               claude_routes: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[Check]:
    """aliases: (name, declares tools, declares vision); claude_routes: Claude model name pattern -> alias.
    Each check is bounded by `timeout`; after one times out, the alias's other checks are skipped
    (its backend is not answering: they would only wait as long)."""
    smoke = Smoke(base_url, key, timeout)
    results: list[Check] = []
    claude_names = claude_models([a for a, _, _ in aliases], claude_routes)
    for alias, tools, vision in aliases:
        plan: list[tuple[str, Callable[..., str], dict]] = [
            ("OpenAI chat", smoke.openai_chat, {}),
            ("OpenAI streaming", smoke.openai_stream, {}),
            ("Anthropic messages", smoke.anthropic_messages, {}),
            ("Anthropic streaming", smoke.anthropic_stream, {}),
            ("OpenAI system prompt", smoke.openai_chat, {"system": True}),
            ("Anthropic system prompt", smoke.anthropic_messages, {"system": True}),
        ]
        if tools:
            plan += [("OpenAI tool call", smoke.openai_tools, {}),
                     ("Anthropic tool use", smoke.anthropic_tools, {})]
        if vision:
            plan += [("OpenAI image input", smoke.openai_vision, {}),
                     ("Anthropic image input", smoke.anthropic_vision, {})]
        claude_name = claude_names[alias]
        plan += [("Claude Code request" + (f" ({claude_name})" if claude_name != alias else ""), smoke.claude_code,
                  {"model": claude_name}),
                 ("Anthropic count_tokens", smoke.count_tokens, {"model": claude_name})]
        timed_out: str | None = None
        for name, check_fn, kwargs in plan:
            start = time.perf_counter()
            smoke.deadline = time.monotonic() + timeout
            if timed_out:
                detail, ok = f"skipped: {timed_out} timed out, this alias does not answer", False
            else:
                try:
                    detail, ok = check_fn(**kwargs) if "model" in kwargs else check_fn(alias, **kwargs), True
                except (CheckTimedOut, httpx.TimeoutException) as exc:
                    timed_out = name
                    what = "no connection" if isinstance(exc, httpx.ConnectTimeout) else "no complete answer"
                    detail, ok = (f"timed out: {what} within {timeout:g} s (the backend may be hung or still "
                                  "loading; see `llmstack status`)"), False
                except (CheckFailed, httpx.HTTPError, KeyError, IndexError, ValueError, TypeError) as exc:
                    detail, ok = f"{type(exc).__name__}: {exc}" if not isinstance(exc, CheckFailed) else str(exc), False
            check = Check(f"{alias}: {name}" if len(aliases) > 1 else name, ok,
                          round((time.perf_counter() - start) * 1000, 1), detail)
            results.append(check)
            if on_result:
                on_result(check)
    return results


def as_json(results: list[Check]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2)
