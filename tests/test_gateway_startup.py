"""llmstack's LiteLLM startup hook (llmstack/gateway_startup.py) on stand-in route tables; the real
LiteLLM runs it in tests/e2e/test_stack.py and benchmarks/PROFILE.md ("URL matching") measures it."""

from __future__ import annotations

import enum
import sys
import types

from llmstack import gateway_startup
from llmstack.gateway_startup import messages_first


class Match(enum.IntEnum):  # starlette.routing.Match
    NONE = 0
    PARTIAL = 1
    FULL = 2


class Entry:
    """An included router (FastAPI's _IncludedRouter): its routes' paths; POSTs to `serves` match fully."""

    def __init__(self, name: str, paths: list[str], serves: tuple[str, ...] = ()):
        self.name = name
        self.original_router = types.SimpleNamespace(routes=[types.SimpleNamespace(path=p) for p in paths])
        self.serves = serves or tuple(paths)

    def matches(self, scope: dict) -> tuple[Match, dict]:
        return (Match.FULL if scope["path"] in self.serves else Match.NONE), {}

    def __repr__(self) -> str:
        return self.name


CHAT = Entry("chat", ["/v1/chat/completions", "/chat/completions"])
ADMIN = Entry("admin", ["/key/generate", "/user/new"])
ANTHROPIC = Entry("anthropic", ["/v1/messages", "/v1/messages/count_tokens", "/api/event_logging/batch"])


def test_the_entry_serving_v1_messages_goes_first_and_nothing_else_moves(capsys):
    plain = types.SimpleNamespace(path="/health/liveliness",  # a route of its own, not a router
                                  matches=lambda scope: (Match.NONE, {}))
    assert messages_first([plain, CHAT, ADMIN, ANTHROPIC]) == [ANTHROPIC, plain, CHAT, ADMIN]
    assert "llmstack: /v1/messages matched first (was entry 3 of 4 in the route table)" in capsys.readouterr().err


def test_the_table_is_left_alone_when_moving_would_change_who_serves_a_path(capsys):
    shadow = Entry("shadow", ["/v1/{anything:path}"], serves=("/v1/messages/count_tokens",))
    assert messages_first([CHAT, shadow, ANTHROPIC]) == [CHAT, shadow, ANTHROPIC]
    assert "stays at entry 2" in capsys.readouterr().err
    templated = Entry("templated", ["/v1/messages", "/v1/messages/{id}"])
    assert messages_first([CHAT, templated]) == [CHAT, templated]


def test_nothing_to_do_when_already_first_absent_or_ambiguous(capsys):
    assert messages_first([ANTHROPIC, CHAT]) == [ANTHROPIC, CHAT]
    assert messages_first([CHAT, ADMIN]) == [CHAT, ADMIN]
    twice = Entry("twice", ["/v1/messages"])
    assert messages_first([CHAT, ANTHROPIC, twice]) == [CHAT, ANTHROPIC, twice]
    assert capsys.readouterr().err == ""


def test_an_entry_that_cannot_judge_a_path_keeps_the_table_as_it_is():
    class Broken(Entry):
        def matches(self, scope):
            raise KeyError("app")

    broken = Broken("broken", ["/other"])
    assert messages_first([broken, ANTHROPIC]) == [broken, ANTHROPIC]


def test_the_hook_wraps_the_rebuild_and_orders_the_table_already_there(monkeypatch, capsys):
    table = [CHAT, ADMIN, ANTHROPIC]
    app = types.SimpleNamespace(router=types.SimpleNamespace(routes=list(table)))
    lazy = types.ModuleType("litellm.proxy._lazy_features")
    lazy._route_table = lambda app_, routes, *rest: list(routes)  # LiteLLM's rebuild after a lazy load
    proxy = types.ModuleType("litellm.proxy")
    proxy._lazy_features = lazy
    server = types.ModuleType("litellm.proxy.proxy_server")
    server.app = app
    monkeypatch.setitem(sys.modules, "litellm", types.ModuleType("litellm"))
    monkeypatch.setitem(sys.modules, "litellm.proxy", proxy)
    monkeypatch.setitem(sys.modules, "litellm.proxy._lazy_features", lazy)
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", server)

    gateway_startup.messages_route_first()
    assert app.router.routes == [ANTHROPIC, CHAT, ADMIN]
    assert lazy._route_table(app, [CHAT, ANTHROPIC, ADMIN]) == [ANTHROPIC, CHAT, ADMIN]
    assert capsys.readouterr().err.count("matched first") == 2


def test_a_litellm_without_the_internals_keeps_working(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "litellm", None)  # import litellm.proxy fails
    gateway_startup.messages_route_first()
    assert "keeps its place" in capsys.readouterr().err
