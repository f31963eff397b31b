"""TensorRT-LLM engine directories: `config.json` with `pretrained_config` + `build_config`, and
`rank*.engine` files (TRT-LLM's engine config: `pretrained_config.mapping.tp_size`,
`build_config.max_seq_len`, `pretrained_config.quantization.quant_algo`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmstack.model.facts import Collector, ModelFacts, as_int
from llmstack.model.families import FamilyInput, decide_family, kind_from_architecture
from llmstack.model.files import file_size
from llmstack.model.hf import hf_templates, scaling_type
from llmstack.model.template import joined, template_facts


def is_trtllm_config(config: Mapping[str, Any]) -> bool:
    return isinstance(config.get("pretrained_config"), dict) and isinstance(config.get("build_config"), dict)


@dataclass
class _Pretrained:
    """Facts of an engine's `pretrained_config` (and `build_config`), each set on `out` with its key."""
    pretrained: dict[str, Any]
    build: dict[str, Any]
    out: Collector

    def text(self, fact: str, key: str, what: str) -> str | None:
        value = self._get(key, what)
        if value is None:
            return None
        origin = f"config.json: pretrained_config.{key}"
        value = self.out.identifier(value, origin, f"a {what} name")
        self.out.set(fact, value, origin)
        return value if isinstance(value, str) else None

    def count(self, fact: str, key: str, what: str) -> int | None:
        value = self._get(key, what)
        if value is None:
            return None
        origin = f"config.json: pretrained_config.{key}"
        value = self.out.count(value, origin)
        self.out.set(fact, value, origin)
        return value if isinstance(value, int) else None

    def _get(self, key: str, what: str) -> Any:
        value = self.pretrained.get(key)
        if value is None:
            self.out.note(f"{what} unknown: no pretrained_config.{key}")
        return value

    def kv_heads(self, heads: int | None) -> int | None:
        raw = self.pretrained.get("num_key_value_heads")
        kv_heads = self.out.count(raw, "config.json: pretrained_config.num_key_value_heads")
        if kv_heads is not None:
            self.out.set("num_kv_heads", kv_heads, "config.json: pretrained_config.num_key_value_heads")
        elif raw is None and heads is not None:
            kv_heads = heads
            self.out.set("num_kv_heads", heads,
                         "config.json: pretrained_config.num_attention_heads (no num_key_value_heads)")
        else:
            self.out.note("KV head count unknown")
        return kv_heads

    def head_dim(self, hidden: int | None, heads: int | None) -> int | None:
        raw = self.pretrained.get("head_size")
        head_dim = self.out.count(raw, "config.json: pretrained_config.head_size")
        if head_dim is not None:
            self.out.set("head_dim", head_dim, "config.json: pretrained_config.head_size")
        elif raw is None and hidden and heads:
            head_dim = hidden // heads
            self.out.set("head_dim", head_dim, "config.json: pretrained_config.hidden_size / num_attention_heads")
        else:
            self.out.note("head dimension unknown")
        return head_dim

    def context(self) -> None:
        context = self.out.count(self.build.get("max_seq_len"), "config.json: build_config.max_seq_len")
        if context is not None:
            self.out.set("context_length", context, "config.json: build_config.max_seq_len")
        elif self.build.get("max_seq_len") is None:
            self.out.note("context length unknown: no build_config.max_seq_len")

    def tensor_parallel(self) -> None:
        mapping = self.pretrained.get("mapping")
        tp = self.out.count(mapping.get("tp_size"), "config.json: pretrained_config.mapping.tp_size") \
            if isinstance(mapping, dict) else None
        if tp is not None:
            self.out.set("tp_size", tp, "config.json: pretrained_config.mapping.tp_size")
        elif not isinstance(mapping, dict) or mapping.get("tp_size") is None:
            self.out.note("tensor-parallel size unknown: no pretrained_config.mapping.tp_size")

    def quantization(self) -> None:
        quant = self.pretrained.get("quantization")
        algo = self.out.identifier(quant.get("quant_algo"), "config.json: pretrained_config.quantization.quant_algo",
                                   "a quantization method") if isinstance(quant, dict) else None
        if isinstance(algo, str):
            self.out.set("quantization", algo.lower(), "config.json: pretrained_config.quantization.quant_algo")


def _engine_files(out: Collector, engines: list[Path]) -> None:
    if not engines:
        out.note("no rank*.engine files: the engine is not built yet")
        return
    sizes = [file_size(p) for p in engines]
    if all(s is not None for s in sizes):
        origin = f"size of {len(engines)} rank*.engine file(s)"
        out.set("weights_bytes", sum(s for s in sizes if s is not None), origin)
        out.set("weights_exact", True, origin)


def inspect_trtllm(directory: Path, config: dict[str, Any] | None, engines: list[Path], name: str) -> ModelFacts:
    out = Collector()
    if config is None or not is_trtllm_config(config):
        out.note("engine config.json (pretrained_config + build_config) missing")
        config = {}
    pc = _Pretrained(config.get("pretrained_config") or {}, config.get("build_config") or {}, out)
    architecture = pc.text("architecture", "architecture", "architecture")
    pc.text("dtype", "dtype", "dtype")
    heads = pc.count("num_attention_heads", "num_attention_heads", "attention heads")
    kv_heads = pc.kv_heads(heads)
    layers = pc.count("num_layers", "num_hidden_layers", "layer count")
    hidden = pc.count("hidden_size", "hidden_size", "hidden size")
    vocab = pc.count("vocab_size", "vocab_size", "vocabulary size")
    head_dim = pc.head_dim(hidden, heads)
    pc.context()
    pc.tensor_parallel()
    pc.quantization()
    if layers and kv_heads and head_dim:
        out.set("kv_bytes_per_token", 2 * layers * kv_heads * head_dim * 2,
                "config.json: 2 x num_hidden_layers x num_key_value_heads x head_size x 2 bytes")
    else:
        out.note("KV cache size per token unknown")
    _engine_files(out, engines)
    if architecture and architecture.endswith("ForCausalLM"):
        out.set("vision", False, f"config.json: pretrained_config.architecture {architecture}")
    else:
        out.note("vision support unknown")
    template = joined(hf_templates(directory))
    template_facts(out, template)
    rope_type = scaling_type(out, pc.pretrained.get("rotary_scaling"), "config.json: pretrained_config.rotary_scaling")
    kinds = [(kind_from_architecture(architecture), f"config.json: pretrained_config.architecture {architecture!r}")] \
        if architecture else []
    family, family_origin = decide_family(FamilyInput(kinds, template, rope_type, vocab,
                                                 as_int(pc.pretrained.get("max_position_embeddings")), name))
    if family:
        out.set("family", family, family_origin or "")
    else:
        out.note("family unknown")
    return out.facts(format="trtllm-engine", name=name, files=tuple(p.name for p in engines))
