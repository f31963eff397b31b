"""Per-model stages, in order: the model and its backend -> args -> extra args -> alias -> (a
gateway-only model ends here) -> GPUs and tensor parallelism -> context -> parsers -> service ->
mounts, projector, vision -> image -> Anthropic route -> the ModelSpec.

Each stage reads its values from the model's lookup (flag > stack model > stack > models.yaml
defaults > the backend's built-in defaults), checks them against the model's facts and the
backend's capabilities, and records where each decided value came from (`origins`, for the
rendered comments). Nothing here names a backend or tests a backend's formats: backends/ says
what each can do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmstack import backends, sources
from llmstack.backends.base import FILE_FORMATS, FORMAT_NAMES, MODEL_KINDS, Backend, EngineFacts
from llmstack.configfile import check_args
from llmstack.errors import InputError, PlanError
from llmstack.manifest import RecordedModel
from llmstack.memory import tensor_parallel_fits, tensor_parallel_sizes
from llmstack.mounts import host_path, variable
from llmstack.mounts import mounts as model_mounts
from llmstack.options import by_key
from llmstack.paths import MANIFEST
from llmstack.provenance import Layers, Sourced, derived
from llmstack.resolve import checks
from llmstack.resolve.inputs import Inputs, backend_defaults, no_control_chars
from llmstack.sources import ModelSource
from llmstack.spec import ALIAS_RE, SERVICE_RE, GpuSpec, ModelSpec, Mount

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
URL = re.compile(r"https?://[^\s/]+(/\S*)?")


@dataclass
class Draft:
    """One model on its way to a ModelSpec: what the stages decided so far, and why."""

    index: int
    single: bool
    lookup: Layers
    source: ModelSource
    backend: Backend
    engine: EngineFacts
    origins: dict[str, str]
    args: dict[str, Any] = field(default_factory=dict)
    alias: str = ""
    gpus: GpuSpec = field(default_factory=lambda: GpuSpec(kind="all"))
    gpus_given: Sourced[Any] | None = None
    tensor_parallel: int | None = None
    max_model_len: int | None = None
    tool_parser: str | None = None
    reasoning_parser: str | None = None
    service: str = ""
    mounts: tuple[Mount, ...] = ()
    model_arg: str = ""
    mmproj_arg: str | None = None
    vision: tuple[bool, str] = (False, "")
    image: str = ""


@dataclass(frozen=True)
class Context:
    """What every model's stages share: where the stack is written, whether it has a gateway, what
    an earlier render recorded of its models, and the environment (the Hugging Face cache)."""

    output_dir: Path
    gateway_on: bool
    recorded: Mapping[str, RecordedModel]
    env: Mapping[str, str]
    notices: list[str]


def resolve_model(inputs: Inputs, index: int, context: Context) -> tuple[ModelSpec, ModelSource]:
    """Stage 6: one model of the stack, stage by stage."""
    draft = read_model(inputs, index, context)
    read_args(draft)
    check_extra_args(draft)
    draft.alias = alias(draft, inputs)
    if not draft.backend.runs_service:
        return external_model(draft, context.gateway_on), draft.source
    refuse_api_base(draft)
    gpus_and_tensor_parallel(draft)
    context_length(draft)
    parsers(draft)
    draft.service = service_name(draft)
    mounts_and_vision(draft, context.output_dir)
    image(draft)
    return assemble(draft, context.gateway_on), draft.source


# ---- the model and its backend ------------------------------------------------------------------

def read_model(inputs: Inputs, index: int, context: Context) -> Draft:
    """What the model is (its facts, read from its files, the hub cache or the manifest) and which
    backend serves it; the backend's defaults join the lookup."""
    lookup = inputs.models[index]
    given = lookup.get("model")
    assert given is not None
    no_control_chars(given)
    requested = lookup.get("backend") or Sourced("auto", derived("default"))
    elsewhere = _gateway_only(requested.value) or (requested.value == "auto" and lookup.get("api_base") is not None)
    source = sources.classify(given, context.recorded.get(given.value), elsewhere, context.env)
    backend = choose_backend(requested, source)
    lookup = lookup.extended(*backend_defaults(inputs.config, backend, backend.format_args(source.format),
                                               source.format))
    inputs.models[index] = lookup
    for note in source.facts.notes:
        context.notices.append(f"{source.text}: {note}")
    if source.from_manifest:
        context.notices.append(f"{source.text}: not on this host; using the facts recorded in "
                               f"{context.output_dir / MANIFEST}")
    version = None if lookup.get("image") is not None else lookup.value("version")  # unknown for an image as is
    origins = {"backend": (requested.origin if requested.value != "auto" else
                           derived(f"auto: {source.format} model")).describe()}
    return Draft(index, inputs.single, lookup, source, backend, backend.facts(version), origins)


def _gateway_only(name: Any) -> bool:
    known = backends.registry()
    return name in known and not known[name].runs_service


def choose_backend(requested: Sourced[str], source: ModelSource) -> Backend:
    known = backends.names()
    if requested.value != "auto" and requested.value not in known:
        raise InputError(f"{requested.label()}: unknown backend; choose one of auto, {', '.join(known)}")
    source.check_servable()
    fmt = source.servable_format
    if requested.value == "auto":
        chosen = backends.for_format(fmt)
        assert chosen is not None, f"no backend serves {fmt}"
        return chosen
    backend = backends.get(requested.value)
    if fmt in backend.formats:
        return backend
    what = FORMAT_NAMES.get(fmt, f"a {fmt} model")
    if len(backend.formats) == 1 and next(iter(backend.formats)) in FILE_FORMATS:
        takes, how = FILE_FORMATS[next(iter(backend.formats))]
        raise InputError(f"{source.given.label()}: {backend.title} serves {takes}, but this is {what}; "
                         f"{how} or choose another --backend")
    servers = [b.title for b in backends.registry().values() if fmt in b.formats]
    serving = backends.for_format(fmt)
    hint = f"use --backend {serving.name} (or auto)" if serving else "choose another --backend"
    raise InputError(f"{source.given.label()}: {what} cannot be served by {backend.title} "
                     f"(served by {', '.join(servers) or 'no backend'}); {hint}")


# ---- args and extra args ---------------------------------------------------------------------------

def read_args(draft: Draft) -> None:
    """`args:` checked against the backend (known only now with `backend: auto`); the ones its
    command reads are read here, the context (`args.max_model_len`) by its own stage."""
    lookup, backend = draft.lookup, draft.backend
    given = {key.removeprefix("args."): lookup.peek(key) for key in lookup.keys("args.")}
    check_args(backend, {key: found for key, found in given.items() if found is not None})
    for key in sorted(backend.command_args & set(given)):
        found = lookup.get(f"args.{key}")
        if found is not None:
            draft.args[key] = found.value


def check_extra_args(draft: Draft) -> None:
    """An extra argument naming a flag the backend derives would contradict the comment, the memory
    plan and the manifest: refused, naming what decides that flag."""
    extra, backend = draft.lookup.get("extra_args"), draft.backend
    for arg in extra.value if extra is not None else ():
        found = backend.derived_flag(str(arg))
        if found is None:
            continue
        derived_flag, abbreviated = found
        assert extra is not None
        name = derived_flag.spellings[0]
        what = (f"{backend.title} reads it as {name}, which llmstack derives" if abbreviated
                else f"llmstack derives {backend.title}'s {name}")
        raise InputError(f"{extra.label(arg)}: {what}; {_how_to_set(backend, derived_flag.setting, derived_flag.why)}")


def _how_to_set(backend: Backend, setting: str, why: str) -> str:
    if setting.startswith("args."):
        key = setting.removeprefix("args.")
        return (f"set args: {{{key}: ...}} on the model in models.yaml (or defaults.backends.{backend.name}.args) "
                "instead")
    if setting == "network":
        return "the listen address follows --network and --bind"
    option = by_key("model", setting)
    if option is not None:
        return f"use {option.flag} instead ({setting}: on a model in models.yaml)"
    return f"it is {why}; drop it"


def alias(draft: Draft, inputs: Inputs) -> str:
    """The model name clients ask the gateway for."""
    found = draft.lookup.get("alias")
    if found is None and draft.single:
        found = inputs.settings.get("litellm.alias")
    if found is None:
        found = Sourced(checks.slugify(draft.source.display_name.split("/")[-1]), derived("the model's name"))
    if not isinstance(found.value, str) or not ALIAS_RE.match(found.value):
        raise InputError(f"{found.label(repr(found.value))}: LiteLLM model names may use letters, digits, '.', "
                         "'_', ':' and '-' (no spaces or slashes), e.g. local-model")
    return found.value


# ---- a model served elsewhere ------------------------------------------------------------------------

# What a server the stack does not run decides by itself.
DECIDED_ELSEWHERE = ("gpus", "tensor_parallel", "max_model_len", "tool_parser", "reasoning_parser", "mmproj", "image",
                     "version", "port", "extra_args", "replicas")


def external_model(draft: Draft, gateway_on: bool) -> ModelSpec:
    """A model another server already serves: only the gateway's route to it (replicas: several URLs)."""
    lookup, source = draft.lookup, draft.source
    if not gateway_on:
        raise InputError(f"{source.given.label()}: an external model is only reachable through the gateway; "
                         "drop --no-litellm")
    urls = _api_bases(lookup, source)
    draft.origins["api_base"] = lookup.get("api_base").origin.describe()  # type: ignore[union-attr]
    key_env = lookup.get("api_key_env")
    if key_env is not None and not ENV_NAME.fullmatch(str(key_env.value)):
        raise InputError(f"{key_env.label(repr(key_env.value))}: an environment variable name (A-Z, 0-9, _), "
                         "e.g. UPSTREAM_API_KEY")
    for key in (*DECIDED_ELSEWHERE, *lookup.keys("args.")):
        found = lookup.get(key)
        if found is not None and found.origin.from_user:
            raise InputError(f"{found.label()}: the external server decides this; drop it for --backend external")
    native = anthropic_route(draft)
    vision = lookup.get("vision")
    return ModelSpec(
        service="", alias=draft.alias, backend=draft.backend.name, display_name=source.text,
        served_name=source.text, model_arg=source.text, image="", port=0, gpus=GpuSpec(kind="none"), tools=True,
        vision=bool(vision.value) if vision is not None else False,
        vision_source="set by `vision:` in models.yaml" if vision is not None else "an external server: "
                      "set `vision: true` in models.yaml if it serves images",
        api_bases=tuple(urls), api_key_env=str(key_env.value) if key_env is not None else None,
        native_messages=native, origins=draft.origins,
    )


def _api_bases(lookup: Layers, source: ModelSource) -> list[str]:
    bases = lookup.get("api_base")
    if bases is None:
        raise InputError(f"{source.given.label()}: --backend external needs --api-base URL (where the model is "
                         "served, e.g. http://gpu-host-1:8000/v1; repeat it for replicas)")
    checked = [_check_api_base(bases, str(url)) for url in (bases.value if isinstance(bases.value, list)
                                                              else [bases.value])]
    twice = next((url for n, url in enumerate(checked) if url in checked[:n]), None)
    if twice is not None:
        raise InputError(f"{bases.label(repr(twice))}: the same URL twice; each replica needs its own --api-base")
    return checked


_SECRET_QUERY = re.compile(r"(^|&)[^=&]*(key|token|secret|passw|auth|sig)[^=&]*=", re.IGNORECASE)


def _check_api_base(bases: Sourced[Any], url: str) -> str:
    """An http(s) URL without credentials: they would land in committed files (the key goes in
    .env, named with --api-key-env). The error shows the URL with any password blanked out."""
    if not URL.fullmatch(url):
        raise InputError(f"{bases.label(repr(redact_url(url)))}: not an http(s) URL; e.g. http://gpu-host-1:8000/v1")
    parts = urlsplit(url)
    if "@" in parts.netloc or _SECRET_QUERY.search(parts.query):
        raise InputError(
            f"{bases.label(repr(redact_url(url)))}: credentials in a URL would be written into the committed "
            "files; give the URL without them and put the key in .env, named with --api-key-env NAME")
    return url.rstrip("/")


def redact_url(url: str) -> str:
    """`url` with the user info and secret-looking query values replaced by `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = re.sub(r"((?:^|&)[^=&]*(?:key|token|secret|passw|auth|sig)[^=&]*=)[^&]*", r"\1***", parts.query,
                   flags=re.IGNORECASE)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def refuse_api_base(draft: Draft) -> None:
    bases = draft.lookup.get("api_base")
    if bases is not None:
        first = bases.value[0] if isinstance(bases.value, list) else bases.value
        raise InputError(f"{bases.label(first)}: {draft.backend.title} runs in this stack; --api-base is for "
                         "--backend external")


# ---- GPUs and tensor parallelism ------------------------------------------------------------------

def gpus_and_tensor_parallel(draft: Draft) -> None:
    lookup, backend = draft.lookup, draft.backend
    given = lookup.get("gpus") or Sourced("all", derived("default"))
    try:
        draft.gpus = GpuSpec.parse(given.value)
    except ValueError:
        raise InputError(f"{given.label()}: use all, a count (2), device ids (0,2 or device=1) or none") from None
    draft.gpus_given = given
    draft.origins["gpus"] = given.origin.describe()
    tp = lookup.get("tensor_parallel")
    countable = draft.gpus.countable
    if tp is not None:
        _check_asked_tensor_parallel(draft, tp)
        draft.tensor_parallel = tp.value
        draft.origins["tensor_parallel"] = tp.origin.describe()
    elif countable and countable > 1 and backend.tensor_parallel:
        draft.tensor_parallel = countable
        tp = Sourced(countable, given.origin)
        draft.origins["tensor_parallel"] = f"the {countable} GPUs of {given.origin.describe()}"
    if tp is not None and draft.tensor_parallel and draft.tensor_parallel > 1:
        _check_heads(draft, tp)
    _check_built_engine(draft, tp)


def _check_asked_tensor_parallel(draft: Draft, tp: Sourced[Any]) -> None:
    countable = draft.gpus.countable
    assert draft.gpus_given is not None
    if tp.value < 1:
        raise InputError(f"{tp.label()}: must be 1 or more")
    if countable is not None and tp.value > max(countable, 1):
        raise InputError(f"{tp.label()} is larger than the {countable} GPU(s) requested with "
                         f"{draft.gpus_given.origin.describe()} {draft.gpus.describe()}; request more GPUs or lower "
                         "--tensor-parallel")
    if not draft.backend.tensor_parallel and tp.value > 1:
        raise InputError(f"{tp.label()}: {draft.backend.title} splits layers over all reserved GPUs by itself; "
                         "drop the flag")


def _check_heads(draft: Draft, tp: Sourced[Any]) -> None:
    """The size must split the model's attention heads and KV heads evenly."""
    source, size = draft.source, draft.tensor_parallel or 1
    facts = source.facts
    if tensor_parallel_fits(facts, size):
        return
    assert draft.gpus_given is not None
    asked = tp.origin.kind == "flag" and tp.origin.where == "--tensor-parallel" or \
        tp.origin.key.endswith("tensor_parallel")
    culprit = tp.label() if asked else f"{draft.gpus_given.label()} (tensor parallel {size})"
    good = [n for n in tensor_parallel_sizes(facts, max(size * 2, 8)) if n > 1]
    fix = f"use {' or '.join(map(str, good[:3])) or '1'} GPUs or set --tensor-parallel to such a size"
    heads, kv = facts.num_attention_heads, facts.num_kv_heads
    if heads and heads % size:
        raise PlanError(f"{culprit}: tensor parallel {size} must divide the model's {heads} attention heads "
                        f"({source.fact_origin('num_attention_heads')}); {fix}")
    raise PlanError(f"{culprit}: tensor parallel {size} does not split the model's {kv} KV heads evenly "
                    f"({source.fact_origin('num_kv_heads')}); {fix}")


def _check_built_engine(draft: Draft, tp: Sourced[Any] | None) -> None:
    """A built engine was built for one tensor-parallel size: the GPUs must match it."""
    facts, source = draft.source.facts, draft.source
    if not facts.tp_size or not draft.backend.built_engine(source.format):
        return
    if (draft.tensor_parallel or 1) != facts.tp_size:
        assert draft.gpus_given is not None
        culprit = tp.label() if tp is not None else f"{draft.gpus_given.origin.describe()} {draft.gpus.describe()}"
        raise PlanError(f"{culprit}: the engine {source.text} was built for tensor parallel {facts.tp_size} "
                        f"({source.fact_origin('tp_size')}); reserve {facts.tp_size} GPU(s) or rebuild the engine")


# ---- context and parsers -----------------------------------------------------------------------------

def context_length(draft: Draft) -> None:
    """An explicit context is checked against the model's limit; the default (`args.max_model_len`)
    is capped at it; a built engine has its own."""
    lookup, source = draft.lookup, draft.source
    limit = source.facts.context_length
    explicit = lookup.get("max_model_len")
    configured = lookup.get("args.max_model_len")
    if explicit is not None:
        if not isinstance(explicit.value, int) or explicit.value < 1:
            raise InputError(f"{explicit.label()}: must be a positive number of tokens")
        if limit and explicit.value > limit:
            raise PlanError(f"{explicit.label()}: the model's context limit is {limit} tokens "
                            f"({source.fact_origin('context_length')}); pass at most {limit}")
        draft.max_model_len, draft.origins["max_model_len"] = explicit.value, explicit.origin.describe()
    elif configured is not None and not draft.backend.built_engine(source.format):
        if limit and limit < configured.value:
            draft.max_model_len = limit
            draft.origins["max_model_len"] = (f"the model's limit ({source.fact_origin('context_length')}), below "
                                              f"{configured.origin.describe()}")
        else:
            draft.max_model_len, draft.origins["max_model_len"] = configured.value, configured.origin.describe()


def parsers(draft: Draft) -> None:
    """Tool-call and reasoning parsers: as asked (a name this release ships), else by the family."""
    facts, engine, source = draft.source.facts, draft.engine, draft.source
    draft.tool_parser = _asked_parser(draft, "tool_parser", "tool", engine.tool_parsers)
    if draft.tool_parser is None:
        draft.tool_parser = engine.tool_parser_for(facts.family)
        if draft.tool_parser:
            draft.origins["tool_parser"] = f"the {facts.family} family ({source.fact_origin('family')})"
    draft.reasoning_parser = _asked_parser(draft, "reasoning_parser", "reasoning", engine.reasoning_parsers)
    if draft.reasoning_parser is None:
        draft.reasoning_parser = engine.reasoning_parser_for(facts.family, facts.thinking)
        if draft.reasoning_parser:
            why = "thinks in <think> tags" if facts.thinking else "reasons"
            draft.origins["reasoning_parser"] = (f"the {facts.family or 'model'} family {why} "
                                                 f"({source.fact_origin('thinking')})")


def _asked_parser(draft: Draft, key: str, kind: str, known: frozenset[str]) -> str | None:
    value = draft.lookup.get(key)
    if value is None:
        return None
    title = draft.backend.title
    if not known:
        how = "tool calls follow the model's chat template" if kind == "tool" else "it reasons as it was built to"
        raise InputError(f"{value.label()}: {title} has no {kind} parser switch ({how}); drop the flag")
    if value.value not in known:
        raise InputError(f"{value.label()}: unknown to {title}; choose one of {', '.join(sorted(known))}")
    draft.origins[key] = value.origin.describe()
    return str(value.value)


def service_name(draft: Draft) -> str:
    given = draft.lookup.get("service")
    if given is not None:
        if not SERVICE_RE.match(str(given.value)):
            raise InputError(f"{given.label(repr(given.value))}: use lowercase letters, digits, '-' and '_'")
        return str(given.value)
    return "backend" if draft.single else f"backend-{checks.slugify(draft.alias)}"


# ---- what the container mounts, and vision ----------------------------------------------------------

def mounts_and_vision(draft: Draft, output_dir: Path) -> None:
    backend, source = draft.backend, draft.source
    var_prefix = "LLMSTACK_" if draft.single else f"LLMSTACK_{draft.service.upper().replace('-', '_')}_"
    mmproj = draft.lookup.get("mmproj")
    draft.mounts, draft.model_arg, draft.mmproj_arg = model_mounts(source, backend, output_dir, var_prefix,
                                                                   mmproj is None)
    if mmproj is not None:
        if not backend.projector:
            takers = " and ".join(b.title for b in backends.registry().values() if b.projector)
            raise InputError(f"{mmproj.label()}: only {takers} takes a projector file; "
                             f"{backend.title} loads vision weights from the model itself (drop --mmproj)")
        no_control_chars(mmproj)
        path = Path(mmproj.value).expanduser()
        if not path.is_file():
            raise InputError(f"{mmproj.label()}: no such file on this host; check the path")
        path = path.resolve()
        host = host_path(path, mmproj.value, output_dir)
        draft.mounts += (Mount(host_path=host, container_path=f"/mmproj/{path.name}",
                               variable=variable(f"{var_prefix}MMPROJ_FILE", host), is_file=True,
                               role="vision projector"),)
        draft.mmproj_arg = f"/mmproj/{path.name}"
    draft.vision = vision(draft, mmproj)


def vision(draft: Draft, mmproj: Sourced[Any] | None) -> tuple[bool, str]:
    """Whether the model takes images, and why we think so."""
    if draft.backend.projector:  # a separate projector file decides it: `vision:` does not apply
        draft.lookup.skip("vision")
        if mmproj is not None:
            return True, "the --mmproj projector is mounted"
        if draft.mmproj_arg is not None:
            return True, f"the projector {Path(draft.mmproj_arg).name} beside the model is mounted"
        return False, "no projector (--mmproj, or an mmproj-*.gguf beside the model)"
    explicit = draft.lookup.get("vision")
    if explicit is not None:
        return bool(explicit.value), f"set by {explicit.origin.describe()}"
    return draft.source.vision()


# ---- image and route ---------------------------------------------------------------------------------

def image(draft: Draft) -> None:
    """A full reference given as is, else the backend's repository and version (its GPU or CPU build)."""
    lookup, backend = draft.lookup, draft.backend
    explicit = lookup.get("image")
    if explicit is not None:
        lookup.skip("version", "repository")  # a full reference given as is: they do not apply
        draft.image = checks.image(explicit)
        draft.origins["image"] = explicit.origin.describe()
        return
    version, repository = lookup.get("version"), lookup.get("repository")
    assert version is not None and repository is not None
    checks.tag(version)
    built = backend.image(repository.value, str(version.value), draft.gpus.enabled)
    if built is None:
        assert draft.gpus_given is not None
        culprit = draft.gpus_given.label() if draft.gpus_given.origin.where != "--cpu" else "--cpu"
        on_cpu = [b for b in backends.registry().values() if b.runs_service and b.cpu_image]
        kinds = sorted({MODEL_KINDS[fmt] for b in on_cpu for fmt in b.formats})
        raise PlanError(
            f"{culprit}: {backend.title} has no CPU image (only {' and '.join(b.title for b in on_cpu)} runs on the "
            f"CPU); serve {' or '.join(kinds)} with --backend {' or '.join(b.name for b in on_cpu)}, reserve a "
            "GPU, or pass a CPU build with --backend-image"
        )
    draft.image = checks.image(Sourced(built, repository.origin))
    draft.origins["image"] = version.origin.describe()


def anthropic_route(draft: Draft) -> bool:
    """True when the gateway hands Anthropic /v1/messages requests to the backend untranslated; the
    version decides whether it serves them (unknown for an image given as is)."""
    asked, engine, backend = draft.lookup.get("anthropic_route"), draft.engine, draft.backend
    what = f"{backend.title} {engine.version}" if engine.version else backend.title
    if asked is None:
        if engine.serves_messages is False:
            draft.origins["anthropic_route"] = f"{what} has no /v1/messages; it came in {engine.messages_since}"
        else:
            draft.origins["anthropic_route"] = f"the default for {what}"
        return engine.anthropic_route == "native"
    if asked.value not in ("native", "translated"):
        raise InputError(f"{asked.label()}: choose native (the backend's own /v1/messages) or translated "
                         "(LiteLLM turns Anthropic requests into chat completions)")
    if asked.value == "native" and engine.serves_messages is False:
        raise InputError(f"{asked.label()}: {what} has no /v1/messages (served since {engine.messages_since}); "
                         "pick a later --backend-version or drop the setting")
    draft.origins["anthropic_route"] = asked.origin.describe()
    return asked.value == "native"


def assemble(draft: Draft, gateway_on: bool) -> ModelSpec:
    """The ModelSpec of a model the stack runs."""
    lookup, source, backend = draft.lookup, draft.source, draft.backend
    native = anthropic_route(draft)
    port = lookup.get("port")
    assert port is not None
    publish = lookup.get("publish_port")
    served = source.hub_id.split("/")[-1] if source.kind == "snapshot" and source.hub_id else source.display_name
    spec = ModelSpec(
        service=draft.service, alias=draft.alias, backend=backend.name, display_name=source.display_name,
        served_name=checks.slugify(served.removesuffix(".gguf")), model_arg=draft.model_arg,
        hub_id=source.hub_id if source.kind == "hub" else None, mounts=draft.mounts, mmproj_arg=draft.mmproj_arg,
        image=draft.image, port=checks.port(port), gpus=draft.gpus, tensor_parallel=draft.tensor_parallel,
        max_model_len=draft.max_model_len, context_limit=source.facts.context_length,
        tool_parser=draft.tool_parser, reasoning_parser=draft.reasoning_parser, family=source.facts.family,
        tools=draft.tool_parser is not None or backend.tools_without_parser(),
        vision=draft.vision[0], vision_source=draft.vision[1], args=draft.args,
        extra_args=tuple(lookup.value("extra_args", ()) or ()),
        publish_port=bool(publish.value) if publish is not None else not gateway_on,
        native_messages=native, origins=draft.origins,
    )
    # Some backends name the served model themselves (TRT-LLM: the model string).
    return replace(spec, served_name=backend.served_name(spec))

