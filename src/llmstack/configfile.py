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
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from llmstack import backends, gateway, options, yamlio
from llmstack.errors import ConfigFileError
from llmstack.paths import packaged_config
from llmstack.provenance import Origin, Sourced, builtin, file_key, keypath


class Strict(BaseModel):
    # Schemas are built on first use, not at import.
    model_config = ConfigDict(extra="forbid", defer_build=True, strict=True)


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
    cpu_shares: int | None = Field(default=None, ge=0, le=262144)


_FLAG_TYPES: dict[str, Any] = {"str": str | None, "int": int | None, "float": float | None, "bool": bool | None,
                               "list": list[str]}


def _field(option: options.Option) -> tuple[Any, Any]:
    """A models.yaml key's schema field, from its declaration in options.py."""
    annotation = option.schema if option.schema is not None else _FLAG_TYPES[option.kind]
    limits: dict[str, Any] = dict(option.limits)
    if option.required:
        return annotation, Field(**limits)
    if isinstance(option.default, (list, dict)):
        return annotation, Field(default_factory=type(option.default), **limits)
    return annotation, Field(default=option.default, **limits)


def _schema(name: str, keys: list[options.Option], **more: Any) -> type[BaseModel]:
    fields: dict[str, Any] = {str(option.key).rpartition(".")[2]: _field(option) for option in keys}
    return create_model(name, __base__=Strict, **fields, **more)


@lru_cache(maxsize=1)
def schema() -> type[BaseModel]:
    """The schema of a models.yaml file, the keys of a stack derived from options.py."""
    model = _schema("StackModel", options.model_keys())
    litellm = _schema("StackLitellm", options.stack_keys("litellm"))
    kubernetes = _schema("StackKubernetes", options.stack_keys("kubernetes"))
    stack = _schema("Stack", options.stack_keys(), models=(list[model], Field(min_length=1)),  # type: ignore[valid-type]
                    litellm=(litellm, Field(default_factory=litellm)),
                    kubernetes=(kubernetes, Field(default_factory=kubernetes)))
    defaults = create_model("Defaults", __base__=Strict,
                            backends=(dict[str, dict[str, Any]], Field(default_factory=dict)))
    return create_model("ConfigFile", __base__=Strict, defaults=(defaults, Field(default_factory=defaults)),
                        stacks=(dict[str, stack], Field(default_factory=dict)),  # type: ignore[valid-type]
                        # image tag -> digest, written by `llmstack pin` (pins.py)
                        pins=(dict[str, Any], Field(default_factory=dict)))


def _flat(data: dict[str, Any], *sections: str) -> dict[str, Any]:
    """`{litellm: {port: 1}}` -> `{litellm.port: 1}` for the sections named (one level)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in sections and isinstance(value, dict):
            flat.update({f"{key}.{sub}": item for sub, item in value.items()})
        else:
            flat[key] = value
    return flat


@dataclass(frozen=True)
class StackInput:
    """A validated stack of models.yaml: the keys it sets, flat (`network`, `litellm.port`,
    `kubernetes.namespace`), and each model's (`port`, `args.gpu_memory_utilization`)."""

    name: str
    values: dict[str, Any]
    models: tuple[dict[str, Any], ...]

    @staticmethod
    def of(name: str, data: dict[str, Any]) -> StackInput:
        models = tuple(_flat(model, "args") for model in data.pop("models"))
        return StackInput(name, _flat(data, "litellm", "kubernetes"), models)


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
    cpu_shares: int | None
    origins: dict[str, Origin]


class Config:
    """The validated content of a models.yaml, merged over the built-in defaults."""

    def __init__(self, path: Path | None, where: str, backend_settings: dict[str, BackendSettings],
                 litellm: LitellmSettings, stacks: dict[str, StackInput], pins: dict[str, str] | None = None):
        self.path = path
        self.pins = pins or {}
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


def check_args(backend: backends.Backend, args: dict[str, Sourced[Any]]) -> None:
    """A stack model's `args:` against the backend that serves it (with `backend: auto`, known only
    once the model is read): an unknown key is named with its key path."""
    try:
        backend.args_model.model_validate({key: found.value for key, found in args.items()})
    except ValidationError as exc:
        first = exc.errors()[0]
        culprit = args[str(first["loc"][0])].origin
        raise ConfigFileError(f"{culprit.where}: {keypath(culprit.key, *first['loc'][1:])}: {_explain(first)}") \
            from None


def read_text(path: Path, where: str, what: str = "config file", fix: str = "pass an existing file to --config") -> str:
    """A text file's content, or one line naming it: missing, unreadable, not a regular file (a FIFO
    would block the read), a name with a NUL byte, not UTF-8."""
    try:
        if "\x00" in str(path):
            raise ConfigFileError(f"{where}: a NUL byte in the path; {fix}")
        if path.exists() and not path.is_dir() and not path.is_file():
            raise ConfigFileError(f"{where}: not a regular file (a FIFO, a socket or a device); {fix}")
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
        return yamlio.load(text)
    except yamlio.YamlProblem as exc:
        line = f" line {exc.line}:" if exc.line else ""
        what = exc.problem if "twice" in exc.problem else f"malformed YAML ({exc.problem}); fix the file"
        raise ConfigFileError(f"{where}:{line} {what}") from None


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
    parsed = _validate(schema(), data, where, ())
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
    stacks = {name: StackInput.of(name, stack.model_dump(exclude_unset=True))
              for name, stack in parsed.stacks.items()}
    for stack in stacks.values():
        for i, entry in enumerate(stack.models):
            prefix = ("stacks", stack.name, "models", i)
            backend = entry.get("backend", "auto")
            if backend != "auto" and backend not in known:
                raise ConfigFileError(
                    f"{where}: {keypath(*prefix, 'backend')}: unknown backend {backend!r} "
                    f"(known: auto, {', '.join(known)})"
                )
            if backend in known:
                args = {key.removeprefix("args."): value for key, value in entry.items() if key.startswith("args.")}
                _validate(known[backend].args_model, args, where, prefix + ("args",))
    from llmstack.pins import check as check_pins

    return Config(path, where, settings, litellm, stacks, pins=check_pins(parsed.pins, where))


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
                              "num_workers": d.num_workers, "cpu_shares": d.cpu_shares}
    origins = {key: builtin("litellm", key) for key in values}
    if raw is not None:
        over: LitellmOverrides = _validate(LitellmOverrides, raw, where, prefix)
        for key in values:
            if getattr(over, key) is not None:
                values[key] = getattr(over, key)
                origins[key] = file_key(where, *prefix, key)
    return LitellmSettings(origins=origins, **values)
