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
from urllib.parse import urlsplit, urlunsplit

from llmstack import __version__, decide, gateway, hostinfo, imageref, k8sinputs, manifest, sources
from llmstack.backends.base import Backend
from llmstack.configfile import Config, Stack, StackModel
from llmstack.errors import InputError, PlanError
from llmstack.escaping import is_safe
from llmstack.model import facts_to_dict
from llmstack.mounts import host_path, variable
from llmstack.mounts import mounts as model_mounts
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
    replicas: int | None = None
    litellm_replicas: int | None = None
    k8s_namespace: str | None = None
    k8s_model_pvc: str | None = None
    k8s_model_host_path: str | None = None
    k8s_hf_cache_pvc: str | None = None
    k8s_hf_cache_size: str | None = None
    k8s_storage_class: str | None = None
    k8s_gpu_product: str | None = None
    k8s_runtime_class: str | None = None
    k8s_shm_size: str | None = None
    k8s_backend_cpu: str | None = None
    k8s_backend_memory: str | None = None
    k8s_litellm_cpu: str | None = None
    k8s_litellm_memory: str | None = None
    anthropic_route: str | None = None
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
    "replicas": ("replicas", "--replicas"),
    "anthropic_route": ("anthropic_route", "--anthropic-route"),
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


def _no_control_chars(value: Sourced[Any]) -> None:
    """Refuse line breaks (every one YAML knows: U+0085, U+2028 and U+2029 too) and other control
    characters: they make no sense in a path, a name or a flag. (Rendering would escape them
    anyway: escaping.py.)"""
    for text in value.value if isinstance(value.value, list) else [value.value]:
        if isinstance(text, str) and not is_safe(text):
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
        for key, (attr, flag_name) in MODEL_FLAGS.items():
            if getattr(opts, attr) not in (None, False, []) or (key == "gpus" and opts.cpu):
                raise InputError(
                    f"{'--cpu' if key == 'gpus' and opts.cpu else flag_name}: stack {opts.stack!r} serves "
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
    k8s = k8sinputs.resolve(opts, config, stack, sn, target)
    gateway_replicas = k8sinputs.litellm_replicas(opts, config, stack, sn)
    if k8s is None:
        k8sinputs.refuse_for_compose(layers, gateway_replicas, target)

    # Name and output directory come first: relative model paths are written relative to it,
    # and an earlier render's manifest there stands in for weights that are not on this host.
    first = layers[0].get("model")
    assert first is not None
    first_external = bool(layers[0].get("api_base")) or layers[0].value("backend") == "external"
    default_name: str
    if stack is not None:
        default_name = stack.name or opts.stack or ""
        name_origin = config.origin("stacks", sn or "", "name") if stack.name else derived("the stack's key")
    else:
        given = first.value
        base = given if first_external else Path(given.rstrip("/")).name or given
        default_name = slugify(base.removesuffix(".gguf").split("/")[-1])
        name_origin = derived("the model's name")
    name: Sourced[str] = Sourced(opts.name, flag("--name")) if opts.name is not None else \
        Sourced(default_name, name_origin)
    if not SERVICE_RE.match(name.value):
        raise InputError(
            f"{name.label(repr(name.value))}: use lowercase letters, digits, '-' and '_' (e.g. {slugify(name.value)!r})"
        )
    if k8s is not None:
        k8sinputs.check_stack(name, network, bind)
    suffix = "" if target.value == "compose" else "-k8s"
    output_dir = Path(opts.output) if opts.output else Path("compose") / f"{name.value}{suffix}"
    recorded = manifest.recorded_models(output_dir)

    litellm = _resolve_gateway(opts, config, stack)
    if litellm is not None and k8s is not None:
        litellm = replace(litellm, replicas=k8sinputs.check_replicas(gateway_replicas))
        if gateway_replicas is not None:
            k8s = replace(k8s, origins={**k8s.origins, "litellm_replicas": gateway_replicas.origin.describe()})
    notices: list[str] = []
    models: list[ModelSpec] = []
    model_sources: list[ModelSource] = []
    facts_by_input: dict[str, Any] = {}
    for index, model_layers in enumerate(layers):
        model, source = _resolve_model(model_layers, config, index, single, network.value, output_dir,
                                       litellm is not None, recorded, env, notices)
        models.append(model)
        model_sources.append(source)
        facts_by_input[source.text] = {"source": source.describe(), "facts": facts_to_dict(source.facts)}

    _check_uniqueness(models, litellm, network.value)
    if k8s is None:
        models = decide.share_gpus(models, layers)
    else:
        # Kubernetes gives each pod whole GPUs of its own: no sharing, a count per pod.
        models, k8s = k8sinputs.adapt_models(models, layers, model_sources, name.value, k8s)
        pods = sum(m.replicas for m in models if m.service and m.hub_id)
        if pods > 1 and not k8s.hf_cache_pvc:
            notices.append(f"{pods} pods mount the rendered Hugging Face cache claim, which is ReadWriteOnce: "
                           "Kubernetes runs them all on one node; for pods on several nodes pass "
                           "--k8s-hf-cache-pvc NAME (a ReadWriteMany claim of yours)")
        if any(m.gpus.enabled and m.service for m in models) and gpu_memory_missing(opts, stack, layers):
            notices.append("memory plan skipped: pass --gpu-memory GIB (the memory of each of the cluster's GPUs); "
                           "this host's nvidia-smi says nothing about the cluster")
    gpu_memory = _stack_value(opts.gpu_memory, "--gpu-memory", stack, "gpu_memory", config, sn, None,
                              derived("default"))
    plans: list[tuple[str, list[str]]] = []
    planned = []
    measured: list[hostinfo.Gpu] | None = None
    asked = False
    for model, model_layers, source in zip(models, layers, model_sources, strict=True):
        memory = model_layers.get("gpu_memory") or (gpu_memory if gpu_memory.value is not None else None)
        if model.gpus.enabled and model.service and not asked:
            measured, asked = (hostinfo.gpus() if k8s is None else None), True
        model = decide.memory_plan(model, model_layers, memory, measured, source, notices)
        if model.plan is not None:
            plans.append((model.service or model.alias, model.plan.lines()))
        planned.append(model)
    if litellm is not None:
        tiers = {str(k): v for k, v in stack.claude.items()} if stack and stack.claude else None
        litellm = replace(litellm, claude_routes=gateway.claude_routes(
            [m.alias for m in planned], tiers, lambda tier: config.origin("stacks", sn or "", "claude", tier)))
        notices += _claude_context_notices(planned, litellm.claude_routes, single)

    spec = StackSpec(
        name=name.value,
        models=tuple(planned),
        litellm=litellm,
        network=network.value,
        bind=bind.value,
        target=target.value,
        kubernetes=k8s,
        regen_command=opts.regen_command,
        llmstack_version=__version__,
        inputs={"command": opts.regen_command, "config": config.where if stack is not None else None,
                "stack": opts.stack},
        facts=facts_by_input,
    )
    return Resolved(spec, output_dir, notices, plans)


def gpu_memory_missing(opts: RenderOptions, stack: Stack | None, layers: list[Layers]) -> bool:
    """No GPU memory given anywhere (the memory plan then has nothing to go on for a cluster)."""
    if opts.gpu_memory is not None or (stack is not None and stack.gpu_memory is not None):
        return False
    return not all(model_layers.get("gpu_memory") for model_layers in layers)


def _claude_context_notices(models: list[ModelSpec], routes: tuple[tuple[str, str], ...], single: bool) -> list[str]:
    """Claude Code sends tens of thousands of tokens per request: say so for the models it uses."""
    used = {alias for _, alias in routes}
    notices = []
    for model in models:
        context = model.max_model_len or model.context_limit
        if model.alias not in used or not context:
            continue
        how = "--max-model-len" if single else f"max_model_len on the model {model.alias!r} in models.yaml"
        advice = gateway.context_advice(model.alias, context, model.context_limit, how)
        if advice:
            notices.append(advice)
    return notices


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
    backend = decide.choose_backend(requested, source)
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
        first_base = api_bases.value[0] if isinstance(api_bases.value, list) else api_bases.value
        raise InputError(f"{api_bases.label(first_base)}"
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
        decide.check_tensor_parallel(tp, tp_value, source, gpus_value)
    if facts.tp_size and backend.name == "trtllm" and source.format == "trtllm-engine":
        wanted = tp_value or 1
        if wanted != facts.tp_size:
            culprit = tp.label() if tp is not None else f"{gpus_value.origin.describe()} {gpus.describe()}"
            raise PlanError(
                f"{culprit}: the engine {source.text} was built for tensor parallel {facts.tp_size} "
                f"({decide.fact_origin(source, 'tp_size')}); reserve {facts.tp_size} GPU(s) or rebuild the engine"
            )

    # ---- context length -------------------------------------------------------------------------
    max_len, context_origin = decide.context_length(layers, setting, backend, source)
    if max_len is not None:
        origins["max_model_len"] = context_origin

    # ---- parsers ----------------------------------------------------------------------------------
    parser = decide.parser(layers.get("tool_parser"), backend, "tool", backend.tool_parsers)
    if parser is None:
        parser = backend.tool_parser_for(facts.family)
        if parser:
            origins["tool_parser"] = f"the {facts.family} family ({decide.fact_origin(source, 'family')})"
    else:
        origins["tool_parser"] = layers.get("tool_parser").origin.describe()  # type: ignore[union-attr]
    reasoning = decide.parser(layers.get("reasoning_parser"), backend, "reasoning", backend.reasoning_parsers)
    if reasoning is None:
        reasoning = backend.reasoning_parser_for(facts.family, facts.thinking)
        if reasoning:
            why = "thinks in <think> tags" if facts.thinking else "reasons"
            where = decide.fact_origin(source, "thinking")
            origins["reasoning_parser"] = f"the {facts.family or 'model'} family {why} ({where})"
    else:
        origins["reasoning_parser"] = layers.get("reasoning_parser").origin.describe()  # type: ignore[union-attr]
    tools = parser is not None or backend.tools_without_parser()

    service = _service_name(layers, config, index, single, alias)
    var_prefix = "LLMSTACK_" if single else f"LLMSTACK_{service.upper().replace('-', '_')}_"

    # ---- mounts, projector, vision -----------------------------------------------------------------
    mmproj = layers.get("mmproj")
    mounts, model_arg, mmproj_arg = model_mounts(source, backend, output_dir, var_prefix, mmproj is None)
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
        host = host_path(path, mmproj.value, output_dir)
        mounts = mounts + (Mount(host_path=host, container_path=f"/mmproj/{path.name}",
                                 variable=variable(f"{var_prefix}MMPROJ_FILE", host), is_file=True,
                                 role="vision projector"),)
        mmproj_arg = f"/mmproj/{path.name}"
    vision, vision_source = decide.vision(layers, backend, source, mmproj, mmproj_arg)

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
                f"{gpus_value.label() if gpus_value.origin.where != '--cpu' else '--cpu'}: "
                f"{backend.title} has no CPU image (only llama.cpp runs on the CPU); serve a GGUF model with "
                f"--backend llama, reserve a GPU, or pass a CPU build with --backend-image"
            )
        image = _check_image(Sourced(built, repository.origin))
        origins["image"] = version.origin.describe()
    # The version decides whether the backend serves /v1/messages (unknown for an image given as is).
    pinned = setting("version") if explicit_image is None else None
    native = _anthropic_route(layers, backend, str(pinned.value) if pinned is not None else None, origins)

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
        native_messages=native,
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
    checked = [_check_api_base(bases, str(url)) for url in urls]
    twice = next((url for n, url in enumerate(checked) if url in checked[:n]), None)
    if twice is not None:
        raise InputError(f"{bases.label(repr(twice))}: the same URL twice; each replica needs its own --api-base")
    key_env = layers.get("api_key_env")
    if key_env is not None and not ENV_NAME_RE.match(str(key_env.value)):
        raise InputError(f"{key_env.label(repr(key_env.value))}: an environment variable name (A-Z, 0-9, _), "
                         "e.g. UPSTREAM_API_KEY")
    for key in ("gpus", "tensor_parallel", "max_model_len", "tool_parser", "reasoning_parser", "mmproj", "image",
                "version", "port", "extra_args", "replicas"):
        found = layers.get(key)
        if found is not None:
            raise InputError(f"{found.label()}: the external server decides this; drop it for --backend external")
    origins["api_base"] = bases.origin.describe()
    native = _anthropic_route(layers, backend, None, origins)
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
        native_messages=native,
        origins=origins,
    )


_SECRET_QUERY = re.compile(r"(^|&)[^=&]*(key|token|secret|passw|auth|sig)[^=&]*=", re.IGNORECASE)


def _check_api_base(bases: Sourced[Any], url: str) -> str:
    """An http(s) URL without credentials: they would land in committed files (the key goes in
    .env, named with --api-key-env). The error shows the URL with any password blanked out."""
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", url):
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


def _anthropic_route(layers: Layers, backend: Backend, version: str | None, origins: dict[str, str]) -> bool:
    """True when the gateway hands Anthropic /v1/messages requests to the backend untranslated."""
    asked = layers.get("anthropic_route")
    if asked is None:
        route = backend.default_anthropic_route(version)
        what = f"{backend.title} {version}" if version else backend.title
        if backend.serves_messages(version) is False:
            origins["anthropic_route"] = f"{what} has no /v1/messages; it came in {backend.messages_since}"
        else:
            origins["anthropic_route"] = f"the default for {what}"
        return route == "native"
    if asked.value not in ("native", "translated"):
        raise InputError(f"{asked.label()}: choose native (the backend's own /v1/messages) or translated "
                         "(LiteLLM turns Anthropic requests into chat completions)")
    if asked.value == "native" and backend.serves_messages(version) is False:
        raise InputError(
            f"{asked.label()}: {backend.title} {version} has no /v1/messages (served since "
            f"{backend.messages_since}); pick a later --backend-version or drop the setting"
        )
    origins["anthropic_route"] = asked.origin.describe()
    return asked.value == "native"


def _parse_gpus(value: Sourced[Any]) -> GpuSpec:
    try:
        return GpuSpec.parse(value.value)
    except ValueError:
        raise InputError(f"{value.label()}: use all, a count (2), device ids (0,2 or device=1) or none") from None


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


