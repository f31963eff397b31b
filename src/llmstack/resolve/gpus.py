"""The GPU stage of a model the stack runs: which GPUs it reserves, and its tensor-parallel size,
checked against the GPUs, the backend and the model's heads (or a built engine's own size)."""

from __future__ import annotations

from typing import Any

from llmstack.errors import InputError, PlanError
from llmstack.memory import tensor_parallel_fits, tensor_parallel_sizes
from llmstack.provenance import Sourced, derived
from llmstack.resolve.draft import Draft
from llmstack.spec import MAX_GPUS, GpuSpec


def gpus_and_tensor_parallel(draft: Draft) -> None:
    lookup, backend = draft.lookup, draft.backend
    given = lookup.get("gpus") or Sourced("all", derived("default"))
    text = str(given.value).strip()
    if not isinstance(given.value, bool) and text.isascii() and text.isdigit() and int(text) == 0:
        # Read as a count of none it silently became a CPU stack; read as device 0 it would be a guess.
        raise InputError(f"{given.label()}: a count of zero GPUs or GPU 0? say --gpus none (or --cpu) for no GPU, "
                         "--gpus device=0 for the first GPU")
    try:
        draft.gpus = GpuSpec.parse(given.value)
    except ValueError as exc:
        raise InputError(f"{given.label()}: {exc}") from None
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
    if tp.value > MAX_GPUS:
        raise InputError(f"{tp.label()}: more than {MAX_GPUS} GPUs: no host has that many")
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
