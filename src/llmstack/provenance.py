"""Where a value came from, so an error names the real culprit.

A value reaches a stack from a command-line flag, from a key path in a config file
(`config/models.yaml: stacks.s.models[0].gpus`), from a backend's built-in default, from a fact
read off the model (`config.json: max_position_embeddings`) or from the host (`nvidia-smi`).
`Origin.label(value)` spells the culprit the way the user wrote it: `--gpus many`, or
`config/models.yaml: stacks.s.models[0].gpus many`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


@dataclass(frozen=True)
class Layer:
    """One source of values: a mapping plus how to name a key's origin."""

    values: Mapping[str, Any]
    origin_of: Any  # Callable[[str], Origin]

    def get(self, key: str) -> Sourced[Any] | None:
        value = self.values.get(key)
        if value is None or value == [] or value == ():
            return None
        return Sourced(value, self.origin_of(key))


class Layers:
    """Values by precedence: the first layer holding a key wins (flags > stack > defaults > built-in)."""

    def __init__(self, layers: Iterable[Layer]):
        self.layers = [layer for layer in layers if layer is not None]

    def get(self, key: str) -> Sourced[Any] | None:
        for layer in self.layers:
            found = layer.get(key)
            if found is not None:
                return found
        return None

    def value(self, key: str, default: Any = None) -> Any:
        found = self.get(key)
        return default if found is None else found.value
