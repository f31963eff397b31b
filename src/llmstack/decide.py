"""Decisions from the model's facts: which backend serves a format, the context length, the
tool-call and reasoning parsers, vision, whether tensor parallelism divides the heads, how GPUs
shared between models split their memory, and the memory plan. Each raises with the culprit's
origin (provenance.py) and the fact's origin (llmstack.model) when the inputs cannot work.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from llmstack import backends, hostinfo
from llmstack.backends.base import Backend
from llmstack.errors import InputError, PlanError
from llmstack.model import ModelFacts, vision_from_name
from llmstack.plan import OUTSIDE_BUDGET_GIB, divisors_up_to, make_plan, misfit_message
from llmstack.provenance import Layers, Origin, Sourced
from llmstack.sources import ModelSource
from llmstack.spec import ModelSpec


def choose_backend(requested: Sourced[str], source: ModelSource) -> Backend:
    known = backends.names()
    if requested.value != "auto" and requested.value not in known:
        raise InputError(f"{requested.label()}: unknown backend; choose one of auto, {', '.join(known)}")
    if source.format == "gguf" and not source.facts.files:
        why = next((n for n in source.facts.notes if "GGUF" in n or "projector" in n), "no GGUF model to serve")
        raise InputError(
            f"{source.given.label()}: {why.split('; pass')[0]}; pass the model file as --model DIR/FILE.gguf")
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
        serving = backends.for_format(fmt)
        hint = f"use --backend {serving.name} (or auto)" if serving else "choose another --backend"
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


def fact_origin(source: ModelSource, key: str) -> str:
    where = source.facts.origins.get(key)
    if not where:
        return f"read from {source.text}"
    if where.startswith("guessed"):
        return where
    return f"{where} of {source.text}"


def check_tensor_parallel(tp: Sourced[Any], size: int, source: ModelSource, gpus_value: Sourced[Any]) -> None:
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
            f"({fact_origin(source, 'num_attention_heads')}); use {' or '.join(map(str, good[:3])) or '1'} GPUs "
            "or set --tensor-parallel to such a size"
        )
    kv = facts.num_kv_heads
    if kv and (kv % size if kv >= size else size % kv):
        raise PlanError(
            f"{culprit}: tensor parallel {size} does not split the model's {kv} KV heads evenly "
            f"({fact_origin(source, 'num_kv_heads')}); use a size that divides {kv} or is a multiple of it"
        )


def context_length(layers: Layers, setting: Any, backend: Backend, source: ModelSource) -> tuple[int | None, str]:
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
                f"({fact_origin(source, 'context_length')}); pass at most {limit}"
            )
        return explicit.value, explicit.origin.describe()
    if backend.context_is_fixed(source.format):
        return None, ""  # baked into the model (a built engine)
    configured = setting("args.max_model_len")
    if configured is None:
        return None, ""
    if limit and limit < configured.value:
        why = f"the model's limit ({fact_origin(source, 'context_length')}), below {configured.origin.describe()}"
        return limit, why
    return configured.value, configured.origin.describe()


def parser(value: Sourced[Any] | None, backend: Backend, kind: str, known: frozenset[str]) -> str | None:
    if value is None:
        return None
    if not known:
        how = "tool calls follow the model's chat template" if kind == "tool" else "it reasons as it was built to"
        raise InputError(f"{value.label()}: {backend.title} has no {kind} parser switch ({how}); drop the flag")
    if value.value not in known:
        raise InputError(f"{value.label()}: unknown to {backend.title}; choose one of {', '.join(sorted(known))}")
    return str(value.value)


def vision(layers: Layers, backend: Backend, source: ModelSource, mmproj: Sourced[Any] | None,
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
    guessed = vision_from_name(source.display_name)
    return guessed, "guessed from the model name; `vision:` in models.yaml overrides"


def share_gpus(models: list[ModelSpec], layers: list[Layers]) -> list[ModelSpec]:
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


def kv_per_token(facts: ModelFacts, tp: int) -> int:
    """KV cache bytes per token summed over the tensor-parallel GPUs. Each GPU holds
    max(1, kv_heads / tp) KV heads (vLLM's get_num_kv_heads), so heads are copied when tp exceeds
    them; an MLA latent is not split at all: every GPU holds all of it."""
    per = facts.kv_bytes_per_token or 0
    if tp <= 1:
        return per
    if "(MLA)" in facts.origins.get("kv_bytes_per_token", ""):
        return per * tp
    heads = facts.num_kv_heads
    if heads and tp > heads:
        return per * tp // heads
    return per


def memory_plan(model: ModelSpec, layers: Layers, memory: Sourced[Any] | None, measured: list[hostinfo.Gpu] | None,
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
    share = backend.memory_share(model.args)
    plan = make_plan(weights_bytes=facts.weights_bytes, weights_exact=bool(facts.weights_exact),
                     kv_bytes_per_token=kv_per_token(facts, gpus if backend.tensor_parallel else 1), context=context,
                     sequences=backend.kv_sequences(model.args), gpus=gpus,
                     share=share, gpu_memory_gib=gib, gpu_memory_source=where)
    if (1 - share) * gib < OUTSIDE_BUDGET_GIB:
        notices.append(f"{model.service}: a memory share of {share:g} leaves {(1 - share) * gib:.1f} GiB of each "
                       f"{gib:g} GiB GPU outside the budget; CUDA graphs and the CUDA context need about "
                       f"{OUTSIDE_BUDGET_GIB:g} GiB there: lower the share if the server runs out of memory")
    if not plan.fits:
        culprit = layers.get("gpus")
        label = culprit.label() if culprit is not None else f"{model.service} (--gpus {model.gpus.describe()})"
        valid = None
        if backend.tensor_parallel and facts.num_attention_heads:
            valid = [n for n in divisors_up_to(facts.num_attention_heads, 64) if n >= 1]
        quantized = bool(facts.quantization) and facts.quantization not in ("F16", "BF16", "F32")
        raise PlanError(misfit_message(plan, label, model.display_name, valid, quantized))
    return replace(model, plan=plan)
