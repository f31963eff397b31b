"""llmstack's LiteLLM startup hook: Anthropic's /v1/messages is matched first among the gateway's routes.

Shipped in every rendered stack with a gateway (as `llmstack_startup.py`, mounted read-only) and run
by LiteLLM in each worker before it serves, through `LITELLM_WORKER_STARTUP_HOOKS=
llmstack_startup:messages_route_first` with the file's directory on `PYTHONPATH`
(litellm/proxy/proxy_server.py, 1.108.7).

Why: Starlette matches a request's path against the route table in order. LiteLLM means its busiest
paths, /v1/messages among them, to be matched first (litellm/proxy/route_priority.py,
`hot_routes_first`), but that sort moves single routes only, and FastAPI (0.165 in LiteLLM 1.108.7)
keeps each included router as one entry; LiteLLM also loads its Anthropic endpoints lazily on the
first /v1/messages request (litellm/proxy/_lazy_features.py) and puts them after every other
route: the last of 91 entries, about 600 routes. Matching them cost every /v1/messages request
several milliseconds of the gateway's CPU (benchmarks/PROFILE.md, "URL matching").

What it does: it wraps `_lazy_features._route_table`, the function LiteLLM rebuilds the table with
when a lazy feature loads, so that the entry holding POST /v1/messages goes first; and it does the
same at once if that entry is already there. It moves that entry only when its routes are plain
paths that no entry ahead of it serves (so every request still reaches the endpoint it reached
before), and it changes nothing else. On a LiteLLM without these internals it logs one line
and leaves the table as it is: the gateway works as before, only slower on /v1/messages.
"""

from __future__ import annotations

import sys

MESSAGES = "/v1/messages"


def _say(line: str) -> None:
    """One line on the gateway's log (stderr), whatever LiteLLM's log level."""
    print(f"llmstack: {line}", file=sys.stderr, flush=True)


def _paths(entry: object) -> list[str] | None:
    """The paths of an included router's routes, or None when it is not one."""
    router = getattr(entry, "original_router", None)
    routes = getattr(router, "routes", None)
    if routes is None:
        return None
    return [str(getattr(route, "path", "")) for route in routes]


def _serves_messages(entry: object) -> bool:
    return MESSAGES in (_paths(entry) or [])


def _matched_ahead(entries: list, index: int) -> bool:
    """Whether an entry ahead of `index` fully matches a POST to one of its paths (moving it first
    would then change which endpoint serves that path)."""
    for path in _paths(entries[index]) or []:
        scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": [],
                 "query_string": b""}
        for entry in entries[:index]:
            try:
                match, _ = entry.matches(dict(scope))
            except Exception:  # an entry that cannot judge this scope: stay on the safe side
                return True
            if getattr(match, "name", None) == "FULL":  # starlette.routing.Match.FULL
                return True
    return False


def messages_first(entries: list) -> list:
    """The route table with the entry serving /v1/messages first, when that is safe; else as is."""
    found = [i for i, entry in enumerate(entries) if _serves_messages(entry)]
    if len(found) != 1 or found[0] == 0:
        return entries
    index = found[0]
    paths = _paths(entries[index]) or []
    if any("{" in path for path in paths) or _matched_ahead(entries, index):
        _say(f"{MESSAGES} stays at entry {index} of the route table (another route serves its paths)")
        return entries
    _say(f"{MESSAGES} matched first (was entry {index} of {len(entries)} in the route table)")
    return [entries[index], *entries[:index], *entries[index + 1:]]


def messages_route_first() -> None:
    """LiteLLM's worker startup hook (see the module's docstring)."""
    try:
        from litellm.proxy import _lazy_features
        from litellm.proxy.proxy_server import app

        rebuild = _lazy_features._route_table
    except (ImportError, AttributeError) as exc:
        _say(f"this LiteLLM has no lazy route table ({exc}); {MESSAGES} keeps its place")
        return

    def route_table(*args, **kwargs):
        return messages_first(rebuild(*args, **kwargs))

    _lazy_features._route_table = route_table
    app.router.routes[:] = messages_first(list(app.router.routes))
