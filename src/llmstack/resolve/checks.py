"""Checks of single values every stage shares: ports, image references and tags, names."""

from __future__ import annotations

import re
from typing import Any

from llmstack import imageref
from llmstack.errors import InputError
from llmstack.provenance import Sourced


def slugify(text: str) -> str:
    """A compose-safe name: lowercase letters, digits, `-` and `_`."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return re.sub(r"-{2,}", "-", slug) or "model"


def port(value: Sourced[Any]) -> int:
    if not isinstance(value.value, int) or not 1 <= value.value <= 65535:
        raise InputError(f"{value.label()}: a port must be between 1 and 65535")
    return value.value


def image(reference: Sourced[str]) -> str:
    problem = imageref.problem(reference.value)
    if problem:
        raise InputError(f"{reference.label(repr(reference.value))}: {problem}; e.g. registry.example.com/org/name:tag")
    return reference.value


def tag(value: Sourced[Any]) -> None:
    problem = imageref.tag_problem(str(value.value))
    if problem:
        raise InputError(f"{value.label(repr(value.value))}: {problem}")


# Pods behind one Service, gateway worker processes: far above any real deployment, and each count
# stays a small number in the rendered files (Kubernetes takes a 32-bit replica count).
MAX_REPLICAS = 1000
MAX_WORKERS = 1024
MAX_CPU_SHARES = 262144  # Docker's largest cpu_shares (the kernel's largest cgroup v1 cpu.shares)


def cpu_shares(value: Sourced[Any] | None) -> int | None:
    """A container's CPU weight: None for 0 or unset (Docker's default), else 2..MAX_CPU_SHARES."""
    if value is None or value.value == 0:
        return None
    if not isinstance(value.value, int) or isinstance(value.value, bool) or not 2 <= value.value <= MAX_CPU_SHARES:
        raise InputError(f"{value.label()}: must be 2 to {MAX_CPU_SHARES}, or 0 for Docker's default weight")
    return value.value


def at_least_one(value: Sourced[Any] | None, most: int = MAX_REPLICAS) -> int:
    if value is None:
        return 1
    if not isinstance(value.value, int) or isinstance(value.value, bool) or value.value < 1:
        raise InputError(f"{value.label()}: must be 1 or more")
    if value.value > most:
        raise InputError(f"{value.label()}: at most {most}")
    return value.value
