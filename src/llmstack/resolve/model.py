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

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmstack import backends, hostinfo, sources
from llmstack.backends.base import FILE_FORMATS, FORMAT_NAMES, MODEL_KINDS, Backend, EngineFacts, NoImage, flag_name
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
from llmstack.spec import ALIAS_RE, SERVICE_RE, EngineChoice, ModelSpec, Mount


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
    parsers(draft, context.notices)
    switches(draft, context.notices)
    draft.service = service_name(draft)
    mounts_and_vision(draft, context.output_dir)
    image(draft, context.notices, context.cluster)
    if context.gateway_on:
        agent_requests(draft, context)
    spec = assemble(draft, context.gateway_on)
    check_flags(draft, spec, context.notices)
    return spec, draft.source


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
    engine = backend.facts(str(version) if version is not None else None)
    if engine.note and backend.runs_service:
        context.notices.append(f"{source.text}: {engine.note}")
    return Draft(index, inputs.single, lookup, source, backend, engine, origins)


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
            draft.origins[f"args.{key}"] = found.origin.describe()


def check_extra_args(draft: Draft) -> None:
    """An extra argument naming a flag the backend derives would contradict the comment, the memory
    plan and the manifest: refused, naming what decides that flag."""
    extra, backend = draft.lookup.get("extra_args"), draft.backend
    for arg in extra.value if extra is not None else ():
        if not str(arg).strip():
            assert extra is not None
            raise InputError(f"{extra.label(repr(arg))}: an empty argument; the server would read it as a "
                             "positional argument: drop it")
        found = backend.derived_flag(str(arg))
        if found is None:
            continue
        derived_flag, abbreviated = found
        assert extra is not None
        name = derived_flag.spellings[0]
        what = (f"{backend.title} reads it as {name}, which llmstack derives" if abbreviated
                else f"llmstack derives {backend.title}'s {name}")
        shown = str(arg).split("=", 1)[0] + ("=***" if "=" in str(arg) else "") if derived_flag.secret else arg
        raise InputError(f"{extra.label(shown)}: {what}; "
                         f"{_how_to_set(backend, derived_flag.setting, derived_flag.why)}")


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

# The longest context rendered: above every model's declared limit (the longest in
# tests/fixtures: Llama-4-Scout-17B-16E-Instruct's max_position_embeddings, 10485760), and within
# what every engine's counters hold (llama.cpp's n_ctx is an int32_t). It bounds a model whose own
# limit is unknown (a hub id not in the cache) and a config.json that claims more.
MAX_CONTEXT = 1 << 24


def context_length(draft: Draft) -> None:
    """An explicit context is checked against the model's limit; the default (`args.max_model_len`)
    is capped at it; a built engine has its own."""
    lookup, source = draft.lookup, draft.source
    limit = source.facts.context_length
    explicit = lookup.get("max_model_len")
    configured = lookup.get("args.max_model_len")
    for given in (explicit, configured):
        if given is not None and isinstance(given.value, int) and given.value > MAX_CONTEXT and \
                not (limit and given.value > limit and given is explicit):
            what = "" if limit else " (the model's own limit is unknown: nothing of it was read)"
            raise InputError(f"{given.label()}: more tokens than any model takes{what}; the longest context llmstack "
                             f"renders is {MAX_CONTEXT} (the longest a known model declares: Llama 4 Scout, 10485760)")
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


def parsers(draft: Draft, notices: list[str]) -> None:
    """Tool-call and reasoning parsers: as asked (a name this release ships), else by the family
    (the first name of the family table's row the release's registry has)."""
    facts, engine, source = draft.source.facts, draft.engine, draft.source
    draft.tool_parser = _asked_parser(draft, "tool_parser", "tool", engine.tool_parsers, notices)
    if draft.tool_parser is None:
        draft.tool_parser = engine.tool_parser_for(facts.family)
        if draft.tool_parser:
            draft.origins["tool_parser"] = f"the {facts.family} family ({source.fact_origin('family')})"
        elif facts.family is not None and facts.family in engine.tool_parser_wanted:
            notices.append(f"{source.text}: {_lacks(draft, 'tool', engine.tool_parser_wanted[facts.family])}")
    draft.reasoning_parser = _asked_parser(draft, "reasoning_parser", "reasoning", engine.reasoning_parsers, notices)
    if draft.reasoning_parser is None:
        draft.reasoning_parser = engine.reasoning_parser_for(facts.family, facts.thinking)
        if draft.reasoning_parser:
            why = ("thinks in <think> tags" if facts.thinking else "thinks unless told not to" if facts.thinking is None
                   else "reasons")
            where = source.fact_origin('thinking') if facts.thinking is not None else \
                f"its chat template was not read; the family: {source.fact_origin('family')}"
            draft.origins["reasoning_parser"] = f"the {facts.family or 'model'} family {why} ({where})"


def _what(draft: Draft) -> str:
    engine = draft.engine
    return f"{draft.backend.title} {engine.version}" if engine.version else draft.backend.title


def _having(versions: tuple[str, ...] | list[str]) -> str:
    return f"catalogued versions with it: {', '.join(versions)}" if versions else "no catalogued version has it"


def _lacks(draft: Draft, kind: str, wanted: tuple[str, ...]) -> str:
    """A family whose parser this release lacks: say which catalogued versions have one."""
    from llmstack import catalog

    having = sorted({v for name in wanted for v in catalog.with_tool_parser(draft.backend.name, name)},
                    key=catalog.versions(draft.backend.name).index)
    family = draft.source.facts.family
    if not wanted:
        return (f"{_what(draft)} has no {kind}-call parser for the {family} family (in no catalogued version); its "
                "tool calls would come back as plain text: serve it with another --backend")
    return (f"{_what(draft)} has no {kind}-call parser for the {family} family ({' or '.join(wanted)}: "
            f"{_having(having)}); its tool calls would come back as plain text"
            + (": pick one of those with --backend-version" if having else ""))


def _asked_parser(draft: Draft, key: str, kind: str, known: frozenset[str], notices: list[str]) -> str | None:
    from llmstack import catalog

    value = draft.lookup.get(key)
    if value is None:
        return None
    title, engine, name = draft.backend.title, draft.engine, str(value.value)
    draft.origins[key] = value.origin.describe()
    if name in known:
        return name
    registry = None if engine.entry is None else \
        engine.entry.tool_parsers if kind == "tool" else engine.entry.reasoning_parsers
    if not known and registry is None:
        if engine.entry is None or draft.backend.tools_without_parser():
            how = "tool calls follow the model's chat template" if kind == "tool" else "it reasons as it was built to"
            raise InputError(f"{value.label()}: {title} has no {kind} parser switch ({how}); drop the flag")
        having = (catalog.with_tool_parser if kind == "tool" else catalog.with_reasoning_parser)(
            draft.backend.name, name)
        raise InputError(f"{value.label()}: {_what(draft)} has no {kind} parser switch ({_having(having)}); "
                         "pick one of those with --backend-version, or drop the flag")
    if engine.entry is not None and (not engine.exact or not engine.parsers_complete):
        why = engine.note or (f"{_what(draft)}'s parser list in the catalogue is partial" if engine.version else
                              "an image given as is: its release is unknown")
        notices.append(f"{value.label()}: not in the catalogue's {kind} parser list for {_what(draft)} ({why}); "
                       "passed as given")
        return name
    if engine.entry is not None:
        having = (catalog.with_tool_parser if kind == "tool" else catalog.with_reasoning_parser)(
            draft.backend.name, name)
        if having:
            raise InputError(f"{value.label()}: {_what(draft)} has no {kind} parser {name} ({_having(having)}); "
                             "pick one of those with --backend-version, or another parser")
    if not known:
        raise InputError(f"{value.label()}: {_what(draft)} has no {kind} parser switch; drop the flag")
    raise InputError(f"{value.label()}: unknown to {_what(draft)}; choose one of {', '.join(sorted(known))}")


def switches(draft: Draft, notices: list[str]) -> None:
    """Server arguments the model's family needs on this release (catalog/families.py), unless an
    extra argument names the same flag (the user's wins)."""
    family = draft.source.facts.family
    extra = [str(arg).split("=", 1)[0] for arg in draft.lookup.value("extra_args", ()) or ()]
    chosen: list[str] = []
    reasons = []
    for switch in draft.engine.switches_for(family):
        if switch.flag in extra:
            continue
        if draft.engine.accepts_flag(switch.flag) is False:
            notices.append(f"{draft.source.text}: {_what(draft)} has no {switch.flag}, which the {family} family "
                           f"needs ({switch.why}); pick another --backend-version")
            continue
        chosen += switch.args
        reasons.append(f"{' '.join(switch.args)}: the {family} family, {switch.why}")
    draft.switches = tuple(chosen)
    if reasons:
        draft.origins["switches"] = "; ".join(reasons)


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
    stack_outside_mounts(draft.mounts, output_dir, backend.title)
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


def stack_outside_mounts(mounts: tuple[Mount, ...], output_dir: Path, title: str) -> None:
    """The stack's directory may not lie inside a directory the backend mounts: its `.env` (the keys)
    would be readable inside the container, and a re-render would rewrite files in the model's mount."""
    out = output_dir.absolute().resolve()
    for mount in mounts:
        if mount.is_file:
            continue
        mounted = (output_dir.absolute() / mount.host_path).resolve()  # host_path: absolute, or relative to it
        if out == mounted or mounted in out.parents:
            raise InputError(f"--output {output_dir}: inside {mounted}, the {mount.role} directory {title} mounts "
                             "(.env with its keys would be readable in the container); render the stack elsewhere, "
                             "e.g. leave --output out for compose/NAME")


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

def image(draft: Draft, notices: list[str], cluster: bool = False) -> None:
    """A full reference given as is, else the release's image from the catalogue: the CPU image
    without GPUs; with GPUs the CUDA version asked for (`--cuda`), else the default one, or one the
    host's NVIDIA driver runs (nvidia-smi on this host, when there is one; never for a cluster)."""
    lookup, backend = draft.lookup, draft.backend
    explicit = lookup.get("image")
    cuda = lookup.get("cuda")
    if explicit is not None:
        lookup.skip("version", "repository")  # a full reference given as is: they do not apply
        if cuda is not None:
            raise InputError(f"{cuda.label()}: the image is given as is ({explicit.origin.describe()}); drop one")
        draft.image = checks.image(explicit)
        draft.origins["image"] = explicit.origin.describe()
        return
    version, repository = lookup.get("version"), lookup.get("repository")
    assert version is not None and repository is not None
    checks.tag(version)
    if cuda is not None and not draft.gpus.enabled:
        raise InputError(f"{cuda.label()}: a CUDA image needs GPUs, but {_gpus_culprit(draft)} asks for none; "
                         "drop one of them")
    if cuda is not None and not re.fullmatch(r"\d+(\.\d+)?", str(cuda.value)):
        raise InputError(f"{cuda.label(repr(cuda.value))}: a CUDA version such as 12, 13 or 12.9")
    if not backend.catalogued:
        if cuda is not None:
            raise InputError(f"{cuda.label()}: {backend.title} has no catalogue of images per CUDA version; "
                             "pass the image with --backend-image")
        built = backend.image(repository.value, str(version.value), draft.gpus.enabled)
        if built is None:
            _no_cpu_image(draft, None)
        draft.image = checks.image(Sourced(str(built), repository.origin))
        draft.origins["image"] = version.origin.describe()
        return
    kind = "cuda" if draft.gpus.enabled else "cpu"
    driver = hostinfo.driver() if kind == "cuda" and cuda is None and not cluster else None
    try:
        choice = backend.pick_image(draft.engine, repository.value, str(version.value), kind,
                                    str(cuda.value) if cuda is not None else None, driver)
    except NoImage as missing:
        if kind == "cpu":
            _no_cpu_image(draft, missing)
        culprit = cuda.label() if cuda is not None else f"{version.label()} on this host"
        versions = f"; {_having(missing.having)}" if missing.having else ""
        raise PlanError(f"{culprit}: {missing.reason}{versions}; or pass an image with --backend-image") from None
    draft.image_choice = choice
    draft.image = checks.image(Sourced(choice.ref, repository.origin))
    draft.origins["image"] = version.origin.describe() + (f"; {choice.why}" if choice.why else "")
    if choice.cpu_features:
        needs = ", ".join(_FEATURES.get(feature, feature) for feature in choice.cpu_features)
        notices.append(f"{draft.source.text}: {choice.ref} needs a CPU with {needs}")
    if cuda is not None:
        draft.origins["cuda"] = cuda.origin.describe()


_FEATURES = {"avx512": "AVX-512", "amx": "AMX", "x86_64": "x86-64"}


def _gpus_culprit(draft: Draft) -> str:
    assert draft.gpus_given is not None
    return draft.gpus_given.label() if draft.gpus_given.origin.where != "--cpu" else "--cpu"


def _no_cpu_image(draft: Draft, missing: NoImage | None) -> None:
    """Refuse a CPU render of a release (or a backend) without a CPU image, naming what runs on the CPU."""
    backend = draft.backend
    if missing is not None and missing.having:
        raise PlanError(f"{_gpus_culprit(draft)}: {missing.reason} ({_having(missing.having)}); pass "
                        "--backend-version with one of those, reserve a GPU, or pass a CPU build with --backend-image")
    on_cpu = [b for b in backends.registry().values() if b.runs_service and b.cpu_image]
    kinds = sorted({MODEL_KINDS[fmt] for b in on_cpu for fmt in b.formats})
    raise PlanError(
        f"{_gpus_culprit(draft)}: {backend.title} has no CPU image (only {', '.join(b.title for b in on_cpu)} run on "
        f"the CPU); serve {' or '.join(kinds)} with --backend {' or '.join(b.name for b in on_cpu)}, reserve a "
        "GPU, or pass a CPU build with --backend-image"
    )


def check_flags(draft: Draft, spec: ModelSpec, notices: list[str]) -> None:
    """Every flag the container is started with is one this release takes (its catalogue entry):
    a flag it lacks would stop the server at start, so the render stops here, naming the versions
    that have it. Flags the catalogue cannot vouch for (no entry, a release that is not catalogued,
    a partial list) pass."""
    from llmstack import catalog

    engine, backend = draft.engine, draft.backend
    if engine.entry is None:
        return
    extra = {flag_name(arg): arg for arg in spec.extra_args}
    for name in backend.server_options(spec):
        if _takes(engine, backend, name):
            continue
        having = catalog.with_flag(backend.name, name)
        culprit = f"--extra-arg {extra[name]}" if name in extra else f"{name} (which llmstack writes)"
        raise InputError(f"{culprit}: {_what(draft)} has no such flag ({_having(having)}); "
                         + ("pick one of those with --backend-version, or drop it" if having else "drop it"))


def _takes(engine: EngineFacts, backend: Backend, name: str) -> bool:
    """Does the release take this option, in any form its parser reads? (argparse: `--no-X` for a
    boolean `--X`, `--X.key` for a JSON `--X`, an unambiguous prefix; attached short values `-O3`)."""
    if engine.accepts_flag(name) is not False:
        return True
    base = name.split(".", 1)[0].rstrip("+")
    forms = [base, "--" + base[5:]] if base.startswith("--no-") else [base]
    if any(engine.accepts_flag(form) is not False for form in forms):
        return True
    assert engine.entry is not None
    known = engine.entry.flags
    if backend.flag_matching.startswith("argparse"):
        spelled = "--" + base[2:].replace("_", "-") if backend.flag_matching == "argparse-dashes" else base
        if base.startswith("--") and sum(1 for flag in known if flag.startswith(spelled)) == 1:
            return True
        if not base.startswith("--") and any(base.startswith(flag) for flag in known if not flag.startswith("--")):
            return True
    return False


def _engine(draft: Draft) -> EngineChoice:
    engine, choice = draft.engine, draft.image_choice
    catalogued = engine.entry.version if engine.entry is not None else None
    if choice is None:
        return EngineChoice(engine.version, catalogued, "cuda" if draft.gpus.enabled else "cpu")
    return EngineChoice(engine.version, catalogued, choice.kind, choice.cuda, choice.min_driver, choice.cpu_features)


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
        extra_args=tuple(lookup.value("extra_args", ()) or ()), switches=draft.switches, engine=_engine(draft),
        publish_port=bool(publish.value) if publish is not None else not gateway_on,
        native_messages=native, native_responses=gateway_on and responses_route(draft), template=draft.template,
        adapt=draft.adapt, origins=draft.origins,
    )
    # Some backends name the served model themselves (TRT-LLM: the model string).
    return replace(spec, served_name=backend.served_name(spec))

