"""Turn flags + a stack + defaults + the model's facts into a validated StackSpec.

Precedence for every value: flag > the stack in models.yaml > `defaults` in models.yaml > the
backend's built-in default; each value keeps its origin (provenance.py), so an error names the
flag or the file and key path it really came from. Then the decisions the model's facts drive:
context, parsers, vision, tensor parallelism, the memory plan, GPUs shared between models.

This is the only place that looks at the host (the model files, `nvidia-smi`, an earlier
render's manifest); rendering is pure.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from llmstack import __version__, backends, gateway, hostinfo, imageref, manifest, modelinfo, sources
from llmstack.backends.base import Backend
from llmstack.configfile import Config, Stack, StackModel
from llmstack.errors import InputError, PlanError
from llmstack.plan import divisors_up_to, make_plan, misfit_message
from llmstack.provenance import Layer, Layers, Origin, Sourced, derived, flag
from llmstack.sources import ModelSource
from llmstack.spec import ALIAS_RE, SERVICE_RE, GpuSpec, LitellmSpec, ModelSpec, Mount, StackSpec

ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
TARGETS = ("compose", "kubernetes")


@dataclass
class RenderOptions:
    """Everything `llmstack render` accepts; None means "not given on the command line"."""

    stack: str | None = None
    model: str | None = None
    backend: str | None = None
    name: str | None = None
    output: str | None = None
    config: str | None = None
    target: str | None = None
    litellm: bool | None = None
    litellm_port: int | None = None
    litellm_alias: str | None = None
    litellm_version: str | None = None
    litellm_image: str | None = None
    litellm_workers: int | None = None
    backend_version: str | None = None
    backend_image: str | None = None
    port: int | None = None
    publish_backend: bool | None = None
    gpus: str | None = None
    cpu: bool = False
    gpu_memory: float | None = None
    tensor_parallel: int | None = None
    max_model_len: int | None = None
    tool_parser: str | None = None
    reasoning_parser: str | None = None
    mmproj: str | None = None
    network: str | None = None
    bind: str | None = None
    extra_args: list[str] = field(default_factory=list)
    api_base: list[str] = field(default_factory=list)
    api_key_env: str | None = None
    regen_command: str = "llmstack render"


# A stack model's key -> (RenderOptions attribute, flag). Per-model flags: with a multi-model
# stack they are ambiguous and refused.
MODEL_FLAGS: dict[str, tuple[str, str]] = {
    "model": ("model", "--model"),
    "backend": ("backend", "--backend"),
    "version": ("backend_version", "--backend-version"),
    "image": ("backend_image", "--backend-image"),
    "port": ("port", "--port"),
    "publish_port": ("publish_backend", "--publish-backend"),
    "gpus": ("gpus", "--gpus"),
    "gpu_memory": ("gpu_memory", "--gpu-memory"),
    "tensor_parallel": ("tensor_parallel", "--tensor-parallel"),
    "max_model_len": ("max_model_len", "--max-model-len"),
    "tool_parser": ("tool_parser", "--tool-parser"),
    "reasoning_parser": ("reasoning_parser", "--reasoning-parser"),
    "mmproj": ("mmproj", "--mmproj"),
    "extra_args": ("extra_args", "--extra-arg"),
    "alias": ("litellm_alias", "--litellm-alias"),
    "api_base": ("api_base", "--api-base"),
    "api_key_env": ("api_key_env", "--api-key-env"),
}


@dataclass
class Resolved:
    spec: StackSpec
    output_dir: Path
    notices: list[str]  # one line each: facts that could not be read, a skipped plan, ...
    plans: list[tuple[str, list[str]]]  # (service or alias, plan lines) for `render` to print


def slugify(text: str) -> str:
    """A compose-safe name: lowercase letters, digits, `-` and `_`."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return re.sub(r"-{2,}", "-", slug) or "model"


def _check_port(value: Sourced[Any]) -> int:
    if not isinstance(value.value, int) or not 1 <= value.value <= 65535:
        raise InputError(f"{value.label()}: a port must be between 1 and 65535")
    return value.value


def _host_path(path: Path, given: str, output_dir: Path) -> str:
    """The path as written into the compose file.

    Absolute and `~` inputs (or an absolute --output) give absolute paths; a relative path
    with a relative output directory becomes relative to the output directory (Compose resolves
    relative bind sources against the compose file's directory), so a committed stack keeps
    working wherever the repository is checked out.
    """
    if given.startswith("~") or os.path.isabs(given) or output_dir.is_absolute():
        return str(path)
    rel = os.path.relpath(path, output_dir.absolute())
    return rel if rel.startswith("..") else f"./{rel}"


def _variable(name: str, host_path: str) -> str | None:
    """A `}` would end `${VAR:-default}` early: such a path is written literally instead."""
    return None if "}" in host_path else name


def _unprintable(ch: str) -> bool:
    """Characters YAML cannot carry (and that make no sense in a path or a flag)."""
    code = ord(ch)
    return code < 32 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)


def _no_control_chars(value: Sourced[Any]) -> None:
    for text in value.value if isinstance(value.value, list) else [value.value]:
        if isinstance(text, str) and any(_unprintable(ch) for ch in text):
            raise InputError(
                f"{value.origin.describe()} {text!r}: control characters (newline, tab, ...) are not supported; "
                "remove them or rename the file"
            )


def _check_printable(opts: RenderOptions) -> None:
    for item in fields(opts):
        if item.name == "regen_command":
            continue
        name = "STACK" if item.name == "stack" else "--" + item.name.replace("_", "-")
        name = {"--extra-args": "--extra-arg"}.get(name, name)
        _no_control_chars(Sourced(getattr(opts, item.name), flag(name)))


def _flag_layer(opts: RenderOptions) -> Layer:
    values = {key: getattr(opts, attr) for key, (attr, _) in MODEL_FLAGS.items()}
    if opts.cpu:
        values["gpus"] = "none"
    names = {key: name for key, (_, name) in MODEL_FLAGS.items()}
    if opts.cpu:
        names["gpus"] = "--cpu"
    if opts.publish_backend is False:
        names["publish_port"] = "--no-publish-backend"
    return Layer(values, lambda key: flag(names[key]))


def _entry_layer(config: Config, stack_name: str, index: int, entry: StackModel) -> Layer:
    values = {key: getattr(entry, key) for key in entry.model_fields_set}
    return Layer(values, lambda key: config.origin("stacks", stack_name, "models", index, key))


def _stack_value(opts_value: Any, flag_name: str, stack: Stack | None, key: str, config: Config,
                 stack_name: str | None, default: Any, default_origin: Origin) -> Sourced[Any]:
    if opts_value is not None:
        return Sourced(opts_value, flag(flag_name))
    if stack is not None and getattr(stack, key) is not None:
        return Sourced(getattr(stack, key), config.origin("stacks", stack_name or "", key))
    return Sourced(default, default_origin)


def resolve(opts: RenderOptions, config: Config, env: Mapping[str, str] | None = None) -> Resolved:
    """Validate everything and return the stack with its output directory."""
    env = os.environ if env is None else env
    _check_printable(opts)
    stack: Stack | None = None
    if opts.stack is not None:
        if opts.stack not in config.stacks:
            known = ", ".join(sorted(config.stacks)) or "none defined"
            raise InputError(
                f"stack {opts.stack!r} is not defined in {config.where} (stacks: {known}); "
                "add it under `stacks:` or pass --model instead"
            )
        stack = config.stacks[opts.stack]
    if stack is None and opts.model is None:
        raise InputError("nothing to render: pass --model PATH_OR_HF_ID, or a stack name from config/models.yaml")
    if stack is not None and len(stack.models) > 1:
        for key, (attr, name) in MODEL_FLAGS.items():
            if getattr(opts, attr) not in (None, False, []) or (key == "gpus" and opts.cpu):
                raise InputError(
                    f"{'--cpu' if key == 'gpus' and opts.cpu else name}: stack {opts.stack!r} serves "
                    f"{len(stack.models)} models, so per-model flags are ambiguous; set the value on the model "
                    f"in {config.where}"
                )

    if opts.cpu and opts.gpus is not None and opts.gpus.strip().lower() not in ("none", "0"):
        raise InputError(f"--cpu and --gpus {opts.gpus} contradict each other; pass one of them")
    layers: list[Layers] = []
    if stack is None:
        layers.append(Layers([_flag_layer(opts)]))
    else:
        for index, entry in enumerate(stack.models):
            own = _entry_layer(config, opts.stack or "", index, entry)
            layers.append(Layers([_flag_layer(opts), own] if len(stack.models) == 1 else [own]))
    single = len(layers) == 1
    sn = opts.stack

    network = _stack_value(opts.network, "--network", stack, "network", config, sn, "bridge", derived("default"))
    if network.value not in ("bridge", "host"):
        raise InputError(f"{network.label()}: choose bridge (default) or host")
    bind = _stack_value(opts.bind, "--bind", stack, "bind", config, sn, "127.0.0.1", derived("default"))
    try:
        ipaddress.ip_address(bind.value)
    except ValueError:
        raise InputError(
            f"{bind.label()}: not an IP address; use 127.0.0.1 (this host only) or 0.0.0.0 (all interfaces)"
        ) from None
    target = _stack_value(opts.target, "--target", stack, "target", config, sn, "compose", derived("default"))
    if target.value not in TARGETS:
        raise InputError(f"{target.label()}: choose compose (default) or kubernetes")

    # Name and output directory come first: relative model paths are written relative to it,
    # and an earlier render's manifest there stands in for weights that are not on this host.
    first = layers[0].get("model")
    assert first is not None
    first_external = bool(layers[0].get("api_base")) or layers[0].value("backend") == "external"
    if stack is not None:
        default_name = stack.name or opts.stack
        name_origin = config.origin("stacks", sn or "", "name") if stack.name else derived("the stack's key")
    else:
        given = first.value
        base = given if first_external else Path(given.rstrip("/")).name or given
        default_name = slugify(base.removesuffix(".gguf").split("/")[-1])
        name_origin = derived("the model's name")
    name = Sourced(opts.name, flag("--name")) if opts.name is not None else Sourced(default_name, name_origin)
    if not SERVICE_RE.match(name.value):
        raise InputError(
            f"{name.label(repr(name.value))}: use lowercase letters, digits, '-' and '_' (e.g. {slugify(name.value)!r})"
        )
    suffix = "" if target.value == "compose" else "-k8s"
    output_dir = Path(opts.output) if opts.output else Path("compose") / f"{name.value}{suffix}"
    recorded = manifest.recorded_models(output_dir)

    litellm = _resolve_gateway(opts, config, stack)
    notices: list[str] = []
    models: list[ModelSpec] = []
    model_sources: list[ModelSource] = []
    facts_by_input: dict[str, Any] = {}
    for index, model_layers in enumerate(layers):
        model, source = _resolve_model(model_layers, config, index, single, network.value, output_dir,
                                       litellm is not None, recorded, env, notices)
        models.append(model)
        model_sources.append(source)
        facts_by_input[source.text] = {"source": source.describe(), "facts": modelinfo.facts_to_dict(source.facts)}

    _check_uniqueness(models, litellm, network.value)
    models = _share_gpus(models, layers)
    gpu_memory = _stack_value(opts.gpu_memory, "--gpu-memory", stack, "gpu_memory", config, sn, None,
                              derived("default"))
    plans: list[tuple[str, list[str]]] = []
    planned = []
    measured: list[hostinfo.Gpu] | None | bool = False  # False: not asked yet
    for model, model_layers, source in zip(models, layers, model_sources, strict=True):
        memory = model_layers.get("gpu_memory") or (gpu_memory if gpu_memory.value is not None else None)
        if model.gpus.enabled and model.service and measured is False:
            measured = hostinfo.gpus()
        model = _plan(model, model_layers, memory, measured or None, source, notices)
        if model.plan is not None:
            plans.append((model.service or model.alias, model.plan.lines()))
        planned.append(model)
    if litellm is not None:
        litellm = replace(litellm, claude_routes=gateway.claude_routes(
            [m.alias for m in planned], stack.claude if stack else None,
            lambda tier: config.origin("stacks", sn or "", "claude", tier)))

    spec = StackSpec(
        name=name.value,
        models=tuple(planned),
        litellm=litellm,
        network=network.value,
        bind=bind.value,
        target=target.value,
        regen_command=opts.regen_command,
        llmstack_version=__version__,
        inputs={"command": opts.regen_command, "config": config.where if stack is not None else None,
                "stack": opts.stack},
        facts=facts_by_input,
    )
    return Resolved(spec, output_dir, notices, plans)


def _resolve_gateway(opts: RenderOptions, config: Config, stack: Stack | None) -> LitellmSpec | None:
    cfg = stack.litellm if stack else None
    enabled = opts.litellm if opts.litellm is not None else (cfg.enabled if cfg else True)
    if not enabled:
        return None
    d = config.litellm
    sn = opts.stack or ""

    def pick(opt: Any, flag_name: str, key: str, default: Any, default_origin: Origin) -> Sourced[Any]:
        if opt is not None:
            return Sourced(opt, flag(flag_name))
        if cfg is not None and key in cfg.model_fields_set and getattr(cfg, key) is not None:
            return Sourced(getattr(cfg, key), config.origin("stacks", sn, "litellm", key))
        return Sourced(default, default_origin)

    version = pick(opts.litellm_version, "--litellm-version", "version", d.version, d.origins["version"])
    repository = pick(None, "", "image", d.image, d.origins["image"])
    workers = pick(opts.litellm_workers, "--litellm-workers", "num_workers", d.num_workers, d.origins["num_workers"])
    if workers.value is not None and workers.value < 1:
        raise InputError(f"{workers.label()}: must be 1 or more")
    port = pick(opts.litellm_port, "--litellm-port", "port", d.port, d.origins["port"])
    if opts.litellm_image is not None:
        image = _check_image(Sourced(opts.litellm_image, flag("--litellm-image")))
    else:
        _check_tag(version)
        image = _check_image(Sourced(f"{repository.value}:{version.value}", repository.origin))
    return LitellmSpec(image=image, port=_check_port(port), num_workers=workers.value)


def _check_image(reference: Sourced[str]) -> str:
    problem = imageref.problem(reference.value)
    if problem:
        raise InputError(f"{reference.label(repr(reference.value))}: {problem}; e.g. registry.example.com/org/name:tag")
    return reference.value


def _check_tag(tag: Sourced[Any]) -> None:
    problem = imageref.tag_problem(str(tag.value))
    if problem:
        raise InputError(f"{tag.label(repr(tag.value))}: {problem}")


def _choose_backend(requested: Sourced[str], source: ModelSource) -> Backend:
    known = backends.names()
    if requested.value != "auto" and requested.value not in known:
        raise InputError(f"{requested.label()}: unknown backend; choose one of auto, {', '.join(known)}")
    if source.format == "gguf" and not source.facts.files:
        why = next((n for n in source.facts.notes if "GGUF" in n or "projector" in n), "no GGUF model to serve")
        raise InputError(f"{source.given.label()}: {why.split('; pass')[0]}; pass the model file as --model DIR/FILE.gguf")
    if requested.value == "auto":
        chosen = backends.for_format(source.format)
        if chosen is None:
            chosen = backends.for_format("hf")
        assert chosen is not None
        return chosen
    backend = backends.get(requested.value)
    fmt = "hf" if source.format == "unknown" and source.kind in ("hub", "path") else source.format
    if fmt not in backend.formats:
        what = {"gguf": "a .gguf model", "hf": "a Hugging Face model", "trtllm-engine": "a TensorRT-LLM engine",
                "name": "a model served elsewhere"}.get(fmt, f"a {fmt} model")
        servers = [b.title for b in backends.registry().values() if fmt in b.formats]
        hint = f"use --backend {backends.for_format(fmt).name} (or auto)" if backends.for_format(fmt) else \
            "choose another --backend"
        if backend.formats == {"gguf"}:
            raise InputError(
                f"{source.given.label()}: {backend.title} serves a local .gguf file, but this is {what}; "
                "pass --model /path/to/model.gguf or choose another --backend"
            )
        raise InputError(
            f"{source.given.label()}: {what} cannot be served by {backend.title} "
            f"(served by {', '.join(servers) or 'no backend'}); {hint}"
        )
    return backend


def _resolve_model(layers: Layers, config: Config, index: int, single: bool, network: str, output_dir: Path,
                   gateway_on: bool, recorded: Mapping[str, Any], env: Mapping[str, str],
                   notices: list[str]) -> tuple[ModelSpec, ModelSource]:
    given = layers.get("model")
    assert given is not None
    _no_control_chars(given)
    requested = layers.get("backend") or Sourced("auto", derived("default"))
    api_bases = layers.get("api_base")
    external = requested.value == "external" or (requested.value == "auto" and api_bases is not None)
    source = sources.classify(given, recorded.get(given.value), external, env)
    backend = _choose_backend(requested, source)
    settings = config.backend_settings[backend.name]
    origins: dict[str, str] = {"backend": (requested.origin if requested.value != "auto" else
                                           derived(f"auto: {source.format} model")).describe()}
    for note in source.facts.notes:
        notices.append(f"{source.text}: {note}")
    if source.from_manifest:
        notices.append(f"{source.text}: not on this host; using the facts recorded in "
                       f"{output_dir / manifest.MANIFEST}")

    def setting(key: str) -> Sourced[Any] | None:
        found = layers.get(key)
        if found is not None:
            return found
        if key.startswith("args."):
            arg = key.removeprefix("args.")
            if arg in settings.args and settings.args[arg] is not None:
                return Sourced(settings.args[arg], settings.origins[key])
            return None
        return Sourced(getattr(settings, key), settings.origins[key])

    entry_args = layers.value("args", {}) or {}
    args = {k: v for k, v in {**settings.args, **backend.format_args(source.format), **entry_args}.items()
            if v is not None}
    args_origin = {k: settings.origins.get(f"args.{k}") for k in settings.args}
    args_layer = layers.get("args")
    for key in entry_args:
        assert args_layer is not None
        args_origin[key] = Origin(args_layer.origin.kind, args_layer.origin.where,
                                  f"{args_layer.origin.key}.{key}")

    # ---- gateway-only backends ----------------------------------------------------------------
    alias = _alias(layers, config, single, source)
    if not backend.runs_service:
        return _external_model(backend, layers, source, alias, gateway_on, origins), source
    if api_bases is not None:
        raise InputError(f"{api_bases.label(api_bases.value[0] if isinstance(api_bases.value, list) else api_bases.value)}"
                         f": {backend.title} runs in this stack; --api-base is for --backend external")

    # ---- GPUs and tensor parallelism -----------------------------------------------------------
    gpus_value = layers.get("gpus") or Sourced("all", derived("default"))
    if gpus_value.origin.where == "--cpu" and layers.layers and isinstance(layers.layers[0].values.get("gpus"), str):
        pass
    gpus = _parse_gpus(gpus_value)
    origins["gpus"] = gpus_value.origin.describe()
    facts = source.facts
    tp = layers.get("tensor_parallel")
    tp_value: int | None = None
    countable = gpus.countable
    if tp is not None:
        tp_value = tp.value
        if tp_value < 1:
            raise InputError(f"{tp.label()}: must be 1 or more")
        if countable is not None and tp_value > max(countable, 1):
            raise InputError(
                f"{tp.label()} is larger than the {countable} GPU(s) requested with "
                f"{gpus_value.origin.describe()} {gpus.describe()}; request more GPUs or lower --tensor-parallel"
            )
        if not backend.tensor_parallel and tp_value > 1:
            raise InputError(
                f"{tp.label()}: {backend.title} splits layers over all reserved GPUs by itself; drop the flag"
            )
        origins["tensor_parallel"] = tp.origin.describe()
    elif countable and countable > 1 and backend.tensor_parallel:
        tp_value = countable
        tp = Sourced(countable, gpus_value.origin)
        origins["tensor_parallel"] = f"the {countable} GPUs of {gpus_value.origin.describe()}"
    if tp is not None and tp_value and tp_value > 1:
        _check_tensor_parallel(tp, tp_value, source, gpus_value)
    if facts.tp_size and backend.name == "trtllm" and source.format == "trtllm-engine":
        wanted = tp_value or 1
        if wanted != facts.tp_size:
            culprit = tp.label() if tp is not None else f"{gpus_value.origin.describe()} {gpus.describe()}"
            raise PlanError(
                f"{culprit}: the engine {source.text} was built for tensor parallel {facts.tp_size} "
                f"({_fact_origin(source, 'tp_size')}); reserve {facts.tp_size} GPU(s) or rebuild the engine"
            )

    # ---- context length -------------------------------------------------------------------------
    max_len, context_origin = _context(layers, setting, backend, source)
    if max_len is not None:
        origins["max_model_len"] = context_origin

    # ---- parsers ----------------------------------------------------------------------------------
    parser = _parser(layers.get("tool_parser"), backend, "tool", backend.tool_parsers)
    if parser is None:
        parser = backend.tool_parser_for(facts.family)
        if parser:
            origins["tool_parser"] = f"the {facts.family} family ({_fact_origin(source, 'family')})"
    else:
        origins["tool_parser"] = layers.get("tool_parser").origin.describe()  # type: ignore[union-attr]
    reasoning = _parser(layers.get("reasoning_parser"), backend, "reasoning", backend.reasoning_parsers)
    if reasoning is None:
        reasoning = backend.reasoning_parser_for(facts.family, facts.thinking)
        if reasoning:
            why = "thinks in <think> tags" if facts.thinking else "reasons"
            origins["reasoning_parser"] = f"the {facts.family or 'model'} family {why} ({_fact_origin(source, 'thinking')})"
    else:
        origins["reasoning_parser"] = layers.get("reasoning_parser").origin.describe()  # type: ignore[union-attr]
    tools = parser is not None or backend.tools_without_parser()

    service = _service_name(layers, config, index, single, alias)
    var_prefix = "LLMSTACK_" if single else f"LLMSTACK_{service.upper().replace('-', '_')}_"

    # ---- mounts, projector, vision -----------------------------------------------------------------
    mmproj = layers.get("mmproj")
    mounts, model_arg, mmproj_arg = _mounts(source, backend, output_dir, var_prefix, mmproj is None)
    if mmproj is not None:
        if not backend.projector:
            raise InputError(
                f"{mmproj.label()}: only llama.cpp takes a projector file; "
                f"{backend.title} loads vision weights from the model itself (drop --mmproj)"
            )
        _no_control_chars(mmproj)
        path = Path(mmproj.value).expanduser()
        if not path.is_file():
            raise InputError(f"{mmproj.label()}: no such file on this host; check the path")
        path = path.resolve()
        host = _host_path(path, mmproj.value, output_dir)
        mounts = mounts + (Mount(host_path=host, container_path=f"/mmproj/{path.name}",
                                 variable=_variable(f"{var_prefix}MMPROJ_FILE", host), is_file=True,
                                 role="vision projector"),)
        mmproj_arg = f"/mmproj/{path.name}"
    vision, vision_source = _vision(layers, backend, source, mmproj, mmproj_arg)

    # ---- image ----------------------------------------------------------------------------------------
    explicit_image = layers.get("image")
    if explicit_image is not None:
        image = _check_image(explicit_image)
        origins["image"] = explicit_image.origin.describe()
    else:
        version = setting("version")
        repository = setting("image")
        assert version is not None and repository is not None
        _check_tag(version)
        built = backend.image(repository.value, str(version.value), gpus.enabled)
        if built is None:
            raise PlanError(
                f"{gpus_value.label(gpus.describe()) if gpus_value.origin.where != '--cpu' else '--cpu'}: "
                f"{backend.title} has no CPU image (only llama.cpp runs on the CPU); serve a GGUF model with "
                f"--backend llama, reserve a GPU, or pass a CPU build with --backend-image"
            )
        image = _check_image(Sourced(built, repository.origin))
        origins["image"] = version.origin.describe()

    port = setting("port")
    assert port is not None
    publish = layers.get("publish_port")
    publish_port = bool(publish.value) if publish is not None else not gateway_on
    served_name = source.hub_id.split("/")[-1] if source.kind == "snapshot" and source.hub_id else source.display_name
    spec = ModelSpec(
        service=service,
        alias=alias.value,
        backend=backend.name,
        display_name=source.display_name,
        served_name=slugify(served_name.removesuffix(".gguf")),
        model_arg=model_arg,
        hub_id=source.hub_id if source.kind == "hub" else None,
        mounts=mounts,
        mmproj_arg=mmproj_arg,
        image=image,
        port=_check_port(port),
        gpus=gpus,
        tensor_parallel=tp_value,
        max_model_len=max_len,
        context_limit=facts.context_length,
        tool_parser=parser,
        reasoning_parser=reasoning,
        family=facts.family,
        tools=tools,
        vision=vision,
        vision_source=vision_source,
        args=args,
        extra_args=tuple(layers.value("extra_args", ()) or ()),
        publish_port=publish_port,
        origins=origins,
    )
    # Some backends name the served model themselves (TRT-LLM: the model string).
    return replace(spec, served_name=backend.served_name(spec)), source


def _alias(layers: Layers, config: Config, single: bool, source: ModelSource) -> Sourced[str]:
    alias = layers.get("alias")
    if alias is None:
        if single:
            alias = Sourced(config.litellm.alias, config.litellm.origins["alias"])
        else:
            alias = Sourced(slugify(source.display_name.split("/")[-1]), derived("the model's name"))
    if not isinstance(alias.value, str) or not ALIAS_RE.match(alias.value):
        raise InputError(
            f"{alias.label(repr(alias.value))}: LiteLLM model names may use letters, digits, '.', '_', ':' "
            "and '-' (no spaces or slashes), e.g. local-model"
        )
    return alias


def _external_model(backend: Backend, layers: Layers, source: ModelSource, alias: Sourced[str],
                    gateway_on: bool, origins: dict[str, str]) -> ModelSpec:
    if not gateway_on:
        raise InputError(f"{source.given.label()}: an external model is only reachable through the gateway; "
                         "drop --no-litellm")
    bases = layers.get("api_base")
    if bases is None:
        raise InputError(f"{source.given.label()}: --backend external needs --api-base URL (where the model is "
                         "served, e.g. http://gpu-host-1:8000/v1; repeat it for replicas)")
    urls = bases.value if isinstance(bases.value, list) else [bases.value]
    checked = []
    for url in urls:
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", str(url)):
            raise InputError(f"{bases.label(url)}: not an http(s) URL; e.g. http://gpu-host-1:8000/v1")
        checked.append(str(url).rstrip("/"))
    if len(set(checked)) != len(checked):
        raise InputError(f"{bases.label(checked[0])}: the same URL twice; each replica needs its own --api-base")
    key_env = layers.get("api_key_env")
    if key_env is not None and not ENV_NAME_RE.match(str(key_env.value)):
        raise InputError(f"{key_env.label()}: an environment variable name (A-Z, 0-9, _), e.g. UPSTREAM_API_KEY")
    for key in ("gpus", "tensor_parallel", "max_model_len", "tool_parser", "reasoning_parser", "mmproj", "image",
                "version", "port", "extra_args"):
        found = layers.get(key)
        if found is not None:
            raise InputError(f"{found.label()}: the external server decides this; drop it for --backend external")
    origins["api_base"] = bases.origin.describe()
    vision = layers.get("vision")
    return ModelSpec(
        service="",
        alias=alias.value,
        backend=backend.name,
        display_name=source.text,
        served_name=source.text,
        model_arg=source.text,
        image="",
        port=0,
        gpus=GpuSpec(kind="none"),
        tools=True,
        vision=bool(vision.value) if vision is not None else False,
        vision_source="set by `vision:` in models.yaml" if vision is not None else "an external server: "
                      "set `vision: true` in models.yaml if it serves images",
        api_bases=tuple(checked),
        api_key_env=str(key_env.value) if key_env is not None else None,
        origins=origins,
    )


def _parse_gpus(value: Sourced[Any]) -> GpuSpec:
    try:
        return GpuSpec.parse(value.value)
    except ValueError:
        raise InputError(f"{value.label()}: use all, a count (2), device ids (0,2 or device=1) or none") from None


def _fact_origin(source: ModelSource, key: str) -> str:
    where = source.facts.origins.get(key)
    if not where:
        return f"read from {source.text}"
    if where.startswith("guessed"):
        return where
    return f"{where} of {source.text}"


def _check_tensor_parallel(tp: Sourced[Any], size: int, source: ModelSource, gpus_value: Sourced[Any]) -> None:
    """vLLM, SGLang and TRT-LLM shard attention heads: the size must divide them (KV heads too, or be
    a multiple of them when there are fewer KV heads than GPUs)."""
    facts = source.facts
    culprit = tp.label() if tp.origin.kind == "flag" and tp.origin.where == "--tensor-parallel" or \
        tp.origin.key.endswith("tensor_parallel") else f"{gpus_value.label()} (tensor parallel {size})"
    heads = facts.num_attention_heads
    if heads and heads % size:
        good = [n for n in divisors_up_to(heads, max(size * 2, 8)) if n > 1]
        raise PlanError(
            f"{culprit}: tensor parallel {size} must divide the model's {heads} attention heads "
            f"({_fact_origin(source, 'num_attention_heads')}); use {' or '.join(map(str, good[:3])) or '1'} GPUs "
            "or set --tensor-parallel to such a size"
        )
    kv = facts.num_kv_heads
    if kv and (kv % size if kv >= size else size % kv):
        raise PlanError(
            f"{culprit}: tensor parallel {size} does not split the model's {kv} KV heads evenly "
            f"({_fact_origin(source, 'num_kv_heads')}); use a size that divides {kv} or is a multiple of it"
        )


def _context(layers: Layers, setting: Any, backend: Backend, source: ModelSource) -> tuple[int | None, str]:
    """default = min(configured default, the model's limit); an explicit larger value is an error."""
    facts = source.facts
    limit = facts.context_length
    explicit = layers.get("max_model_len")
    if explicit is not None:
        if not isinstance(explicit.value, int) or explicit.value < 1:
            raise InputError(f"{explicit.label()}: must be a positive number of tokens")
        if limit and explicit.value > limit:
            raise PlanError(
                f"{explicit.label()}: the model's context limit is {limit} tokens "
                f"({_fact_origin(source, 'context_length')}); pass at most {limit}"
            )
        return explicit.value, explicit.origin.describe()
    if backend.context_is_fixed(source.format):
        return None, ""  # baked into the model (a built engine)
    configured = setting("args.max_model_len")
    if configured is None:
        return None, ""
    if limit and limit < configured.value:
        return limit, f"the model's limit ({_fact_origin(source, 'context_length')}), below {configured.origin.describe()}"
    return configured.value, configured.origin.describe()


def _parser(value: Sourced[Any] | None, backend: Backend, kind: str, known: frozenset[str]) -> str | None:
    if value is None:
        return None
    if not known:
        how = "tool calls follow the model's chat template" if kind == "tool" else "it reasons as it was built to"
        raise InputError(f"{value.label()}: {backend.title} has no {kind} parser switch ({how}); drop the flag")
    if value.value not in known:
        raise InputError(f"{value.label()}: unknown to {backend.title}; choose one of {', '.join(sorted(known))}")
    return str(value.value)


def _vision(layers: Layers, backend: Backend, source: ModelSource, mmproj: Sourced[Any] | None,
            mmproj_arg: str | None) -> tuple[bool, str]:
    if backend.projector:
        if mmproj is not None:
            return True, "the --mmproj projector is mounted"
        if mmproj_arg is not None:
            return True, f"the projector {Path(mmproj_arg).name} beside the model is mounted"
        return False, "no projector (--mmproj, or an mmproj-*.gguf beside the model)"
    explicit = layers.get("vision")
    if explicit is not None:
        return bool(explicit.value), f"set by {explicit.origin.describe()}"
    facts = source.facts
    if facts.vision is not None and "vision" in facts.origins and not facts.origins["vision"].startswith("guessed"):
        return bool(facts.vision), f"{'vision_config in' if facts.vision else 'no vision_config in'} " \
                                   f"{facts.origins['vision']}"
    if facts.vision is not None:
        return bool(facts.vision), facts.origins.get("vision", "from the model")
    guessed = modelinfo.vision_from_name(source.display_name)
    return guessed, "guessed from the model name; `vision:` in models.yaml overrides"


def _mounts(source: ModelSource, backend: Backend, output_dir: Path, var_prefix: str,
            find_projector: bool) -> tuple[tuple[Mount, ...], str, str | None]:
    """What the backend needs mounted, the model argument, and a projector found beside the model
    (unless one is given by hand)."""
    if source.kind == "hub":
        return (), source.text, None
    assert source.path is not None
    facts = source.facts
    given = source.text
    projector = facts.mmproj if find_projector and backend.projector else None
    if source.kind == "snapshot":
        root = source.repo_root
        assert root is not None and source.model_dir is not None
        host = _host_path(root, given, output_dir)
        inside = f"/models/{root.name}"
        relative = source.model_dir.relative_to(root).as_posix()
        mount = Mount(host_path=host, container_path=inside, variable=_variable(f"{var_prefix}MODEL_REPO", host),
                      is_file=False, role="Hugging Face cache repository (snapshot and blobs)")
        model_dir = f"{inside}/{relative}"
        if facts.format == "gguf":
            return (mount,), f"{model_dir}/{facts.files[0]}", (f"{model_dir}/{projector}" if projector else None)
        return (mount,), model_dir, None
    if facts.format == "gguf" and backend.formats == frozenset({"gguf"}):
        directory = source.model_dir
        assert directory is not None
        single_file = not source.is_dir and len(facts.files) <= 1
        if single_file:
            host = _host_path(source.path, given, output_dir)
            mount = Mount(host_path=host, container_path=f"/models/{source.path.name}",
                          variable=_variable(f"{var_prefix}MODEL_FILE", host), is_file=True)
            mounts: tuple[Mount, ...] = (mount,)
            mmproj_arg = None
            if projector:
                path = directory / projector
                phost = _host_path(path, _sibling(given, projector), output_dir)
                mounts += (Mount(host_path=phost, container_path=f"/mmproj/{path.name}",
                                 variable=_variable(f"{var_prefix}MMPROJ_FILE", phost), is_file=True,
                                 role="vision projector"),)
                mmproj_arg = f"/mmproj/{path.name}"
            return mounts, f"/models/{source.path.name}", mmproj_arg
        # A directory, or one shard of a split model: mount the directory, every shard is in it.
        dir_given = given if source.is_dir else _parent(given)
        host = _host_path(directory, dir_given, output_dir)
        inside = f"/models/{directory.name}"
        mount = Mount(host_path=host, container_path=inside, variable=_variable(f"{var_prefix}MODEL_DIR", host),
                      is_file=False)
        first = facts.files[0] if facts.files else source.path.name
        return (mount,), f"{inside}/{first}", (f"{inside}/{projector}" if projector else None)
    is_file = not source.is_dir
    host = _host_path(source.path, given, output_dir)
    inside = f"/models/{source.path.name}"
    mount = Mount(host_path=host, container_path=inside,
                  variable=_variable(f"{var_prefix}MODEL_{'FILE' if is_file else 'DIR'}", host), is_file=is_file)
    return (mount,), inside, None


def _parent(given: str) -> str:
    parent = os.path.dirname(given.rstrip("/"))
    if not parent:
        return "."
    if not parent.startswith(("/", "./", "../", "~")) and parent != ".":
        return f"./{parent}"
    return parent


def _sibling(given: str, name: str) -> str:
    parent = _parent(given)
    return f"{parent}/{name}"


def _service_name(layers: Layers, config: Config, index: int, single: bool, alias: Sourced[str]) -> str:
    service = layers.get("service")
    if service is not None:
        if not SERVICE_RE.match(str(service.value)):
            raise InputError(f"{service.label(repr(service.value))}: use lowercase letters, digits, '-' and '_'")
        return str(service.value)
    if single:
        return "backend"
    return f"backend-{slugify(alias.value)}"


def _check_uniqueness(models: list[ModelSpec], litellm: LitellmSpec | None, network: str) -> None:
    aliases = [m.alias for m in models]
    for alias in aliases:
        if aliases.count(alias) > 1:
            raise InputError(f"alias {alias!r} is used by two models; give each model its own alias")
    services = [m.service for m in models if m.service]
    for service in services:
        if services.count(service) > 1 or service == "litellm":
            raise InputError(f"service name {service!r} is used twice; set a distinct `service:`")
    local = [m for m in models if m.service]
    if litellm is not None:
        for m in local:
            if m.port == litellm.port and (network == "host" or m.publish_port):
                raise InputError(
                    f"--litellm-port {litellm.port} equals the port of backend {m.service!r}; "
                    "pick another --litellm-port (or --port for the backend)"
                )
    ports = [m.port for m in local]
    for m in local:
        if ports.count(m.port) > 1 and (network == "host" or m.publish_port):
            raise InputError(
                f"port {m.port} is used by two backends on the host; give each model its own `port:`"
            )


def _share_gpus(models: list[ModelSpec], layers: list[Layers]) -> list[ModelSpec]:
    """Models whose reservations land on the same GPU split its memory: their shares must sum below 1.
    Shares left at their defaults are split evenly; shares set by hand that overflow are an error."""
    local = [(i, m) for i, m in enumerate(models) if m.service and m.gpus.enabled]
    if len(local) < 2:
        return models
    devices = {i: m.gpus.devices() for i, m in local}
    groups: list[set[int]] = []
    for i, _ in local:
        for j, _ in local:
            if i >= j:
                continue
            a, b = devices[i], devices[j]
            if a is None or b is None or a & b:
                for group in groups:
                    if i in group or j in group:
                        group.update((i, j))
                        break
                else:
                    groups.append({i, j})
    result = list(models)
    for group in groups:
        members = sorted(group)
        shares: dict[int, float] = {}
        explicit: dict[int, Sourced[Any]] = {}
        for i in members:
            backend = backends.get(models[i].backend)
            shares[i] = backend.memory_share(models[i].args)
            arg = backend.memory_arg
            if arg:
                found = layers[i].get("args")
                if found is not None and arg in found.value:
                    explicit[i] = Sourced(found.value[arg], Origin(found.origin.kind, found.origin.where,
                                                                   f"{found.origin.key}.{arg}"))
        names = ", ".join(models[i].service for i in members)
        if explicit:
            total = sum(shares.values())
            if total >= 1:
                culprit = next(iter(explicit.values()))
                raise PlanError(
                    f"{culprit.label()}: the models {names} share a GPU and their memory shares sum to "
                    f"{total:g}; make them sum below 1 (e.g. {0.9 / len(members):.2f} each) or give each its own GPUs"
                )
            continue
        share = int(0.9 / len(members) * 100) / 100
        for i in members:
            backend = backends.get(models[i].backend)
            args = dict(models[i].args)
            if backend.memory_arg:
                args[backend.memory_arg] = share
            origins = {**models[i].origins, "memory_share": f"split evenly: {names} share a GPU"}
            result[i] = replace(models[i], args=args, origins=origins)
    return result


def _plan(model: ModelSpec, layers: Layers, memory: Sourced[Any] | None, measured: list[hostinfo.Gpu] | None,
          source: ModelSource, notices: list[str]) -> ModelSpec:
    if not model.service or not model.gpus.enabled:
        return model
    given = source.text
    facts = source.facts
    backend = backends.get(model.backend)
    if memory is not None:
        if not isinstance(memory.value, (int, float)) or memory.value <= 0:
            raise InputError(f"{memory.label()}: GiB of memory per GPU, a positive number (e.g. 24 or 80)")
        gib, where = float(memory.value), memory.origin.describe()
        visible = measured
    elif measured:
        ids = model.gpus.devices(len(measured))
        chosen = [g for g in measured if ids is None or g.index in ids] or measured
        gib, where = min(g.memory_gib for g in chosen), "nvidia-smi"
        visible = measured
    else:
        if not any(n.startswith("memory plan skipped") for n in notices):
            notices.append("memory plan skipped: no --gpu-memory GIB given and no nvidia-smi on this host")
        return model
    if not facts.weights_bytes or not facts.kv_bytes_per_token:
        notices.append(f"{given}: memory plan skipped: the model's size is unknown "
                       f"({'no weight files or config to read' if not facts.weights_bytes else 'no KV cache shape'})")
        return model
    gpus = model.tensor_parallel or 1
    if not backend.tensor_parallel:
        gpus = model.gpus.countable or (len(visible) if visible else 1)
    context = model.max_model_len or facts.context_length
    if not context:
        notices.append(f"{given}: memory plan skipped: no context length known")
        return model
    plan = make_plan(weights_bytes=facts.weights_bytes, weights_exact=bool(facts.weights_exact),
                     kv_bytes_per_token=facts.kv_bytes_per_token, context=context,
                     sequences=backend.kv_sequences(model.args), gpus=gpus,
                     share=backend.memory_share(model.args), gpu_memory_gib=gib, gpu_memory_source=where)
    if not plan.fits:
        culprit = layers.get("gpus")
        label = culprit.label() if culprit is not None else f"{model.service} (--gpus {model.gpus.describe()})"
        valid = None
        if backend.tensor_parallel and facts.num_attention_heads:
            valid = [n for n in divisors_up_to(facts.num_attention_heads, 64) if n >= 1]
        quantized = bool(facts.quantization) and facts.quantization not in ("F16", "BF16", "F32")
        raise PlanError(misfit_message(plan, label, model.display_name, valid, quantized))
    return replace(model, plan=plan)
