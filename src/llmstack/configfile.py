"""Load and validate `config/models.yaml`: defaults per backend and named stacks.

Every problem is reported as one line naming the file and the key path, e.g.
`config/models.yaml: defaults.backends.vllm.args.gpu_mem: unknown key`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmstack import backends
from llmstack.errors import LlmstackError
from llmstack.paths import packaged_config


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackendDefaults(Strict):
    version: str
    image: str
    port: int = Field(ge=1, le=65535)
    args: dict[str, Any] = {}


class LitellmDefaults(Strict):
    version: str
    image: str
    port: int = Field(ge=1, le=65535)
    alias: str = "local-model"
    num_workers: int | None = Field(default=None, ge=1)
    args: dict[str, Any] = {}


class StackModel(Strict):
    model: str
    backend: str = "auto"
    alias: str | None = None
    service: str | None = None
    version: str | None = None
    image: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    publish_port: bool | None = None
    gpus: str | int | list[int | str] | None = None
    tensor_parallel: int | None = Field(default=None, ge=1)
    max_model_len: int | None = Field(default=None, ge=1)
    tool_parser: str | None = None
    mmproj: str | None = None
    vision: bool | None = None
    extra_args: list[str] = []
    args: dict[str, Any] = {}


class StackLitellm(Strict):
    enabled: bool = True
    port: int | None = Field(default=None, ge=1, le=65535)
    version: str | None = None
    image: str | None = None
    num_workers: int | None = Field(default=None, ge=1)


class Stack(Strict):
    description: str | None = None
    name: str | None = None
    network: Literal["bridge", "host"] | None = None
    bind: str | None = None
    models: list[StackModel] = Field(min_length=1)
    litellm: StackLitellm = StackLitellm()


class ConfigFile(Strict):
    defaults: dict[Literal["backends"], dict[str, dict[str, Any]]]
    stacks: dict[str, Stack] = {}


class Config:
    """The validated content of a models.yaml."""

    def __init__(self, path: Path, backend_defaults: dict[str, BackendDefaults],
                 litellm: LitellmDefaults, stacks: dict[str, Stack]):
        self.path = path
        self.backend_defaults = backend_defaults
        self.litellm = litellm
        self.stacks = stacks


def _where(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def _explain(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (remove it or check its spelling)"
    if error["type"] == "missing":
        return "required key is missing"
    return error["msg"]


def _validate(model: type[BaseModel], data: Any, where: str, prefix: tuple[Any, ...]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise LlmstackError(f"{where}: {_loc(prefix + tuple(first['loc']))}: {_explain(first)}") from None


def load(path: Path | None = None) -> Config:
    """Read models.yaml; `path=None` means ./config/models.yaml if present, else the packaged one."""
    if path is None:
        local = Path("config/models.yaml")
        path = local if local.is_file() else packaged_config()
    where = _where(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LlmstackError(f"{where}: config file not found; pass an existing file to --config") from None
    except OSError as exc:
        raise LlmstackError(f"{where}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise LlmstackError(f"{where}:{line}: malformed YAML ({problem}); fix the file") from None
    if not isinstance(data, dict):
        raise LlmstackError(f"{where}: expected a mapping with `defaults:` at the top level")
    parsed: ConfigFile = _validate(ConfigFile, data, where, ())

    known = backends.registry()
    raw = parsed.defaults.get("backends", {})
    backend_defaults: dict[str, BackendDefaults] = {}
    litellm: LitellmDefaults | None = None
    for key, value in raw.items():
        prefix = ("defaults", "backends", key)
        if key == "litellm":
            litellm = _validate(LitellmDefaults, value, where, prefix)
            continue
        if key not in known:
            raise LlmstackError(
                f"{where}: {_loc(prefix)}: unknown backend (known: {', '.join(known)}, litellm)"
            )
        entry: BackendDefaults = _validate(BackendDefaults, value, where, prefix)
        _validate(known[key].args_model, entry.args, where, prefix + ("args",))
        backend_defaults[key] = entry
    for name in known:
        if name not in backend_defaults:
            raise LlmstackError(f"{where}: defaults.backends.{name}: required key is missing")
    if litellm is None:
        raise LlmstackError(f"{where}: defaults.backends.litellm: required key is missing")
    for stack_name, stack in parsed.stacks.items():
        for i, entry in enumerate(stack.models):
            prefix = ("stacks", stack_name, "models", i)
            if entry.backend != "auto" and entry.backend not in known:
                raise LlmstackError(
                    f"{where}: {_loc(prefix + ('backend',))}: unknown backend {entry.backend!r} "
                    f"(known: auto, {', '.join(known)})"
                )
            if entry.backend in known:
                _validate(known[entry.backend].args_model, entry.args, where, prefix + ("args",))
    return Config(path, backend_defaults, litellm, parsed.stacks)
