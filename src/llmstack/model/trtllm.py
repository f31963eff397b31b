"""TensorRT-LLM engine directories: `config.json` with `pretrained_config` + `build_config`, and
`rank*.engine` files (TRT-LLM's engine config: `pretrained_config.mapping.tp_size`,
`build_config.max_seq_len`, `pretrained_config.quantization.quant_algo`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmstack.model.facts import Collector, ModelFacts, as_int
from llmstack.model.families import FamilyInput, decide_family, kind_from_architecture
from llmstack.model.files import file_size
from llmstack.model.hf import hf_templates, scaling_type
from llmstack.model.template import joined, template_facts


def is_trtllm_config(config: Mapping[str, Any]) -> bool:
    return isinstance(config.get("pretrained_config"), dict) and isinstance(config.get("build_config"), dict)


def inspect_trtllm(directory: Path, config: dict[str, Any] | None, engines: list[Path], name: str) -> ModelFacts:
    out = Collector()
    if config is None or not is_trtllm_config(config):
        out.note("engine config.json (pretrained_config + build_config) missing")
        config = {}
    pretrained = config.get("pretrained_config") or {}
    build = config.get("build_config") or {}

    def pc(fact: str, key: str, what: str, text: bool = False) -> Any:
        value = pretrained.get(key)
        if value is None:
            out.note(f"{what} unknown: no pretrained_config.{key}")
            return None
        origin = f"config.json: pretrained_config.{key}"
        if text:
            value = out.identifier(value, origin, f"a {what} name")
        else:
            value = out.count(value, origin)
        out.set(fact, value, origin)
        return value

    def pc_text(fact: str, key: str, what: str) -> str | None:
        value = pc(fact, key, what, text=True)
        return value if isinstance(value, str) else None

    def pc_count(fact: str, key: str, what: str) -> int | None:
        value = pc(fact, key, what)
        return value if isinstance(value, int) else None

    architecture = pc_text("architecture", "architecture", "architecture")
    pc_text("dtype", "dtype", "dtype")
    heads = pc_count("num_attention_heads", "num_attention_heads", "attention heads")
    kv_raw = pretrained.get("num_key_value_heads")
    kv_heads = out.count(kv_raw, "config.json: pretrained_config.num_key_value_heads")
    if kv_heads is not None:
        out.set("num_kv_heads", kv_heads, "config.json: pretrained_config.num_key_value_heads")
    elif kv_raw is None and heads is not None:
        kv_heads = heads
        out.set("num_kv_heads", heads, "config.json: pretrained_config.num_attention_heads (no num_key_value_heads)")
    else:
        out.note("KV head count unknown")
    layers = pc_count("num_layers", "num_hidden_layers", "layer count")
    hidden = pc_count("hidden_size", "hidden_size", "hidden size")
    vocab = pc_count("vocab_size", "vocab_size", "vocabulary size")
    head_raw = pretrained.get("head_size")
    head_dim = out.count(head_raw, "config.json: pretrained_config.head_size")
    if head_dim is not None:
        out.set("head_dim", head_dim, "config.json: pretrained_config.head_size")
    elif head_raw is None and hidden and heads:
        head_dim = hidden // heads
        out.set("head_dim", head_dim, "config.json: pretrained_config.hidden_size / num_attention_heads")
    else:
        out.note("head dimension unknown")
    context = out.count(build.get("max_seq_len"), "config.json: build_config.max_seq_len")
    if context is not None:
        out.set("context_length", context, "config.json: build_config.max_seq_len")
    elif build.get("max_seq_len") is None:
        out.note("context length unknown: no build_config.max_seq_len")
    mapping = pretrained.get("mapping")
    tp = out.count(mapping.get("tp_size"), "config.json: pretrained_config.mapping.tp_size") \
        if isinstance(mapping, dict) else None
    if tp is not None:
        out.set("tp_size", tp, "config.json: pretrained_config.mapping.tp_size")
    elif not isinstance(mapping, dict) or mapping.get("tp_size") is None:
        out.note("tensor-parallel size unknown: no pretrained_config.mapping.tp_size")
    quant = pretrained.get("quantization")
    algo = out.identifier(quant.get("quant_algo"), "config.json: pretrained_config.quantization.quant_algo",
                          "a quantization method") if isinstance(quant, dict) else None
    if isinstance(algo, str):
        out.set("quantization", algo.lower(), "config.json: pretrained_config.quantization.quant_algo")
    if layers and kv_heads and head_dim:
        out.set("kv_bytes_per_token", 2 * layers * kv_heads * head_dim * 2,
                "config.json: 2 x num_hidden_layers x num_key_value_heads x head_size x 2 bytes")
    else:
        out.note("KV cache size per token unknown")
    if engines:
        sizes = [file_size(p) for p in engines]
        if all(s is not None for s in sizes):
            origin = f"size of {len(engines)} rank*.engine file(s)"
            out.set("weights_bytes", sum(s for s in sizes if s is not None), origin)
            out.set("weights_exact", True, origin)
    else:
        out.note("no rank*.engine files: the engine is not built yet")
    if architecture and architecture.endswith("ForCausalLM"):
        out.set("vision", False, f"config.json: pretrained_config.architecture {architecture}")
    else:
        out.note("vision support unknown")
    template = joined(hf_templates(directory))
    template_facts(out, template)
    rope_type = scaling_type(out, pretrained.get("rotary_scaling"), "config.json: pretrained_config.rotary_scaling")
    kinds = [(kind_from_architecture(architecture), f"config.json: pretrained_config.architecture {architecture!r}")] \
        if architecture else []
    family, family_origin = decide_family(FamilyInput(kinds, template, rope_type, vocab,
                                                 as_int(pretrained.get("max_position_embeddings")), name))
    if family:
        out.set("family", family, family_origin or "")
    else:
        out.note("family unknown")
    return out.facts(format="trtllm-engine", name=name, files=tuple(p.name for p in engines))
