"""The one YAML loader of the package: models.yaml, the manifest, and every rendered file parsed
back. Safe (plain data only), libyaml's parser when the wheel has it, and a key written twice in
one mapping is refused (PyYAML would silently keep the last one), with its line.
"""

from __future__ import annotations

from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


class YamlProblem(ValueError):
    """Text that is not YAML, or a mapping with a key twice: `line` (1-based, when known) and `problem`."""

    def __init__(self, problem: str, line: int | None = None):
        super().__init__(f"line {line}: {problem}" if line else problem)
        self.problem = problem
        self.line = line


class _Loader(_Base):
    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: the base class says what is wrong with it
                    break
                if duplicate:
                    raise YamlProblem(f"the key {key!r} is written twice in one mapping; keep one",
                                      key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _problem(exc: yaml.YAMLError) -> YamlProblem:
    mark = getattr(exc, "problem_mark", None)
    return YamlProblem(getattr(exc, "problem", None) or "invalid YAML", mark.line + 1 if mark is not None else None)


def load(text: str) -> Any:
    """One document as plain data; YamlProblem when it is not YAML or repeats a key."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise _problem(exc) from None


def load_all(text: str) -> list[Any]:
    """Every non-empty document of a multi-document stream."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]  # noqa: S506
    except yaml.YAMLError as exc:
        raise _problem(exc) from None
