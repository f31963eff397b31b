"""All GPU-memory arithmetic: does a model, at the context asked for, fit the GPUs it is given
(the plan), how models sharing GPUs split them, and the tensor-parallel sizes a model allows; and
the KV cache of a model on the CPU (cpu_kv_cache). Pure but for the GPUs measured on this host,
which the caller passes in.

    needed    = weights + kv_bytes_per_token x context x sequences + overhead x GPUs
    available = share x memory per GPU x GPUs

- weights: the size of the weight files (exact), else parameters x bytes per parameter
  (llmstack.model); split evenly over tensor-parallel GPUs.
- kv_bytes_per_token: 2 (K and V) x layers x KV heads x head dim x 2 bytes (a 16-bit cache);
  for MLA models (DeepSeek-V3/R1, Kimi-K2) layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes.
- sequences: how many full-context sequences the backend's KV cache must hold to start. vLLM
  and SGLang refuse to start when one `max_model_len` sequence does not fit the KV cache
  ("... is larger than the maximum number of tokens that can be stored in KV cache"); llama.cpp
  allocates `-c` tokens in total, shared by its slots. So one.
- share: the backend's memory fraction (vLLM `gpu_memory_utilization`, SGLang
  `mem_fraction_static`), or this model's part of a GPU it shares with another model.
- overhead: the activation peak of a forward pass and non-torch memory (NCCL, attention
  buffers), which vLLM 0.12.0 counts inside its budget (gpu_worker.py: requested memory minus
  weights, torch peak and non-torch increase is the KV cache): OVERHEAD_GIB per GPU, from
  published vLLM memory-profiling logs (0.3-2.1 GiB). CUDA graphs and the CUDA context come on
  top of the budget (captured after the KV cache): the share must leave OUTSIDE_BUDGET_GIB of
  each GPU free (published graph captures: 0.1-1.0 GiB). See README, "How llmstack reads a
  model and plans memory".
- KV heads are split over tensor-parallel GPUs down to one per GPU (then copied); an MLA
  latent is held whole by every GPU (kv_per_token).
- GPUs shared by several models: the models whose reservations overlap, directly or through
  others, form a group (a connected component); their shares are split by the most crowded GPU
  of the group, so no GPU gives away more than 0.9 of itself (share_gpus).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from llmstack import backends, gpu_products, hostinfo
from llmstack.errors import InputError, PlanError
from llmstack.model import ModelFacts
from llmstack.provenance import Layer, Layers, Sourced
from llmstack.sources import ModelSource
from llmstack.spec import GiB, KvPart, MemoryPlan, ModelSpec

OVERHEAD_GIB = 1.5  # per GPU, inside the budget: activation peak + non-torch memory
OUTSIDE_BUDGET_GIB = 1.0  # per GPU, outside it: CUDA context + CUDA graphs (captured after the KV cache)


def make_plan(*, weights_bytes: int, weights_exact: bool, kv_bytes_per_token: int, context: int,
              sequences: int, gpus: int, share: float, gpu_memory_gib: float, gpu_memory_source: str,
              kv_parts: tuple[KvPart, ...] = (), kv_rules: str = "") -> MemoryPlan:
    plan = MemoryPlan(
        gpu_memory_gib=gpu_memory_gib,
        gpu_memory_source=gpu_memory_source,
        gpus=gpus,
        share=share,
        weights_gib=weights_bytes / GiB,
        weights_exact=weights_exact,
        kv_gib=0.0,
        kv_bytes_per_token=kv_bytes_per_token,
        context=context,
        sequences=sequences,
        overhead_gib=OVERHEAD_GIB * gpus,
        kv_parts=kv_parts,
        kv_rules=kv_rules,
    )
    return replace(plan, kv_gib=plan.kv_bytes(context) / GiB)


def gpus_needed(plan: MemoryPlan, valid: list[int] | None = None) -> int | None:
    """The fewest GPUs of this size on which the plan fits (the first valid tensor-parallel size)."""
    per_gpu = plan.share * plan.gpu_memory_gib - OVERHEAD_GIB
    if per_gpu <= 0:
        return None
    fixed = plan.weights_gib + plan.kv_gib
    count = max(1, math.ceil(fixed / per_gpu))
    if valid is not None:
        larger = [n for n in valid if n >= count]
        return larger[0] if larger else None
    return count


def misfit_message(plan: MemoryPlan, culprit: str, name: str, valid_gpu_counts: list[int] | None,
                   quantized: bool) -> str:
    """One line: needed vs available, and the fixes that would work."""
    fixes = []
    fitting = plan.max_context()
    if fitting >= 1024 and fitting < plan.context:
        fixes.append(f"a context that fits (--max-model-len {fitting // 1024 * 1024})")
    more = gpus_needed(plan, valid_gpu_counts)
    if more and more > plan.gpus:
        fixes.append(f"more GPUs ({more} of {plan.gpu_memory_gib:g} GiB)")
    if not quantized:
        fixes.append("a quantized model (AWQ/GPTQ/FP8, or a 4-bit GGUF with llama.cpp)")
    elif not fixes:
        fixes.append("a smaller model")
    return (
        f"{culprit}: {name} needs {plan.needed_gib:.1f} GiB ({plan.weights_gib:.1f} GiB weights + "
        f"{plan.kv_gib:.1f} GiB KV cache for {plan.context} tokens + {plan.overhead_gib:.1f} GiB overhead) but "
        f"{plan.share:g} x {plan.gpu_memory_gib:g} GiB x {plan.gpus} GPU(s) = {plan.available_gib:.1f} GiB "
        f"are available ({plan.gpu_memory_source}); use " + ", or ".join(fixes)
    )


# ---- tensor parallelism -----------------------------------------------------------------------

def tensor_parallel_fits(facts: ModelFacts, size: int) -> bool:
    """vLLM, SGLang and TRT-LLM shard attention heads: the size must divide them, and divide the KV
    heads too (or be a multiple of them when there are fewer KV heads than GPUs)."""
    heads, kv = facts.num_attention_heads, facts.num_kv_heads
    if heads and heads % size:
        return False
    return not (kv and (kv % size if kv >= size else size % kv))


def tensor_parallel_sizes(facts: ModelFacts, limit: int) -> list[int]:
    """Every tensor-parallel size up to `limit` both head rules accept."""
    return [n for n in range(1, limit + 1) if tensor_parallel_fits(facts, n)]


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


# ---- the KV cache by layer type ----------------------------------------------------------------
#
# What a sequence of `context` tokens keeps per layer type, as each server allocates it (the
# facts say which layers are which: llmstack.model.facts). Read in the released sources:
#
# vLLM 0.33.0 (vllm/v1/kv_cache_interface.py, vllm/v1/core/kv_cache_planning.py):
#   full attention, MLA  FullAttentionSpec / MLAAttentionSpec.max_memory_usage_bytes: the whole context.
#   sliding window       SlidingWindowSpec.max_admission_blocks_per_request: min(window - 1 + tokens
#                        in flight, context) + one block (the window need not start on a block).
#   chunked (Llama 4)    ChunkedLocalAttentionSpec: min(chunk + tokens in flight, context).
#   linear attention     MambaSpec.max_memory_usage_bytes: a state per sequence; with prefix caching
#                        (on by default, ModelConfig.is_prefix_caching_supported for hybrid models)
#                        mamba_cache_mode "align" keeps 2 + 1 prefill-checkpoint states
#                        (models/config.py MambaModelConfig, gdn/qwen_gdn_linear_attn.py).
#   tokens in flight     VllmConfig.max_in_flight_tokens: max_num_batched_tokens x 2 concurrent
#                        batches (async scheduling, on by default); max_num_batched_tokens defaults
#                        (engine/arg_utils.py get_batch_defaults, API server) to 16384 on GPUs of
#                        160 GiB or more, 8192 from 70 GiB (not A100), else 2048.
#   groups               _get_kv_cache_groups_uniform_page_size: the layers of each type are split
#                        into groups of the smallest type's size (the largest if it is below 1.5 x
#                        the smallest), the last group of a type padded: Gemma 3 27B's 52 sliding
#                        layers take 6 groups of 10. The startup check (get_kv_cache_configs ->
#                        _max_memory_usage_bytes_from_groups) counts the padding.
#   Before 0.28 (no max_in_flight_tokens) the tokens in flight were max_num_batched_tokens; before
#   0.14 VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE defaulted to 0, so Llama 4's chunked
#   layers were allocated as full attention (vllm/envs.py, config/vllm.py).
# SGLang 0.5.23 (srt/configs/model_config.py is_hybrid_swa_model, srt/model_executor/
#   pool_configurator.py, srt/mem_cache/kv_cache_configurator.py): a separate pool for the
#   sliding/chunked layers of gpt-oss and Llama 4 only (so from 0.5.9 on, the first release read
#   with that list), of swa_full_tokens_ratio (0.8) times the full pool's tokens; Gemma 3's sliding
#   layers are full attention there. 0.5.6 (srt/model_executor/model_runner.py) pooled the sliding
#   layers of every model that has them but Llama 4. Linear-attention states get
#   mamba_full_memory_ratio (0.9) x the memory of the full-attention KV cache (0.5.6 and 0.5.23).
# llama.cpp (the build vendored by llama-cpp-python 0.3.36; src/llama-kv-cache-iswa.cpp,
#   tools/server/server.cpp): the SWA/chunked cache holds min(ctx, window x slots + n_ubatch 512)
#   cells padded to 256 (llama-server's default: 4 slots, one unified cache); recurrent states are
#   F32, one per slot (src/llama-model.cpp).
# TensorRT-LLM: every layer over the whole context (its attention windows are not modelled).

BLOCK = 16  # vLLM CacheConfig.DEFAULT_BLOCK_SIZE
_SGLANG_SWA_ARCHITECTURES = frozenset({"GptOssForCausalLM", "Llama4ForConditionalGeneration"})
_SGLANG_SWA_RATIO = 0.8
_SGLANG_MAMBA_RATIO = 0.9
_LLAMA_SLOTS, _LLAMA_UBATCH = 4, 512


@dataclass(frozen=True)
class Engine:
    """What the KV cache of a server depends on besides the model."""

    backend: str
    version: tuple[int, ...] | None  # from the image tag; None: the newest rules
    gpu_gib: float
    gpu_name: str = ""  # a product or nvidia-smi name, when known
    args: Mapping[str, Any] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()


def image_version(image: str) -> tuple[int, ...] | None:
    """(0, 12, 0) from `vllm/vllm-openai:v0.12.0` (a digest after the tag is ignored); None otherwise."""
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-].*)?", tag)
    return tuple(int(part) for part in match.groups() if part is not None) if match else None


def kv_parts(facts: ModelFacts, per_token: int, engine: Engine) -> tuple[tuple[KvPart, ...], str]:
    """The KV cache by layer type, and whose rules: () when every layer keeps the whole context."""
    layers = facts.num_layers or 0
    linear = facts.linear_layers or 0
    kv_layers = layers - linear
    sliding = (facts.sliding_layers or 0) if facts.sliding_window else 0
    chunked = (facts.chunked_layers or 0) if facts.attention_chunk_size else 0
    if kv_layers <= 0 or sliding + chunked > kv_layers or not (sliding or chunked or linear):
        return (), ""
    model = _Layers(per_token // kv_layers, kv_layers - sliding - chunked, sliding, chunked, linear,
                    (facts.linear_state_bytes or 0) // linear if linear else 0, facts)
    if engine.backend == "vllm":
        return _vllm(model, engine)
    if engine.backend == "sglang":
        return _sglang(model, engine)
    if engine.backend == "llama":
        return _llama(model, engine)
    return (), ""


@dataclass(frozen=True)
class _Layers:
    per_layer: int  # KV bytes per token of one layer, summed over the GPUs
    full: int
    sliding: int
    chunked: int
    linear: int
    state: int  # bytes of one linear layer's state per sequence
    facts: ModelFacts


def _vllm(m: _Layers, engine: Engine) -> tuple[tuple[KvPart, ...], str]:
    version = engine.version
    in_flight = _batched_tokens(engine) * (2 if version is None or version >= (0, 28) else 1)
    full, chunked = m.full, m.chunked
    if version is not None and version < (0, 14):
        full, chunked = full + chunked, 0  # hybrid KV cache manager off for chunked local attention
    counts = [n for n in (full, m.sliding, chunked, m.linear) if n]
    group = min(counts) if max(counts) >= 1.5 * min(counts) else max(counts)

    def padded(n: int) -> tuple[int, str]:
        total = -(-n // group) * group
        return total, (f"{n} + {total - n} padding to groups of {group}" if total != n else "")

    parts = []
    if full:
        count, pad = padded(full)
        why = "the whole context" + (f"; {pad}" if pad else "")
        if chunked == 0 and m.chunked:
            why += f"; {m.chunked} chunked layers among them (chunked attention needs vLLM 0.14)"
        parts.append(KvPart("full-attention", count, count * m.per_layer, how=why))
    if m.sliding:
        count, pad = padded(m.sliding)
        window = m.facts.sliding_window or 0
        parts.append(KvPart("sliding-window", count, count * m.per_layer, cap=window - 1 + in_flight + BLOCK,
                            how=f"window {window} + {in_flight} in flight + 1 block" + (f"; {pad}" if pad else "")))
    if chunked:
        count, pad = padded(chunked)
        chunk = m.facts.attention_chunk_size or 0
        parts.append(KvPart("chunked-attention", count, count * m.per_layer, cap=chunk + in_flight,
                            how=f"chunk {chunk} + {in_flight} in flight" + (f"; {pad}" if pad else "")))
    if m.linear:
        count, pad = padded(m.linear)
        parts.append(KvPart("linear-attention", count, 0, fixed_bytes=count * m.state * 3,
                            how="3 states per sequence: mamba_cache_mode align" + (f"; {pad}" if pad else "")))
    tag = ".".join(map(str, version)) if version else "0.33"
    return tuple(parts), f"vLLM {tag}"


def _batched_tokens(engine: Engine) -> int:
    """vLLM's max_num_batched_tokens: given with --extra-arg, else the API server's default."""
    given = _flag_value(engine.extra_args, "--max-num-batched-tokens")
    if given is not None and given.isdigit() and int(given) > 0:
        return int(given)
    new = engine.version is None or engine.version >= (0, 28)
    if engine.gpu_gib >= 160 and new:
        return 16384
    if engine.gpu_gib >= 70 and "a100" not in engine.gpu_name.lower():
        return 8192
    return 2048


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value of `flag` among extra arguments (`--flag=V` or `--flag V`; `_` read as `-` as vLLM does)."""
    for n, arg in enumerate(args):
        name, _, value = arg.partition("=")
        if name.replace("_", "-") == flag:
            return value if value else (args[n + 1] if n + 1 < len(args) else None)
    return None


def _sglang(m: _Layers, engine: Engine) -> tuple[tuple[KvPart, ...], str]:
    if engine.version is not None and engine.version < (0, 5, 9):
        # 0.5.6 (model_runner.py): an SWA pool for every model with a sliding window but Llama 4
        # (whose chunked layers need --hybrid-kvcache-ratio)
        windowed, local = m.sliding > 0, m.sliding
    else:
        windowed, local = m.facts.architecture in _SGLANG_SWA_ARCHITECTURES, m.sliding + m.chunked
    pooled = local if windowed else 0
    unpooled = m.sliding + m.chunked - pooled
    full = m.full + unpooled
    parts = [KvPart("full-attention", full, full * m.per_layer,
                    how="the whole context" + (f"; {unpooled} sliding/chunked layers among them (no SWA pool for "
                                               f"{m.facts.architecture or 'this architecture'})" if unpooled else ""))]
    if pooled:
        parts.append(KvPart("sliding-window", pooled, pooled * m.per_layer, share=_SGLANG_SWA_RATIO,
                            how=f"the SWA pool: {_SGLANG_SWA_RATIO:g} x the full pool's tokens"))
    if m.linear:
        parts.append(KvPart("linear-attention", m.linear, int(_SGLANG_MAMBA_RATIO * full * m.per_layer),
                            how=f"the state pool takes {_SGLANG_MAMBA_RATIO:g} x the full-attention KV memory"))
    return tuple(parts), "SGLang " + (".".join(map(str, engine.version)) if engine.version else "0.5.23")


def _llama(m: _Layers, engine: Engine) -> tuple[tuple[KvPart, ...], str]:
    slots = engine.args.get("parallel")
    parts = [KvPart("full-attention", m.full, m.full * m.per_layer, how="the whole context")]
    for kind, count, window in (("sliding-window", m.sliding, m.facts.sliding_window),
                                ("chunked-attention", m.chunked, m.facts.attention_chunk_size)):
        if count and window:
            if slots:
                cells = int(slots) * _pad256(window + _LLAMA_UBATCH)
                how = f"{slots} slots x (window {window} + {_LLAMA_UBATCH}, padded to 256)"
            else:
                cells = _pad256(window * _LLAMA_SLOTS + _LLAMA_UBATCH)
                how = f"window {window} x {_LLAMA_SLOTS} slots + {_LLAMA_UBATCH}, padded to 256"
            parts.append(KvPart(kind, count, count * m.per_layer, cap=cells, how=how))
    if m.linear:
        states = int(slots) if slots else _LLAMA_SLOTS
        parts.append(KvPart("linear-attention", m.linear, 0, fixed_bytes=m.linear * m.state * 2 * states,
                            how=f"F32 states, one per slot ({states})"))
    return tuple(parts), "llama.cpp"


def _pad256(cells: int) -> int:
    return -(-cells // 256) * 256


# ---- GPUs shared between models ----------------------------------------------------------------

def sharing_groups(models: Sequence[ModelSpec]) -> list[list[int]]:
    """The models whose GPU reservations overlap, directly or through others (connected components:
    [0], [1,2], [1,2] and [0,2] are one group), each with two or more members."""
    local = [i for i, m in enumerate(models) if m.service and m.gpus.enabled]
    devices = {i: models[i].gpus.devices() for i in local}
    root = {i: i for i in local}

    def find(i: int) -> int:
        while root[i] != i:
            i = root[i]
        return i

    for n, i in enumerate(local):
        for j in local[n + 1:]:
            a, b = devices[i], devices[j]
            if a is None or b is None or a & b:
                root[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in local:
        groups.setdefault(find(i), []).append(i)
    return [members for members in groups.values() if len(members) > 1]


def _on_each_gpu(models: Sequence[ModelSpec], members: list[int]) -> list[list[int]]:
    """For every GPU a group reserves, the members on it (a reservation of all GPUs is on each)."""
    devices = {i: models[i].gpus.devices() for i in members}
    known = sorted(set().union(*(d for d in devices.values() if d is not None)))
    if not known:
        return [members]
    return [[i for i in members if gpu in (devices[i] or known)] for gpu in known]


def share_gpus(models: Sequence[ModelSpec], entries: Sequence[Layer]) -> list[ModelSpec]:
    """Models whose reservations land on the same GPU split its memory: on every GPU their shares must
    sum below 1. Shares left at their defaults are split evenly by the most crowded GPU of the group;
    shares set by hand (`args:` of a stack model: `entries`) that overflow are an error. A backend
    with no memory switch (llama.cpp takes what the model needs) is planned against the share it is
    given, or what the shares set by hand leave."""
    result = list(models)
    for members in sharing_groups(models):
        names = ", ".join(models[i].service for i in members)
        explicit = _explicit_shares(models, entries, members)
        if explicit:
            shares = _left_over(models, members, explicit)
            why = f"what the shares set by hand leave: {names} share a GPU"
        else:
            crowd = max(len(on_gpu) for on_gpu in _on_each_gpu(models, members))
            shares = dict.fromkeys(members, int(0.9 / crowd * 100) / 100)
            why = f"split evenly: {names} share " + ("a GPU" if crowd == len(members) else
                                                     f"GPUs, at most {crowd} on one")
        for i, share in shares.items():
            result[i] = _with_share(models[i], share, why)
    return result


def _with_share(model: ModelSpec, share: float, why: str) -> ModelSpec:
    backend = backends.get(model.backend)
    args = dict(model.args)
    if backend.memory_arg:
        args[backend.memory_arg] = share
    else:
        why += f"; {backend.title} has no memory limit: planned against {share:g} of the GPU"
    return replace(model, args=args, memory_share=share, origins={**model.origins, "memory_share": why})


def _explicit_shares(models: Sequence[ModelSpec], entries: Sequence[Layer],
                     members: list[int]) -> dict[int, Sourced[Any]]:
    """The members whose memory share was set by hand on the stack model."""
    explicit: dict[int, Sourced[Any]] = {}
    for i in members:
        arg = backends.get(models[i].backend).memory_arg
        found = entries[i].get(f"args.{arg}") if arg else None
        if found is not None:
            explicit[i] = found
    return explicit


def _left_over(models: Sequence[ModelSpec], members: list[int],
               explicit: dict[int, Sourced[Any]]) -> dict[int, float]:
    """Shares set by hand must leave every GPU of the group below 1 in total; the members whose
    backend has no memory switch split what they leave below 0.9 (their planned shares)."""
    left: dict[int, float] = {}
    first = next(iter(explicit.values()))
    for on_gpu in _on_each_gpu(models, members):
        tunable = [i for i in on_gpu if backends.get(models[i].backend).memory_arg]
        fixed = [i for i in on_gpu if i not in tunable]
        total = round(sum(backends.get(models[i].backend).memory_share(models[i].args) for i in tunable), 4)
        culprit = next((explicit[i] for i in on_gpu if i in explicit), first)
        names = ", ".join(models[i].service for i in on_gpu)
        if total >= 1 and any(i in explicit for i in on_gpu):
            raise PlanError(
                f"{culprit.label()}: the models {names} share a GPU and their memory shares sum to "
                f"{total:g}; make them sum below 1 (e.g. {0.9 / len(on_gpu):.2f} each) or give each its own GPUs"
            )
        share = int((0.9 - total) / len(fixed) * 100) / 100 if fixed else 0.0
        if fixed and share <= 0:
            who = ", ".join(models[i].service for i in fixed)
            raise PlanError(f"{culprit.label()}: the models {names} share a GPU and the shares set by hand "
                            f"({total:g}) leave nothing below 0.9 for {who}, whose server cannot be limited; "
                            "lower them or give it its own GPUs")
        for i in fixed:
            left[i] = min(left.get(i, share), share)
    return left


# ---- the KV cache of a model on the CPU ----------------------------------------------------------

# For a model whose KV shape is unknown: what vLLM 0.12.0 itself took when nothing was set
# (vllm/platforms/cpu.py, get_device_total_memory).
CPU_KV_UNKNOWN_GIB = 4


def cpu_kv_cache(model: ModelSpec, lookup: Layers, source: ModelSource, notices: list[str]) -> ModelSpec:
    """The KV cache of a model served on the CPU by a backend that sizes it in advance, in whole GiB
    (vLLM's VLLM_CPU_KVCACHE_SPACE): as given, else room for the full-context sequences the server
    must hold to start (one: vLLM refuses a max_model_len its KV cache cannot hold), rounded up."""
    asked = lookup.get("cpu_kv_cache")
    if asked is not None:
        if isinstance(asked.value, bool) or not isinstance(asked.value, int) or asked.value < 1:
            raise InputError(f"{asked.label()}: whole GiB of KV cache, 1 or more (e.g. 4)")
        return replace(model, kv_cache_gib=asked.value, origins={**model.origins, "kv_cache": asked.origin.describe()})
    facts, backend = source.facts, backends.get(model.backend)
    per_token, context = kv_per_token(facts, 1), model.max_model_len or facts.context_length
    sequences = backend.kv_sequences(model.args)
    if not per_token or not context:
        notices.append(f"{source.text}: KV cache on the CPU: {CPU_KV_UNKNOWN_GIB} GiB (the model's KV cache shape "
                       "or context is unknown); set --cpu-kv-cache GIB")
        why = f"{CPU_KV_UNKNOWN_GIB} GiB: the model's KV cache shape or context is unknown"
        return replace(model, kv_cache_gib=CPU_KV_UNKNOWN_GIB, origins={**model.origins, "kv_cache": why})
    needed = per_token * context * sequences
    gib = max(1, math.ceil(needed / GiB))
    why = (f"room for {sequences} sequence{'s' if sequences != 1 else ''} of {context} tokens x {per_token} B/token "
           f"= {needed / 2**20:.0f} MiB, rounded up to whole GiB; --cpu-kv-cache for more requests at once")
    return replace(model, kv_cache_gib=gib, origins={**model.origins, "kv_cache": why})


# ---- the plan of one model -----------------------------------------------------------------------

def _gpu_memory(model: ModelSpec, memory: Sourced[Any] | None, measured: list[hostinfo.Gpu] | None,
                notices: list[str]) -> tuple[float, str, str] | None:
    """GiB per GPU (as nvidia-smi reports it), where that figure came from and the GPU's name when
    known: given (a number or a product name), else measured on this host, else None."""
    if memory is not None:
        given = gpu_products.parse(memory.value, memory.label())
        where = memory.origin.describe()
        if given.product is None:
            boxed = gpu_products.marketed_as(given.gib)
            if boxed:
                names = " or ".join(f"{p.name} ({p.gib:g} GiB)" for p in boxed)
                notice = (f"{memory.label()}: GiB as nvidia-smi reports it (MiB / 1024), not the GB a GPU is sold as: "
                          f"a {given.gib:g} GB {names} reports less; name the product (--gpu-memory {boxed[0].name}) "
                          "to plan with its own figure")
                if notice not in notices:
                    notices.append(notice)
            return given.gib, where, ""
        return given.gib, given.describe(where), given.product.name
    if measured:
        ids = model.gpus.devices(len(measured))
        chosen = [g for g in measured if ids is None or g.index in ids] or measured
        smallest = min(chosen, key=lambda g: g.memory_gib)
        return smallest.memory_gib, "nvidia-smi", smallest.name
    return None


def plan_model(model: ModelSpec, lookup: Layers, memory: Sourced[Any] | None, measured: list[hostinfo.Gpu] | None,
               source: ModelSource, notices: list[str]) -> ModelSpec:
    """The model with its memory plan, a notice when there is nothing to plan with, or PlanError
    naming the culprit and the fixes that would work."""
    if not model.service or not model.gpus.enabled:
        return model
    facts, backend = source.facts, backends.get(model.backend)
    per_gpu = _gpu_memory(model, memory, measured, notices)
    if per_gpu is None:
        if not any(n.startswith("memory plan skipped") for n in notices):
            notices.append("memory plan skipped: no --gpu-memory given (GiB as nvidia-smi reports it, or a GPU "
                           "product such as L4 or H100) and no nvidia-smi on this host")
        return model
    context = model.max_model_len or facts.context_length
    why = ("no weight files or config to read" if not facts.weights_bytes else
           "no KV cache shape" if not facts.kv_bytes_per_token else "")
    if why or not context:
        what = f"the model's size is unknown ({why})" if why else "no context length known"
        notices.append(f"{source.text}: memory plan skipped: {what}")
        return model
    assert facts.weights_bytes is not None
    gib, where, gpu_name = per_gpu
    gpus = model.tensor_parallel or 1
    if not backend.tensor_parallel:
        gpus = model.gpus.countable or (len(measured) if measured else 1)
    share = model.memory_share if model.memory_share is not None else backend.memory_share(model.args)
    per_token = kv_per_token(facts, gpus if backend.tensor_parallel else 1)
    engine = Engine(model.backend, image_version(model.image), gib, gpu_name, model.args, model.extra_args)
    parts, rules = kv_parts(facts, per_token, engine)
    plan = make_plan(weights_bytes=facts.weights_bytes, weights_exact=bool(facts.weights_exact),
                     kv_bytes_per_token=per_token, context=context,
                     sequences=backend.kv_sequences(model.args), gpus=gpus,
                     share=share, gpu_memory_gib=gib, gpu_memory_source=where, kv_parts=parts, kv_rules=rules)
    if (1 - share) * gib < OUTSIDE_BUDGET_GIB:
        notices.append(f"{model.service}: a memory share of {share:g} leaves {(1 - share) * gib:.1f} GiB of each "
                       f"{gib:g} GiB GPU outside the budget; CUDA graphs and the CUDA context need about "
                       f"{OUTSIDE_BUDGET_GIB:g} GiB there: lower the share if the server runs out of memory")
    if not plan.fits:
        culprit = lookup.get("gpus")
        label = culprit.label() if culprit is not None else f"{model.service} (--gpus {model.gpus.describe()})"
        valid = tensor_parallel_sizes(facts, 64) if backend.tensor_parallel and facts.num_attention_heads else None
        quantized = bool(facts.quantization) and facts.quantization not in ("F16", "BF16", "F32")
        raise PlanError(misfit_message(plan, label, model.display_name, valid, quantized))
    return replace(model, plan=plan)
