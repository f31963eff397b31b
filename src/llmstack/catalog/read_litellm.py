"""LiteLLM proxy (the gateway): its CLI options read from the released sdist; the image tag scheme
from extracts/schemes.json (the sdist carries no release tooling)."""

from __future__ import annotations

import ast
from typing import Any

from llmstack.catalog import static
from llmstack.catalog.release import Archive
from llmstack.catalog.schemes import images_from_scheme

CLI = "litellm/proxy/proxy_cli.py"


def read(archive: Archive, version: str) -> dict[str, Any]:
    tree = static.parse(archive.read(CLI), CLI)
    names: set[str] = set()
    for call in static.calls_named(tree, "option"):
        names.update(a.value for a in call.args
                     if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-"))
    if not names:
        raise LookupError(f"{CLI}: no click options found")
    return {
        "images": images_from_scheme("litellm", version),
        "flags": {"names": sorted(names), "source": CLI + " (@click.option)"},
        "tool_parsers": None,
        "reasoning_parsers": None,
        "endpoints": {},
        "recipes": [],
        "notes": [],
    }
