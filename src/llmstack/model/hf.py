"""Hugging Face layout: `config.json` (text facts of vision-language wrappers live in
`text_config`), `tokenizer_config.json` / `chat_template.jinja` / `chat_template.json` for the
chat template, `*.safetensors` / `*.bin` / `*.pt` and `model.safetensors.index.json`
(`metadata.total_size`) for the weights. A cache snapshot
(`.../hub/models--org--name/snapshots/<revision>/`, files symlinked into `../../blobs/`) is
recognised by `hf_snapshot`; `hf_cache_dir` finds the local cache (`HF_HUB_CACHE`,
`HUGGINGFACE_HUB_CACHE`, `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`,
`~/.cache/huggingface/hub`; `refs/main` names the snapshot), the same order huggingface_hub uses.

Weights (`weights_bytes`): the sum of the weight files when present (exact); for a sharded
checkpoint whose shards are not all present, `metadata.total_size` of the index (exact); else an
estimate (estimate.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmstack.errors import ModelFileError
from llmstack.model.estimate import estimate_weights
from llmstack.model.facts import MAX_BYTES, Collector, ModelFacts
from llmstack.model.families import FamilyInput, decide_family, kind_from_architecture, norm
from llmstack.model.files import file_size, read_json_object, read_text, regular
from llmstack.model.template import Template, joined, template_facts

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class HfSnapshot:
    repo_root: Path      # .../hub/models--org--name
    hub_id: str          # org/name
    revision: str        # the snapshot directory's name (a commit hash)
    snapshot_dir: Path   # .../snapshots/<revision>
    ref: str | None      # "main" when refs/main names this snapshot


def _hub_id_from_repo_dir(name: str) -> str | None:
    if not name.startswith("models--"):
        return None
    rest = name[len("models--"):]
    if "--" not in rest:
        return None
    org, repo = rest.split("--", 1)
    return f"{org}/{repo}" if org and repo else None


def _read_ref(repo_root: Path, ref: str = "main") -> str | None:
    try:
        return read_text(repo_root / "refs" / ref, 4096, "a refs file").strip() or None
    except ModelFileError:
        return None


def hf_snapshot(path: Path) -> HfSnapshot | None:
    """The HF cache layout around `path` (a snapshot directory or a `models--org--name` root)."""
    path = Path(path).expanduser()
    for candidate in (path.absolute(), path.resolve()):
        if candidate.parent.name == "snapshots":
            repo_root = candidate.parent.parent
            hub_id = _hub_id_from_repo_dir(repo_root.name)
            if hub_id:
                main = _read_ref(repo_root)
                return HfSnapshot(repo_root, hub_id, candidate.name, candidate,
                                  "main" if main == candidate.name else None)
        hub_id = _hub_id_from_repo_dir(candidate.name)
        if hub_id and (candidate / "snapshots").is_dir():
            main = _read_ref(candidate)
            if main and (candidate / "snapshots" / main).is_dir():
                return HfSnapshot(candidate, hub_id, main, candidate / "snapshots" / main, "main")
            snaps = sorted(p for p in (candidate / "snapshots").iterdir() if p.is_dir())
            if len(snaps) == 1:
                return HfSnapshot(candidate, hub_id, snaps[0].name, snaps[0], None)
            return None
    return None


def hf_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The local Hugging Face hub cache, resolved the way huggingface_hub does."""
    env = os.environ if env is None else env
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return Path(env[var]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "huggingface" / "hub"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".cache" / "huggingface" / "hub"


def _template_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # [{name, template}, ...]
        parts = [item.get("template") for item in value if isinstance(item, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def hf_templates(directory: Path) -> list[Template]:
    found: list[Template] = []
    tokenizer_config = directory / "tokenizer_config.json"
    if regular(tokenizer_config):
        text = _template_text(read_json_object(tokenizer_config).get("chat_template"))
        if text:
            found.append(Template(text, "tokenizer_config.json: chat_template"))
    jinja = directory / "chat_template.jinja"
    if regular(jinja):
        found.append(Template(read_text(jinja), "chat_template.jinja"))
    processor = directory / "chat_template.json"
    if regular(processor):
        text = _template_text(read_json_object(processor).get("chat_template"))
        if text:
            found.append(Template(text, "chat_template.json: chat_template"))
    return found


def scaling_type(out: Collector, rope: Any, where: str) -> tuple[str, str] | None:
    """(type, origin) of a rope scaling mapping (config.json rope_scaling, TRT-LLM rotary_scaling)."""
    if not isinstance(rope, dict):
        return None
    kind = out.identifier(rope.get("rope_type") or rope.get("type"), where, "a rope type")
    return (kind, f"{where} {kind!r}") if kind is not None else None


class Config:
    """config.json with `text_config` looked up first (vision-language wrappers)."""

    def __init__(self, data: dict[str, Any], out: Collector, origin_file: str = "config.json") -> None:
        self.data = data
        text = data.get("text_config")
        self.text = text if isinstance(text, dict) else None
        self.file = origin_file
        self.out = out  # notes what is ignored

    def get(self, *keys: str) -> tuple[Any, str | None]:
        for key in keys:
            if self.text is not None and self.text.get(key) is not None:
                return self.text[key], f"{self.file}: text_config.{key}"
            if self.data.get(key) is not None:
                return self.data[key], f"{self.file}: {key}"
        return None, None

    def get_int(self, *keys: str) -> tuple[int | None, str | None]:
        """(count, origin); (None, origin) when the value there is no usable count (noted)."""
        value, origin = self.get(*keys)
        if origin is None:
            return None, None
        return self.out.count(value, origin), origin

    def omitted_default(self, key: str) -> int | None:
        """transformers' default for a key the config omits (by the text model's type)."""
        text_type = self.text.get("model_type") if self.text else self.data.get("model_type")
        return TRANSFORMERS_DEFAULTS.get(text_type if isinstance(text_type, str) else "", {}).get(key)


# transformers' defaults for keys some published configs omit (Gemma3TextConfig:
# vocab_size=262_208, max_position_embeddings=131_072).
TRANSFORMERS_DEFAULTS: dict[str, dict[str, int]] = {
    "gemma3_text": {"max_position_embeddings": 131072, "vocab_size": 262208},
}


@dataclass(frozen=True)
class _Kinds:
    """What config.json says the model is: architectures[0], model_type, text_config.model_type."""
    architecture: str | None
    model_type: str | None
    text_type: str | None

    @property
    def kind(self) -> str:
        return self.text_type or self.model_type or ""

    def family_kinds(self) -> list[tuple[str, str]]:
        kinds = []
        if self.model_type:
            kinds.append((norm(self.model_type), f"config.json: model_type {self.model_type!r}"))
        if self.text_type:
            kinds.append((norm(self.text_type), f"config.json: text_config.model_type {self.text_type!r}"))
        if self.architecture:
            kinds.append((kind_from_architecture(self.architecture),
                          f"config.json: architectures[0] {self.architecture!r}"))
        return kinds


def _kinds(out: Collector, cfg: Config, data: dict[str, Any]) -> _Kinds:
    architectures = data.get("architectures")
    architecture = None
    if isinstance(architectures, list) and architectures:
        architecture = out.identifier(architectures[0], "config.json: architectures[0]", "an architecture name")
    out.set("architecture", architecture, "config.json: architectures[0]")
    model_type = out.identifier(data.get("model_type"), "config.json: model_type", "a model type")
    out.set("model_type", model_type, "config.json: model_type")
    text_type = out.identifier(cfg.text.get("model_type"), "config.json: text_config.model_type", "a model type") \
        if cfg.text else None
    return _Kinds(architecture, model_type, text_type)


def _int_fact(out: Collector, cfg: Config, kinds: _Kinds, fact: str, keys: tuple[str, ...], what: str) -> int | None:
    """The first of `keys` config.json holds, else transformers' default for the model type."""
    value, origin = cfg.get_int(*keys)
    defaults = TRANSFORMERS_DEFAULTS.get(kinds.kind, {})
    if origin is None and keys[0] in defaults:
        value = defaults[keys[0]]
        origin = f"transformers default for {kinds.kind} (config.json omits {keys[0]})"
    if value is None or origin is None:
        if origin is None:
            out.note(f"{what} unknown: config.json has no {keys[0]}")
        return None
    out.set(fact, value, origin)
    return value


def _kv_heads(out: Collector, cfg: Config, heads: int | None) -> int | None:
    kv_heads, kv_origin = cfg.get_int("num_key_value_heads", "num_kv_heads")
    if kv_origin is None and heads is not None:
        kv_heads = heads
        kv_origin = "config.json: num_attention_heads (no num_key_value_heads: one KV head per query head)"
    if kv_heads is None:
        out.note("KV head count unknown")
    out.set("num_kv_heads", kv_heads, kv_origin or "")
    return kv_heads


def _head_dim(out: Collector, cfg: Config, hidden: int | None,
              heads: int | None) -> tuple[int | None, int | None, int | None]:
    """(head_dim, kv_lora_rank, qk_rope_head_dim): the last two are MLA's (DeepSeek-V2/V3 style)."""
    kv_lora, _ = cfg.get_int("kv_lora_rank")
    rope_dim, _ = cfg.get_int("qk_rope_head_dim")
    nope_dim, _ = cfg.get_int("qk_nope_head_dim")
    head_dim, head_origin = cfg.get_int("head_dim")
    if head_origin is None and kv_lora is not None and rope_dim is not None and nope_dim is not None:
        head_dim, head_origin = nope_dim + rope_dim, "config.json: qk_nope_head_dim + qk_rope_head_dim"
    if head_origin is None and hidden and heads:
        head_dim, head_origin = hidden // heads, "config.json: hidden_size / num_attention_heads"
    if head_dim is None:
        out.note("head dimension unknown")
    out.set("head_dim", head_dim, head_origin or "")
    return head_dim, kv_lora, rope_dim


def _dtype(out: Collector, cfg: Config) -> str | None:
    dtype, dtype_origin = cfg.get("torch_dtype", "dtype")
    if not isinstance(dtype, str):
        out.note("weight dtype not stated in config.json")
        return None
    dtype = out.identifier(dtype, dtype_origin or "config.json", "a dtype name")
    out.set("dtype", dtype, dtype_origin or "")
    return dtype


def _quantization(out: Collector, cfg: Config, directory: Path) -> str | None:
    quant_config, quant_origin = cfg.get("quantization_config")
    if isinstance(quant_config, dict):
        method = quant_config.get("quant_method") or quant_config.get("quant_algo")
        method = out.identifier(method, f"{quant_origin}.quant_method", "a quantization method")
        if isinstance(method, str):
            out.set("quantization", method.lower(), f"{quant_origin}.quant_method")
            return method.lower()
    hf_quant = directory / "hf_quant_config.json"
    if regular(hf_quant):
        algo = read_json_object(hf_quant).get("quantization", {})
        algo = algo.get("quant_algo") if isinstance(algo, dict) else None
        algo = out.identifier(algo, "hf_quant_config.json: quantization.quant_algo", "a quantization method")
        if isinstance(algo, str):
            out.set("quantization", algo.lower(), "hf_quant_config.json: quantization.quant_algo")
            return algo.lower()
    return None


def _vision(out: Collector, data: dict[str, Any], architecture: str | None) -> None:
    if isinstance(data.get("vision_config"), dict):
        out.set("vision", True, "config.json: vision_config")
    elif architecture and architecture.endswith("ForCausalLM"):
        out.set("vision", False, f"config.json: architectures[0] {architecture} (no vision_config)")
    else:
        out.note("vision support unknown: no vision_config and no *ForCausalLM architecture")


def _kv_cache(out: Collector, cfg: Config, kinds: _Kinds, layers: int | None, kv_heads: int | None,
              head: tuple[int | None, int | None, int | None]) -> None:
    """KV cache per token, over the layers that keep one (not the linear-attention layers)."""
    head_dim, kv_lora, rope_dim = head
    linear = _layer_kinds(out, cfg, layers, norm(kinds.kind))
    attention_layers = layers - linear if layers else layers
    if kv_lora is not None and rope_dim is not None and layers and attention_layers:
        out.set("kv_bytes_per_token", attention_layers * (kv_lora + rope_dim) * 2,
                "config.json: num_hidden_layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes (MLA)")
    elif attention_layers and kv_heads and head_dim:
        out.set("kv_bytes_per_token", 2 * attention_layers * kv_heads * head_dim * 2,
                "config.json: 2 x layers x KV heads x head_dim x 2 bytes")
    else:
        out.note("KV cache size per token unknown")


def inspect_hf(directory: Path, data: dict[str, Any], name: str) -> ModelFacts:
    out = Collector()
    cfg = Config(data, out)
    kinds = _kinds(out, cfg, data)
    context = _int_fact(out, cfg, kinds, "context_length",
                        ("max_position_embeddings", "max_sequence_length", "seq_length", "n_positions"),
                        "context length")
    heads = _int_fact(out, cfg, kinds, "num_attention_heads", ("num_attention_heads", "n_head", "num_heads"),
                      "attention heads")
    layers = _int_fact(out, cfg, kinds, "num_layers", ("num_hidden_layers", "n_layer", "num_layers"), "layer count")
    hidden = _int_fact(out, cfg, kinds, "hidden_size", ("hidden_size", "n_embd", "d_model"), "hidden size")
    vocab = _int_fact(out, cfg, kinds, "vocab_size", ("vocab_size",), "vocabulary size")
    kv_heads = _kv_heads(out, cfg, heads)
    head = _head_dim(out, cfg, hidden, heads)
    dtype = _dtype(out, cfg)
    quantization = _quantization(out, cfg, directory)
    _vision(out, data, kinds.architecture)

    template = joined(hf_templates(directory))
    template_facts(out, template)

    rope, rope_origin = cfg.get("rope_scaling")
    rope_type = scaling_type(out, rope, f"{rope_origin}.rope_type")
    family, family_origin = decide_family(FamilyInput(kinds.family_kinds(), template, rope_type, vocab, context, name))
    if family:
        out.set("family", family, family_origin or "")
    else:
        out.note("family unknown")

    _kv_cache(out, cfg, kinds, layers, kv_heads, head)
    _hf_weights(out, directory, cfg, dtype, quantization)
    return out.facts(format="hf", name=name)


# What `layer_types` names (transformers' names; vLLM reads the same list).
_SLIDING, _CHUNKED, _LINEAR = "sliding_attention", "chunked_attention", "linear_attention"


def _layer_kinds(out: Collector, cfg: Config, layers: int | None, kind: str) -> int:
    """Record which layers slide, attend in chunks or are linear attention; the number of linear ones.

    `layer_types` when the config lists one name per layer; otherwise what transformers derives for
    the families that leave it out (Gemma3TextConfig, Llama4TextConfig, Qwen3NextConfig and
    GptOssConfig in transformers 4.57: the defaults named below)."""
    if not layers:
        return 0
    names, origin = cfg.get("layer_types")
    if names is not None and not (isinstance(names, list) and len(names) == layers
                                  and all(isinstance(n, str) for n in names)):
        out.note(f"{origin}: not a list of {layers} layer type names; every layer is counted as full attention")
        names = None
    if names is not None:
        kinds = [_SLIDING if "sliding" in n else _CHUNKED if "chunked" in n else _LINEAR if "linear" in n else ""
                 for n in names]
        where = f"{origin} ({layers} names)"
    else:
        kinds, where = _derived_kinds(out, cfg, layers, kind)
    sliding, chunked, linear = (kinds.count(k) for k in (_SLIDING, _CHUNKED, _LINEAR))
    local = ((sliding, "sliding_layers", "sliding_window", "sliding-window"),
             (chunked, "chunked_layers", "attention_chunk_size", "chunked-attention"))
    for count, layers_fact, size_fact, what in local:
        if not count:
            continue
        size, size_origin = cfg.get_int(size_fact)
        if size:
            out.set(layers_fact, count, where)
            out.set(size_fact, size, size_origin or "")
        else:
            out.note(f"{where}: {count} {what} layers but no {size_fact}; counted as full attention")
    if linear:
        out.set("linear_layers", linear, where)
        state = _linear_state_bytes(out, cfg)
        if state is not None:
            out.set("linear_state_bytes", linear * state[0], f"{state[1]} x {linear} layers")
    return linear


def _derived_kinds(out: Collector, cfg: Config, layers: int, kind: str) -> tuple[list[str], str]:
    """Layer kinds of a config without `layer_types`, derived as transformers derives them."""
    if kind.startswith("gemma3"):
        pattern, origin = cfg.get_int("sliding_window_pattern", "_sliding_window_pattern")
        if origin is None:
            pattern, origin = 6, "transformers default sliding_window_pattern 6 (Gemma3TextConfig)"
        if pattern:
            kinds = [_SLIDING if (i + 1) % pattern else "" for i in range(layers)]
            return kinds, f"{origin}: every layer but each {pattern}th slides"
    elif kind.startswith("gemma2"):
        return [_SLIDING if (i + 1) % 2 else "" for i in range(layers)], "Gemma 2: even layers slide (Gemma2Config)"
    elif kind.startswith("gptoss"):
        return [_SLIDING if (i + 1) % 2 else "" for i in range(layers)], "gpt-oss: even layers slide (GptOssConfig)"
    elif kind.startswith("llama4"):
        flags, origin = cfg.get("no_rope_layers")
        if isinstance(flags, list) and len(flags) == layers and all(f in (0, 1) for f in flags):
            return [_CHUNKED if f else "" for f in flags], f"{origin} (1: RoPE + chunked attention, 0: global NoPE)"
        interval, origin = cfg.get_int("no_rope_layer_interval")
        interval, origin = (interval, origin) if interval else (4, "transformers default no_rope_layer_interval 4")
        return [_CHUNKED if (i + 1) % interval else "" for i in range(layers)], f"{origin} (Llama4TextConfig)"
    elif kind.startswith("qwen3next"):
        interval, origin = cfg.get_int("full_attention_interval")
        interval, origin = (interval, origin) if interval else (4, "transformers default full_attention_interval 4")
        return [_LINEAR if (i + 1) % interval else "" for i in range(layers)], f"{origin} (Qwen3NextConfig)"
    return [""] * layers, ""


def _linear_state_bytes(out: Collector, cfg: Config) -> tuple[int, str] | None:
    """Bytes of one Gated DeltaNet layer's state per sequence, as vLLM allocates it."""
    g = cfg.get_int
    kernel, key_heads, value_heads = g("linear_conv_kernel_dim")[0], g("linear_num_key_heads")[0], \
        g("linear_num_value_heads")[0]
    key_dim, value_dim = g("linear_key_head_dim")[0], g("linear_value_head_dim")[0]
    if not (kernel and key_heads and value_heads and key_dim and value_dim):
        out.note("linear-attention state size unknown: config.json lacks linear_conv_kernel_dim, linear_num_key_heads, "
                 "linear_num_value_heads, linear_key_head_dim or linear_value_head_dim")
        return None
    conv = (kernel - 1) * (2 * key_heads * key_dim + value_heads * value_dim)
    recurrent = value_heads * value_dim * key_dim
    ssm_dtype, _ = cfg.get("mamba_ssm_dtype")
    recurrent_bytes = 4 if ssm_dtype == "float32" else 2
    return (conv * 2 + recurrent * recurrent_bytes,
            "config.json: linear_* (conv state (kernel - 1) x (2 x key heads x key dim + value heads x value dim) "
            f"x 2 bytes + recurrent state value heads x value dim x key dim x {recurrent_bytes} bytes)")


def _hf_weights(out: Collector, directory: Path, cfg: Config, dtype: str | None, quantization: str | None) -> None:
    skip = {"training_args.bin", "optimizer.pt", "scheduler.pt"}
    weight_files = [p for p in sorted(directory.iterdir())
                    if p.suffix in WEIGHT_SUFFIXES and p.name not in skip and not p.is_dir()]
    indexes = {".safetensors": "model.safetensors.index.json", ".bin": "pytorch_model.bin.index.json"}
    for suffix in WEIGHT_SUFFIXES:  # safetensors first: repos often publish .bin copies too
        files = [p for p in weight_files if p.suffix == suffix]
        if not files:
            continue
        sizes = {p.name: file_size(p) for p in files}
        present = {name for name, size in sizes.items() if size is not None}
        index = directory / indexes.get(suffix, "")
        expected = _index_shards(index) if suffix in indexes and regular(index) else None
        if present == set(sizes) and (not expected or expected <= present):
            origin = f"sum of {len(present)} *{suffix} file(s)"
            out.set("weights_bytes", sum(size for size in sizes.values() if size is not None), origin)
            out.set("weights_exact", True, origin)
            return
        break
    for index_name in indexes.values():
        index = directory / index_name
        if not regular(index):
            continue
        metadata = read_json_object(index).get("metadata")
        total = out.count(metadata.get("total_size"), f"{index_name}: metadata.total_size", MAX_BYTES) \
            if isinstance(metadata, dict) else None
        if total is None:
            continue
        out.set("weights_bytes", total, f"{index_name}: metadata.total_size")
        out.set("weights_exact", True, f"{index_name}: metadata.total_size")
        shards = _index_shards(index) or set()
        have = sum(1 for shard in shards if file_size(directory / shard) is not None)
        if have < len(shards):
            out.note(f"weights not all downloaded ({have} of {len(shards)} shard files present)")
        return
    estimate = estimate_weights(cfg, dtype, quantization)
    if estimate is None:
        out.note("weight size unknown: no weight files and too few config fields to estimate")
        return
    size, origin = estimate
    out.set("weights_bytes", size, origin)
    out.set("weights_exact", False, origin)
    out.note("weight size estimated from config.json (no weight files present)")


def _index_shards(index: Path) -> set[str] | None:
    data = read_json_object(index)
    weight_map = data.get("weight_map")
    if not isinstance(weight_map, dict):
        return None
    return {v for v in weight_map.values() if isinstance(v, str)}
