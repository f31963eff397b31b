"""What a model's stages pass along (Draft), what every model shares (Context), and the stage
both a model the stack runs and one served elsewhere go through: the Anthropic route."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmstack.backends.base import Backend, EngineFacts, ImageChoice
from llmstack.errors import InputError
from llmstack.manifest import RecordedModel
from llmstack.provenance import Layers, Sourced
from llmstack.sources import ModelSource
from llmstack.spec import GpuSpec, Mount


@dataclass
class Draft:
    """One model on its way to a ModelSpec: what the stages decided so far, and why."""

    index: int
    single: bool
    lookup: Layers
    source: ModelSource
    backend: Backend
    engine: EngineFacts
    origins: dict[str, str]
    args: dict[str, Any] = field(default_factory=dict)
    alias: str = ""
    gpus: GpuSpec = field(default_factory=lambda: GpuSpec(kind="all"))
    gpus_given: Sourced[Any] | None = None
    tensor_parallel: int | None = None
    max_model_len: int | None = None
    tool_parser: str | None = None
    reasoning_parser: str | None = None
    service: str = ""
    mounts: tuple[Mount, ...] = ()
    model_arg: str = ""
    mmproj_arg: str | None = None
    vision: tuple[bool, str] = (False, "")
    image: str = ""
    image_choice: ImageChoice | None = None  # a catalogued release's image (None: an image given as is)
    switches: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """What every model's stages share: where the stack is written, whether it has a gateway, what
    an earlier render recorded of its models, and the environment (the Hugging Face cache)."""

    output_dir: Path
    gateway_on: bool
    recorded: Mapping[str, RecordedModel]
    env: Mapping[str, str]
    notices: list[str]
    cluster: bool = False  # a Kubernetes render: this host's GPUs and driver say nothing about the nodes


def anthropic_route(draft: Draft) -> bool:
    """True when the gateway hands Anthropic /v1/messages requests to the backend untranslated; the
    version decides whether it serves them (unknown for an image given as is)."""
    asked, engine, backend = draft.lookup.get("anthropic_route"), draft.engine, draft.backend
    what = f"{backend.title} {engine.version}" if engine.version else backend.title
    if asked is None:
        if engine.serves_messages is False:
            draft.origins["anthropic_route"] = f"{what} has no /v1/messages; it came in {engine.messages_since}"
        else:
            draft.origins["anthropic_route"] = engine.route_why or f"the default for {what}"
        return engine.anthropic_route == "native"
    if asked.value not in ("native", "translated"):
        raise InputError(f"{asked.label()}: choose native (the backend's own /v1/messages) or translated "
                         "(LiteLLM turns Anthropic requests into chat completions)")
    if asked.value == "native" and engine.serves_messages is False:
        raise InputError(f"{asked.label()}: {what} has no /v1/messages (served since {engine.messages_since}); "
                         "pick a later --backend-version or drop the setting")
    draft.origins["anthropic_route"] = asked.origin.describe()
    return asked.value == "native"
