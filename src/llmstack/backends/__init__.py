"""Backend registry: every module in this package that defines `BACKEND` is a backend.

Adding a backend means adding one file here (and one golden example under compose/). Tests
may `register()` a toy backend of their own.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - importing base costs pydantic: not on `--help`
    from llmstack.backends.base import Backend

_extra: dict[str, Backend] = {}


def module_names() -> list[str]:
    """Backend names without importing them (for `--help`): a backend module is named as its backend."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if not info.name.startswith("_") and info.name != "base")


@lru_cache(maxsize=1)
def _discovered() -> dict[str, Backend]:
    from llmstack.backends.base import Backend

    found: dict[str, Backend] = {}
    for name in module_names():
        module = importlib.import_module(f"{__name__}.{name}")
        backend = getattr(module, "BACKEND", None)
        if isinstance(backend, Backend):
            found[backend.name] = backend
    return found


def registry() -> dict[str, Backend]:
    return {**_discovered(), **_extra}


def register(backend: Backend) -> None:
    """Add a backend that does not live in this package (tests, plugins)."""
    _extra[backend.name] = backend


def unregister(name: str) -> None:
    _extra.pop(name, None)


def get(name: str) -> Backend:
    return registry()[name]


def names() -> list[str]:
    return list(registry())


def for_format(fmt: str) -> Backend | None:
    """The backend `--backend auto` picks for a model format."""
    for backend in registry().values():
        if fmt in backend.auto_for:
            return backend
    return None
