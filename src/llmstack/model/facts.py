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
  counted. Sliding-window / chunked layers (Gemma 3, gpt-oss, Llama 4) are counted in full here:
  `kv_bytes_per_token` is the upper bound (the cache of every such layer grows with the context).

What the engines keep of each layer type is the memory plan's business (llmstack.memory); the
facts say which layers are which:

* `sliding_layers` of `sliding_window` tokens (`layer_types` "sliding_attention"; Gemma 3's
  `sliding_window_pattern`, default 6 as transformers' Gemma3TextConfig has it: every sixth layer
  full; GGUF `{arch}.attention.sliding_window` and `.sliding_window_pattern`).
* `chunked_layers` attending within chunks of `attention_chunk_size` tokens (Llama 4: the layers
  whose `no_rope_layers` entry is 1 use RoPE and chunked attention, the others are global NoPE
  layers; vLLM `models/llama4.py`, llama.cpp `models/llama4.cpp`).
* `linear_layers` (Gated DeltaNet: `layer_types` "linear_attention", Qwen3-Next's
  `full_attention_interval`) keep no per-token cache but a state per sequence:
  `linear_state_bytes` for all of them, as vLLM allocates it (`MambaStateShapeCalculator.
  gated_delta_net_state_shape`: a conv state of (conv_kernel - 1) x (2 x key_heads x key_dim +
  value_heads x value_dim) and a recurrent state of value_heads x value_dim x key_dim, at the
  model's 16-bit dtype; the recurrent state in float32 when `mamba_ssm_dtype` says so).

Every layer with a per-token cache holds the same bytes per token (true of the families above);
the bytes of one kind are `kv_bytes_per_token` x its layers / all per-token layers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

FORMATS = ("hf", "gguf", "trtllm-engine", "unknown")

# The largest count (heads, layers, tokens of context, ...) and size in bytes taken from a model
# file; beyond them, and at or below zero, a number is ignored with a note. Published models:
# contexts up to ~10 M tokens (Llama 4 Scout), sizes up to ~2 TB (a 1-trillion-parameter model).
MAX_COUNT = (1 << 31) - 1
MAX_BYTES = 1 << 50

# What a name llmstack takes from a model file as an identifier looks like (architecture, model
# type, dtype, quantization method, rope type, family): every one published fits, e.g.
# `Qwen2_5_VLForConditionalGeneration`, `gemma3_text`, `gpt-oss`, `float8_e4m3fn`, `W4A16_AWQ`.
# Anything else (a line break, `${...}`, a space, a quote) is no identifier: it is ignored, with a
# note, where it is read, so it travels no further.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
# A display name (GGUF general.name) may hold spaces and punctuation, but no character that
# breaks or hides a line: controls (NUL, \n, \r, U+0085), format characters (bidi overrides,
# zero-width), U+2028 / U+2029, surrogates, private use.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
MAX_NAME_CHARS = 256


def is_identifier(value: Any) -> bool:
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def is_display_name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS and value.strip() == value \
        and not any(unicodedata.category(char) in _NOT_IN_NAMES for char in value)


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
    sliding_layers: int | None = None
    sliding_window: int | None = None
    chunked_layers: int | None = None
    attention_chunk_size: int | None = None
    linear_layers: int | None = None
    linear_state_bytes: int | None = None
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

    def identifier(self, value: Any, origin: str, what: str) -> str | None:
        """`value` when it is an identifier (see `_IDENTIFIER`); None, with a note when there was a value."""
        if value is None or is_identifier(value):
            return value
        self.note(f"{origin} {shown(value)}: not {what}; ignored")
        return None

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


_IDENTIFIERS = ("architecture", "model_type", "family", "dtype", "quantization")
_SIZES = ("weights_bytes", "kv_bytes_per_token", "linear_state_bytes")
_FLAGS = ("vision", "thinking", "tool_template", "weights_exact")


def _recorded(key: str, value: Any) -> Any:
    """A recorded value in the shape `facts_to_dict` writes it, else None."""
    if key in ("files", "notes"):
        return tuple(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else None
    if key == "origins":
        good = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        return dict(value) if good else None
    if key == "format":
        return value if value in FORMATS else None
    if key in _FLAGS:
        return value if isinstance(value, bool) else None
    if key in ("name", "mmproj"):
        return value if isinstance(value, str) else None
    if key in _IDENTIFIERS:
        return value if is_identifier(value) else None
    number = as_int(value)
    return number if number is not None and 0 <= number <= (MAX_BYTES if key in _SIZES else MAX_COUNT) else None


def facts_from_dict(data: Mapping[str, Any]) -> ModelFacts:
    """The inverse of `facts_to_dict` (unknown keys are ignored, missing ones default). A value
    of the wrong shape (a hand-edited manifest) is dropped with a note, like a bad value read
    from a model file."""
    known = {item.name for item in fields(ModelFacts)}
    values: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in data.items():
        if key not in known or value is None:
            continue
        checked = _recorded(key, value)
        if checked is None:
            dropped.append(f"manifest: facts.{key} {shown(value)}: not what llmstack records there; ignored")
        else:
            values[key] = checked
    if dropped:
        values["notes"] = (*values.get("notes", ()), *dropped)
    return ModelFacts(**values)
