"""Where a value came from, so an error names the real culprit.

A value reaches a stack from a command-line flag, from a key path in a config file
(`config/models.yaml: stacks.s.models[0].gpus`), from a backend's built-in default, from a fact
read off the model (`config.json: max_position_embeddings`) or from the host (`nvidia-smi`).
`Origin.label(value)` spells the culprit the way the user wrote it: `--gpus many`, or
`config/models.yaml: stacks.s.models[0].gpus many`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

Kind = Literal["flag", "file", "builtin", "model", "host", "derived"]


@dataclass(frozen=True)
class Origin:
    kind: Kind
    where: str  # the flag (`--gpus`), the file, the backend name, the model file, `nvidia-smi`
    key: str = ""  # key path inside the file, or a short explanation for derived values

    def describe(self) -> str:
        """Where, for humans: `--gpus`, `config/models.yaml: stacks.s.models[0].gpus`."""
        if self.kind == "flag":
            return self.where
        if self.kind == "builtin":
            return f"the built-in {self.where} default" + (f" ({self.key})" if self.key else "")
        if self.kind == "derived":
            return self.key or self.where
        return f"{self.where}: {self.key}" if self.key else self.where

    def label(self, value: Any) -> str:
        """The culprit as the user wrote it: `--gpus many`, `models.yaml: stacks.s.models[0].gpus many`."""
        return f"{self.describe()} {value}"

    @property
    def from_user(self) -> bool:
        return self.kind in ("flag", "file")

    def as_text(self) -> str:
        """Compact, deterministic form for the manifest."""
        return f"{self.kind}:{self.describe()}" if self.kind not in ("flag",) else f"flag:{self.where}"


def flag(name: str) -> Origin:
    return Origin("flag", name)


def file_key(path: str, *parts: str | int) -> Origin:
    return Origin("file", path, keypath(*parts))


def builtin(backend: str, key: str = "") -> Origin:
    return Origin("builtin", backend, key)


def derived(explanation: str) -> Origin:
    return Origin("derived", "", explanation)


def keypath(*parts: str | int) -> str:
    """`stacks`, `s`, `models`, 0, `gpus` -> `stacks.s.models[0].gpus`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value together with where it came from."""

    value: T
    origin: Origin

    def label(self, text: Any = None) -> str:
        return self.origin.label(self.value if text is None else text)


def _given(value: Any) -> bool:
    return value is not None and value != [] and value != () and value != {}


class Layer:
    """One source of values: a flat mapping (`port`, `args.max_model_len`, `litellm.port`) and how
    to name a key's origin. A layer of the user's own input is `tracked`: every key it holds must be
    read (or skipped on purpose) by some stage, else `unused()` names it (tox's habit)."""

    def __init__(self, values: Mapping[str, Any], origin_of: Callable[[str], Origin], tracked: bool = False):
        self.values = {key: value for key, value in values.items() if _given(value)}
        self.origin_of = origin_of
        self.tracked = tracked
        self.read: set[str] = set()

    def get(self, key: str) -> Sourced[Any] | None:
        if key not in self.values:
            return None
        return Sourced(self.values[key], self.origin_of(key))

    def keys(self, prefix: str) -> list[str]:
        return [key for key in self.values if key.startswith(prefix)]

    def unused(self) -> list[Sourced[Any]]:
        if not self.tracked:
            return []
        return [Sourced(value, self.origin_of(key)) for key, value in self.values.items() if key not in self.read]


class Layers:
    """The one layered lookup: values by precedence, the first layer holding a key wins (flags >
    stack model > stack > models.yaml defaults > built-in). Reading a key counts as reading it in
    every layer of the chain (the ones below were overridden, which is what precedence is for)."""

    def __init__(self, layers: Iterable[Layer | None]):
        self.layers = [layer for layer in layers if layer is not None]

    def extended(self, *layers: Layer | None) -> Layers:
        """The same chain with more layers below (a backend's defaults, once the backend is known)."""
        return Layers([*self.layers, *layers])

    def get(self, key: str) -> Sourced[Any] | None:
        found = None
        for layer in self.layers:
            layer.read.add(key)
            if found is None:
                found = layer.get(key)
        return found

    def value(self, key: str, default: Any = None) -> Any:
        found = self.get(key)
        return default if found is None else found.value

    def peek(self, key: str) -> Sourced[Any] | None:
        """The value without counting it as read (to check it; the stage that uses it reads it)."""
        return next((found for layer in self.layers if (found := layer.get(key)) is not None), None)

    def keys(self, prefix: str) -> list[str]:
        """The keys under a prefix (`args.`) any layer holds, in order, without reading them."""
        return list(dict.fromkeys(key for layer in self.layers for key in layer.keys(prefix)))

    def skip(self, *keys: str) -> None:
        """Keys a stage decided do not apply here (a disabled gateway's settings): not unused."""
        for layer in self.layers:
            for key in keys:
                layer.read.update(layer.keys(key) if key.endswith(".") else [key])


def unused(layers: Iterable[Layer]) -> list[Sourced[Any]]:
    """Values the user gave that no stage read: each is a mistake (or an llmstack bug)."""
    return [found for layer in dict.fromkeys(layers) for found in layer.unused()]
