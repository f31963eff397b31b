"""llmstack's LiteLLM hook: adapts an agent's request to what the alias's chat template accepts.

Shipped in every rendered stack (as `llmstack_hook.py`, mounted read-only beside the gateway's
config) and loaded by LiteLLM from `litellm_settings.callbacks: ["llmstack_hook.proxy_handler_instance"]`
(LiteLLM's `get_instance_fn` imports a dotted name from a `.py` file in the config's directory:
litellm/proxy/types_utils/utils.py, 1.104.5 and 1.108.14). Its `async_pre_call_hook` runs once per
request, before routing, on the body as the client sent it, for every route that goes through the
proxy's common request processing: `/v1/chat/completions` (call type `acompletion`), `/v1/messages`
(`anthropic_messages`, both the translated route and the native pass-through) and `/v1/responses`
(`aresponses`) (litellm/proxy/common_request_processing.py and proxy/utils.py `pre_call_hook`).

What it does is chosen per alias by the render, in the alias's `model_info.llmstack_adapt` (a list
of the switches below, with the reason as a comment in litellm-config.yaml); an alias without the
key costs one dictionary lookup. Switches:

- `strip_billing_header`: drop Claude Code's `x-anthropic-billing-header: ...` line from system
  prompts (it changes between conversations and defeats the backend's prefix cache).
- `fold_system`: the system/developer messages at the head become one system prompt; a system or
  developer message later in the conversation becomes a user message where it stands (the history
  before it, and so the prefix cache, is unchanged).
- `system_into_user`: the template has no system role: every system text opens the first user turn.
- `merge_turns`: consecutive turns of one role become one; a user turn right after tool results is
  appended to the last result.
- `tool_ids`: tool-call ids become nine letters and digits (Mistral's templates), the same id for
  the same input so the prefix cache still matches.
- `split_tool_calls`: one tool call per assistant turn (each followed by its result), and the
  client's request for parallel calls turned off.

The work is per request and never per streamed chunk. Standard library only; importable without
LiteLLM (the tests call `adapt` directly).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

try:  # inside the gateway
    from litellm.integrations.custom_logger import CustomLogger
except ImportError:  # tests, or any Python without LiteLLM
    class CustomLogger:  # type: ignore[no-redef]
        pass

SETTING = "llmstack_adapt"
SWITCHES = ("strip_billing_header", "fold_system", "system_into_user", "merge_turns", "tool_ids",
            "split_tool_calls")
BILLING = re.compile(r"^x-anthropic-billing-header:[^\n]*\n?", re.MULTILINE)
SYSTEM_ROLES = ("system", "developer")
ID = re.compile(r"^[A-Za-z0-9]{9}$")
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
JOIN = "\n\n"


# ---- helpers shared by the three formats ---------------------------------------------------------

def short_id(ident: Any) -> Any:
    """A tool-call id as nine letters and digits (unchanged if it already is one)."""
    if not isinstance(ident, str) or ID.match(ident):
        return ident
    number = int.from_bytes(hashlib.sha256(ident.encode()).digest()[:8], "big")
    out = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        out.append(ALPHABET[digit])
    return "".join(out)


def _strip_billing_text(text: str) -> str:
    return BILLING.sub("", text) if "x-anthropic-billing-header:" in text else text


def _text_of(content: Any) -> str:
    """The text of a content value: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return JOIN.join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _as_parts(content: Any, kind: str) -> list:
    if isinstance(content, list):
        return list(content)
    if content in (None, ""):
        return []
    return [{"type": kind, "text": content if isinstance(content, str) else str(content)}]


def _join_content(first: Any, second: Any, kind: str) -> Any:
    """Two contents as one: strings joined by a blank line, otherwise the parts of both."""
    if (first is None or isinstance(first, str)) and (second is None or isinstance(second, str)):
        return JOIN.join(t for t in (first, second) if t)
    return _as_parts(first, kind) + _as_parts(second, kind)


# ---- OpenAI chat completions: data["messages"] ----------------------------------------------------

def _chat_billing(messages: list) -> list:
    out = []
    for message in messages:
        if message.get("role") in SYSTEM_ROLES:
            content = message.get("content")
            if isinstance(content, str):
                content = _strip_billing_text(content)
            elif isinstance(content, list):
                content = [p for p in ({**p, "text": _strip_billing_text(p["text"])}
                                       if isinstance(p, dict) and isinstance(p.get("text"), str) else p
                                       for p in content)
                           if not (isinstance(p, dict) and p.get("type") == "text" and not p.get("text"))]
            if not _text_of(content).strip() and not (isinstance(content, list) and content):
                continue
            message = {**message, "content": content}
        out.append(message)
    return out


def _chat_fold_system(messages: list, into_user: bool) -> list:
    head = 0
    while head < len(messages) and messages[head].get("role") in SYSTEM_ROLES:
        head += 1
    system = JOIN.join(t for t in (_text_of(m.get("content")) for m in messages[:head]) if t)
    out = []
    for message in messages[head:]:
        if message.get("role") in SYSTEM_ROLES:
            message = {**message, "role": "user"}
        out.append(message)
    if into_user:
        if system:
            first = next((i for i, m in enumerate(out) if m.get("role") == "user"), None)
            if first is None:
                out.insert(0, {"role": "user", "content": system})
            else:
                out[first] = {**out[first], "content": _join_content(system, out[first].get("content"), "text")}
        return out
    return ([{"role": "system", "content": system}] if system else []) + out


def _chat_merge_turns(messages: list) -> list:
    out: list = []
    for message in messages:
        previous = out[-1] if out else None
        role = message.get("role")
        if previous is not None and role == previous.get("role") and role in ("user", "assistant", "system"):
            merged = {**previous, "content": _join_content(previous.get("content"), message.get("content"), "text")}
            calls = (previous.get("tool_calls") or []) + (message.get("tool_calls") or [])
            if calls:
                merged["tool_calls"] = calls
            out[-1] = merged
        elif previous is not None and role == "user" and previous.get("role") == "tool":
            out[-1] = {**previous, "content": _join_content(previous.get("content"), message.get("content"), "text")}
        else:
            out.append(message)
    return out


def _chat_tool_ids(messages: list) -> list:
    out = []
    for message in messages:
        if message.get("tool_calls"):
            message = {**message, "tool_calls": [{**c, "id": short_id(c.get("id"))} if isinstance(c, dict) else c
                                                 for c in message["tool_calls"]]}
        if message.get("role") == "tool" and "tool_call_id" in message:
            message = {**message, "tool_call_id": short_id(message["tool_call_id"])}
        out.append(message)
    return out


def _chat_split_tool_calls(messages: list) -> list:
    out: list = []
    i = 0
    while i < len(messages):
        message = messages[i]
        calls = message.get("tool_calls") or []
        if message.get("role") != "assistant" or len(calls) < 2:
            out.append(message)
            i += 1
            continue
        j = i + 1
        results: dict = {}
        while j < len(messages) and messages[j].get("role") == "tool":
            results.setdefault(messages[j].get("tool_call_id"), []).append(messages[j])
            j += 1
        leftover = [m for m in messages[i + 1:j] if m.get("tool_call_id") not in {c.get("id") for c in calls}]
        for n, call in enumerate(calls):
            out.append({**message, "content": message.get("content") if n == 0 else "", "tool_calls": [call]})
            out.extend(results.get(call.get("id"), []))
        out.extend(leftover)
        i = j
    return out


def adapt_chat(data: dict, switches: frozenset) -> dict:
    messages = data.get("messages")
    if not isinstance(messages, list):
        return data
    messages = [m for m in messages if isinstance(m, dict)]
    if "strip_billing_header" in switches:
        messages = _chat_billing(messages)
    if "system_into_user" in switches or "fold_system" in switches:
        messages = _chat_fold_system(messages, "system_into_user" in switches)
    if "split_tool_calls" in switches:
        messages = _chat_split_tool_calls(messages)
        if data.get("tools"):
            data["parallel_tool_calls"] = False
    if "merge_turns" in switches:
        messages = _chat_merge_turns(messages)
    if "tool_ids" in switches:
        messages = _chat_tool_ids(messages)
    data["messages"] = messages
    return data


# ---- Anthropic messages: data["system"], data["messages"] (blocks) ---------------------------------

def _blocks(content: Any) -> list:
    return _as_parts(content, "text")


def _anthropic_billing(system: Any) -> Any:
    if isinstance(system, str):
        return _strip_billing_text(system)
    if isinstance(system, list):
        kept = []
        for block in system:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                text = _strip_billing_text(block["text"])
                if not text.strip() and block.get("type", "text") == "text":
                    continue
                block = {**block, "text": text}
            kept.append(block)
        return kept
    return system


def _anthropic_fold_system(data: dict, messages: list, into_user: bool) -> list:
    head = 0
    while head < len(messages) and messages[head].get("role") in SYSTEM_ROLES:
        head += 1
    if head:
        lead = [b for m in messages[:head] for b in _blocks(m.get("content"))]
        data["system"] = _join_content(data.get("system"), lead if lead else None, "text") \
            if data.get("system") else lead
    out = [{**m, "role": "user"} if m.get("role") in SYSTEM_ROLES else m for m in messages[head:]]
    if into_user and data.get("system"):
        system = data.pop("system")
        first = next((i for i, m in enumerate(out) if m.get("role") == "user"), None)
        if first is None:
            out.insert(0, {"role": "user", "content": _blocks(system)})
        else:
            out[first] = {**out[first], "content": _blocks(system) + _blocks(out[first].get("content"))}
    return out


def _anthropic_merge_turns(messages: list) -> list:
    out: list = []
    for message in messages:
        if out and message.get("role") == out[-1].get("role"):
            out[-1] = {**out[-1], "content": _blocks(out[-1].get("content")) + _blocks(message.get("content"))}
        else:
            out.append(message)
    # A user turn of tool results and then text: the text goes into the last result.
    fixed = []
    for message in out:
        blocks = message.get("content")
        if message.get("role") == "user" and isinstance(blocks, list):
            last = max((i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("type") == "tool_result"),
                       default=None)
            trailing = blocks[last + 1:] if last is not None else []
            if last is not None and trailing and all(isinstance(b, dict) and b.get("type") == "text"
                                                     for b in trailing):
                result = blocks[last]
                result = {**result, "content": _blocks(result.get("content")) + trailing}
                message = {**message, "content": blocks[:last] + [result]}
        fixed.append(message)
    return fixed


def _anthropic_tool_ids(messages: list) -> list:
    out = []
    for message in messages:
        blocks = message.get("content")
        if isinstance(blocks, list):
            changed = []
            for b in blocks:
                if isinstance(b, dict) and b.get("type") == "tool_use" and "id" in b:
                    b = {**b, "id": short_id(b["id"])}
                elif isinstance(b, dict) and b.get("type") == "tool_result" and "tool_use_id" in b:
                    b = {**b, "tool_use_id": short_id(b["tool_use_id"])}
                changed.append(b)
            message = {**message, "content": changed}
        out.append(message)
    return out


def _anthropic_split_tool_calls(messages: list) -> list:
    out: list = []
    i = 0
    while i < len(messages):
        message = messages[i]
        blocks = message.get("content") if isinstance(message.get("content"), list) else []
        uses = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
        following = messages[i + 1] if i + 1 < len(messages) else None
        if message.get("role") != "assistant" or len(uses) < 2 or following is None \
                or following.get("role") != "user" or not isinstance(following.get("content"), list):
            out.append(message)
            i += 1
            continue
        others = [b for b in blocks if not (isinstance(b, dict) and b.get("type") == "tool_use")]
        results = {b.get("tool_use_id"): b for b in following["content"]
                   if isinstance(b, dict) and b.get("type") == "tool_result"}
        rest = [b for b in following["content"] if not (isinstance(b, dict) and b.get("type") == "tool_result"
                                                         and b.get("tool_use_id") in {u.get("id") for u in uses})]
        for n, use in enumerate(uses):
            out.append({**message, "content": (others if n == 0 else []) + [use]})
            result = results.get(use.get("id"))
            tail = rest if n == len(uses) - 1 else []
            out.append({**following, "content": ([result] if result else []) + tail})
        i += 2
    return out


def adapt_anthropic(data: dict, switches: frozenset) -> dict:
    if "strip_billing_header" in switches and "system" in data:
        data["system"] = _anthropic_billing(data["system"])
    messages = data.get("messages")
    if not isinstance(messages, list):
        return data
    messages = [m for m in messages if isinstance(m, dict)]
    if "system_into_user" in switches or "fold_system" in switches:
        messages = _anthropic_fold_system(data, messages, "system_into_user" in switches)
    if "split_tool_calls" in switches:
        messages = _anthropic_split_tool_calls(messages)
        if data.get("tools"):
            given = data.get("tool_choice")
            choice: dict = given if isinstance(given, dict) else {"type": "auto"}
            if choice.get("type") in ("auto", "any", "tool"):
                data["tool_choice"] = {**choice, "disable_parallel_tool_use": True}
    if "merge_turns" in switches:
        messages = _anthropic_merge_turns(messages)
    if "tool_ids" in switches:
        messages = _anthropic_tool_ids(messages)
    data["messages"] = messages
    return data


# ---- OpenAI responses: data["instructions"], data["input"] (items) --------------------------------

def _item_role(item: dict) -> str | None:
    if item.get("type", "message") == "message":
        return item.get("role")
    return None


def _responses_fold_system(data: dict, items: list, into_user: bool) -> list:
    head = 0
    while head < len(items) and _item_role(items[head]) in SYSTEM_ROLES:
        head += 1
    texts = [data["instructions"]] if isinstance(data.get("instructions"), str) and data["instructions"] else []
    texts += [t for t in (_text_of(i.get("content")) for i in items[:head]) if t]
    out = [{**i, "role": "user"} if _item_role(i) in SYSTEM_ROLES else i for i in items[head:]]
    system = JOIN.join(texts)
    data.pop("instructions", None)
    if into_user:
        if system:
            first = next((n for n, i in enumerate(out) if _item_role(i) == "user"), None)
            part = [{"type": "input_text", "text": system}]
            if first is None:
                out.insert(0, {"type": "message", "role": "user", "content": part})
            else:
                out[first] = {**out[first], "content": part + _as_parts(out[first].get("content"), "input_text")}
    elif system:
        data["instructions"] = system
    return out


def _responses_merge_turns(items: list) -> list:
    out: list = []
    for item in items:
        role = _item_role(item)
        previous = out[-1] if out else None
        if previous is not None and role is not None and role == _item_role(previous):
            kind = "output_text" if role == "assistant" else "input_text"
            out[-1] = {**previous, "content": _as_parts(previous.get("content"), kind)
                       + _as_parts(item.get("content"), kind)}
        elif previous is not None and role == "user" \
                and previous.get("type") in ("function_call_output", "custom_tool_call_output") \
                and isinstance(previous.get("output"), str):
            out[-1] = {**previous, "output": JOIN.join(t for t in (previous["output"], _text_of(item.get("content")))
                                                       if t)}
        else:
            out.append(item)
    return out


def _responses_tool_ids(items: list) -> list:
    return [{**i, "call_id": short_id(i["call_id"])} if "call_id" in i else i for i in items]


def _responses_split_tool_calls(items: list) -> list:
    calls = ("function_call", "custom_tool_call")
    outputs = ("function_call_output", "custom_tool_call_output")
    out: list = []
    i = 0
    while i < len(items):
        if items[i].get("type") not in calls:
            out.append(items[i])
            i += 1
            continue
        j = i
        while j < len(items) and items[j].get("type") in calls + ("reasoning",):
            j += 1
        k = j
        while k < len(items) and items[k].get("type") in outputs:
            k += 1
        group, results = items[i:j], items[j:k]
        used = set()
        for item in group:
            out.append(item)
            for n, result in enumerate(results):
                if n not in used and result.get("call_id") == item.get("call_id") and "call_id" in item:
                    out.append(result)
                    used.add(n)
        out.extend(r for n, r in enumerate(results) if n not in used)
        i = k
    return out


def adapt_responses(data: dict, switches: frozenset) -> dict:
    items = data.get("input")
    if isinstance(items, str) or not isinstance(items, list):
        if "fold_system" in switches or "system_into_user" in switches:
            items = [{"type": "message", "role": "user", "content": items}] if isinstance(items, str) else []
        else:
            return data
    items = [i for i in items if isinstance(i, dict)]
    if "system_into_user" in switches or "fold_system" in switches:
        items = _responses_fold_system(data, items, "system_into_user" in switches)
    if "split_tool_calls" in switches:
        items = _responses_split_tool_calls(items)
        if data.get("tools"):
            data["parallel_tool_calls"] = False
    if "merge_turns" in switches:
        items = _responses_merge_turns(items)
    if "tool_ids" in switches:
        items = _responses_tool_ids(items)
    data["input"] = items
    return data


# ---- the hook -----------------------------------------------------------------------------------

CALL_TYPES = {"acompletion": adapt_chat, "completion": adapt_chat, "anthropic_messages": adapt_anthropic,
              "aresponses": adapt_responses, "responses": adapt_responses}


def adapt(data: dict, call_type: str, switches) -> dict:
    """The request body adapted for these switches (in place; returned)."""
    switches = frozenset(s for s in switches or () if s in SWITCHES)
    adapter = CALL_TYPES.get(call_type)
    if not switches or adapter is None:
        return data
    return adapter(data, switches)


def _router_switches(model: str) -> frozenset:
    """The alias's switches, from the model_info of the deployments LiteLLM routes this name to."""
    try:
        from litellm.proxy.proxy_server import llm_router
    except ImportError:
        return frozenset()
    if llm_router is None:
        return frozenset()
    found: set = set()
    for deployment in llm_router.get_model_list(model_name=model) or ():
        info = deployment.get("model_info") or {}
        found.update(s for s in info.get(SETTING) or () if s in SWITCHES)
    return frozenset(found)


class LlmstackHook(CustomLogger):
    def __init__(self, lookup=None) -> None:
        super().__init__()
        self._lookup = lookup or _router_switches
        self._switches: dict[str, frozenset] = {}

    def switches_for(self, model: Any) -> frozenset:
        if not isinstance(model, str):
            return frozenset()
        known = self._switches.get(model)
        if known is None:
            known = self._switches[model] = self._lookup(model)
        return known

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        if not isinstance(data, dict):
            return data
        switches = self.switches_for(data.get("model"))
        if not switches:
            return data
        return adapt(data, call_type, switches)


proxy_handler_instance = LlmstackHook()
