"""Backend registry: every module in this package that defines `BACKEND` is a backend.

Adding a backend means adding one file here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from llmstack.backends.base import Backend


@lru_cache(maxsize=1)
def registry() -> dict[str, Backend]:
    found: dict[str, Backend] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        backend = getattr(module, "BACKEND", None)
        if isinstance(backend, Backend):
            found[backend.name] = backend
    return found


def get(name: str) -> Backend:
    return registry()[name]


def names() -> list[str]:
    return list(registry())
