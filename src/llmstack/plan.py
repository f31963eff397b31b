"""The memory plan: does a model, at the context asked for, fit the GPUs it is given? Pure.

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
  latent is held whole by every GPU (decide.kv_per_token).
"""

from __future__ import annotations

import math

from llmstack.spec import GiB, MemoryPlan

OVERHEAD_GIB = 1.5  # per GPU, inside the budget: activation peak + non-torch memory
OUTSIDE_BUDGET_GIB = 1.0  # per GPU, outside it: CUDA context + CUDA graphs (captured after the KV cache)


def make_plan(*, weights_bytes: int, weights_exact: bool, kv_bytes_per_token: int, context: int,
              sequences: int, gpus: int, share: float, gpu_memory_gib: float, gpu_memory_source: str) -> MemoryPlan:
    return MemoryPlan(
        gpu_memory_gib=gpu_memory_gib,
        gpu_memory_source=gpu_memory_source,
        gpus=gpus,
        share=share,
        weights_gib=weights_bytes / GiB,
        weights_exact=weights_exact,
        kv_gib=kv_bytes_per_token * context * sequences / GiB,
        kv_bytes_per_token=kv_bytes_per_token,
        context=context,
        sequences=sequences,
        overhead_gib=OVERHEAD_GIB * gpus,
    )


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


def divisors_up_to(n: int, limit: int) -> list[int]:
    return [k for k in range(1, limit + 1) if n % k == 0]
