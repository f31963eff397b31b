"""Benchmark probe, never rendered: put LiteLLM's router that serves POST /v1/messages first in the
route table, to measure what URL matching costs that route (benchmarks/PROFILE.md, "URL matching").

LiteLLM 1.108.7 (litellm/proxy/route_priority.py) means to match its hot paths first, /v1/messages
among them, but sorts only plain `Route`s; FastAPI 0.165 wraps every included router in one
`_IncludedRouter` entry, and the Anthropic endpoints are a lazy feature (litellm/proxy/_lazy_features.py)
spliced in after every eager route when the first /v1/messages request loads them. This wraps the
function that rebuilds the table then (`_route_table`) so that the entry holding /v1/messages goes
first. Loaded through PYTHONPATH by the `hoist` lever group of benchmarks/levers.py only."""

from __future__ import annotations

import sys


def _serves_messages(route) -> bool:
    router = getattr(route, "original_router", None)
    return router is not None and any(getattr(r, "path", None) == "/v1/messages" for r in router.routes)


def _install() -> None:
    try:
        from litellm.proxy import _lazy_features
    except ImportError:  # not a LiteLLM process (pip, py-spy...)
        return
    original = _lazy_features._route_table

    def route_table(*args, **kwargs):
        routes = original(*args, **kwargs)
        first = [i for i, r in enumerate(routes) if _serves_messages(r)]
        if first:
            print(f"[hoist probe] the router serving /v1/messages moved from entry {first[0]} of {len(routes)} "
                  "to the first", file=sys.stderr, flush=True)
        return [routes[i] for i in first] + [r for i, r in enumerate(routes) if i not in first]

    _lazy_features._route_table = route_table


_install()
