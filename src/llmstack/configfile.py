"""Load and validate `config/models.yaml`: overrides of the built-in defaults, and named stacks.

Every backend carries its own defaults (image, version, port, args: `backends/<name>.py`), as
does the gateway (`gateway.py`); `defaults.backends.<name>` here overrides any of them, key by
key, and need not repeat the rest. A file holding only `stacks:` is complete.

Every problem is reported as one line naming the file and the key path, e.g.
`config/models.yaml: defaults.backends.vllm.args.gpu_mem: unknown key`, and every value keeps
that key path as its origin so later errors name it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmstack import backends, gateway
from llmstack.errors import ConfigFileError
from llmstack.paths import packaged_config
from llmstack.provenance import Origin, builtin, file_key, keypath


class Strict(BaseModel):
    # Schemas are built on first use, not at import (a default made by calling a model class
    # would build it at import: defaults use default_factory).
    model_config = ConfigDict(extra="forbid", defer_build=True)


class BackendOverrides(Strict):
    version: str | None = None
    image: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    args: dict[str, Any] = {}


class LitellmOverrides(Strict):
    version: str | None = None
    image: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    alias: str | None = None
    num_workers: int | None = Field(default=None, ge=1)


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
    gpu_memory: float | None = Field(default=None, gt=0)
    tensor_parallel: int | None = Field(default=None, ge=1)
    max_model_len: int | None = Field(default=None, ge=1)
    tool_parser: str | None = None
    reasoning_parser: str | None = None
    mmproj: str | None = None
    vision: bool | None = None
    api_base: str | list[str] | None = None
    api_key_env: str | None = None
    anthropic_route: Literal["native", "translated"] | None = None
    replicas: int | None = Field(default=None, ge=1)
    extra_args: list[str] = []
    args: dict[str, Any] = {}


class StackLitellm(Strict):
    enabled: bool = True
    port: int | None = Field(default=None, ge=1, le=65535)
    version: str | None = None
    image: str | None = None
    num_workers: int | None = Field(default=None, ge=1)
    replicas: int | None = Field(default=None, ge=1)  # Kubernetes only


class StackKubernetes(Strict):
    """`kubernetes:` of a stack: used by the kubernetes target (flags `--k8s-*` override each key)."""

    namespace: str | None = None
    model_pvc: str | None = None
    model_host_path: str | None = None
    hf_cache_pvc: str | None = None
    hf_cache_size: str | None = None
    storage_class: str | None = None
    gpu_product: str | None = None
    node_selector: dict[str, str] = {}
    runtime_class: str | None = None
    shm_size: str | None = None
    backend_cpu: str | int | float | None = None
    backend_memory: str | None = None
    litellm_cpu: str | int | float | None = None
    litellm_memory: str | None = None


class Stack(Strict):
    description: str | None = None
    name: str | None = None
    target: Literal["compose", "kubernetes"] | None = None
    network: Literal["bridge", "host"] | None = None
    bind: str | None = None
    gpu_memory: float | None = Field(default=None, gt=0)
    # Claude Code's model tiers (opus, sonnet, haiku) -> an alias of this stack.
    claude: dict[Literal["opus", "sonnet", "haiku"], str] | None = None
    kubernetes: StackKubernetes = Field(default_factory=StackKubernetes)
    models: list[StackModel] = Field(min_length=1)
    litellm: StackLitellm = Field(default_factory=StackLitellm)


class Defaults(Strict):
    backends: dict[str, dict[str, Any]] = {}


class ConfigFile(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    stacks: dict[str, Stack] = {}


@dataclass(frozen=True)
class BackendSettings:
    """A backend's effective defaults: built-in values with models.yaml overrides, each with its origin."""

    name: str
    image: str
    version: str
    port: int
    args: dict[str, Any]
    origins: dict[str, Origin]  # "image", "version", "port", "args.<key>" -> origin


@dataclass(frozen=True)
class LitellmSettings:
    image: str
    version: str
    port: int
    alias: str
    num_workers: int | None
    origins: dict[str, Origin]


class Config:
    """The validated content of a models.yaml, merged over the built-in defaults."""

    def __init__(self, path: Path | None, where: str, backend_settings: dict[str, BackendSettings],
                 litellm: LitellmSettings, stacks: dict[str, Stack]):
        self.path = path
        self.where = where  # how errors name the file
        self.backend_settings = backend_settings
        self.litellm = litellm
        self.stacks = stacks

    def origin(self, *parts: str | int) -> Origin:
        """The origin of a key path in this file."""
        return file_key(self.where, *parts)


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def _explain(error: Any) -> str:
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
        loc = keypath(*prefix, *first["loc"]) or "(top level)"
        raise ConfigFileError(f"{where}: {loc}: {_explain(first)}") from None


def read_text(path: Path, where: str, what: str = "config file", fix: str = "pass an existing file to --config") -> str:
    """A text file's content, or one line naming it: missing, unreadable, not UTF-8."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(f"{where}: {what} not found; {fix}") from None
    except IsADirectoryError:
        raise ConfigFileError(f"{where}: is a directory, not a {what}; {fix}") from None
    except OSError as exc:
        raise ConfigFileError(f"{where}: cannot read the {what} ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigFileError(
            f"{where}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None


def load_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigFileError(f"{where}:{line} malformed YAML ({problem}); fix the file") from None


def default_path() -> Path:
    local = Path("config/models.yaml")
    return local if local.is_file() else packaged_config()


def load(path: Path | None = None) -> Config:
    """Read models.yaml; `path=None` means ./config/models.yaml if present, else the packaged one."""
    path = path or default_path()
    where = display_path(path)
    data = load_yaml(read_text(path, where), where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{where}: expected a mapping with `defaults:` and/or `stacks:` at the top level")
    parsed: ConfigFile = _validate(ConfigFile, data, where, ())

    known = backends.registry()
    overrides = parsed.defaults.backends
    for key in overrides:
        if key != "litellm" and key not in known:
            raise ConfigFileError(
                f"{where}: {keypath('defaults', 'backends', key)}: unknown backend "
                f"(known: {', '.join(known)}, litellm)"
            )
    settings = {name: _backend_settings(backend, overrides.get(name), where) for name, backend in known.items()}
    litellm = _litellm_settings(overrides.get("litellm"), where)

    for stack_name, stack in parsed.stacks.items():
        for i, entry in enumerate(stack.models):
            prefix = ("stacks", stack_name, "models", i)
            if entry.backend != "auto" and entry.backend not in known:
                raise ConfigFileError(
                    f"{where}: {keypath(*prefix, 'backend')}: unknown backend {entry.backend!r} "
                    f"(known: auto, {', '.join(known)})"
                )
            if entry.backend in known:
                _validate(known[entry.backend].args_model, entry.args, where, prefix + ("args",))
    return Config(path, where, settings, litellm, parsed.stacks)


def _backend_settings(backend: backends.Backend, raw: dict[str, Any] | None, where: str) -> BackendSettings:
    prefix = ("defaults", "backends", backend.name)
    built = backend.defaults
    origins: dict[str, Origin] = {key: builtin(backend.name, key) for key in ("image", "version", "port")}
    args = dict(built.args)
    origins.update({f"args.{key}": builtin(backend.name, f"args.{key}") for key in args})
    values = {"image": built.image, "version": built.version, "port": built.port}
    if raw is not None:
        over: BackendOverrides = _validate(BackendOverrides, raw, where, prefix)
        _validate(backend.args_model, over.args, where, prefix + ("args",))
        for key in ("image", "version", "port"):
            if getattr(over, key) is not None:
                values[key] = getattr(over, key)
                origins[key] = file_key(where, *prefix, key)
        for key, value in over.args.items():
            args[key] = value
            origins[f"args.{key}"] = file_key(where, *prefix, "args", key)
    return BackendSettings(backend.name, str(values["image"]), str(values["version"]), int(str(values["port"])),
                           args, origins)


def _litellm_settings(raw: dict[str, Any] | None, where: str) -> LitellmSettings:
    prefix = ("defaults", "backends", "litellm")
    d = gateway.DEFAULTS
    values: dict[str, Any] = {"image": d.image, "version": d.version, "port": d.port, "alias": d.alias,
                              "num_workers": d.num_workers}
    origins = {key: builtin("litellm", key) for key in values}
    if raw is not None:
        over: LitellmOverrides = _validate(LitellmOverrides, raw, where, prefix)
        for key in values:
            if getattr(over, key) is not None:
                values[key] = getattr(over, key)
                origins[key] = file_key(where, *prefix, key)
    return LitellmSettings(origins=origins, **values)
