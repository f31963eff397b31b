"""The recorded agent conversations (tests/fixtures/agents) and the real chat templates (llama.cpp's
models/templates, read from the llama-cpp-python sdist in the e2e cache), for the tests.

Templates are never committed: tests/fixtures/agents/templates.json is our index of them (file,
family, sha256, sdist version); `real_templates()` downloads the sdist into the e2e cache on first
use (pip download, like tests/e2e/images.py) and checks every file against the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AGENTS = REPO / "tests" / "fixtures" / "agents"
INDEX = AGENTS / "templates.json"
CACHE = Path(os.environ.get("LLMSTACK_E2E_CACHE", Path.home() / ".cache" / "llmstack-e2e"))
REQUIRE = "LLMSTACK_REQUIRE_TEMPLATES"


def index() -> dict:
    return json.loads(INDEX.read_text())


def sdist_path(version: str) -> Path:
    return CACHE / f"llama_cpp_python-{version}.tar.gz"


def fetch_sdist(version: str) -> Path:
    """The llama-cpp-python sdist in the e2e cache (downloaded with pip on first use)."""
    path = sdist_path(version)
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                    "-d", str(CACHE), f"llama-cpp-python=={version}"], check=True, capture_output=True)
    if not path.exists():
        raise FileNotFoundError(f"pip download left no {path.name} in {CACHE}")
    return path


@cache
def real_templates() -> dict[str, str]:
    """file name -> template text, for every template in the index (sha256 checked)."""
    data = index()
    sdist = fetch_sdist(data["sdist"]["version"])
    prefix = data["sdist"]["templates_dir"]
    wanted = {f"{prefix}/{entry['file']}": entry for entry in data["templates"]}
    out: dict[str, str] = {}
    with tarfile.open(sdist) as tar:  # one pass: a gzip stream has no random access
        for member in tar:
            entry = wanted.get(member.name)
            handle = tar.extractfile(member) if entry else None
            if entry is None or handle is None:
                continue
            raw = handle.read()
            digest = hashlib.sha256(raw).hexdigest()
            if digest != entry["sha256"]:
                raise ValueError(f"{entry['file']} in {sdist.name} has sha256 {digest}, the index says "
                                 f"{entry['sha256']}: regenerate the index (python -m tests.e2e.capture_agents "
                                 "--templates) after checking why")
            out[entry["file"]] = raw.decode("utf-8")
    lost = sorted(e["file"] for e in data["templates"] if e["file"] not in out)
    if lost:
        raise FileNotFoundError(f"not in {sdist.name}: {', '.join(lost)}")
    return out


def conversations(client: str) -> dict[str, list[dict]]:
    """name -> the requests of one recorded conversation (`client`: claude-code or codex)."""
    path = next(AGENTS.glob(f"{client}-*.json"))
    return json.loads(path.read_text())["conversations"]


def forwarded() -> dict[str, list[dict]]:
    """`client/conversation` -> the chat-completions bodies LiteLLM forwarded to the backend."""
    path = next(AGENTS.glob("forwarded-litellm-*.json"))
    return json.loads(path.read_text())["conversations"]


# ---- what a native route hands the template --------------------------------------------------------
# Models, for the offline tests, of how an engine's own /v1/messages and /v1/responses turn a request
# into chat messages (llama.cpp's server and vLLM >= 0.23 keep a `system` message where it stands,
# tool results become `tool` messages, thinking becomes `reasoning_content`). They model the shape
# the template sees, not any engine's code.

def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("text"))
    return ""


def anthropic_to_chat(body: dict) -> list[dict]:
    messages: list[dict] = []
    system = _text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or []:
        role, content = message.get("role"), message.get("content")
        if role == "system" or isinstance(content, str):
            messages.append({"role": role, "content": _text(content)})
            continue
        if role == "assistant":
            out: dict = {"role": "assistant", "content": "".join(b.get("text", "") for b in content
                                                                if b.get("type") == "text")}
            thinking = "".join(b.get("thinking", "") for b in content if b.get("type") == "thinking")
            if thinking:
                out["reasoning_content"] = thinking
            calls = [{"id": b["id"], "type": "function", "function": {"name": b["name"], "arguments": b.get("input")}}
                     for b in content if b.get("type") == "tool_use"]
            if calls:
                out["tool_calls"] = calls
            messages.append(out)
            continue
        texts = []
        for block in content:
            if block.get("type") == "tool_result":
                messages.append({"role": "tool", "tool_call_id": block.get("tool_use_id"),
                                 "content": _text(block.get("content"))})
            elif block.get("type") == "text":
                texts.append(block.get("text", ""))
        if texts:
            messages.append({"role": "user", "content": "\n".join(texts)})
    return messages


def responses_to_chat(body: dict) -> list[dict]:
    messages: list[dict] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    reasoning = ""
    for item in items or []:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _text(item.get("content"))})
        elif kind == "reasoning":
            reasoning += _text(item.get("summary"))
        elif kind in ("function_call", "custom_tool_call"):
            arguments = json.loads(item.get("arguments") or "{}") if kind == "function_call" \
                else {"input": item.get("input", "")}
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": arguments}}
            last = messages[-1] if messages else {}
            if last.get("role") == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)
            else:
                message: dict = {"role": "assistant", "content": "", "tool_calls": [call]}
                if reasoning:
                    message["reasoning_content"], reasoning = reasoning, ""
                messages.append(message)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": output if isinstance(output, str) else _text(output)})
    return messages


def chat_tools(body: dict) -> list[dict]:
    """The request's tools as chat-completions function tools (the ones a template can be given)."""
    tools = []
    for tool in body.get("tools") or []:
        if "input_schema" in tool:  # Anthropic
            tools.append({"type": "function", "function": {"name": tool["name"],
                                                           "description": tool.get("description", ""),
                                                           "parameters": tool["input_schema"]}})
        elif tool.get("type") == "function" and "function" in tool:  # chat completions
            tools.append(tool)
        elif tool.get("type") == "function":  # Responses
            tools.append({"type": "function", "function": {k: tool[k] for k in ("name", "description", "parameters")
                                                           if k in tool}})
        elif tool.get("type") == "custom":
            tools.append({"type": "function", "function": {"name": tool["name"], "description": tool.get(
                "description", ""), "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}})
    return tools


# ---- the findings table ------------------------------------------------------------------------------

FINDINGS = AGENTS / "findings.json"
ROUTES = ("native", "forwarded")


def recorded_conversations() -> dict[str, tuple[str, dict]]:
    """id -> (call type, request body): every recorded request that is not a prefix of a later one
    of its conversation, as each route gets it (native: the client's body; forwarded: the chat body
    LiteLLM sent on)."""
    out: dict[str, tuple[str, dict]] = {}
    for client, call_type in (("claude-code", "anthropic_messages"), ("codex", "aresponses")):
        for name, requests in conversations(client).items():
            out[f"native/{client}/{name}"] = (call_type, requests[-1]["body"])
    for name, replies in forwarded().items():
        bodies = [r["forwarded"] for r in replies if r.get("forwarded")]
        if bodies:
            out[f"forwarded/{name}"] = ("acompletion", bodies[-1])
    return out


def chat_of(call_type: str, body: dict) -> list[dict]:
    """The messages a template gets for this request. Text-part lists become strings, as the engines
    hand them to templates that take string content (vLLM's "string" content format, llama.cpp's
    template caps); the templates here take strings."""
    if call_type == "anthropic_messages":
        return anthropic_to_chat(body)
    if call_type == "aresponses":
        return responses_to_chat(body)
    # and a missing content (LiteLLM sends `null` beside tool calls) is "" (vLLM parses it to no
    # parts, llama.cpp's `requires_non_null_content` workaround).
    return [{**m, "content": _text(m.get("content"))} if not isinstance(m.get("content"), str) else m
            for m in body["messages"]]


def compute_findings(templates: dict[str, str] | None = None) -> dict:
    """template -> engine -> {"refused": {shape: error}, "recorded": {id: error}, "adapted": {id: error}}:
    the synthetic shapes, the recorded conversations as they are, and after the gateway hook with the
    switches the findings call for (only failures are listed)."""
    import copy

    from llmstack import chat_template as ct
    from llmstack import gateway_hook

    templates = templates if templates is not None else real_templates()
    recorded = recorded_conversations()
    shapes = {name: shape.messages for name, shape in ct.SHAPES.items()}
    table: dict = {}
    for file, text in sorted(templates.items()):
        table[file] = {}
        for engine in ct.ENGINES:
            found = ct.evaluate(text, shapes, engine=engine)
            first = next(iter(table[file].values()), None)
            if first is not None and first["refused"] == found["refused"] and first["notes"] == found["notes"]:
                # The engines differ in two things only (`developer` -> `system`, lists a template may
                # change): when the shapes that probe both come out the same, so do the conversations.
                table[file][engine] = first
                continue
            findings = ct.TemplateFindings("", tuple(found["checked"]),
                                           tuple(ct.Refusal(s, e) for s, e in found["refused"].items()),
                                           tuple(found["notes"]))
            switches = ("strip_billing_header", *findings.adaptations)
            raw: dict[str, str] = {}
            adapted: dict[str, str] = {}
            for ident, (call_type, body) in recorded.items():
                for target, data in ((raw, body),
                                     (adapted, gateway_hook.adapt(copy.deepcopy(body), call_type, switches))):
                    if target is adapted and ident not in raw and not findings.adaptations:
                        continue  # accepted as it is, and only the billing line changes
                    result = ct.evaluate(text, {ident: chat_of(call_type, data)}, tools=chat_tools(data),
                                         engine=engine)
                    if result["refused"] or result["notes"]:
                        target[ident] = (list(result["refused"].values()) + result["notes"])[0]
            table[file][engine] = {"refused": found["refused"], "notes": found["notes"],
                                   "adaptations": list(findings.adaptations), "recorded": raw, "adapted": adapted}
    return table
