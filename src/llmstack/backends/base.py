"""What a serving backend is: one class per inference server, owning every decision about it.

A backend module says which model formats it serves (and which of them `--backend auto` sends
to it), whether it has a CPU image, whether it splits a model over GPUs with tensor
parallelism, which tool-call and reasoning parsers its pinned version ships and which model
family gets which, whether it takes a vision projector file, how LiteLLM reaches it (route and
native endpoints), its built-in defaults (image, version, port, tuning args: models.yaml may
override them but need not repeat them), its command, its healthcheck (with a program the image
really ships), the flags its command derives (so an `--extra-arg` never contradicts one) and
how much GPU memory it plans for. Everything here is pure: no I/O.

Resolution reads a backend through capabilities, never its name: `facts(version)` (EngineFacts:
parser names and family tables, /v1/messages, the default route) is the one way it learns what
a release has, so an engine catalogue can answer per version instead of the class constants.

Adding a backend means adding one module to this package that defines `BACKEND` (and one golden
example under compose/); `tests/test_backends.py` walks the registry to hold every module to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from llmstack.model.families import always_reasons

if TYPE_CHECKING:  # pragma: no cover
    from llmstack.spec import ModelSpec

# Model formats a backend may serve (the `format` fact of llmstack.model, plus `name`: a
# model another server already serves, for gateway-only backends), as messages call them.
FORMAT_NAMES = {"gguf": "a .gguf model", "hf": "a Hugging Face model", "trtllm-engine": "a TensorRT-LLM engine",
                "name": "a model served elsewhere"}
FORMATS = frozenset(FORMAT_NAMES)
MODEL_KINDS = {"gguf": "a GGUF model", "hf": "a Hugging Face model", "trtllm-engine": "a TensorRT-LLM engine",
               "name": "a model served elsewhere"}
# A format that is one local file: (what a backend serving only it takes, how to pass one).
FILE_FORMATS = {"gguf": ("a local .gguf file", "pass --model /path/to/model.gguf")}


class BackendArgs(BaseModel):
    """Tuning values from `defaults.backends.<name>.args` or a stack model's `args` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    max_model_len: int | None = None


@dataclass(frozen=True)
class Defaults:
    """A backend's built-in defaults; `defaults.backends.<name>` in models.yaml overrides any of them."""

    image: str  # repository, without tag
    version: str
    port: int
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DerivedFlag:
    """A server flag the backend's command derives from llmstack's own settings. An `--extra-arg`
    naming it would contradict what the rendered comment, the memory plan and the manifest say,
    so it is refused, naming the setting that decides it."""

    spellings: tuple[str, ...]  # every name the server accepts for it, the one the command writes first
    # What decides it: a render option's models.yaml key (`max_model_len`), `args.<key>`, `network`
    # (the listen address), or "" when llmstack alone decides it (then `why` says what it is).
    setting: str
    why: str = ""


@dataclass(frozen=True)
class EngineFacts:
    """What one release of an engine is known to have: the parser names it ships and which one a
    model family gets, and whether it serves Anthropic's /v1/messages itself. Resolution asks a
    backend for the facts of the version it renders (`Backend.facts`) and reads nothing else of the
    kind: today each backend answers from its class constants (one pinned release); the engine
    catalogue will answer per catalogued version without a change to resolution."""

    version: str | None  # None: unknown (an image given as is)
    tool_parsers: frozenset[str] = frozenset()  # empty: no tool parser switch
    tool_parser_by_family: Mapping[str, str] = field(default_factory=dict)
    reasoning_parsers: frozenset[str] = frozenset()
    # family -> parser; None: the family reasons in a format the server handles by itself.
    reasoning_parser_by_family: Mapping[str, str | None] = field(default_factory=dict)
    # For a model whose chat template thinks in <think> tags but whose family has no entry.
    reasoning_parser_for_think_tags: str | None = None
    serves_messages: bool | None = None  # POST /v1/messages; None: nobody knows
    messages_since: str | None = None  # the first release known to serve it
    anthropic_route: str = "translated"  # the default route for this version

    def tool_parser_for(self, family: str | None) -> str | None:
        return self.tool_parser_by_family.get(family or "")

    def reasoning_parser_for(self, family: str | None, thinking: bool | None) -> str | None:
        """A parser for models that think: by family, else the generic <think>-tag parser."""
        if family is not None and family in self.reasoning_parser_by_family \
                and self.reasoning_parser_by_family[family] is None:
            return None
        by_family = self.reasoning_parser_by_family.get(family or "")
        if by_family and (thinking or always_reasons(family)):
            return by_family
        if thinking:
            return self.reasoning_parser_for_think_tags
        return None


@dataclass(frozen=True)
class Features:
    """What the README's feature matrix says, repeated in the rendered LiteLLM config comments."""

    tools: str = "yes"  # "yes" | "partial" | "limited" | "no"
    vision: str = "yes"


@dataclass(frozen=True)
class ImageProfile:
    """What the backend's image lets a Kubernetes pod do (targets/kubernetes, k8spods.py): the Pod
    Security level it can meet, whether its root filesystem may be read-only, the paths it writes."""

    level: Literal["baseline", "restricted"]
    read_only_root: bool
    writable: tuple[tuple[str, str], ...]  # (volume name, mount path): memory-less emptyDirs it writes
    why: tuple[str, ...]  # comment lines above the pod's securityContext


def root_image(source: str) -> ImageProfile:
    """An image that runs as root and writes caches under /root: Pod Security baseline."""
    return ImageProfile("baseline", False, (), (
        f"The image runs as root (no USER in {source}) and writes caches under /root",
        "(torch compile, Triton, FlashInfer, the Hugging Face cache): Pod Security baseline. Root",
        "here holds no capability (drop ALL), cannot gain any (no privilege escalation) and is",
        "confined by the runtime's seccomp profile.",
    ))


class Backend:
    name: ClassVar[str]
    title: ClassVar[str]
    defaults: ClassVar[Defaults]
    args_model: ClassVar[type[BackendArgs]] = BackendArgs
    features: ClassVar[Features] = Features()

    # ---- what it serves -----------------------------------------------------------------
    formats: ClassVar[frozenset[str]] = frozenset({"hf"})
    # Formats `--backend auto` sends here (each format belongs to exactly one backend).
    auto_for: ClassVar[frozenset[str]] = frozenset()
    # False for a gateway-only backend: no container, the model is served elsewhere.
    runs_service: ClassVar[bool] = True
    # Splits one model over several GPUs by tensor parallelism (`--tensor-parallel`).
    tensor_parallel: ClassVar[bool] = True
    # Takes a separate vision projector file (`--mmproj`).
    projector: ClassVar[bool] = False

    # ---- parsers (names the pinned version really ships; read through facts()) ---------
    tool_parsers: ClassVar[frozenset[str]] = frozenset()  # empty: no parser switch
    tool_parser_by_family: ClassVar[Mapping[str, str]] = {}
    reasoning_parsers: ClassVar[frozenset[str]] = frozenset()
    # family -> parser; None: the family reasons in a format the server handles by itself.
    reasoning_parser_by_family: ClassVar[Mapping[str, str | None]] = {}
    # For a model whose chat template thinks in <think> tags but whose family has no entry.
    reasoning_parser_for_think_tags: ClassVar[str | None] = None

    # ---- the gateway ----------------------------------------------------------------------
    # LiteLLM route prefix: hosted_vllm/ speaks the backend's /v1/chat/completions for OpenAI
    # and Anthropic requests alike (openai/ would send Anthropic requests to /v1/responses).
    litellm_route: ClassVar[str] = "hosted_vllm"
    # Anthropic /v1/messages. `messages_since`: the first version known to serve it natively
    # (None: no release known). `anthropic_route`: how the gateway hands Anthropic requests to a
    # version that serves it, decided from measurements (benchmarks/RESULTS.md, "native vs
    # translated"): "native" passes them through untranslated (LiteLLM's model_info
    # supported_endpoints), "translated" turns them into chat completions. Versions without the
    # route are always translated; `--anthropic-route` overrides the default.
    messages_since: ClassVar[str | None] = None
    anthropic_route: ClassVar[str] = "translated"
    # Whose chat-template rendering it shares (model/chat_template.py ENGINES): vLLM, SGLang and
    # TensorRT-LLM render through transformers; None: the template is not known (served elsewhere).
    template_engine: ClassVar[str | None] = "transformers"

    # ---- the container ------------------------------------------------------------------
    # What its image lets a Kubernetes pod do; unknown images are taken to run as root.
    image_profile: ClassVar[ImageProfile] = root_image("its Dockerfile: not known to llmstack")
    # NCCL / pinned memory needs of multi-GPU serving.
    ipc_host: ClassVar[bool] = False
    ulimits: ClassVar[bool] = False
    # Health probe period once started. Short, because engines older than 25 ignore
    # start_interval and then only `interval` decides how soon readiness is noticed.
    health_interval: ClassVar[str] = "2s"
    # What the healthcheck (Compose) and the probes (Kubernetes httpGet) ask: 200 once serving.
    health_path: ClassVar[str] = "/health"
    # The args key holding the share of GPU memory the backend may use (None: not tunable).
    memory_arg: ClassVar[str | None] = None

    # ---- the flags its command derives ----------------------------------------------------
    derived_flags: ClassVar[tuple[DerivedFlag, ...]] = ()
    # How the server's parser matches a flag name: "exact", "argparse" (also an unambiguous
    # prefix of a long option), "argparse-dashes" (vLLM's FlexibleArgumentParser: `_` reads as `-`).
    flag_matching: ClassVar[str] = "exact"

    # ---- images -------------------------------------------------------------------------
    def image(self, repository: str, version: str, gpu: bool) -> str | None:
        """Full image reference for a pinned version; None when there is no such image (e.g. no CPU build)."""
        return f"{repository}:{version}" if gpu else None

    # ---- decisions ----------------------------------------------------------------------
    def version_key(self, version: str) -> tuple[int, ...] | None:
        """A comparable form of a release name (`v0.12.0` -> (0, 12, 0), `b7349` -> (7349,)); None
        for names that are no release number (`latest`, `nightly`, a digest)."""
        match = re.fullmatch(r"[vb]?(\d+(?:\.\d+)*)", version.strip())
        return tuple(int(part) for part in match.group(1).split(".")) if match else None

    def facts(self, version: str | None) -> EngineFacts:
        """What the release `version` has (None: an image given as is, whose release is unknown)."""
        serves = self._serves_messages(version)
        route = "native" if self.anthropic_route == "native" and serves else "translated"
        return EngineFacts(version, self.tool_parsers, self.tool_parser_by_family, self.reasoning_parsers,
                           self.reasoning_parser_by_family, self.reasoning_parser_for_think_tags, serves,
                           self.messages_since, route)

    def _serves_messages(self, version: str | None) -> bool | None:
        """Does this version serve POST /v1/messages itself? None when nobody knows (no release
        known to serve it, or a version that is no release number)."""
        if self.messages_since is None or version is None:
            return None
        have, since = self.version_key(version), self.version_key(self.messages_since)
        if have is None or since is None:
            return None
        return have >= since

    @property
    def command_args(self) -> frozenset[str]:
        """The `args:` keys its command reads (the rest of BackendArgs is llmstack's own: the context)."""
        return frozenset(self.args_model.model_fields) - frozenset(BackendArgs.model_fields)

    @property
    def cpu_image(self) -> bool:
        return self.image(self.defaults.image, self.defaults.version, gpu=False) is not None

    def tools_without_parser(self) -> bool:
        """Tool calls come from the chat template (no parser switch): llama.cpp."""
        return False

    def served_name(self, model: ModelSpec) -> str:
        return model.served_name

    def format_args(self, fmt: str) -> dict[str, Any]:
        """Args a model format forces unless set by hand (a built engine has its backend baked in)."""
        return {}

    def built_engine(self, fmt: str) -> bool:
        """The format is a built engine, with its context length and tensor-parallel size baked in:
        no default context is passed, and the GPUs must match the engine's."""
        return False

    def kv_sequences(self, args: Mapping[str, Any]) -> int:
        """How many full-context sequences the KV cache must hold for the server to start."""
        return 1

    def memory_share(self, args: Mapping[str, Any]) -> float:
        """The fraction of each GPU's memory this backend plans to use."""
        if self.memory_arg and args.get(self.memory_arg) is not None:
            return float(args[self.memory_arg])
        return 0.9

    def derived_flag(self, arg: str) -> tuple[DerivedFlag, bool] | None:
        """The derived flag an extra argument names, in any spelling the server's parser accepts,
        and whether it was an abbreviation; None for anything else."""
        name = arg.split("=", 1)[0]
        if not name.startswith("-"):
            return None
        if self.flag_matching == "argparse-dashes" and name.startswith("--"):
            name = "--" + name[2:].replace("_", "-")
        for derived in self.derived_flags:
            if name in derived.spellings:
                return derived, False
        if self.flag_matching.startswith("argparse") and name.startswith("--") and len(name) > 3:
            hits = [d for d in self.derived_flags if any(s.startswith(name) for s in d.spellings)]
            if len(hits) == 1:
                return hits[0], True
        return None

    # ---- the container ------------------------------------------------------------------
    def command(self, model: ModelSpec, host: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def healthcheck(self, host: str, port: int) -> list[str]:
        """Probe /health with curl (present in the vLLM, SGLang and llama.cpp images)."""
        return ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://{host}:{port}{self.health_path}"]


def python_healthcheck(host: str, port: int, path: str = "/health") -> list[str]:
    """A probe for images that ship python3 but not curl."""
    return [
        "CMD",
        "python3",
        "-c",
        f"import urllib.request; urllib.request.urlopen('http://{host}:{port}{path}', timeout=4)",
    ]
