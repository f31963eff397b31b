"""Hugging Face layout: `config.json` (text facts of vision-language wrappers live in
`text_config`), `tokenizer_config.json` / `chat_template.jinja` (and
`additional_chat_templates/*.jinja`) / `chat_template.json` for the chat template,
`*.safetensors` / `*.bin` / `*.pt` and `model.safetensors.index.json` (`metadata.total_size`)
for the weights. A cache snapshot
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
from llmstack.model.template import Template, joined, served, template_facts

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


def _variants(value: Any, origin: str) -> list[Template]:
    """A `chat_template` value: one template, or a list of named ones ([{name, template}, ...])."""
    if isinstance(value, str):
        return [Template(value, origin)]
    if isinstance(value, list):
        return [Template(item["template"], origin, str(item.get("name") or "default")) for item in value
                if isinstance(item, dict) and isinstance(item.get("template"), str)]
    return []


# Where transformers finds a model's templates, highest priority first: the .jinja files replace
# the tokenizer config's entries (tokenization_utils_base.py: "independent chat template file(s)
# ... take priority"); a processor's chat_template.json comes last.
_JINJA, _TOKENIZER, _PROCESSOR = "chat_template.jinja", "tokenizer_config.json: chat_template", \
    "chat_template.json: chat_template"


def hf_templates(directory: Path) -> list[Template]:
    """Every chat template of the directory (the tokenizer config's first, as the facts read them)."""
    found: list[Template] = []
    tokenizer_config = directory / "tokenizer_config.json"
    if regular(tokenizer_config):
        found += _variants(read_json_object(tokenizer_config).get("chat_template"), _TOKENIZER)
    jinja = directory / "chat_template.jinja"
    if regular(jinja):
        found.append(Template(read_text(jinja), _JINJA))
    extra = directory / "additional_chat_templates"
    if extra.is_dir():
        for path in sorted(extra.glob("*.jinja")):
            if regular(path):
                found.append(Template(read_text(path), f"additional_chat_templates/{path.name}", path.stem))
    processor = directory / "chat_template.json"
    if regular(processor):
        found += _variants(read_json_object(processor).get("chat_template"), _PROCESSOR)
    return found


def engine_template(templates: list[Template]) -> Template | None:
    """The template transformers renders an agent's request (tools included) with."""
    def source(template: Template) -> str:
        return _JINJA if template.origin.startswith("additional_chat_templates/") else template.origin

    for wanted in (_JINJA, _TOKENIZER, _PROCESSOR):
        group = [t for t in templates if source(t) == wanted]
        if group:
            return served(group)
    return None


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


def inspect_hf(directory: Path, data: dict[str, Any], name: str) -> ModelFacts:
    out = Collector()
    cfg = Config(data, out)
    architectures = data.get("architectures")
    architecture = None
    if isinstance(architectures, list) and architectures:
        architecture = out.identifier(architectures[0], "config.json: architectures[0]", "an architecture name")
    out.set("architecture", architecture, "config.json: architectures[0]")
    model_type = out.identifier(data.get("model_type"), "config.json: model_type", "a model type")
    out.set("model_type", model_type, "config.json: model_type")
    text_type = out.identifier(cfg.text.get("model_type"), "config.json: text_config.model_type", "a model type") \
        if cfg.text else None
    defaults = TRANSFORMERS_DEFAULTS.get(text_type or model_type or "", {})

    def int_fact(fact: str, keys: tuple[str, ...], what: str) -> int | None:
        value, origin = cfg.get_int(*keys)
        if origin is None and keys[0] in defaults:
            value = defaults[keys[0]]
            origin = f"transformers default for {text_type or model_type} (config.json omits {keys[0]})"
        if value is None or origin is None:
            if origin is None:
                out.note(f"{what} unknown: config.json has no {keys[0]}")
            return None
        out.set(fact, value, origin)
        return value

    context = int_fact("context_length",
                       ("max_position_embeddings", "max_sequence_length", "seq_length", "n_positions"),
                       "context length")
    heads = int_fact("num_attention_heads", ("num_attention_heads", "n_head", "num_heads"), "attention heads")
    layers = int_fact("num_layers", ("num_hidden_layers", "n_layer", "num_layers"), "layer count")
    hidden = int_fact("hidden_size", ("hidden_size", "n_embd", "d_model"), "hidden size")
    vocab = int_fact("vocab_size", ("vocab_size",), "vocabulary size")
    kv_heads, kv_origin = cfg.get_int("num_key_value_heads", "num_kv_heads")
    if kv_origin is None and heads is not None:
        kv_heads = heads
        kv_origin = "config.json: num_attention_heads (no num_key_value_heads: one KV head per query head)"
    if kv_heads is None:
        out.note("KV head count unknown")
    out.set("num_kv_heads", kv_heads, kv_origin or "")

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

    dtype, dtype_origin = cfg.get("torch_dtype", "dtype")
    if isinstance(dtype, str):
        dtype = out.identifier(dtype, dtype_origin or "config.json", "a dtype name")
        out.set("dtype", dtype, dtype_origin or "")
    else:
        dtype = None
        out.note("weight dtype not stated in config.json")

    quant_config, quant_origin = cfg.get("quantization_config")
    quantization = None
    if isinstance(quant_config, dict):
        method = quant_config.get("quant_method") or quant_config.get("quant_algo")
        method = out.identifier(method, f"{quant_origin}.quant_method", "a quantization method")
        if isinstance(method, str):
            quantization = method.lower()
            out.set("quantization", quantization, f"{quant_origin}.quant_method")
    hf_quant = directory / "hf_quant_config.json"
    if quantization is None and regular(hf_quant):
        algo = read_json_object(hf_quant).get("quantization", {})
        algo = algo.get("quant_algo") if isinstance(algo, dict) else None
        algo = out.identifier(algo, "hf_quant_config.json: quantization.quant_algo", "a quantization method")
        if isinstance(algo, str):
            quantization = algo.lower()
            out.set("quantization", quantization, "hf_quant_config.json: quantization.quant_algo")

    if isinstance(data.get("vision_config"), dict):
        out.set("vision", True, "config.json: vision_config")
    elif architecture and architecture.endswith("ForCausalLM"):
        out.set("vision", False, f"config.json: architectures[0] {architecture} (no vision_config)")
    else:
        out.note("vision support unknown: no vision_config and no *ForCausalLM architecture")

    templates = hf_templates(directory)
    template = joined(templates)
    template_facts(out, template)

    rope, rope_origin = cfg.get("rope_scaling")
    rope_type = scaling_type(out, rope, f"{rope_origin}.rope_type")
    kinds = []
    if model_type:
        kinds.append((norm(model_type), f"config.json: model_type {model_type!r}"))
    if text_type:
        kinds.append((norm(text_type), f"config.json: text_config.model_type {text_type!r}"))
    if architecture:
        kinds.append((kind_from_architecture(architecture), f"config.json: architectures[0] {architecture!r}"))
    family, family_origin = decide_family(FamilyInput(kinds, template, rope_type, vocab, context, name))
    if family:
        out.set("family", family, family_origin or "")
    else:
        out.note("family unknown")

    # KV cache per token.
    attention_layers = layers
    layer_types, _ = cfg.get("layer_types")
    if isinstance(layer_types, list) and layers and len(layer_types) == layers:
        linear = sum(1 for t in layer_types if isinstance(t, str) and "linear" in t)
        if linear:
            attention_layers = layers - linear
    if kv_lora is not None and rope_dim is not None and layers and attention_layers:
        out.set("kv_bytes_per_token", attention_layers * (kv_lora + rope_dim) * 2,
                "config.json: num_hidden_layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes (MLA)")
    elif attention_layers and kv_heads and head_dim:
        out.set("kv_bytes_per_token", 2 * attention_layers * kv_heads * head_dim * 2,
                "config.json: 2 x layers x KV heads x head_dim x 2 bytes")
    else:
        out.note("KV cache size per token unknown")

    _hf_weights(out, directory, cfg, dtype, quantization)
    return out.facts(format="hf", name=name, chat_template=engine_template(templates))


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
