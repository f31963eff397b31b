"""The weight size of a Hugging Face model whose weight files are not here, estimated from
config.json: a parameter count (embeddings, untied LM head, attention incl. MLA projections,
gated MLP, MoE routed + shared experts, dense leading layers) times bytes per parameter of the
dtype / quantization (fp8 1 byte; mxfp4 4.25 bits on expert weights; awq/gptq/compressed-tensors
`bits`/`num_bits` + group scales; embeddings and LM head stay 16-bit). Vision towers and MTP
layers are not counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmstack.model.families import norm

if TYPE_CHECKING:
    from llmstack.model.hf import Config


_MAX_BITS = 32  # bits per quantized weight

_DTYPE_BYTES = {"float32": 4.0, "float": 4.0, "bfloat16": 2.0, "float16": 2.0, "half": 2.0,
                "float8_e4m3fn": 1.0, "float8_e5m2": 1.0}


def _parameter_count(cfg: Config) -> tuple[int, int, int] | None:
    """(total, expert, embedding) parameter counts from config fields, or None."""
    g = cfg.get_int
    hidden, _ = g("hidden_size")
    layers, _ = g("num_hidden_layers")
    heads, _ = g("num_attention_heads")
    vocab, _ = g("vocab_size")
    if vocab is None:
        vocab = cfg.omitted_default("vocab_size")
    if not (hidden and layers and heads and vocab):
        return None
    kv_heads = g("num_key_value_heads")[0] or heads
    head_dim = g("head_dim")[0] or hidden // heads
    tied, _ = cfg.get("tie_word_embeddings")
    embedding = vocab * hidden * (1 if tied is True else 2)

    kv_lora = g("kv_lora_rank")[0]
    if kv_lora:
        rope = g("qk_rope_head_dim")[0] or 0
        nope = g("qk_nope_head_dim")[0] or 0
        v_dim = g("v_head_dim")[0] or nope
        q_lora = g("q_lora_rank")[0]
        q = hidden * q_lora + q_lora * heads * (nope + rope) if q_lora else hidden * heads * (nope + rope)
        attention = q + hidden * (kv_lora + rope) + kv_lora * heads * (nope + v_dim) + heads * v_dim * hidden
    else:
        attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim

    intermediate = g("intermediate_size")[0] or 4 * hidden
    experts = g("n_routed_experts", "num_local_experts", "num_experts")[0] or 0
    expert_params = 0
    if experts > 1:
        moe_size = g("moe_intermediate_size")[0] or intermediate
        shared = (g("n_shared_experts")[0] or 0) * moe_size
        shared = shared or g("shared_expert_intermediate_size")[0] or g("shared_experts_intermediate_size")[0] or 0
        dense_size = intermediate
        model_type = norm(str(cfg.text.get("model_type") if cfg.text else cfg.data.get("model_type")))
        if model_type.startswith("llama4"):  # routed experts + one shared expert of the same size
            shared = moe_size
            dense_size = g("intermediate_size_mlp")[0] or intermediate
        dense_layers = g("first_k_dense_replace")[0] or 0
        step = g("interleave_moe_layer_step")[0] or g("decoder_sparse_step")[0] or 1
        moe_layers = max(0, (layers - dense_layers) // max(step, 1))
        only, _ = cfg.get("mlp_only_layers")
        if isinstance(only, list):
            moe_layers = max(0, moe_layers - len(only))
        expert_params = moe_layers * experts * 3 * hidden * moe_size
        mlp = expert_params + moe_layers * (3 * hidden * shared + hidden * experts)
        mlp += (layers - moe_layers) * 3 * hidden * dense_size
    else:
        mlp = layers * 3 * hidden * intermediate
    total = embedding + layers * attention + mlp
    return total, expert_params, embedding


def estimate_weights(cfg: Config, dtype: str | None, quantization: str | None) -> tuple[int, str] | None:
    counts = _parameter_count(cfg)
    if counts is None:
        return None
    total, expert, embedding = counts
    base = _DTYPE_BYTES.get((dtype or "").lower(), 2.0)
    dense = total - expert - embedding
    quant_config, _ = cfg.get("quantization_config")
    quant_config = quant_config if isinstance(quant_config, dict) else {}
    if quantization == "fp8":
        size, how = (dense + expert) * 1.0 + embedding * 2.0, "fp8 linear layers, 16-bit embeddings"
    elif quantization == "mxfp4":
        size, how = expert * 4.25 / 8 + (dense + embedding) * base, "mxfp4 experts (4.25 bits)"
    elif quantization in ("awq", "gptq", "compressed-tensors", "bitsandbytes"):
        where = "config.json: quantization_config"
        bits = cfg.out.count(quant_config.get("bits"), f"{where}.bits", _MAX_BITS) \
            or cfg.out.count(quant_config.get("w_bit"), f"{where}.w_bit", _MAX_BITS)
        groups = quant_config.get("config_groups")
        if bits is None and isinstance(groups, dict):
            for group in groups.values():
                weights = group.get("weights") if isinstance(group, dict) else None
                if isinstance(weights, dict):
                    bits = cfg.out.count(weights.get("num_bits"), f"{where}.config_groups.*.weights.num_bits",
                                         _MAX_BITS)
                    if bits:
                        break
        if bits is None and quantization == "bitsandbytes":
            bits = 4 if quant_config.get("load_in_4bit") else 8
        bits = bits or 4
        size = (dense + expert) * (bits / 8 + 2 / 128) + embedding * 2.0
        how = f"{quantization} {bits}-bit linear layers"
    else:
        size, how = total * base, f"{dtype or 'assumed 16-bit'}"
    return int(size), f"estimated: {total:,} parameters from config.json x bytes per parameter ({how})"
