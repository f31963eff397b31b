"""Readers shared by the engines: HTTP routes, the Anthropic schema's shapes, CUDA -> driver."""

from __future__ import annotations

import ast
from typing import Any

from llmstack.catalog import static
from llmstack.catalog.release import Archive

# The routes the catalogue records (others exist; these are the ones llmstack decides on).
ROUTES = ("/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens", "/v1/responses", "/health")
_ROUTE_METHODS = {"post", "get", "api_route", "add_api_route", "route"}

# The NVIDIA driver a CUDA major version needs (BACKENDS.md: "CUDA 13 images (host driver >= 580)",
# from NVIDIA's CUDA 13.0 release notes). 12.x is left open: its minimum depends on the update and on
# minor-version compatibility, which the catalogue does not judge.
_MIN_DRIVER = {"13": "580"}


def min_driver(cuda: str | None) -> str | None:
    if not cuda:
        return None
    return _MIN_DRIVER.get(cuda.split(".", 1)[0])


def routes(archive: Archive, prefix: str) -> dict[str, str]:
    """Route path -> the file that registers it with a literal path."""
    found: dict[str, list[str]] = {}
    for path in archive.glob(prefix, ".py"):
        if "/tests/" in path or path.rsplit("/", 1)[-1].startswith("test_"):
            continue
        text = archive.read(path)
        if not any(r in text for r in ROUTES):
            continue
        try:
            tree = static.parse(text, path)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _ROUTE_METHODS):
                continue
            first = static.first_str_arg(node, "path")
            if first in ROUTES and path not in found.setdefault(first, []):
                found[first].append(path)
    # A route registered in several files: name the file that serves most of these routes (the server).
    weight = {p: sum(p in files for files in found.values()) for files in found.values() for p in files}
    return {route: min(files, key=lambda p: (-weight[p], p)) for route, files in sorted(found.items())}


def anthropic_evidence(tree: ast.Module, path: str) -> dict[str, Any]:
    """Whether the Messages schema takes Claude Code's shapes: `role: system` inside `messages`
    and thinking blocks in the history (Claude Code sends both; a schema without them answers 400).

    Read from `AnthropicMessage`: the Literal of its `role`, and the `type` Literals of every block
    class its `content` annotation names (through module-level aliases such as a Union).
    """
    classes = static.classes(tree)
    message = classes.get("AnthropicMessage")
    if message is None:
        raise LookupError(f"{path}: no AnthropicMessage class")
    roles = static.literal_values(static.field_annotation(message, "role"))
    blocks = sorted(_block_types(tree, classes, static.field_annotation(message, "content")))
    return {
        "claude_code": "system" in roles and "thinking" in blocks,
        "evidence": {
            "message_roles": sorted(set(roles)),
            "content_block_types": blocks,
            "source": f"{path}: AnthropicMessage.role and the block types its content takes",
        },
    }


def _block_types(tree: ast.Module, classes: dict[str, ast.ClassDef], annotation: ast.expr | None) -> set[str]:
    aliases = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign)
               for t in n.targets if isinstance(t, ast.Name)}
    seen: set[str] = set()
    out: set[str] = set()
    todo = [annotation] if annotation is not None else []
    while todo:
        node = todo.pop()
        for sub in ast.walk(node):
            name = sub.id if isinstance(sub, ast.Name) else (
                sub.value if isinstance(sub, ast.Constant) and isinstance(sub.value, str) else None)
            if name is None or name in seen:
                continue
            seen.add(name)
            if name in classes:
                out.update(static.literal_values(static.field_annotation(classes[name], "type")))
            elif name in aliases:
                todo.append(aliases[name])
    return out
