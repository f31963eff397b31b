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

from pydantic import BaseModel, ConfigDict, Field

from llmstack.catalog.families import Switch
from llmstack.model.families import always_reasons, thinks_by_default

if TYPE_CHECKING:  # pragma: no cover
    from llmstack.catalog import Entry
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


# Tokens per streamed chunk, for a server that sends the first token at once and then one chunk
# per `stream_interval` tokens (vLLM and SGLang `--stream-interval`, `args.stream_interval`). The
# gateway's work is per chunk (benchmarks/PROFILE.md: about 1 ms of LiteLLM's Python per chunk,
# on the CPU the engine needs too), so fewer chunks leave the engine more of it; the first token is
# not held back. MEASURED on the real vLLM (CPU build), benchmarks/RESULTS.md "Gateway path": one
# streamed chat client keeps 79-92% of direct tokens/s through the gateway at 4 (two runs), against
# 74% at 1; 32 clients 34-39% against 25% (8 tokens kept more at 8 clients, with chunks twice as
# coarse). At GPU speeds (50-150 tokens/s a stream) 4 tokens are 25-80 ms apart, smooth to the eye;
# agent clients (Claude Code, Codex) read whole answers.
STREAM_INTERVAL = 4


class StreamArgs(BackendArgs):
    """The `args:` of a server with `--stream-interval`."""

    stream_interval: int | None = Field(default=None, ge=1, le=1024)


def stream_interval_args(model: ModelSpec) -> list[str]:
    """`--stream-interval N` when the model's args set it."""
    value = model.args.get("stream_interval")
    return ["--stream-interval", str(value)] if value is not None else []


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
    secret: bool = False  # its value is a secret: an error shows the flag, never the value


# Why a server's key flag is never taken as an extra argument.
SECRET_FLAG = ("a secret, never written into a command line (the committed files, `ps`): llmstack passes the "
               "backend's own key from .env when it publishes the backend beyond this host")


@dataclass(frozen=True)
class EngineFacts:
    """What one release of an engine is known to have: the parser names it ships and which one a
    model family gets, the switches a family needs, the server flags it takes, its images and
    whether it serves Anthropic's /v1/messages itself. Resolution asks a backend for the facts of
    the version it renders (`Backend.facts`) and reads nothing else of the kind. A catalogued
    backend answers from the catalogue entry of that version (`catalog.nearest`) and the one
    family x backend table (catalog/families.py); a backend without a catalogue (a plugin, a test's
    toy) from its class constants."""

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
    # ---- from the engine catalogue (None / empty for a backend without one) ----
    entry: Entry | None = None  # the catalogue entry read: this version's own, or the nearest older one
    note: str | None = None  # set when the entry is not this version's own
    route_why: str = ""  # why the default route is what it is (the rendered comment says it)
    # The registries list every name the release accepts (False: a partial extract: TRT-LLM).
    parsers_complete: bool = True
    tool_auto: bool = False  # the server takes `auto` as a tool-call parser name
    reasoning_auto: bool = False
    # family -> the parser names the family table wants, for a family this version has none of.
    tool_parser_wanted: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    switches_by_family: Mapping[str, tuple[Switch, ...]] = field(default_factory=dict)

    def tool_parser_for(self, family: str | None) -> str | None:
        return self.tool_parser_by_family.get(family or "")

    def reasoning_parser_for(self, family: str | None, thinking: bool | None) -> str | None:
        """A parser for models that think: by family, else the generic <think>-tag parser."""
        if family is not None and family in self.reasoning_parser_by_family \
                and self.reasoning_parser_by_family[family] is None:
            return None
        by_family = self.reasoning_parser_by_family.get(family or "")
        if by_family and (thinking or always_reasons(family) or (thinking is None and thinks_by_default(family))):
            return by_family
        if thinking:
            return self.reasoning_parser_for_think_tags
        return None

    def switches_for(self, family: str | None) -> tuple[Switch, ...]:
        return self.switches_by_family.get(family or "", ())

    @property
    def exact(self) -> bool:
        """The catalogue entry read is this version's own (what it lacks, it lacks); not for an image
        given as is, whose release is unknown (the pin's entry stands in for it)."""
        return self.entry is not None and self.note is None and self.version is not None

    def accepts_flag(self, flag: str) -> bool | None:
        """Does the release take this server flag? None: nobody can tell (no entry, an entry that is
        not this version's own, or a partial flag list)."""
        if self.entry is None:
            return None
        if self.entry.accepts_flag(flag):
            return True
        return False if self.exact and self.entry.flags_complete else None


@dataclass(frozen=True)
class EnvVar:
    """An environment variable of the backend's container, with the reason the rendered comment gives."""

    name: str
    value: str
    why: str
    # Compose: a `.env` variable that replaces `value` on another host (`${variable:-value}`); for
    # what depends on the host it runs on (its cores), not on the model.
    variable: str | None = None


@dataclass(frozen=True)
class CpuThreads:
    """How the server is told a number of compute threads: on Kubernetes, from the pod's CPU limit
    (a server counts the node's cores otherwise, whatever its quota)."""

    count: str  # the variable taking the count (LLAMA_ARG_THREADS, OMP_NUM_THREADS)
    fixed: tuple[tuple[str, str], ...] = ()  # what else makes that count apply (name, value)
    why: str = ""


@dataclass(frozen=True)
class Container:
    """What a backend's container needs for one model besides its command and mounts: written by
    every target alike (compose service keys, the Kubernetes pod)."""

    environment: tuple[EnvVar, ...] = ()
    ipc_host: bool = False  # the host's IPC namespace (NCCL / CUDA IPC between GPU workers)
    ulimits: bool = False  # memlock unlimited, a 64 MiB stack
    shm_size: str | None = None  # Compose `shm_size` (None: Docker's 64 MiB, or the host's with ipc_host)
    shm_why: str = ""
    start_minutes: int = 10  # how long a start may take before failed health probes count
    start_why: str = ""


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


@dataclass(frozen=True)
class ImageChoice:
    """The image a model runs, and what the host needs for it (recorded in the manifest for doctor)."""

    ref: str
    kind: str  # "cuda" | "cpu"
    cuda: str | None = None
    min_driver: str | None = None
    cpu_features: tuple[str, ...] = ()
    why: str = ""  # why not the default image of its kind (a CUDA version asked for, the host's driver)


class NoImage(LookupError):
    """A version publishes no image of the kind asked for; `having`: catalogued versions that do."""

    def __init__(self, reason: str, having: list[str]) -> None:
        super().__init__(reason)
        self.reason, self.having = reason, having


def _default_image(images: list[Any]) -> Any:
    return next((image for image in images if image.default), images[0])


def _cuda_matches(built: str | None, asked: str) -> bool:
    return built is not None and (built == asked or built.startswith(asked + "."))


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _driver_runs(driver: str, minimum: str | None) -> bool:
    return minimum is None or _numbers(driver) >= _numbers(minimum)


def _first(names: tuple[str, ...] | None, accepts: Any) -> str | None:
    return next((name for name in names or () if accepts(name)), None)


def _catalogued_facts(backend: Backend, version: str | None) -> EngineFacts:
    """The facts of a catalogued backend's `version`: its catalogue entry (or the nearest older one,
    with a note) and the family table's rows read against its registries."""
    from llmstack import catalog
    from llmstack.catalog import families as table

    if version is not None and backend.version_key(version) is None:  # `latest`, `nightly`: no release number
        entry = catalog.newest(backend.name)
        note: str | None = (f"{backend.name} {version} is no release number: using what {entry.version} (the newest "
                            f"catalogued version) ships; flags and parser names may differ in {version}")
    else:
        resolved = catalog.nearest(backend.name, version or backend.defaults.version)
        entry, note = resolved.entry, resolved.note if version is not None else None
    tools, reasons = entry.tool_parsers, entry.reasoning_parsers
    tool_by_family: dict[str, str] = {}
    reasoning_by_family: dict[str, str | None] = {}
    wanted: dict[str, tuple[str, ...]] = {}
    switches: dict[str, tuple[Switch, ...]] = {}
    for family in table.TABLE:
        row = table.serving(family, backend.name)
        if row is None:  # a family some other engine parses: this one has no row for it
            if tools is not None:
                wanted[family] = ()
            continue
        tool = _first(row.tool, tools.accepts) if tools else None
        if tool:
            tool_by_family[family] = tool
        elif row.tool:
            wanted[family] = row.tool
        if row.reasoning is None:
            reasoning_by_family[family] = None
        elif reasons is not None and (reasoning := _first(row.reasoning, reasons.accepts)):
            reasoning_by_family[family] = reasoning
        if row.switches:
            switches[family] = row.switches
    think = _first(table.THINK_TAGS.get(backend.name), reasons.accepts) if reasons else None
    endpoint = entry.endpoints.get("/v1/messages")
    firsts = [v for v in catalog.versions(backend.name) if "/v1/messages" in catalog.entry(backend.name, v).endpoints]
    known = [v for v in (backend.messages_since, firsts[0] if firsts else None) if v]
    since = min(known, key=lambda v: backend.version_key(v) or ()) if known else None
    serves = backend._serves_messages(version, since) if version is not None else None
    older_than_all = note is not None and "older than every" in note
    claude_code = None if endpoint is None or older_than_all else endpoint.claude_code
    route, why = backend.default_route(version, serves, claude_code)
    return EngineFacts(
        version, (tools.names | ({"auto"} if tools.auto else set())) if tools else frozenset(), tool_by_family,
        (reasons.names | ({"auto"} if reasons.auto else set())) if reasons else frozenset(), reasoning_by_family,
        think, serves, since, route, entry=entry, note=note, route_why=why,
        parsers_complete=all(p.complete for p in (tools, reasons) if p is not None),
        tool_auto=bool(tools and tools.auto), reasoning_auto=bool(reasons and reasons.auto),
        tool_parser_wanted=wanted, switches_by_family=switches)


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

    # ---- parsers: a backend without a catalogue only (the catalogue answers for the others) ----
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
    # (None: no release known; the catalogue adds what its entries serve). `anthropic_routes`: the
    # default route per version, ONE field a measurement sets: (first version, route, why) rows,
    # each holding until the next. "native" passes Anthropic requests through untranslated
    # (LiteLLM's model_info supported_endpoints), "translated" turns them into chat completions,
    # "catalogue" is native where the version's catalogue entry says its /v1/messages takes Claude
    # Code's shapes (`catalog.claude_code_route_since`). Versions without the route are always
    # translated; `--anthropic-route` overrides the default.
    messages_since: ClassVar[str | None] = None
    anthropic_routes: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    # A backend without a catalogue: its one default route.
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
    # Memory of the server's own processes on the CPU, besides weights and KV cache (Kubernetes
    # requests), and how it is told its thread count there (None: it takes no count).
    cpu_overhead_gib: ClassVar[float] = 1.0
    cpu_threads: ClassVar[CpuThreads | None] = None
    # On the CPU its KV cache has a size set in advance (`--cpu-kv-cache`, else room for
    # `kv_sequences` full-context sequences): ModelSpec.kv_cache_gib, read by `container()`.
    cpu_kv_cache: ClassVar[bool] = False
    # Health probe period once started. Short, because engines older than 25 ignore
    # start_interval and then only `interval` decides how soon readiness is noticed.
    health_interval: ClassVar[str] = "2s"
    # What the healthcheck (Compose) and the probes (Kubernetes httpGet) ask: 200 once serving.
    health_path: ClassVar[str] = "/health"
    # The args key holding the share of GPU memory the backend may use (None: not tunable).
    memory_arg: ClassVar[str | None] = None

    # ---- its own API key (a backend published beyond this host needs one: resolve/exposure.py) ----
    # The environment variable the server reads its key from (upstream's name), and its flag.
    # A key goes in through the environment, never the command line (`ps` shows every user the
    # command line of every process; the environment only to its owner). A server with a flag but
    # no variable gets a launcher that reads the key from `key_variable()` (see SGLang). Neither:
    # the server cannot be keyed (TensorRT-LLM), so it is never published beyond this host.
    api_key_env: ClassVar[str | None] = None
    api_key_flag: ClassVar[str | None] = None

    # ---- the flags its command derives ----------------------------------------------------
    derived_flags: ClassVar[tuple[DerivedFlag, ...]] = ()
    # How many leading words of `command` start the program (`python3 -m sglang.launch_server`):
    # the server's own options follow them.
    program_words: ClassVar[int] = 0
    # How the server's parser matches a flag name: "exact", "argparse" (also an unambiguous
    # prefix of a long option), "argparse-dashes" (vLLM's FlexibleArgumentParser: `_` reads as `-`).
    flag_matching: ClassVar[str] = "exact"

    # ---- images -------------------------------------------------------------------------
    def image(self, repository: str, version: str, gpu: bool) -> str | None:
        """A backend without a catalogue: the image of a version; None when there is none (no CPU build).
        A catalogued backend's images come from its entries (`pick_image`)."""
        return f"{repository}:{version}" if gpu else None

    @property
    def catalogued(self) -> bool:
        from llmstack import catalog

        return self.name in catalog.backends()

    def pick_image(self, engine: EngineFacts, repository: str, version: str, kind: str, cuda: str | None = None,
                   driver: str | None = None) -> ImageChoice:
        """The image of `version` from its catalogue entry: `kind` "cuda" or "cpu"; `cuda` a CUDA
        version asked for (`12`, `12.9`), else the default CUDA image, or one the host's `driver`
        runs. NoImage says why there is none. `repository` replaces the entry's repository (a
        mirror) unless it is the backend's default."""
        from llmstack import catalog

        assert engine.entry is not None
        entry = engine.entry
        images = [image for image in entry.images if image.kind == kind]
        if not images:
            having = [v for v in catalog.versions(self.name) if catalog.entry(self.name, v).image(kind)]
            raise NoImage(f"{self.title} {version} publishes no {'CPU' if kind == 'cpu' else 'CUDA'} image", having)
        chosen, why = _default_image(images), ""
        if cuda is not None:
            matching = [image for image in images if _cuda_matches(image.cuda, cuda)]
            if not matching:
                builds = sorted({image.cuda for image in images if image.cuda})
                having = [v for v in catalog.versions(self.name)
                          if any(_cuda_matches(i.cuda, cuda) for i in catalog.entry(self.name, v).images)]
                built = f"its images are built for CUDA {', '.join(builds)}" if builds else \
                    "the catalogue records no CUDA version for its images"
                raise NoImage(f"{self.title} {version} publishes no CUDA {cuda} image ({built})", having)
            chosen, why = _default_image(matching), f"CUDA {cuda} asked for"
        elif driver is not None and not _driver_runs(driver, chosen.min_driver):
            fitting = [image for image in images if _driver_runs(driver, image.min_driver)]
            if not fitting:
                having = [v for v in catalog.versions(self.name)
                          if any(i.kind == kind and _driver_runs(driver, i.min_driver)
                                 for i in catalog.entry(self.name, v).images)]
                raise NoImage(f"{self.title} {version}'s images need NVIDIA driver >= {chosen.min_driver} (CUDA "
                              f"{chosen.cuda}); this host's driver is {driver} (nvidia-smi): upgrade the driver",
                              having)
            chosen, why = _default_image(fitting), f"this host's driver {driver} (nvidia-smi) is older than " \
                                                   f"{chosen.min_driver}, which {chosen.ref} needs"
        return ImageChoice(self._retag(chosen.ref, entry.version, version, repository), kind, chosen.cuda,
                           chosen.min_driver, chosen.cpu_features, why)

    def _retag(self, ref: str, catalogued: str, version: str, repository: str) -> str:
        """The entry's image reference for `version` (the nearest entry's tag scheme when the version
        is not catalogued), in `repository` when it is not the default one (a mirror keeps the
        suffix a CPU repository adds to the default one: `vllm-openai` -> `vllm-openai-cpu`)."""
        repo, _, tag = ref.rpartition(":")
        tag = tag.replace(catalogued, version) if catalogued in tag else version
        if repository != self.defaults.image:
            suffix = repo[len(self.defaults.image):] if repo.startswith(self.defaults.image) else ""
            repo = repository + suffix
        return f"{repo}:{tag}"

    # ---- decisions ----------------------------------------------------------------------
    def version_key(self, version: str) -> tuple[int, ...] | None:
        """A comparable form of a release name (`v0.12.0` -> (0, 12, 0), `b7349` -> (7349,)); None
        for names that are no release number (`latest`, `nightly`, a digest)."""
        match = re.fullmatch(r"[vb]?(\d+(?:\.\d+)*)", version.strip())
        return tuple(int(part) for part in match.group(1).split(".")) if match else None

    def facts(self, version: str | None) -> EngineFacts:
        """What the release `version` has (None: an image given as is, whose release is unknown:
        the pinned release's parser names then)."""
        if not self.catalogued:
            serves = self._serves_messages(version)
            route = "native" if self.anthropic_route == "native" and serves else "translated"
            return EngineFacts(version, self.tool_parsers, self.tool_parser_by_family, self.reasoning_parsers,
                               self.reasoning_parser_by_family, self.reasoning_parser_for_think_tags, serves,
                               self.messages_since, route)
        return _catalogued_facts(self, version)

    def _serves_messages(self, version: str | None, since: str | None = None) -> bool | None:
        """Does this version serve POST /v1/messages itself? None when nobody knows (no release
        known to serve it, or a version that is no release number)."""
        since = since or self.messages_since
        if since is None or version is None:
            return None
        have, first = self.version_key(version), self.version_key(since)
        if have is None or first is None:
            return None
        return have >= first

    def default_route(self, version: str | None, serves: bool | None, claude_code: bool | None) -> tuple[str, str]:
        """(route, why) by `anthropic_routes`: the row of the latest first version at or before `version`."""
        what = f"{self.title} {version}" if version else self.title
        have = self.version_key(version) if version else None
        row = None
        for since, route, why in self.anthropic_routes:
            first = self.version_key(since)
            if have is not None and first is not None and have >= first:
                row = (route, why)
        if row is None or not serves:
            return "translated", f"the default for {what}"
        route, why = row
        if route == "catalogue":
            if claude_code:
                return "native", f"the default for {what}: {why}"
            return "translated", f"the default for {what}: its /v1/messages does not take Claude Code's requests " \
                                 "(role system inside messages, thinking blocks) by the catalogue"
        return route, f"the default for {what}" + (f": {why}" if why else "")

    @property
    def command_args(self) -> frozenset[str]:
        """The `args:` keys its command reads (the rest of BackendArgs is llmstack's own: the context)."""
        return frozenset(self.args_model.model_fields) - frozenset(BackendArgs.model_fields)

    @property
    def keyable(self) -> bool:
        """Can the server require an API key of every request (but its health probe)?"""
        return bool(self.api_key_env or self.api_key_flag)

    def key_variable(self) -> str | None:
        """The variable of the container's environment that holds the key, when it is keyed."""
        return self.api_key_env

    @property
    def cpu_image(self) -> bool:
        """Does some release of it run on the CPU (a CPU image)?"""
        if self.catalogued:
            from llmstack import catalog

            return any(catalog.entry(self.name, v).image("cpu") for v in catalog.versions(self.name))
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
    def container(self, model: ModelSpec) -> Container:
        """What the model's container needs besides its command: GPU workers share memory with the
        host's IPC namespace; a model load takes many minutes on GPUs (and a hub download first)."""
        gpu = model.gpus.enabled
        return Container(ipc_host=self.ipc_host and gpu, ulimits=self.ulimits and gpu,
                         start_minutes=30 if gpu else 10,
                         start_why="Model load can take minutes")

    def command(self, model: ModelSpec, host: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def argv(self, model: ModelSpec, host: str) -> list[str]:
        """Everything the container is started with: the command, the family's switches, the extra arguments."""
        return self.command(model, host) + list(model.switches) + list(model.extra_args)

    def server_options(self, model: ModelSpec) -> list[str]:
        """The option names the server is started with, in order (the program's own words left out)."""
        return [name for arg in self.argv(model, "0.0.0.0")[self.program_words:] if (name := flag_name(arg))]

    def healthcheck(self, host: str, port: int) -> list[str]:
        """Probe /health with curl (present in the vLLM, SGLang and llama.cpp images)."""
        return ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://{host}:{port}{self.health_path}"]


def key_launcher(module: str, flag: str, variable: str) -> list[str]:
    """`python3 -c ...` running `module` as `python3 -m module` would, with `flag KEY` added to its
    arguments from the environment variable `variable`: for a server that takes its key only as a
    flag. The key is in the process's memory and its (owner-only) environment, never its command
    line (/proc/PID/cmdline, which `ps` shows every user, and `docker inspect`'s Args)."""
    return ["python3", "-c",
            f"import os, runpy, sys; sys.argv += [{flag!r}, os.environ[{variable!r}]]; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"]


def flag_name(arg: str) -> str | None:
    """The option an argument names (`--x=1` -> `--x`); None for a value (`-1`, `mistral`)."""
    if not re.match(r"-{1,2}[A-Za-z]", arg):
        return None
    return arg.split("=", 1)[0]


def python_healthcheck(host: str, port: int, path: str = "/health") -> list[str]:
    """A probe for images that ship python3 but not curl."""
    return [
        "CMD",
        "python3",
        "-c",
        f"import urllib.request; urllib.request.urlopen('http://{host}:{port}{path}', timeout=4)",
    ]
