"""Reading names out of an engine's Python source without importing it (ast only; maintainer side)."""

from __future__ import annotations

import ast
from collections.abc import Iterable


def parse(text: str, name: str) -> ast.Module:
    return ast.parse(text, filename=name)


def option_strings(tree: ast.AST) -> tuple[set[str], list[int]]:
    """Every `-x`/`--x` string literal passed to an `add_argument(...)` call.

    Returns the options and the line numbers of calls whose option names are not all literals
    (the caller decides whether it understands those).
    """
    found: set[str] = set()
    dynamic: list[int] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            continue
        literal = True
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if arg.value.startswith("-"):
                    found.add(arg.value)
            else:
                literal = False
        if not literal:
            dynamic.append(node.lineno)
    return found, dynamic


def assigned(tree: ast.AST, name: str) -> ast.expr | None:
    """The value assigned to `name` (module level, class level or `self.name`), first match."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (isinstance(target, ast.Name) and target.id == name) or (
                        isinstance(target, ast.Attribute) and target.attr == name):
                    return node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
            if (isinstance(target, ast.Name) and target.id == name) or (
                    isinstance(target, ast.Attribute) and target.attr == name):
                return node.value
    return None


def dict_keys(value: ast.expr | None) -> list[str]:
    """String keys of a dict literal (others are skipped)."""
    if not isinstance(value, ast.Dict):
        return []
    return [k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]


def str_list(value: ast.expr | None) -> list[str]:
    if not isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return []
    return [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def classes(tree: ast.AST) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}


def field_names(cls: ast.ClassDef) -> list[str]:
    """Annotated class-level fields (a dataclass's fields), private ones left out."""
    out = []
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            if not name.startswith("_") and not _is_classvar(stmt.annotation):
                out.append(name)
    return out


def _is_classvar(annotation: ast.expr) -> bool:
    text = ast.unparse(annotation)
    return text.startswith("ClassVar") or text.startswith("typing.ClassVar")


def field_annotation(cls: ast.ClassDef, name: str) -> ast.expr | None:
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
            return stmt.annotation
    return None


def literal_values(annotation: ast.expr | None) -> list[str]:
    """The strings of every `Literal[...]` inside an annotation."""
    out: list[str] = []
    if annotation is None:
        return out
    for node in ast.walk(annotation):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Literal"):
            inner = node.slice
            elts: Iterable[ast.expr] = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            out.extend(e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return out


def calls_named(tree: ast.AST, attr: str) -> list[ast.Call]:
    """Calls `x.attr(...)` or `attr(...)`."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == attr) or (
                    isinstance(func, ast.Name) and func.id == attr):
                out.append(node)
    return out


def first_str_arg(call: ast.Call, keyword: str | None = None) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for kw in call.keywords:
        if kw.arg == keyword and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return None


def decorator_names(tree: ast.AST, attr: str) -> set[str]:
    """Names given to `@X.attr("a")` / `@X.attr(["a", "b"])` / `@X.attr(name="a")` decorators."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == attr:
                values = list(deco.args) + [kw.value for kw in deco.keywords if kw.arg in ("name", "name_or_names")]
                for value in values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        out.add(value.value)
                    else:
                        out.update(str_list(value))
    return out


def same_value_groups(value: ast.expr | None) -> list[list[str]]:
    """Keys of a dict literal that map to the same value (written the same way), groups of 2+."""
    groups: dict[str, list[str]] = {}
    if isinstance(value, ast.Dict):
        for key, val in zip(value.keys, value.values, strict=False):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                groups.setdefault(ast.unparse(val), []).append(key.value)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)
