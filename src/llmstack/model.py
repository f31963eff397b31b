"""The typed description of one stack: the single source of truth the templates render from.

Everything here is already resolved (CLI flag > stack > defaults) and validated; rendering takes
a StackSpec and nothing else.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuSpec(Frozen):
    """`all`, a count, explicit device ids, or none (CPU only)."""

    kind: Literal["all", "count", "ids", "none"]
    count: int | None = None
    ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | int | list[int | str]) -> GpuSpec:
        """`all`, `none`, a count (`2`), or device ids (`0,2`, `device=1`, a YAML list)."""
        if isinstance(text, list):
            text = "device=" + ",".join(str(item) for item in text)
        value = str(text).strip().lower()
        if value in ("all", ""):
            return cls(kind="all")
        if value in ("none", "cpu"):
            return cls(kind="none")
        if value.startswith("device="):
            value = value.removeprefix("device=") + ","
        if "," in value:
            ids = tuple(part.strip() for part in value.split(",") if part.strip())
            if not ids or not all(part.isdigit() for part in ids) or len(set(ids)) != len(ids):
                raise ValueError(f"bad GPU list {text!r}")
            return cls(kind="ids", ids=ids)
        if value.isdigit():
            if int(value) == 0:
                return cls(kind="none")
            return cls(kind="count", count=int(value))
        raise ValueError(f"bad GPU value {text!r}")

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    @property
    def countable(self) -> int | None:
        """How many GPUs are reserved, when that is known at render time."""
        if self.kind == "count":
            return self.count
        if self.kind == "ids":
            return len(self.ids)
        if self.kind == "none":
            return 0
        return None

    def describe(self) -> str:
        if self.kind == "ids":
            return ",".join(self.ids)
        if self.kind == "count":
            return str(self.count)
        return self.kind


class Mount(Frozen):
    """A host path (as written into the compose file) mounted read-only into a container."""

    host_path: str
    container_path: str
    # Compose variable that overrides host_path on another host; None when the path holds a
    # `}` (which would end `${VAR:-default}` early), so the path is written literally.
    variable: str | None
    is_file: bool
    role: str = "model"  # what it is, for comments: "model" or "vision projector"


class ModelSpec(Frozen):
    service: str
    alias: str
    backend: str
    display_name: str  # the model's own name (hub id or file/directory name)
    served_name: str  # what the backend calls it (and what LiteLLM asks it for)
    hub_id: str | None = None  # set for Hugging Face ids, served through the HF cache
    mount: Mount | None = None  # set for local paths
    mmproj: Mount | None = None
    image: str
    port: int
    gpus: GpuSpec
    tensor_parallel: int | None = None
    max_model_len: int | None = None
    tool_parser: str | None = None
    tools: bool
    vision: bool
    vision_source: str = ""  # why vision is on or off, for the rendered comment
    args: dict[str, Any] = {}
    extra_args: tuple[str, ...] = ()
    publish_port: bool = False

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        if not ALIAS_RE.match(value):
            raise ValueError(f"alias {value!r}")
        return value

    @property
    def model_arg(self) -> str:
        """What the backend is told to load: a path inside the container or a hub id."""
        if self.mount is not None:
            return self.mount.container_path
        assert self.hub_id is not None
        return self.hub_id


class LitellmSpec(Frozen):
    image: str
    port: int
    num_workers: int | None = None


class StackSpec(Frozen):
    name: str
    models: tuple[ModelSpec, ...]
    litellm: LitellmSpec | None  # None with --no-litellm
    network: Literal["bridge", "host"] = "bridge"
    bind: str = "127.0.0.1"
    regen_command: str
    llmstack_version: str

    @property
    def uses_hub(self) -> bool:
        return any(m.hub_id for m in self.models)
