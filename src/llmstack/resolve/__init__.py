"""Turn flags + a stack + defaults + the model's facts into a validated StackSpec, in named stages.

    1 inputs       the command line checked, the stack chosen, the one layered lookup built (inputs.py)
    2 place        network, published address, target, and the Kubernetes settings (stack.py, kubernetes.py)
    3 name         the stack's name                     4 output   its directory (an earlier manifest there)
    5 gateway      the LiteLLM gateway (stack.py)
    6 models       each model, stage by stage (model.py): its source and backend, args, extra args,
                   alias, a model served elsewhere (external.py), GPUs and tensor parallelism
                   (gpus.py), context, parsers, service, mounts and vision, image, the Anthropic
                   route (draft.py), the ModelSpec
    7 uniqueness   aliases, services, ports              8 GPUs     shared between models, or counted per pod
    8b exposure    a backend published beyond this host (or on a cluster) gets a key of its own (exposure.py)
    9 memory       each model's memory plan, or its KV cache on the CPU (memory.py)
    10 claude      Claude Code's tiers routed to aliases
    11 unused      every value given was read by some stage, or the render stops naming it

Precedence for every value: flag > the stack model > the stack > `defaults` in models.yaml > the
backend's built-in default; each value keeps its origin (provenance.py), so an error names the
flag or the file and key path it really came from. This is the only place that looks at the host
(the model files, `nvidia-smi`, an earlier render's manifest); rendering is pure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmstack import __version__, backends, hostinfo, manifest, memory
from llmstack.configfile import Config
from llmstack.errors import InputError
from llmstack.options import RenderOptions
from llmstack.provenance import Sourced
from llmstack.resolve import exposure, kubernetes
from llmstack.resolve.inputs import Inputs, read_inputs
from llmstack.resolve.model import Context, resolve_model
from llmstack.resolve.stack import (
    check_uniqueness,
    claude_context_notices,
    claude_routes,
    gateway_spec,
    output_dir,
    place,
    stack_name,
)
from llmstack.sources import ModelSource
from llmstack.spec import KubernetesSpec, ModelSpec, StackSpec

__all__ = ["Resolved", "resolve"]


@dataclass
class Resolved:
    spec: StackSpec
    output_dir: Path
    notices: list[str]  # one line each: facts that could not be read, a skipped plan, ...
    plans: list[tuple[str, list[str]]]  # (service or alias, plan lines) for `render` to print


def resolve(opts: RenderOptions, config: Config, env: Mapping[str, str] | None = None) -> Resolved:
    """Validate everything and return the stack with its output directory."""
    inputs = read_inputs(opts, config)
    where = place(inputs.settings)
    k8s = kubernetes.settings(inputs.settings, where.target.value)
    if k8s is None:
        kubernetes.refuse_for_compose(inputs.models, inputs.settings)
    name = stack_name(inputs)
    if k8s is not None:
        kubernetes.check_stack(name, where.network, where.bind)
    out = output_dir(inputs, name.value, where.target.value)
    litellm = gateway_spec(inputs.settings, opts.get("litellm_image"))
    if k8s is not None:
        litellm, k8s = kubernetes.cluster_gateway(inputs.settings, litellm, k8s)
    context = Context(out, litellm is not None, manifest.recorded_models(out), os.environ if env is None else env, [],
                      cluster=k8s is not None)
    resolved = [resolve_model(inputs, index, context) for index in range(len(inputs.entries))]
    models, model_sources = [m for m, _ in resolved], [s for _, s in resolved]
    check_uniqueness(models, litellm, where.network.value)
    models = place_on_gpus(inputs, models, model_sources, name.value, k8s, context.notices)
    models = exposure.key_backends(models, inputs.models, where.bind, k8s is not None, litellm is not None,
                                   context.notices)
    if k8s is not None:
        k8s = kubernetes.footprints(k8s, models, model_sources)
    models, plans = plan_memory(inputs, models, model_sources, k8s is not None, context.notices)
    litellm = claude_routes(inputs, litellm, models)
    context.notices.extend(claude_context_notices(models, litellm, inputs.single))
    check_unused(inputs)
    spec = StackSpec(
        name=name.value, models=tuple(models), litellm=litellm, network=where.network.value, bind=where.bind.value,
        target=where.target.value, kubernetes=k8s, regen_command=opts.regen_command, llmstack_version=__version__,
        inputs={"command": opts.regen_command, "config": config.where if inputs.stack is not None else None,
                "stack": opts.get("stack")},
        facts={source.text: source.record(model.template) for model, source in zip(models, model_sources, strict=True)},
    )
    return Resolved(spec, out, context.notices, plans)


def place_on_gpus(inputs: Inputs, models: list[ModelSpec], model_sources: Sequence[ModelSource], name: str,
                  k8s: KubernetesSpec | None, notices: list[str]) -> list[ModelSpec]:
    """Stage 8: models sharing a GPU split it (compose); on Kubernetes each pod has whole GPUs of its own."""
    if k8s is None:
        return memory.share_gpus(models, inputs.entries)
    adapted = kubernetes.adapt_models(models, inputs.models, model_sources, name, k8s)
    notices.extend(kubernetes.notices(adapted, k8s, inputs.models))
    return adapted


def plan_memory(inputs: Inputs, models: Sequence[ModelSpec], model_sources: Sequence[ModelSource], cluster: bool,
                notices: list[str]) -> tuple[list[ModelSpec], list[tuple[str, list[str]]]]:
    """Stage 9: each model's memory plan, against the memory given or measured on this host (never
    for a cluster: this host's nvidia-smi says nothing about it); on the CPU, the KV cache size of a
    backend that sets it in advance."""
    plans: list[tuple[str, list[str]]] = []
    planned = []
    measured: list[hostinfo.Gpu] | None = None
    asked = False
    for model, lookup, source in zip(models, inputs.models, model_sources, strict=True):
        if model.service and not model.gpus.enabled and backends.get(model.backend).cpu_kv_cache:
            planned.append(memory.cpu_kv_cache(model, lookup, source, notices))
            continue
        if not (model.gpus.enabled and model.service):
            planned.append(model)
            continue
        if not asked:
            measured, asked = (None if cluster else hostinfo.gpus()), True
        model = memory.plan_model(model, lookup, lookup.get("gpu_memory"), measured, source, notices)
        if model.plan is not None:
            plans.append((model.service or model.alias, model.plan.lines()))
        planned.append(model)
    return planned, plans


def check_unused(inputs: Inputs) -> None:
    """Stage 11: a value given (a flag, a key of the stack or of a stack model) that no stage read
    is a mistake: it would have been validated and then ignored."""
    for found in inputs.unused():
        raise InputError(f"{_label(found)}: nothing in this render uses it (it does not apply to this model or "
                         "stack); remove it")


def _label(found: Sourced[Any]) -> str:
    return found.origin.describe() if isinstance(found.value, bool) and found.origin.kind == "flag" else found.label()
