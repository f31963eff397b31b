"""Render targets: sibling modules that each turn a StackSpec into the files of one directory (a
Compose directory, a kustomize directory). The registry says which exist; adding one is adding a
module and a row here. Light: resolution reads the names without importing any renderer."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    name: str
    module: str  # the module whose render(stack) -> {file name: text} writes it
    suffix: str  # of the default output directory: compose/<name><suffix>
    title: str


TARGETS: dict[str, Target] = {
    "compose": Target("compose", "llmstack.render", "", "a Compose directory"),
    "kubernetes": Target("kubernetes", "llmstack.kubernetes", "-k8s", "a kustomize directory"),
}
DEFAULT = "compose"


def get(name: str) -> Target:
    return TARGETS[name]


def renderer(name: str) -> Any:
    """The module rendering a target (imported on first use)."""
    return importlib.import_module(TARGETS[name].module)
