"""Per-model stages, in order: the model and its backend -> args -> extra args -> alias -> (a
gateway-only model ends here: external.py) -> GPUs and tensor parallelism (gpus.py) -> context ->
parsers -> service -> mounts, projector, vision -> image -> Anthropic route (draft.py) -> the
ModelSpec.

Each stage reads its values from the model's lookup (flag > stack model > stack > models.yaml
defaults > the backend's built-in defaults), checks them against the model's facts and the
backend's capabilities, and records where each decided value came from (`origins`, for the
rendered comments). Nothing here names a backend or tests a backend's formats: backends/ says
what each can do.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from llmstack import backends, sources
from llmstack.backends.base import FILE_FORMATS, FORMAT_NAMES, MODEL_KINDS, Backend
from llmstack.configfile import check_args
from llmstack.errors import InputError, PlanError
from llmstack.mounts import host_path, variable
from llmstack.mounts import mounts as model_mounts
from llmstack.options import by_key
from llmstack.paths import MANIFEST
from llmstack.provenance import Sourced, derived
from llmstack.resolve import checks
from llmstack.resolve.draft import Context, Draft, agent_requests, anthropic_route, responses_route
from llmstack.resolve.external import external_model, refuse_api_base
from llmstack.resolve.gpus import gpus_and_tensor_parallel
from llmstack.resolve.inputs import Inputs, backend_defaults, no_control_chars
from llmstack.sources import ModelSource
from llmstack.spec import ALIAS_RE, SERVICE_RE, ModelSpec, Mount


def resolve_model(inputs: Inputs, index: int, context: Context) -> tuple[ModelSpec, ModelSource]:
    """Stage 6: one model of the stack, stage by stage."""
    draft = read_model(inputs, index, context)
    read_args(draft)
    check_extra_args(draft)
    draft.alias = alias(draft, inputs)
    if not draft.backend.runs_service:
        return external_model(draft, context), draft.source
    refuse_api_base(draft)
    gpus_and_tensor_parallel(draft)
    context_length(draft)
    parsers(draft)
    draft.service = service_name(draft)
    mounts_and_vision(draft, context.output_dir)
    image(draft)
    if context.gateway_on:
        agent_requests(draft, context)
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
        native_messages=native, native_responses=gateway_on and responses_route(draft), template=draft.template,
        adapt=draft.adapt, origins=draft.origins,
    )
    # Some backends name the served model themselves (TRT-LLM: the model string).
    return replace(spec, served_name=backend.served_name(spec))

