"""`llmstack-manifest.yaml`, written beside the rendered files and committed with them: written
and read here only, as typed values (cookiecutter's replay: dump and load side by side).

It records the inputs (the regenerate command, the config file and stack), for every model the
source layout and the facts that were read from it (RecordedModel), and a summary of the stack
(StackSummary: project, services, gateway URL, aliases, published ports, GPUs, mounts, memory
plans). So:

- `render --check` and the header's regenerate command work in a checkout without the weights
  (the recorded facts stand in for files that are not on this host: resolve/, sources.py);
- the runtime commands (`up`, `status`, `doctor`, `smoke`, `claude`) read the stack from here
  instead of parsing the compose file back (stackdir.py).

The body is JSON, which is YAML too: the standard library writes it deterministically on every
machine, in a tenth of the time PyYAML's pure-Python emitter takes (render is a CLI: its start-up
cost is measured, see benchmarks/). Reading is light (PyYAML only, for the comment header): the
runtime commands import this module. `from_dict` is lenient (a key missing from an older
manifest takes its default); `to_dict` writes every key, in a fixed order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmstack.errors import InputError
from llmstack.escaping import json_text
from llmstack.paths import MANIFEST

__all__ = ["MANIFEST", "AliasSummary", "EngineSummary", "Manifest", "MountSummary", "PlanSummary", "RecordedModel",
           "StackSummary", "read", "recorded_models"]

FORMAT = 1  # bumped when the layout changes incompatibly


@dataclass(frozen=True)
class AliasSummary:
    name: str
    tools: bool = False
    vision: bool = False
    context: int | None = None  # tokens, when known
    service: str | None = None  # None: served elsewhere

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AliasSummary:
        context = data.get("context")
        return cls(str(data["name"]), bool(data.get("tools")), bool(data.get("vision")),
                   int(context) if isinstance(context, int) else None,
                   str(data["service"]) if data.get("service") else None)


@dataclass(frozen=True)
class MountSummary:
    """A bind mount `doctor` checks: the host path as rendered, the .env variable overriding it."""

    source: str
    variable: str | None
    target: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MountSummary:
        variable = data.get("variable")
        return cls(str(data.get("source", "")), str(variable) if variable else None, str(data.get("target", "")))


@dataclass(frozen=True)
class PlanSummary:
    """What a service's memory plan assumed, for `doctor` to check against the host's GPUs."""

    needed_gib: float
    share: float
    gpus: int
    gpu_memory_gib: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanSummary:
        return cls(float(data.get("needed_gib") or 0), float(data.get("share") or 0.9), int(data.get("gpus") or 1),
                   float(data.get("gpu_memory_gib") or 0))


@dataclass(frozen=True)
class EngineSummary:
    """The engine a service runs, as rendered: `doctor` checks the host against what its image needs
    (the NVIDIA driver, CPU features) and `render --check` names what an upgrade of llmstack's pins
    changes (image, version, flags, parsers)."""

    backend: str
    image: str
    version: str | None = None  # the release; None: an image given as is
    catalogued: str | None = None  # the catalogue entry its facts came from
    kind: str = "cuda"  # "cuda" | "cpu"
    cuda: str | None = None
    min_driver: str | None = None
    cpu_features: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # the server options it is started with, in order
    tool_parser: str | None = None
    reasoning_parser: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineSummary:
        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value is not None else None

        return cls(str(data.get("backend", "")), str(data.get("image", "")), text("version"), text("catalogued"),
                   str(data.get("kind") or "cuda"), text("cuda"), text("min_driver"),
                   [str(f) for f in data.get("cpu_features") or []], [str(f) for f in data.get("flags") or []],
                   text("tool_parser"), text("reasoning_parser"))


@dataclass(frozen=True)
class StackSummary:
    """What the runtime commands need to know about a rendered stack."""

    name: str
    target: str
    project: str
    services: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    gateway_url: str | None = None  # None with --no-litellm, and on Kubernetes (port-forward)
    aliases: list[AliasSummary] = field(default_factory=list)
    claude: dict[str, str] = field(default_factory=dict)  # Claude model name pattern -> alias
    published: dict[str, list[str]] = field(default_factory=dict)  # service -> host:port
    gpus: dict[str, str | int] = field(default_factory=dict)  # service -> all | N | 0,1 (a count on Kubernetes)
    mounts: dict[str, list[MountSummary]] = field(default_factory=dict)
    hub_cache: bool = False
    key_variables: list[str] = field(default_factory=list)  # upstream keys the gateway reads from .env
    # service -> the .env variable holding the key it requires (published beyond this host, or on a
    # cluster); absent from manifests rendered before backends had keys: none is required there.
    backend_keys: dict[str, str] = field(default_factory=dict)
    plans: dict[str, PlanSummary] = field(default_factory=dict)
    engines: dict[str, EngineSummary] = field(default_factory=dict)  # service (and "litellm") -> its engine
    kubernetes: dict[str, Any] | None = None  # where things are on the cluster

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.kubernetes is None:
            del data["kubernetes"]
        if not self.backend_keys:  # as before backends had keys
            del data["backend_keys"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], directory_name: str = "") -> StackSummary:
        def mapping(key: str) -> dict[str, Any]:
            value = data.get(key)
            return value if isinstance(value, dict) else {}

        return cls(
            name=str(data.get("name") or directory_name), target=str(data.get("target") or "compose"),
            project=str(data.get("project") or directory_name),
            services=[str(s) for s in data.get("services") or []],
            backends=[str(s) for s in data.get("backends") or []],
            gateway_url=data.get("gateway_url"),
            aliases=[AliasSummary.from_dict(a) for a in data.get("aliases") or []],
            claude={str(k): str(v) for k, v in mapping("claude").items()},
            published={str(k): [str(a) for a in v] for k, v in mapping("published").items()},
            gpus={str(k): v if isinstance(v, int) else str(v) for k, v in mapping("gpus").items()},
            mounts={str(k): [MountSummary.from_dict(m) for m in v] for k, v in mapping("mounts").items()},
            hub_cache=bool(data.get("hub_cache")), key_variables=[str(v) for v in data.get("key_variables") or []],
            backend_keys={str(k): str(v) for k, v in mapping("backend_keys").items()},
            plans={str(k): PlanSummary.from_dict(v) for k, v in mapping("plans").items()},
            engines={str(k): EngineSummary.from_dict(v) for k, v in mapping("engines").items() if isinstance(v, dict)},
            kubernetes=data.get("kubernetes") if isinstance(data.get("kubernetes"), dict) else None,
        )


@dataclass(frozen=True)
class RecordedModel:
    """A model input as an earlier render read it: its source layout and its facts (the form of
    llmstack.model.facts_to_dict), standing in for weights that are not on this host."""

    source: dict[str, Any]  # kind, and hub_id, revision, is_dir when they apply
    facts: dict[str, Any]

    @property
    def kind(self) -> str | None:
        return self.source.get("kind")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "facts": self.facts}

    @classmethod
    def from_dict(cls, data: Any) -> RecordedModel | None:
        if not isinstance(data, dict) or not isinstance(data.get("source"), dict):
            return None
        return cls(dict(data["source"]), dict(data.get("facts") or {}))


@dataclass(frozen=True)
class Manifest:
    stack: StackSummary
    inputs: dict[str, Any]  # command, config, stack
    models: dict[str, RecordedModel]  # model input (as given) -> what was read of it

    def document(self) -> str:
        """The manifest's body (deterministic: a fixed order, two-space indent, a trailing newline)."""
        data = {"format": FORMAT, "stack": self.stack.to_dict(), "inputs": self.inputs,
                "models": {given: model.to_dict() for given, model in self.models.items()}}
        return json_text(data, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], directory_name: str = "") -> Manifest:
        models = {str(given): RecordedModel.from_dict(model) for given, model in (data.get("models") or {}).items()}
        stack = data.get("stack")
        return cls(StackSummary.from_dict(stack if isinstance(stack, dict) else {}, directory_name),
                   dict(data.get("inputs") or {}), {given: model for given, model in models.items() if model})


def read(directory: Path) -> Manifest | None:
    """The manifest of a rendered directory, or None when there is none (or it is unreadable)."""
    from llmstack import yamlio

    text = _text(directory)
    if text is None:
        return None
    try:
        data = yamlio.load(text)
    except yamlio.YamlProblem:
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    try:
        return Manifest.from_dict(data, directory.name)
    except (TypeError, AttributeError, ValueError, KeyError):  # a shape llmstack never writes
        raise InputError(f"{directory / MANIFEST}: not a manifest llmstack wrote (a value of the wrong kind); "
                         "re-render the stack with `llmstack render` (the command is in the header of its "
                         "docker-compose.yml)") from None


def _text(directory: Path) -> str | None:
    """The manifest's text; None when it is missing or unreadable. Not a regular file (a FIFO would
    block the read): one line."""
    import stat

    path = directory / MANIFEST
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: not a regular file; remove it and re-render the stack with `llmstack render`")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def pristine_on_disk(directory: Path) -> bool | None:
    """Whether the manifest is exactly as rendered (its llmstack-hash verifies); None without one."""
    from llmstack.stamp import pristine

    text = _text(directory)
    return None if text is None else pristine(text)


def recorded_models(directory: Path) -> dict[str, RecordedModel]:
    """model input (as given) -> what an earlier render read of it, if any."""
    found = read(directory)
    return found.models if found is not None else {}
