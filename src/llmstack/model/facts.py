"""The facts read from a model (`ModelFacts`), how they are collected with their origins, and how
the manifest records them (`facts_to_dict` / `facts_from_dict`, written and read here only).

`kv_bytes_per_token` is always for a 16-bit cache over all attention layers:

* Standard / grouped-query attention: ``2 (K and V) x layers x kv_heads x head_dim x 2 bytes``.
  vLLM's `vllm/v1/kv_cache_interface.py` sizes a page of an `AttentionSpec` as
  ``2 * block_size * num_kv_heads * head_size * dtype_size`` (`FullAttentionSpec`:
  ``block_size * num_kv_heads * (head_size + head_size_v) * dtype_size``), per attention layer.
  llama.cpp's KV cache holds, per layer and token, ``n_head_kv * key_length`` K values and
  ``n_head_kv * value_length`` V values; GGUF gives `{arch}.attention.key_length` /
  `value_length` (default ``embedding_length / head_count``), so for GGUF the formula is
  ``layers x kv_heads x (key_length + value_length) x 2 bytes``.
  `head_dim` comes from `head_dim` in config.json when present (Qwen3, Gemma 3, gpt-oss and
  Llama 4 set it and it differs from hidden/heads for some), else ``hidden_size / heads``.
* MLA models (DeepSeek-V2/V3/R1, Kimi-K2: `kv_lora_rank` + `qk_rope_head_dim` in config.json,
  `{arch}.attention.kv_lora_rank` + `{arch}.rope.dimension_count` in GGUF): one compressed
  latent per layer and token, ``layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes``. vLLM's
  `MLAAttentionSpec` page is ``block_size * num_kv_heads(=1) * head_size * dtype_size`` with
  ``head_size = kv_lora_rank + qk_rope_head_dim`` (576 for DeepSeek-V3: 61 x 576 x 2 = 70,272
  bytes per token); llama.cpp's MLA cache for `deepseek2` stores the same latent + RoPE part.
* Layers listed in `layer_types` as linear attention (Qwen3-Next) hold no KV cache and are not
  counted. Sliding-window / chunked layers (Gemma 3, gpt-oss, Llama 4) are counted in full:
  the value is an upper bound for them (vLLM's hybrid allocator caps those layers' windows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

FORMATS = ("hf", "gguf", "trtllm-engine", "unknown")

# The largest count (heads, layers, tokens of context, ...) and size in bytes taken from a model
# file; beyond them, and at or below zero, a number is ignored with a note. Published models:
# contexts up to ~10 M tokens (Llama 4 Scout), sizes up to ~2 TB (a 1-trillion-parameter model).
MAX_COUNT = (1 << 31) - 1
MAX_BYTES = 1 << 50


@dataclass(frozen=True)
class ModelFacts:
    format: str = "unknown"
    name: str | None = None
    architecture: str | None = None
    model_type: str | None = None
    family: str | None = None
    context_length: int | None = None
    vision: bool | None = None
    thinking: bool | None = None
    tool_template: bool | None = None
    num_attention_heads: int | None = None
    num_kv_heads: int | None = None
    num_layers: int | None = None
    hidden_size: int | None = None
    head_dim: int | None = None
    vocab_size: int | None = None
    dtype: str | None = None
    quantization: str | None = None
    weights_bytes: int | None = None
    weights_exact: bool = False
    kv_bytes_per_token: int | None = None
    tp_size: int | None = None
    files: tuple[str, ...] = ()
    mmproj: str | None = None
    origins: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


class Collector:
    """Values with their origins, and notes for what stayed unknown."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.origins: dict[str, str] = {}
        self.notes: list[str] = []

    def set(self, name: str, value: Any, origin: str) -> None:
        if value is None:
            return
        self.values[name] = value
        self.origins[name] = origin

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def count(self, value: Any, origin: str, limit: int = MAX_COUNT) -> int | None:
        """`value` as a whole number from 1 to `limit`. None for a missing value and for zero (in
        model configs it means "none"); None with a note for anything else: negative, fractional,
        NaN, infinite, too large, not a number."""
        if value is None:
            return None
        number = as_int(value)
        if number is not None and 0 < number <= limit:
            return number
        if number != 0:
            self.note(f"{origin} {shown(value)}: not a whole number from 1 to {limit:,}; ignored")
        return None

    def facts(self, **fixed: Any) -> ModelFacts:
        values = {**self.values, **fixed}
        return ModelFacts(
            **values,
            origins=dict(sorted(self.origins.items())),
            notes=tuple(self.notes),
        )


def shown(value: Any, width: int = 40) -> str:
    """A value read from a model as a note shows it: ASCII (line breaks and controls escaped), short."""
    text = ascii(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# ----------------------------------------------------------------------------------------------
# Serialisation (manifest)
# ----------------------------------------------------------------------------------------------

def facts_to_dict(facts: ModelFacts) -> dict[str, Any]:
    """A plain, deterministic, YAML-safe dict (field order; origins sorted by key)."""
    result: dict[str, Any] = {}
    for item in fields(ModelFacts):
        value = getattr(facts, item.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = {str(k): str(v) for k, v in sorted(value.items())}
        result[item.name] = value
    return result


def facts_from_dict(data: Mapping[str, Any]) -> ModelFacts:
    """The inverse of `facts_to_dict` (unknown keys are ignored, missing ones default)."""
    known = {item.name for item in fields(ModelFacts)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key in ("files", "notes"):
            value = tuple(value or ())
        elif key == "origins":
            value = dict(value or {})
        values[key] = value
    return ModelFacts(**values)
