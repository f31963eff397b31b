"""The gateway hook (src/llmstack/gateway_hook.py), imported directly and fed request bodies: each
switch on each of the three formats, the per-alias lookup, and the recorded Claude Code and Codex
requests through a strict template before and after it."""

from __future__ import annotations

import asyncio
import copy
import json
import re

import pytest

from llmstack import chat_template as ct
from llmstack import gateway_hook as hook
from tests.agent_fixtures import anthropic_to_chat, chat_tools, conversations, forwarded, responses_to_chat

BILLING = "x-anthropic-billing-header: cc_version=2.1.332.1c9; cc_entrypoint=sdk-cli;"


def adapt(data, call_type, *switches):
    return hook.adapt(copy.deepcopy(data), call_type, switches)


# ---- chat completions ----------------------------------------------------------------------------

def test_chat_billing_line_is_dropped_from_system_prompts_only():
    data = {"messages": [
        {"role": "system", "content": [{"type": "text", "text": BILLING}, {"type": "text", "text": "You are Claude."}]},
        {"role": "system", "content": BILLING + "\nKeep this."},
        {"role": "user", "content": BILLING}]}
    out = adapt(data, "acompletion", "strip_billing_header")["messages"]
    assert out[0]["content"] == [{"type": "text", "text": "You are Claude."}]
    assert out[1]["content"] == "Keep this."
    assert out[2]["content"] == BILLING  # a user's text is theirs
    only = adapt({"messages": [{"role": "system", "content": BILLING}, {"role": "user", "content": "hi"}]},
                 "acompletion", "strip_billing_header")
    assert only["messages"] == [{"role": "user", "content": "hi"}]


def test_chat_fold_system_keeps_the_history_and_moves_nothing_forward():
    data = {"messages": [{"role": "system", "content": "A"}, {"role": "developer", "content": "B"},
                         {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                         {"role": "system", "content": "Plan mode."}, {"role": "user", "content": "go"}]}
    out = adapt(data, "acompletion", "fold_system")["messages"]
    assert out == [{"role": "system", "content": "A\n\nB"}, {"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "yo"}, {"role": "user", "content": "Plan mode."},
                   {"role": "user", "content": "go"}]
    merged = adapt(data, "acompletion", "fold_system", "merge_turns")["messages"]
    assert merged[-1] == {"role": "user", "content": "Plan mode.\n\ngo"}


def test_chat_system_into_user():
    data = {"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    out = adapt(data, "acompletion", "system_into_user", "fold_system")["messages"]
    assert out == [{"role": "user", "content": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "hi"}]}]


def test_chat_merge_turns():
    call = {"id": "a", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    data = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                         {"role": "assistant", "content": "c"}, {"role": "assistant", "content": None,
                                                                 "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": "a", "content": "out"},
                         {"role": "user", "content": "<system-reminder>x</system-reminder>"}]}
    out = adapt(data, "acompletion", "merge_turns")["messages"]
    assert out == [{"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c", "tool_calls": [call]},
                   {"role": "tool", "tool_call_id": "a", "content": "out\n\n<system-reminder>x</system-reminder>"}]


def test_tool_ids_are_nine_letters_and_digits_and_stable():
    assert hook.short_id("a1B2c3D4e") == "a1B2c3D4e"
    first = hook.short_id("toolu_01A09q90qw90lq917835lq9")
    assert re.fullmatch(r"[A-Za-z0-9]{9}", first) and first == hook.short_id("toolu_01A09q90qw90lq917835lq9")
    assert hook.short_id("call_1") != first
    data = {"messages": [{"role": "assistant", "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9",
                                                               "function": {"name": "Bash"}}]},
                         {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "x"}]}
    out = adapt(data, "acompletion", "tool_ids")["messages"]
    assert out[0]["tool_calls"][0]["id"] == out[1]["tool_call_id"] == first


def test_chat_split_tool_calls():
    calls = [{"id": f"c{i}", "type": "function", "function": {"name": "Bash", "arguments": "{}"}} for i in (1, 2)]
    data = {"tools": [{"type": "function"}], "messages": [
        {"role": "user", "content": "go"}, {"role": "assistant", "content": "Two.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "one"}, {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "user", "content": "ok"}]}
    out = adapt(data, "acompletion", "split_tool_calls")
    assert out["parallel_tool_calls"] is False
    assert [(m["role"], m.get("content")) for m in out["messages"]] == [
        ("user", "go"), ("assistant", "Two."), ("tool", "one"), ("assistant", ""), ("tool", "two"), ("user", "ok")]
    assert [m["tool_calls"][0]["id"] for m in out["messages"] if m.get("tool_calls")] == ["c1", "c2"]


# ---- Anthropic messages --------------------------------------------------------------------------

def claude_request() -> dict:
    return {"model": "claude-opus-5-5", "tools": [{"name": "Bash"}],
            "system": [{"type": "text", "text": BILLING}, {"type": "text", "text": "You are Claude.",
                                                            "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                         {"role": "system", "content": "# Environment"},
                         {"role": "assistant", "content": [
                             {"type": "thinking", "thinking": "t", "signature": "s"},
                             {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                             {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "pwd"}}]},
                         {"role": "user", "content": [
                             {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a"},
                             {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text",
                                                                                           "text": "b"}]},
                             {"type": "text", "text": "<system-reminder>r</system-reminder>"}]}]}


def test_anthropic_billing_and_system_messages():
    out = adapt(claude_request(), "anthropic_messages", "strip_billing_header", "fold_system")
    assert out["system"] == [{"type": "text", "text": "You are Claude.", "cache_control": {"type": "ephemeral"}}]
    assert [m["role"] for m in out["messages"]] == ["user", "user", "assistant", "user"]
    assert out["messages"][1]["content"] == "# Environment"


def test_anthropic_leading_system_message_joins_the_system_prompt():
    data = {"system": "A", "messages": [{"role": "system", "content": "B"}, {"role": "user", "content": "hi"}]}
    out = adapt(data, "anthropic_messages", "fold_system")
    assert out["system"] == [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    into = adapt(data, "anthropic_messages", "system_into_user")
    assert "system" not in into and into["messages"][0]["content"][0]["text"] == "A"


def test_anthropic_merge_turns_puts_text_after_tool_results_into_the_last_result():
    out = adapt(claude_request(), "anthropic_messages", "fold_system", "merge_turns")
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    results = out["messages"][-1]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result"]
    assert results[-1]["content"] == [{"type": "text", "text": "b"},
                                      {"type": "text", "text": "<system-reminder>r</system-reminder>"}]


def test_anthropic_tool_ids_and_split():
    out = adapt(claude_request(), "anthropic_messages", "split_tool_calls", "tool_ids")
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    kinds = [(m["role"], [b["type"] for b in m["content"]]) for m in out["messages"][2:]]
    assert kinds == [("assistant", ["thinking", "tool_use"]), ("user", ["tool_result"]),
                     ("assistant", ["tool_use"]), ("user", ["tool_result", "text"])]
    uses = [b["id"] for m in out["messages"] for b in m["content"] if isinstance(b, dict) and b["type"] == "tool_use"]
    results = [b["tool_use_id"] for m in out["messages"] if isinstance(m["content"], list) for b in m["content"]
               if b["type"] == "tool_result"]
    assert uses == results == [hook.short_id("toolu_1"), hook.short_id("toolu_2")]


# ---- Responses ---------------------------------------------------------------------------------

def codex_request() -> dict:
    return {"model": "local-model", "tools": [{"type": "function", "name": "exec_command"}], "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<env/>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "function_call", "call_id": "call_a", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_b", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_a", "output": "A"},
        {"type": "function_call_output", "call_id": "call_b", "output": "B"},
        {"role": "developer", "content": "Mode changed."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]}


def test_responses_fold_and_merge():
    out = adapt(codex_request(), "aresponses", "fold_system", "merge_turns")
    assert out["instructions"] == "You are Codex.\n\nSandbox."
    kinds = [(i.get("type", "message"), i.get("role")) for i in out["input"]]
    assert kinds == [("message", "user"), ("function_call", None), ("function_call", None),
                     ("function_call_output", None), ("function_call_output", None)]
    assert [p["text"] for p in out["input"][0]["content"]] == ["<env/>", "hi"]
    assert out["input"][-1]["output"] == "B\n\nMode changed.\n\ngo"  # the user's turn after the results


def test_responses_system_into_user_split_and_ids():
    out = adapt(codex_request(), "aresponses", "system_into_user", "split_tool_calls", "tool_ids")
    assert "instructions" not in out and out["parallel_tool_calls"] is False
    assert out["input"][0]["content"][0]["text"] == "You are Codex.\n\nSandbox."
    calls = [(i["type"], i["call_id"]) for i in out["input"] if "call_id" in i]
    a, b = hook.short_id("call_a"), hook.short_id("call_b")
    assert calls == [("function_call", a), ("function_call_output", a), ("function_call", b),
                     ("function_call_output", b)]


# ---- the hook object ----------------------------------------------------------------------------

def test_the_hook_looks_each_model_up_once_and_leaves_other_aliases_alone():
    asked = []

    def lookup(model):
        asked.append(model)
        return frozenset({"fold_system"}) if model == "strict" else frozenset()

    instance = hook.LlmstackHook(lookup)
    data = {"model": "easy", "messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}
    before = copy.deepcopy(data)
    for _ in range(3):
        assert asyncio.run(instance.async_pre_call_hook(None, None, data, "acompletion")) is data
    assert data == before and asked == ["easy"]
    strict = {**copy.deepcopy(before), "model": "strict"}
    out = asyncio.run(instance.async_pre_call_hook(None, None, strict, "acompletion"))
    assert [m["role"] for m in out["messages"]] == ["user", "user"]
    untouched = {**copy.deepcopy(before), "model": "strict"}
    assert asyncio.run(instance.async_pre_call_hook(None, None, untouched, "aembedding")) == untouched
    assert hook.proxy_handler_instance is not None and "async_pre_call_hook" in vars(hook.LlmstackHook)


def test_unknown_switches_are_ignored():
    data = {"messages": [{"role": "user", "content": "a"}]}
    assert hook.adapt(copy.deepcopy(data), "acompletion", ["no_such_switch"]) == data


# ---- the recorded requests through a strict template ---------------------------------------------

STRICT = """\
{%- for message in messages %}
{%- if message.role == 'system' and not loop.first %}{{ raise_exception('System message must be at the beginning.') }}{% endif %}
{%- if message.role == 'developer' %}{{ raise_exception('Unexpected message role.') }}{% endif %}
{%- if loop.index0 > 0 and message.role in ('user', 'assistant') and message.role == messages[loop.index0 - 1].role %}{{ raise_exception('Roles must alternate.') }}{% endif %}
{%- if message.role == 'user' and loop.index0 > 0 and messages[loop.index0 - 1].role == 'tool' %}{{ raise_exception('A user turn after a tool result.') }}{% endif %}
{%- for call in message.tool_calls or [] %}{% if call.id | length != 9 %}{{ raise_exception('Tool call IDs should be alphanumeric strings with length 9!') }}{% endif %}{% endfor %}
<|{{ message.role }}|>{{ message.content }}
{%- endfor %}"""

SWITCHES = ("strip_billing_header", "fold_system", "merge_turns", "tool_ids", "split_tool_calls")


def _recorded():
    for client, call_type, convert in (("claude-code", "anthropic_messages", anthropic_to_chat),
                                       ("codex", "aresponses", responses_to_chat)):
        for name, requests in conversations(client).items():
            for n, request in enumerate(requests):
                yield f"{client}/{name}#{n}", call_type, request["body"], convert
    for name, replies in forwarded().items():
        for n, reply in enumerate(replies):
            if reply.get("forwarded"):
                yield f"forwarded/{name}#{n}", "acompletion", reply["forwarded"], lambda b: b["messages"]


@pytest.mark.parametrize("ident, call_type, body, convert", list(_recorded()), ids=lambda v: v if isinstance(v, str)
                         and "/" in v else "")
def test_recorded_requests_pass_a_strict_template_after_the_hook(ident, call_type, body, convert):
    adapted = hook.adapt(copy.deepcopy(body), call_type, SWITCHES)
    ct.render(STRICT, convert(adapted), tools=chat_tools(adapted))
    assert "x-anthropic-billing-header" not in json.dumps(adapted.get("system", ""))


def test_recorded_claude_code_requests_are_refused_by_the_strict_template_without_it():
    body = conversations("claude-code")["plan_continue"][-1]["body"]
    with pytest.raises(Exception, match="System message must be at the beginning"):
        ct.render(STRICT, anthropic_to_chat(body))
    codex = conversations("codex")["plain"][-1]["body"]
    with pytest.raises(Exception, match="Unexpected message role"):
        ct.render(STRICT, responses_to_chat(codex))
