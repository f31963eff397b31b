"""Render targets: sibling modules that each turn a StackSpec into the files of one directory (a
Compose directory, a kustomize directory), never importing each other; what they render alike
lives in targets/common.py, the template machinery in targets/jinja.py. The registry says which
exist: a third target (Helm, Nomad, Quadlet) is one module and one row here.

Every target module provides:

    render(stack) -> {file name: text}     every file but `.env`, parsed back and checked
    summary(stack) -> StackSummary         what the manifest records for the runtime commands
    env_keys(stack) -> [str]               the secrets `.env` must hold beside it (none: no `.env`)
    next_steps(stack, directory) -> [str]  what to run after a render
    validate_with_tool(files)              the real tool's own check (`render --validate`)
    foreign_files(directory) -> [str]      files the tool would read beside ours (`render --check` fails on them)
    STDOUT_FILE                            the file `--stdout` prints (None: not printable, NO_STDOUT says why)
    ENV_READER                             who reads `.env`, for messages

Light: resolution reads the names without importing any renderer.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from llmstack.spec import StackSpec


@dataclass(frozen=True)
class Target:
    name: str
    module: str  # the module rendering it
    suffix: str  # of the default output directory: compose/<name><suffix>
    title: str


TARGETS: dict[str, Target] = {
    "compose": Target("compose", "llmstack.targets.compose", "", "a Compose directory"),
    "kubernetes": Target("kubernetes", "llmstack.targets.kubernetes", "-k8s", "a kustomize directory"),
}
DEFAULT = "compose"


def renderer(name: str) -> Any:
    """The module rendering a target (imported on first use)."""
    return importlib.import_module(TARGETS[name].module)


def render(stack: StackSpec) -> dict[str, str]:
    """All files of the stack's directory for its target, except `.env` (never rendered)."""
    return renderer(stack.target).render(stack)
