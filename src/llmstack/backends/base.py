"""The small interface every serving backend implements.

A backend module describes one inference server image: how its image tag is formed, which
command starts it, which port it listens on, how its health is probed (with a program that the
image really ships), what it calls the served model, and which features it offers. Everything
here is pure: no I/O, no Docker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    from llmstack.model import ModelSpec


class BackendArgs(BaseModel):
    """Backend tuning values from `defaults.backends.<name>.args` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")

    max_model_len: int | None = None


@dataclass(frozen=True)
class Features:
    chat: bool = True
    streaming: bool = True
    tools: str = "yes"  # "yes" | "partial" | "limited" | "no"
    vision: str = "yes"


@dataclass(frozen=True)
class FamilyRule:
    """A model-name pattern and the tool-call parser it implies."""

    pattern: str
    parser: str

    def matches(self, name: str) -> bool:
        return re.search(self.pattern, name, re.IGNORECASE) is not None


class Backend:
    name: ClassVar[str]
    title: ClassVar[str]
    default_port: ClassVar[int]
    args_model: ClassVar[type[BackendArgs]] = BackendArgs
    accepts_gguf: ClassVar[bool] = False
    features: ClassVar[Features] = Features()
    # Valid values for --tool-parser; empty means the backend has no such switch.
    tool_parsers: ClassVar[frozenset[str]] = frozenset()
    # Model families whose tool-call parser is known (first match wins).
    family_rules: ClassVar[tuple[FamilyRule, ...]] = ()
    # NCCL / pinned memory needs of multi-GPU serving.
    ipc_host: ClassVar[bool] = False
    ulimits: ClassVar[bool] = False
    # Health probe period once started. Short, because engines older than 25 ignore
    # start_interval and then only `interval` decides how soon readiness is noticed.
    health_interval: ClassVar[str] = "2s"
    # Model names that suggest a vision-language model.
    vision_pattern: ClassVar[str] = (
        r"(?:[-_.]vl\b|[-_]vl[-_]|vision|llava|pixtral|internvl|glm-?4(?:\.\d)?v|minicpm-?v|gemma-?3|idefics|molmo|smolvlm|phi-?[34](?:\.\d)?-vision)"
    )

    # ---- images -------------------------------------------------------------------------
    def image(self, repository: str, version: str, gpu: bool) -> str:
        """Full image reference for a pinned version."""
        return f"{repository}:{version}"

    # ---- the served model ---------------------------------------------------------------
    def served_name(self, model: ModelSpec) -> str:
        return model.served_name

    def tool_parser_for(self, model_name: str) -> str | None:
        for rule in self.family_rules:
            if rule.matches(model_name):
                return rule.parser
        return None

    def looks_like_vision(self, model_name: str) -> bool:
        return re.search(self.vision_pattern, model_name, re.IGNORECASE) is not None

    # ---- the container ------------------------------------------------------------------
    def command(self, model: ModelSpec, host: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def healthcheck(self, host: str, port: int) -> list[str]:
        """Probe /health with curl (present in the vLLM, SGLang and llama.cpp images)."""
        return ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://{host}:{port}/health"]

    def environment(self, model: ModelSpec) -> dict[str, str]:
        return {}


def python_healthcheck(host: str, port: int, path: str = "/health") -> list[str]:
    """A probe for images that ship python3 but not curl."""
    return [
        "CMD",
        "python3",
        "-c",
        f"import urllib.request; urllib.request.urlopen('http://{host}:{port}{path}', timeout=4)",
    ]
