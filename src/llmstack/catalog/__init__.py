"""The engine catalogue: what each catalogued release of a backend ships, read from its JSON entry.

One generated file per backend version under `data/<backend>/<version>.json` (written by
`python -m llmstack.catalog.generate`, never by hand; `tests/test_catalog.py` regenerates every
entry byte for byte). Reading is cheap: plain JSON, one file, loaded on first use and cached;
nothing here imports pydantic or an engine.

    entry("vllm", "v0.33.0")            -> Entry (frozen)
    versions("vllm")                    -> ("v0.12.0", ..., "v0.33.0"), oldest first
    newest("vllm")                      -> Entry of the newest catalogued version
    nearest("vllm", "v0.20.0")          -> Resolved(entry of v0.18.0, note="v0.20.0 is not catalogued; ...")
    with_tool_parser("vllm", "glm47")   -> the catalogued versions whose registry has that name
    with_flag("vllm", "--tokenizer-mode")
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SCHEMA = 1


@dataclass(frozen=True)
class Image:
    """One published image of the release: `ref`, what it is for, what the host needs."""

    ref: str
    kind: str  # "cuda" | "cpu"
    cuda: str | None = None  # CUDA toolkit inside the image (major.minor.patch as the build says)
    min_driver: str | None = None  # NVIDIA driver the CUDA version needs (None: not known)
    cpu_features: tuple[str, ...] = ()
    default: bool = False  # the tag the backend renders when nothing else is asked for
    source: str = ""


@dataclass(frozen=True)
class Parsers:
    """A parser registry: every name the release accepts, plus `auto` and deprecated aliases."""

    names: frozenset[str]
    auto: bool = False
    deprecated: Mapping[str, str] = field(default_factory=dict)  # alias -> the name to use
    source: str = ""
    complete: bool = True  # False: a partial list (an extract), so a missing name proves nothing

    def accepts(self, name: str) -> bool:
        return name in self.names or (name == "auto" and self.auto)


@dataclass(frozen=True)
class Endpoint:
    """A native route of the server and whether it takes Claude Code's request shapes."""

    path: str
    source: str
    claude_code: bool | None = None  # None: not an Anthropic route, or not judged
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """What the release's own docs or recipes say a model (family) needs on the command line."""

    model: str
    args: tuple[str, ...]
    source: str
    tool_parser: str | None = None
    reasoning_parser: str | None = None


@dataclass(frozen=True)
class Source:
    """Where the entry was read from: a released file (name + sha256) or a committed extract."""

    kind: str  # "pypi" | "extract"
    project: str
    version: str
    file: str
    sha256: str | None = None
    bytes: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Entry:
    backend: str
    version: str
    source: Source
    images: tuple[Image, ...]
    flags: frozenset[str]
    flags_source: str
    flags_complete: bool
    tool_parsers: Parsers | None
    reasoning_parsers: Parsers | None
    endpoints: Mapping[str, Endpoint]
    recipes: tuple[Recipe, ...]
    notes: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def accepts_flag(self, flag: str) -> bool:
        """A long option as the release's parser takes it (vLLM also takes `_` for `-`)."""
        if flag in self.flags:
            return True
        if self.backend == "vllm" and flag.startswith("--"):
            return "--" + flag[2:].replace("_", "-") in self.flags
        return False

    def image(self, kind: str = "cuda", cuda: str | None = None) -> Image | None:
        """The default image of a kind, or the one built for a CUDA major.minor (`"12.9"`)."""
        candidates = [i for i in self.images if i.kind == kind]
        if cuda is not None:
            candidates = [i for i in candidates if i.cuda and i.cuda.startswith(cuda)]
        for image in candidates:
            if image.default or cuda is not None:
                return image
        return candidates[0] if candidates else None

    def serves(self, path: str) -> bool:
        return path in self.endpoints


@dataclass(frozen=True)
class Resolved:
    """The entry used for a requested version, and a note when it is not that version's own."""

    requested: str
    entry: Entry
    note: str | None = None


class UnknownBackend(LookupError):
    pass


class NotCatalogued(LookupError):
    pass


def _version_key(version: str) -> tuple:
    """Orders v0.5.10 after v0.5.9, b11312 after b7349, 1.2.1 after 1.0.0, post releases after."""
    parts = re.findall(r"\d+|[a-z]+", version.lower().lstrip("vb"))
    key: list[tuple[int, Any]] = []
    for part in parts:
        if part.isdigit():
            key.append((1, int(part)))
        elif part == "post":
            key.append((2, 0))
        else:  # rc, a, b, dev: before the release
            key.append((0, part))
    return tuple(key)


@functools.cache
def backends() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in DATA.iterdir() if p.is_dir() and not p.name.startswith("_")))


@functools.cache
def versions(backend: str) -> tuple[str, ...]:
    """Catalogued versions of a backend, oldest first."""
    if backend not in backends():
        raise UnknownBackend(f"no catalogue for backend {backend!r} (catalogued: {', '.join(backends())})")
    names = [p.name[: -len(".json")] for p in (DATA / backend).iterdir() if p.name.endswith(".json")]
    return tuple(sorted(names, key=_version_key))


def _canonical(backend: str, version: str) -> str:
    """`0.33.0` and `v0.33.0` name the same vLLM entry; `7349` and `b7349` the same llama.cpp one."""
    known = versions(backend)
    if version in known:
        return version
    bare = version.lstrip("vb")
    for candidate in known:
        if candidate.lstrip("vb") == bare:
            return candidate
    return version


@functools.cache
def entry(backend: str, version: str) -> Entry:
    """The catalogue entry of exactly this version (NotCatalogued otherwise: see `nearest`)."""
    name = _canonical(backend, version)
    if name not in versions(backend):
        raise NotCatalogued(f"{backend} {version} is not catalogued (catalogued: {', '.join(versions(backend))})")
    text = (DATA / backend / f"{name}.json").read_text(encoding="utf-8")
    return _entry_from_dict(json.loads(text))


def newest(backend: str) -> Entry:
    return entry(backend, versions(backend)[-1])


def nearest(backend: str, version: str) -> Resolved:
    """The entry for `version`, or the nearest older catalogued one with a note saying so.

    A version older than every catalogued one gets the oldest entry and a note that says that.
    """
    name = _canonical(backend, version)
    known = versions(backend)
    if name in known:
        return Resolved(version, entry(backend, name))
    key = _version_key(version)
    older = [v for v in known if _version_key(v) < key]
    if older:
        chosen = older[-1]
        note = (f"{backend} {version} is not catalogued: using what {chosen} (the nearest older catalogued "
                f"version) ships; flags and parser names it lacks may exist in {version}")
    else:
        chosen = known[0]
        note = (f"{backend} {version} is older than every catalogued version: using {chosen}; "
                f"flags and parser names may not exist in {version}")
    return Resolved(version, entry(backend, chosen), note)


def with_tool_parser(backend: str, name: str) -> tuple[str, ...]:
    """Catalogued versions whose tool-call parser registry accepts `name` (for error messages)."""
    out = []
    for version in versions(backend):
        parsers = entry(backend, version).tool_parsers
        if parsers is not None and parsers.accepts(name):
            out.append(version)
    return tuple(out)


def with_reasoning_parser(backend: str, name: str) -> tuple[str, ...]:
    out = []
    for version in versions(backend):
        parsers = entry(backend, version).reasoning_parsers
        if parsers is not None and parsers.accepts(name):
            out.append(version)
    return tuple(out)


def with_flag(backend: str, flag: str) -> tuple[str, ...]:
    return tuple(v for v in versions(backend) if entry(backend, v).accepts_flag(flag))


def claude_code_route_since(backend: str) -> str | None:
    """The oldest catalogued version from which `/v1/messages` takes Claude Code's shapes for good."""
    since = None
    for version in versions(backend):
        endpoint = entry(backend, version).endpoints.get("/v1/messages")
        ok = endpoint is not None and endpoint.claude_code is True
        if ok and since is None:
            since = version
        elif not ok:
            since = None
    return since


def _parsers(data: Mapping[str, Any] | None) -> Parsers | None:
    if data is None:
        return None
    return Parsers(names=frozenset(data["names"]), auto=bool(data.get("auto", False)),
                   deprecated=dict(data.get("deprecated", {})), source=data.get("source", ""),
                   complete=bool(data.get("complete", True)))


def _entry_from_dict(data: Mapping[str, Any]) -> Entry:
    if data.get("schema") != SCHEMA:
        raise ValueError(f"catalogue entry schema {data.get('schema')!r}, this llmstack reads {SCHEMA}")
    src = data["source"]
    return Entry(
        backend=data["backend"],
        version=data["version"],
        source=Source(kind=src["kind"], project=src["project"], version=src["version"], file=src["file"],
                      sha256=src.get("sha256"), bytes=src.get("bytes"), note=src.get("note", "")),
        images=tuple(
            Image(ref=i["ref"], kind=i["kind"], cuda=i.get("cuda"), min_driver=i.get("min_driver"),
                  cpu_features=tuple(i.get("cpu_features", ())), default=bool(i.get("default", False)),
                  source=i.get("source", ""))
            for i in data.get("images", ())
        ),
        flags=frozenset(data["flags"]["names"]),
        flags_source=data["flags"].get("source", ""),
        flags_complete=bool(data["flags"].get("complete", True)),
        tool_parsers=_parsers(data.get("tool_parsers")),
        reasoning_parsers=_parsers(data.get("reasoning_parsers")),
        endpoints={
            path: Endpoint(path=path, source=e.get("source", ""), claude_code=e.get("claude_code"),
                           evidence=dict(e.get("evidence", {})))
            for path, e in data.get("endpoints", {}).items()
        },
        recipes=tuple(
            Recipe(model=r["model"], args=tuple(r.get("args", ())), source=r.get("source", ""),
                   tool_parser=r.get("tool_parser"), reasoning_parser=r.get("reasoning_parser"))
            for r in data.get("recipes", ())
        ),
        notes=tuple(data.get("notes", ())),
        raw=data,
    )
