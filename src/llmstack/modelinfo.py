"""Facts read from a model on disk: the one place that opens model files (never the network).

Sources, in the order `inspect_path` tries them for a directory:

* TensorRT-LLM engine directory: `config.json` with `pretrained_config` + `build_config`, and
  `rank*.engine` files (TRT-LLM's engine config: `pretrained_config.mapping.tp_size`,
  `build_config.max_seq_len`, `pretrained_config.quantization.quant_algo`).
* GGUF files: the key/value header only (see "GGUF header reader" below).
* Hugging Face layout: `config.json` (text facts of vision-language wrappers live in
  `text_config`), `tokenizer_config.json` / `chat_template.jinja` / `chat_template.json` for the
  chat template, `*.safetensors` / `*.bin` / `*.pt` and `model.safetensors.index.json`
  (`metadata.total_size`) for the weights. A cache snapshot
  (`.../hub/models--org--name/snapshots/<revision>/`, files symlinked into `../../blobs/`) is
  recognised by `hf_snapshot`; `inspect_hub_id` finds a hub id in the local cache
  (`HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`, `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`,
  `~/.cache/huggingface/hub`; `refs/main` names the snapshot), the same order huggingface_hub uses.

KV cache bytes per token (`kv_bytes_per_token`, always for a 16-bit cache, all layers):

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

Weights (`weights_bytes`): the sum of the weight files when present (exact); for a sharded
checkpoint whose shards are not all present, `metadata.total_size` of the index (exact); else an
estimate (``weights_exact=False``) from a parameter count computed from config.json (embeddings,
untied LM head, attention incl. MLA projections, gated MLP, MoE routed + shared experts, dense
leading layers) times bytes per parameter of the dtype / quantization (fp8 1 byte; mxfp4 4.25
bits on expert weights; awq/gptq/compressed-tensors `bits`/`num_bits` + group scales; embeddings
and LM head stay 16-bit). Vision towers and MTP layers are not counted by the estimate.

GGUF header reader: `gguf.GGUFReader` parses every array element of the header into numpy
views when it opens a file; on a Qwen2.5 7B-sized header (152,064 tokens + 151,387 merges,
339 tensors, 4.7 GB sparse file) that took about 25 s here. `read_gguf_metadata` below walks the
same key/value section with `struct` over an `mmap` instead (about 0.06 s for that header, no
numpy import, nothing read beyond the key/value section): fixed-size arrays are skipped by
arithmetic, string arrays by their length prefixes, and only small arrays keep their values.
Format per the GGUF spec (llama.cpp `docs/gguf.md`): magic `GGUF`, uint32 version (2 or 3),
uint64 tensor count, uint64 key/value count, then per key a uint64-length UTF-8 name, a uint32
value type and the value; big-endian files are recognised like gguf-py does (version with zero
low 16 bits). tests/test_modelinfo.py checks it against files written by the `gguf` package.

Nothing here imports third-party packages, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from llmstack.errors import ModelFileError

# ----------------------------------------------------------------------------------------------
# Public data types
# ----------------------------------------------------------------------------------------------

FORMATS = ("hf", "gguf", "trtllm-engine", "unknown")

FAMILIES = (
    "qwen2", "qwen3", "qwen3-coder", "llama3", "llama3.1", "llama4", "mistral", "glm45", "glm47",
    "deepseek-v3", "deepseek-v31", "deepseek-r1", "gpt-oss", "kimi-k2", "granite", "hermes",
    "gemma3", "phi", "other",
)


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


@dataclass(frozen=True)
class HfSnapshot:
    repo_root: Path      # .../hub/models--org--name
    hub_id: str          # org/name
    revision: str        # the snapshot directory's name (a commit hash)
    snapshot_dir: Path   # .../snapshots/<revision>
    ref: str | None      # "main" when refs/main names this snapshot


@dataclass(frozen=True)
class GgufListing:
    """The .gguf files of one directory, sorted into models and vision projectors."""

    models: tuple[tuple[str, ...], ...]  # each model's files (split shards first first)
    projectors: tuple[str, ...]


class GgufArray(NamedTuple):
    """A GGUF array value: element type, length and (for short arrays only) the values."""

    type: int
    length: int
    values: tuple[Any, ...] | None


# ----------------------------------------------------------------------------------------------
# Name-based fallback
# ----------------------------------------------------------------------------------------------

_NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"deepseek.*r1", "deepseek-r1"),
    (r"deepseek[-_. ]?v3[-_.][12]", "deepseek-v31"),
    (r"deepseek[-_. ]?v3", "deepseek-v3"),
    (r"qwen[-_. ]?3[-_.]?coder", "qwen3-coder"),
    (r"qwen[-_. ]?3", "qwen3"),
    (r"qwq|qwen[-_. ]?2", "qwen2"),
    (r"hermes", "hermes"),
    (r"llama[-_. ]?4", "llama4"),
    (r"llama[-_. ]?3[-_.][123](?!\d)", "llama3.1"),
    (r"llama[-_. ]?3", "llama3"),
    (r"mistral|mixtral|ministral|devstral|magistral|codestral|pixtral", "mistral"),
    (r"glm[-_. ]?4[-_.]7", "glm47"),
    (r"glm[-_. ]?4[-_.][56]", "glm45"),
    (r"gpt[-_. ]?oss", "gpt-oss"),
    (r"kimi[-_. ]?k2", "kimi-k2"),
    (r"granite", "granite"),
    (r"gemma[-_. ]?3", "gemma3"),
    (r"phi[-_. ]?\d", "phi"),
)


_VISION_NAME = re.compile(
    r"(?:[-_.]vl\b|[-_]vl[-_]|vision|llava|pixtral|internvl|glm-?4(?:\.\d)?v|minicpm-?v|gemma-?3|idefics|molmo"
    r"|smolvlm|phi-?[34](?:\.\d)?-vision)",
    re.IGNORECASE,
)


def vision_from_name(name: str) -> bool:
    """Today's fallback when nothing can be read: does the name suggest a vision-language model?"""
    return _VISION_NAME.search(name) is not None


def family_from_name(name: str) -> str | None:
    """The family a model name suggests (the fallback when no file says it), or None."""
    for pattern, family in _NAME_RULES:
        if re.search(pattern, name, re.IGNORECASE):
            return family
    return None


# ----------------------------------------------------------------------------------------------
# GGUF header reader
# ----------------------------------------------------------------------------------------------

GGUF_STRING = 8
GGUF_ARRAY = 9
_GGUF_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_SIZE = {code: struct.calcsize("<" + fmt) for code, fmt in _GGUF_SCALAR.items()}
_KEEP_ARRAY_VALUES = 4096  # numeric arrays up to this length keep their values (per-layer counts)
_KEEP_STRING_VALUES = 64

# llama.cpp `enum llama_ftype` / gguf-py `LlamaFileType` (value -> name without MOSTLY_/ALL_).
GGUF_FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS",
    24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS",
    31: "IQ1_M", 32: "BF16", 33: "Q4_0_4_4", 34: "Q4_0_4_8", 35: "Q4_0_8_8", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}
_UNQUANTIZED_FILE_TYPES = {"F32", "F16", "BF16"}

_SPLIT_RE = re.compile(r"^(?P<base>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


class _Corrupt(Exception):
    pass


def read_gguf_metadata(path: Path, *, quick: bool = False) -> dict[str, Any]:
    """The key/value header of a GGUF file, without reading tensor data.

    Values: int/float/bool/str for scalars, `GgufArray` for arrays. `quick` stops at the first
    `tokenizer.*` key (enough to tell a model from a projector). Raises ModelFileError when the
    file is not a readable GGUF file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 24:
                raise _Corrupt(f"{size} bytes is too short for a GGUF header")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse_gguf(data, size, quick)
    except _Corrupt as exc:
        raise ModelFileError(
            f"{path}: not a readable GGUF file ({exc}); re-download it or convert the model again"
        ) from None
    except (struct.error, IndexError, OverflowError, MemoryError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: not a readable GGUF file (truncated or corrupt header: {exc}); "
            "re-download it or convert the model again"
        ) from None
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot read it ({exc.strerror or exc}); check the path and permissions"
        ) from None


def _parse_gguf(data: Any, size: int, quick: bool) -> dict[str, Any]:
    if data[:4] != b"GGUF":
        raise _Corrupt("it does not start with the GGUF magic")
    order = "<"
    (version,) = struct.unpack_from("<I", data, 4)
    if version & 0xFFFF == 0:  # written on a machine of the other byte order
        order = ">"
        (version,) = struct.unpack_from(">I", data, 4)
    if version not in (2, 3):
        raise _Corrupt(f"GGUF version {version} is not supported (2 and 3 are)")
    tensor_count, kv_count = struct.unpack_from(order + "QQ", data, 8)
    if kv_count * 13 > size:  # every entry takes at least 13 bytes
        raise _Corrupt(f"it claims {kv_count} metadata entries")
    u64 = struct.Struct(order + "Q").unpack_from
    u32 = struct.Struct(order + "I").unpack_from
    offset = 24

    def read_string(at: int) -> tuple[str, int]:
        (length,) = u64(data, at)
        end = at + 8 + length
        if end > size:
            raise _Corrupt("a string runs past the end of the file")
        return bytes(data[at + 8:end]).decode("utf-8", errors="replace"), end

    def read_value(kind: int, at: int) -> tuple[Any, int]:
        if kind == GGUF_STRING:
            return read_string(at)
        if kind == GGUF_ARRAY:
            item, count = struct.unpack_from(order + "IQ", data, at)
            at += 12
            if item in _GGUF_SCALAR:
                width = _GGUF_SIZE[item]
                if at + count * width > size:
                    raise _Corrupt("an array runs past the end of the file")
                values = None
                if count <= _KEEP_ARRAY_VALUES:
                    values = struct.unpack_from(f"{order}{count}{_GGUF_SCALAR[item]}", data, at)
                return GgufArray(item, count, values), at + count * width
            if item == GGUF_STRING:
                if at + count * 8 > size:
                    raise _Corrupt("an array runs past the end of the file")
                if count <= _KEEP_STRING_VALUES:
                    kept = []
                    for _ in range(count):
                        text, at = read_string(at)
                        kept.append(text)
                    return GgufArray(item, count, tuple(kept)), at
                for _ in range(count):  # skip: only the count is kept
                    at += 8 + u64(data, at)[0]
                if at > size:
                    raise _Corrupt("an array runs past the end of the file")
                return GgufArray(item, count, None), at
            if item == GGUF_ARRAY:
                if count * 12 > size:
                    raise _Corrupt("an array runs past the end of the file")
                for _ in range(count):
                    _, at = read_value(GGUF_ARRAY, at)
                return GgufArray(item, count, None), at
            raise _Corrupt(f"unknown array element type {item}")
        fmt = _GGUF_SCALAR.get(kind)
        if fmt is None:
            raise _Corrupt(f"unknown value type {kind}")
        (value,) = struct.unpack_from(order + fmt, data, at)
        return value, at + _GGUF_SIZE[kind]

    meta: dict[str, Any] = {"GGUF.version": version, "GGUF.tensor_count": tensor_count}
    for _ in range(kv_count):
        key, offset = read_string(offset)
        if quick and key.startswith("tokenizer."):
            break
        (kind,) = u32(data, offset)
        value, offset = read_value(kind, offset + 4)
        meta[key] = value
    return meta


def _gguf_is_projector(meta: Mapping[str, Any]) -> bool:
    return meta.get("general.type") == "mmproj" or meta.get("general.architecture") == "clip"


def _split_parts(path: Path) -> tuple[str, int, int] | None:
    match = _SPLIT_RE.match(path.name)
    if not match:
        return None
    return match["base"], int(match["no"]), int(match["count"])


def list_gguf(directory: Path) -> GgufListing:
    """Sort the .gguf files of a directory into models (shard sets) and vision projectors.

    Reads only the first keys of each header (cheap). Raises ModelFileError for a corrupt file.
    """
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    groups: dict[str, list[tuple[int, Path]]] = {}
    for path in files:
        parts = _split_parts(path)
        key = f"{parts[0]}\0{parts[2]}" if parts else f"\0{path.name}"
        groups.setdefault(key, []).append((parts[1] if parts else 1, path))
    models: list[tuple[str, ...]] = []
    projectors: list[str] = []
    for key in sorted(groups):
        members = [p for _, p in sorted(groups[key])]
        meta = read_gguf_metadata(members[0], quick=True)
        if _gguf_is_projector(meta):
            projectors.extend(p.name for p in members)
        else:
            models.append(tuple(p.name for p in members))
    return GgufListing(tuple(models), tuple(projectors))


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------

class _Collector:
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

    def facts(self, **fixed: Any) -> ModelFacts:
        values = {**self.values, **fixed}
        return ModelFacts(
            **values,
            origins=dict(sorted(self.origins.items())),
            notes=tuple(self.notes),
        )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot read it ({exc.strerror or exc}); check the file and its permissions"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); re-download the file or re-save it as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "fix the file or re-download the model"
        ) from None


def _read_json_object(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object at the top level; fix the file or re-download the model")
    return data


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot read it ({exc.strerror or exc}); check the file and its permissions"
        ) from None
    except UnicodeDecodeError as exc:
        raise ModelFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); re-download the file or re-save it as UTF-8"
        ) from None


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size  # follows the HF cache's symlinks into blobs/
    except OSError:
        return None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


# ----------------------------------------------------------------------------------------------
# Chat templates
# ----------------------------------------------------------------------------------------------

class _Template(NamedTuple):
    text: str       # all templates of the model joined (named variants included)
    origin: str     # "tokenizer_config.json: chat_template"


def _template_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # [{name, template}, ...]
        parts = [item.get("template") for item in value if isinstance(item, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def _hf_templates(directory: Path) -> list[_Template]:
    found: list[_Template] = []
    tokenizer_config = directory / "tokenizer_config.json"
    if tokenizer_config.is_file():
        text = _template_text(_read_json_object(tokenizer_config).get("chat_template"))
        if text:
            found.append(_Template(text, "tokenizer_config.json: chat_template"))
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        found.append(_Template(_read_text(jinja), "chat_template.jinja"))
    processor = directory / "chat_template.json"
    if processor.is_file():
        text = _template_text(_read_json_object(processor).get("chat_template"))
        if text:
            found.append(_Template(text, "chat_template.json: chat_template"))
    return found


def _joined(templates: list[_Template]) -> _Template | None:
    if not templates:
        return None
    return _Template("\n".join(t.text for t in templates), templates[0].origin)


# DeepSeek's special tokens use FULLWIDTH VERTICAL LINE (U+FF5C) and LOWER ONE EIGHTH BLOCK (U+2581).
_DEEPSEEK_MARKERS = ("<\uff5cAssistant\uff5c>", "<\uff5ctool\u2581calls\u2581begin\uff5c>", "<\uff5cUser\uff5c>")


def _template_facts(out: _Collector, template: _Template | None) -> None:
    if template is None:
        out.note("no chat template found: thinking and tool support unknown")
        return
    text = template.text
    if "<think>" in text or "</think>" in text:
        out.set("thinking", True, f"{template.origin} (handles <think>)")
    elif "<|channel|>" in text:
        out.set("thinking", True, f"{template.origin} (harmony analysis channel)")
    else:
        out.set("thinking", False, f"{template.origin} (no <think> handling)")
    if re.search(r"\btools\b", text) or "tool_calls" in text:
        out.set("tool_template", True, f"{template.origin} (handles tools)")
    else:
        out.set("tool_template", False, f"{template.origin} (no tools handling)")


# ----------------------------------------------------------------------------------------------
# Family detection
# ----------------------------------------------------------------------------------------------

# Normalised model_type / GGUF architecture / architecture-class stem -> base family.
_BASE_FAMILY: dict[str, str] = {
    "qwen2": "qwen2", "qwen2moe": "qwen2", "qwen2vl": "qwen2", "qwen25vl": "qwen2",
    "qwen3": "qwen3", "qwen3moe": "qwen3", "qwen3next": "qwen3", "qwen3vl": "qwen3", "qwen3vlmoe": "qwen3",
    "llama": "llama",
    "llama4": "llama4", "llama4text": "llama4",
    "mistral": "mistral", "mistral3": "mistral", "mixtral": "mistral", "pixtral": "mistral",
    "ministral": "mistral", "ministral3": "mistral",
    "glm4moe": "glm", "glm4vmoe": "glm",
    "deepseekv3": "deepseek", "deepseekv32": "deepseek", "deepseek2": "deepseek", "deepseekv2": "deepseek",
    "kimik2": "kimi-k2",
    "gptoss": "gpt-oss",
    "granite": "granite", "granitemoe": "granite", "granitemoehybrid": "granite",
    "granitemoeshared": "granite", "granitehybrid": "granite",
    "gemma3": "gemma3", "gemma3text": "gemma3",
    "phi": "phi", "phi2": "phi", "phi3": "phi", "phi4": "phi", "phi4mm": "phi", "phimoe": "phi",
    "phi3small": "phi", "phi3v": "phi",
}

_ARCH_SUFFIX = re.compile(r"(ForCausalLM|ForConditionalGeneration|LMHeadModel|Model)$")


def _kind_from_architecture(architecture: str) -> str:
    return _norm(_ARCH_SUFFIX.sub("", architecture))


class _FamilyInput(NamedTuple):
    kinds: list[tuple[str, str]]        # (normalised kind, origin) in priority order
    template: _Template | None
    rope_type: tuple[str, str] | None  # ("llama3", origin)
    vocab_size: int | None
    context_length: int | None
    name: str | None


def _decide_family(info: _FamilyInput) -> tuple[str | None, str | None]:
    """(family, origin) from the model's own files; name only when they cannot tell."""
    base = kind_origin = None
    for kind, origin in info.kinds:
        if kind in _BASE_FAMILY:
            base, kind_origin = _BASE_FAMILY[kind], origin
            break
    text = info.template.text if info.template else ""
    tpl = info.template.origin if info.template else None

    def with_template(family: str, why: str) -> tuple[str, str]:
        return family, f"{kind_origin} + {tpl} ({why})"

    def from_name(allowed: set[str], fallback: str | None) -> tuple[str | None, str | None]:
        guess = family_from_name(info.name) if info.name else None
        if guess in allowed:
            return guess, f"{kind_origin}; variant guessed from the name {info.name!r}"
        if fallback is None:
            return None, None
        return fallback, kind_origin

    if base is None:
        if info.kinds:
            return "other", f"{info.kinds[0][1]} (no family table entry)"
        guess = family_from_name(info.name) if info.name else None
        if guess:
            return guess, f"guessed from the name {info.name!r}"
        return None, None

    deepseek_template = any(marker in text for marker in _DEEPSEEK_MARKERS)
    if base in ("qwen2", "qwen3", "llama") and deepseek_template:
        return with_template("deepseek-r1", "DeepSeek-R1 distill chat format")
    if base == "qwen3":
        if "<function=" in text:
            return with_template("qwen3-coder", "<function= XML tool calls")
        return "qwen3", kind_origin
    if base == "qwen2":
        return "qwen2", kind_origin
    if base in ("llama", "mistral") and "<tool_call>" in text and "<|im_start|>" in text:
        return with_template("hermes", "ChatML with <tool_call>")
    if base == "llama":
        if "[INST]" in text and "<<SYS>>" not in text:  # Mistral converted as llama; Llama 2 has <<SYS>>
            return with_template("mistral", "[INST] chat format")
        if info.rope_type and info.rope_type[0] == "llama3":
            return "llama3.1", f"{kind_origin} + {info.rope_type[1]}"
        if "Cutting Knowledge Date" in text:
            return with_template("llama3.1", "Llama 3.1 system header")
        llama3_vocab = info.vocab_size == 128256
        if llama3_vocab and info.context_length is not None and info.context_length > 8192:
            return "llama3.1", f"{kind_origin} + Llama 3 vocabulary with {info.context_length} tokens of context"
        if llama3_vocab or "<|start_header_id|>" in text:
            if info.template is None and info.context_length is None:
                return from_name({"llama3", "llama3.1", "hermes", "deepseek-r1"}, "llama3")
            why = "Llama 3 vocabulary" if llama3_vocab else "Llama 3 chat format"
            return "llama3", f"{kind_origin} ({why}, no llama3 rope scaling)"
        return from_name({"llama3", "llama3.1", "hermes", "deepseek-r1", "mistral"}, "other")
    if base == "glm":
        if "<tool_call>{function-name}<arg_key>" in text:
            return with_template("glm47", "GLM-4.7 tool call format")
        if tpl:
            return with_template("glm45", "GLM-4.5/4.6 tool call format")
        return from_name({"glm45", "glm47"}, "glm45")
    if base == "deepseek":
        if any(kind == "deepseekv32" for kind, _ in info.kinds):
            return "deepseek-v31", kind_origin
        if tpl:
            if "<|im_middle|>" in text:  # Kimi-K2 reuses DeepSeek-V3's architecture (GGUF: deepseek2)
                return with_template("kimi-k2", "Kimi chat format")
            if re.search(r"\bthinking\b", text):
                return with_template("deepseek-v31", "thinking switch")
            if "<think>" in text or "</think>" in text:
                return with_template("deepseek-r1", "<think> reasoning")
            return with_template("deepseek-v3", "no <think> handling")
        return from_name({"deepseek-v3", "deepseek-v31", "deepseek-r1", "kimi-k2"}, "deepseek-v3")
    return base, kind_origin


# ----------------------------------------------------------------------------------------------
# Hugging Face cache layout
# ----------------------------------------------------------------------------------------------

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
        return (repo_root / "refs" / ref).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
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


def inspect_hub_id(hub_id: str, env: Mapping[str, str] | None = None) -> ModelFacts:
    """Facts for `org/name` from the local HF cache only (never the network)."""
    repo_root = hf_cache_dir(env) / ("models--" + hub_id.replace("/", "--"))
    snapshot = hf_snapshot(repo_root) if repo_root.is_dir() else None
    if snapshot is None:
        out = _Collector()
        family = family_from_name(hub_id)
        out.set("family", family, f"guessed from the name {hub_id!r}")
        if repo_root.is_dir():
            out.note("in the local Hugging Face cache, but no snapshot is named by refs/main")
        else:
            out.note("not in the local Hugging Face cache: facts come from the name only")
        if family is None:
            out.note("family unknown")
        return out.facts(format="unknown", name=hub_id)
    return _inspect_directory(snapshot.snapshot_dir, name=hub_id)


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

def inspect_path(path: Path) -> ModelFacts:
    """Facts for a local model: a directory (HF layout, HF cache snapshot, TRT-LLM engine,
    GGUF files) or a .gguf file (a split shard means the whole set)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"{path}: no such file or directory; check the path")
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return _inspect_gguf(path)
        out = _Collector()
        out.note(f"{path.name} is neither a .gguf file nor a model directory")
        return out.facts(format="unknown", name=path.name)
    snapshot = hf_snapshot(path)
    if snapshot is not None:
        return _inspect_directory(snapshot.snapshot_dir, name=snapshot.hub_id)
    return _inspect_directory(path, name=path.name)


def _is_trtllm_config(config: Mapping[str, Any]) -> bool:
    return isinstance(config.get("pretrained_config"), dict) and isinstance(config.get("build_config"), dict)


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def _inspect_directory(directory: Path, name: str) -> ModelFacts:
    config_path = directory / "config.json"
    config = _read_json_object(config_path) if config_path.is_file() else None
    engines = sorted(directory.glob("rank*.engine"))
    if (config is not None and _is_trtllm_config(config)) or engines:
        return _inspect_trtllm(directory, config, engines, name)
    ggufs = [p for p in directory.iterdir() if p.suffix.lower() == ".gguf" and p.is_file()]
    has_hf_weights = any(p.suffix in _WEIGHT_SUFFIXES for p in directory.iterdir())
    if ggufs and not has_hf_weights:
        listing = list_gguf(directory)
        if len(listing.models) == 1:
            return _inspect_gguf(directory / listing.models[0][0], projectors=listing.projectors)
        out = _Collector()
        if listing.models:
            names = ", ".join(m[0] for m in listing.models)
            out.note(f"holds {len(listing.models)} GGUF models ({names}); pass the one to serve")
        else:
            out.note("holds only a vision projector (.gguf), no model")
        return out.facts(format="gguf", name=name, mmproj=listing.projectors[0] if listing.projectors else None)
    if config is None:
        out = _Collector()
        out.set("family", family_from_name(name), f"guessed from the name {name!r}")
        out.note("no config.json, .gguf file or TensorRT-LLM engine found")
        return out.facts(format="unknown", name=name)
    return _inspect_hf(directory, config, name)


# ----------------------------------------------------------------------------------------------
# Hugging Face directory
# ----------------------------------------------------------------------------------------------

class _Config:
    """config.json with `text_config` looked up first (vision-language wrappers)."""

    def __init__(self, data: dict[str, Any], origin_file: str = "config.json") -> None:
        self.data = data
        text = data.get("text_config")
        self.text = text if isinstance(text, dict) else None
        self.file = origin_file

    def get(self, *keys: str) -> tuple[Any, str | None]:
        for key in keys:
            if self.text is not None and self.text.get(key) is not None:
                return self.text[key], f"{self.file}: text_config.{key}"
            if self.data.get(key) is not None:
                return self.data[key], f"{self.file}: {key}"
        return None, None

    def get_int(self, *keys: str) -> tuple[int | None, str | None]:
        value, origin = self.get(*keys)
        number = _as_int(value)
        return (number, origin) if number is not None else (None, None)


# transformers' defaults for keys some published configs omit (Gemma3TextConfig:
# vocab_size=262_208, max_position_embeddings=131_072).
_TRANSFORMERS_DEFAULTS: dict[str, dict[str, int]] = {
    "gemma3_text": {"max_position_embeddings": 131072, "vocab_size": 262208},
}


def _inspect_hf(directory: Path, data: dict[str, Any], name: str) -> ModelFacts:
    cfg = _Config(data)
    out = _Collector()
    architectures = data.get("architectures")
    architecture = None
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        architecture = architectures[0]
    out.set("architecture", architecture, "config.json: architectures[0]")
    model_type = data.get("model_type") if isinstance(data.get("model_type"), str) else None
    out.set("model_type", model_type, "config.json: model_type")
    text_type = cfg.text.get("model_type") if cfg.text and isinstance(cfg.text.get("model_type"), str) else None
    defaults = _TRANSFORMERS_DEFAULTS.get(text_type or model_type or "", {})

    def int_fact(fact: str, keys: tuple[str, ...], what: str) -> int | None:
        value, origin = cfg.get_int(*keys)
        if value is None and keys[0] in defaults:
            value = defaults[keys[0]]
            origin = f"transformers default for {text_type or model_type} (config.json omits {keys[0]})"
        if value is None or origin is None:
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
    if kv_heads is None and heads is not None:
        kv_heads = heads
        kv_origin = "config.json: num_attention_heads (no num_key_value_heads: one KV head per query head)"
    if kv_heads is None:
        out.note("KV head count unknown")
    out.set("num_kv_heads", kv_heads, kv_origin or "")

    kv_lora, _ = cfg.get_int("kv_lora_rank")
    rope_dim, _ = cfg.get_int("qk_rope_head_dim")
    nope_dim, _ = cfg.get_int("qk_nope_head_dim")
    head_dim, head_origin = cfg.get_int("head_dim")
    if head_dim is None and kv_lora is not None and rope_dim is not None and nope_dim is not None:
        head_dim, head_origin = nope_dim + rope_dim, "config.json: qk_nope_head_dim + qk_rope_head_dim"
    if head_dim is None and hidden and heads:
        head_dim, head_origin = hidden // heads, "config.json: hidden_size / num_attention_heads"
    if head_dim is None:
        out.note("head dimension unknown")
    out.set("head_dim", head_dim, head_origin or "")

    dtype, dtype_origin = cfg.get("torch_dtype", "dtype")
    if isinstance(dtype, str):
        out.set("dtype", dtype, dtype_origin or "")
    else:
        dtype = None
        out.note("weight dtype not stated in config.json")

    quant_config, quant_origin = cfg.get("quantization_config")
    quantization = None
    if isinstance(quant_config, dict):
        method = quant_config.get("quant_method") or quant_config.get("quant_algo")
        if isinstance(method, str):
            quantization = method.lower()
            out.set("quantization", quantization, f"{quant_origin}.quant_method")
    hf_quant = directory / "hf_quant_config.json"
    if quantization is None and hf_quant.is_file():
        algo = _read_json_object(hf_quant).get("quantization", {})
        algo = algo.get("quant_algo") if isinstance(algo, dict) else None
        if isinstance(algo, str):
            quantization = algo.lower()
            out.set("quantization", quantization, "hf_quant_config.json: quantization.quant_algo")

    if isinstance(data.get("vision_config"), dict):
        out.set("vision", True, "config.json: vision_config")
    elif architecture and architecture.endswith("ForCausalLM"):
        out.set("vision", False, f"config.json: architectures[0] {architecture} (no vision_config)")
    else:
        out.note("vision support unknown: no vision_config and no *ForCausalLM architecture")

    template = _joined(_hf_templates(directory))
    _template_facts(out, template)

    rope, rope_origin = cfg.get("rope_scaling")
    rope_type = None
    if isinstance(rope, dict):
        kind = rope.get("rope_type") or rope.get("type")
        if isinstance(kind, str):
            rope_type = (kind, f"{rope_origin}.rope_type {kind!r}")
    kinds = []
    if model_type:
        kinds.append((_norm(model_type), f"config.json: model_type {model_type!r}"))
    if text_type:
        kinds.append((_norm(text_type), f"config.json: text_config.model_type {text_type!r}"))
    if architecture:
        kinds.append((_kind_from_architecture(architecture), f"config.json: architectures[0] {architecture!r}"))
    family, family_origin = _decide_family(_FamilyInput(kinds, template, rope_type, vocab, context, name))
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
    return out.facts(format="hf", name=name)


def _hf_weights(out: _Collector, directory: Path, cfg: _Config, dtype: str | None, quantization: str | None) -> None:
    skip = {"training_args.bin", "optimizer.pt", "scheduler.pt"}
    weight_files = [p for p in sorted(directory.iterdir())
                    if p.suffix in _WEIGHT_SUFFIXES and p.name not in skip and not p.is_dir()]
    indexes = {".safetensors": "model.safetensors.index.json", ".bin": "pytorch_model.bin.index.json"}
    for suffix in _WEIGHT_SUFFIXES:  # safetensors first: repos often publish .bin copies too
        files = [p for p in weight_files if p.suffix == suffix]
        if not files:
            continue
        sizes = {p.name: _file_size(p) for p in files}
        present = {name for name, size in sizes.items() if size is not None}
        index = directory / indexes.get(suffix, "")
        expected = _index_shards(index) if suffix in indexes and index.is_file() else None
        if present == set(sizes) and (not expected or expected <= present):
            origin = f"sum of {len(present)} *{suffix} file(s)"
            out.set("weights_bytes", sum(size for size in sizes.values() if size is not None), origin)
            out.set("weights_exact", True, origin)
            return
        break
    for index_name in indexes.values():
        index = directory / index_name
        if not index.is_file():
            continue
        metadata = _read_json_object(index).get("metadata")
        total = _as_int(metadata.get("total_size")) if isinstance(metadata, dict) else None
        if total is None:
            continue
        out.set("weights_bytes", total, f"{index_name}: metadata.total_size")
        out.set("weights_exact", True, f"{index_name}: metadata.total_size")
        shards = _index_shards(index) or set()
        have = sum(1 for shard in shards if _file_size(directory / shard) is not None)
        if have < len(shards):
            out.note(f"weights not all downloaded ({have} of {len(shards)} shard files present)")
        return
    estimate = _estimate_weights(cfg, dtype, quantization)
    if estimate is None:
        out.note("weight size unknown: no weight files and too few config fields to estimate")
        return
    size, origin = estimate
    out.set("weights_bytes", size, origin)
    out.set("weights_exact", False, origin)
    out.note("weight size estimated from config.json (no weight files present)")


def _index_shards(index: Path) -> set[str] | None:
    data = _read_json_object(index)
    weight_map = data.get("weight_map")
    if not isinstance(weight_map, dict):
        return None
    return {v for v in weight_map.values() if isinstance(v, str)}


_DTYPE_BYTES = {"float32": 4.0, "float": 4.0, "bfloat16": 2.0, "float16": 2.0, "half": 2.0,
                "float8_e4m3fn": 1.0, "float8_e5m2": 1.0}


def _parameter_count(cfg: _Config) -> tuple[int, int, int] | None:
    """(total, expert, embedding) parameter counts from config fields, or None."""
    g = cfg.get_int
    hidden, _ = g("hidden_size")
    layers, _ = g("num_hidden_layers")
    heads, _ = g("num_attention_heads")
    vocab, _ = g("vocab_size")
    if vocab is None:
        text_type = cfg.text.get("model_type") if cfg.text else cfg.data.get("model_type")
        vocab = _TRANSFORMERS_DEFAULTS.get(text_type or "", {}).get("vocab_size")
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
        model_type = _norm(str(cfg.text.get("model_type") if cfg.text else cfg.data.get("model_type")))
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


def _estimate_weights(cfg: _Config, dtype: str | None, quantization: str | None) -> tuple[int, str] | None:
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
        bits = _as_int(quant_config.get("bits")) or _as_int(quant_config.get("w_bit"))
        groups = quant_config.get("config_groups")
        if bits is None and isinstance(groups, dict):
            for group in groups.values():
                weights = group.get("weights") if isinstance(group, dict) else None
                if isinstance(weights, dict) and _as_int(weights.get("num_bits")):
                    bits = _as_int(weights["num_bits"])
                    break
        if bits is None and quantization == "bitsandbytes":
            bits = 4 if quant_config.get("load_in_4bit") else 8
        bits = bits or 4
        size = (dense + expert) * (bits / 8 + 2 / 128) + embedding * 2.0
        how = f"{quantization} {bits}-bit linear layers"
    else:
        size, how = total * base, f"{dtype or 'assumed 16-bit'}"
    return int(size), f"estimated: {total:,} parameters from config.json x bytes per parameter ({how})"


# ----------------------------------------------------------------------------------------------
# GGUF model
# ----------------------------------------------------------------------------------------------

def _gguf_int(meta: Mapping[str, Any], key: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, GgufArray):
        return None
    return _as_int(value)


def _gguf_per_layer(meta: Mapping[str, Any], key: str) -> tuple[int | None, tuple[int, ...] | None]:
    """A count that may be per layer (array): (max, per-layer values)."""
    value = meta.get(key)
    if isinstance(value, GgufArray) and value.values:
        numbers = tuple(int(v) for v in value.values)
        return max(numbers), numbers
    return _as_int(value), None


def _inspect_gguf(path: Path, projectors: tuple[str, ...] | None = None) -> ModelFacts:
    directory = path.parent
    parts = _split_parts(path)
    out = _Collector()
    files: list[Path] = [path]
    name = path.name[:-5] if path.name.lower().endswith(".gguf") else path.stem
    if parts:
        base, _, count = parts
        name = base
        files = []
        for number in range(1, count + 1):
            shard = directory / f"{base}-{number:05d}-of-{count:05d}.gguf"
            if shard.is_file():
                files.append(shard)
            else:
                out.note(f"split shard {shard.name} missing")
        if not files:
            files = [path]
    first = files[0]
    meta = read_gguf_metadata(first)
    src = first.name
    arch = meta.get("general.architecture") if isinstance(meta.get("general.architecture"), str) else None
    out.set("architecture", arch, f"{src}: general.architecture")
    if arch is None:
        out.note("no general.architecture in the GGUF header")

    if parts:
        split_count = _gguf_int(meta, "split.count")
        if split_count is not None and split_count != parts[2]:
            out.note(f"split.count {split_count} in {src} disagrees with the file names ({parts[2]} shards)")

    if _gguf_is_projector(meta):
        out.note(f"{src} is a vision projector (mmproj), not a language model; pass the model .gguf")
        return out.facts(format="gguf", name=name, files=tuple(p.name for p in files))

    def key(suffix: str) -> str:
        return f"{arch}.{suffix}"

    def int_fact(fact: str, suffix: str, what: str) -> int | None:
        value = _gguf_int(meta, key(suffix)) if arch else None
        if value is None:
            out.note(f"{what} unknown: no {key(suffix) if arch else suffix} in {src}")
            return None
        out.set(fact, value, f"{src}: {key(suffix)}")
        return value

    context = int_fact("context_length", "context_length", "context length")
    layers = int_fact("num_layers", "block_count", "layer count")
    hidden = int_fact("hidden_size", "embedding_length", "hidden size")
    heads, _ = _gguf_per_layer(meta, key("attention.head_count")) if arch else (None, None)
    out.set("num_attention_heads", heads, f"{src}: {key('attention.head_count')}")
    if heads is None:
        out.note("attention heads unknown")
    kv_heads, kv_per_layer = _gguf_per_layer(meta, key("attention.head_count_kv")) if arch else (None, None)
    kv_origin = f"{src}: {key('attention.head_count_kv')}"
    if kv_heads is None and heads is not None:
        kv_heads, kv_origin = heads, f"{src}: {key('attention.head_count')} (no head_count_kv)"
    out.set("num_kv_heads", kv_heads, kv_origin)
    key_len = _gguf_int(meta, key("attention.key_length")) if arch else None
    value_len = _gguf_int(meta, key("attention.value_length")) if arch else None
    head_origin = f"{src}: {key('attention.key_length')}"
    if key_len is None and hidden and heads:
        key_len, head_origin = hidden // heads, f"{src}: {key('embedding_length')} / {key('attention.head_count')}"
    value_len = value_len or key_len
    out.set("head_dim", key_len, head_origin)

    tokens = meta.get("tokenizer.ggml.tokens")
    if isinstance(tokens, GgufArray):
        out.set("vocab_size", tokens.length, f"{src}: tokenizer.ggml.tokens (length)")
    elif arch and _gguf_int(meta, key("vocab_size")) is not None:
        out.set("vocab_size", _gguf_int(meta, key("vocab_size")), f"{src}: {key('vocab_size')}")
    else:
        out.note("vocabulary size unknown")

    file_type = _gguf_int(meta, "general.file_type")
    if file_type is not None:
        type_name = GGUF_FILE_TYPES.get(file_type, f"type {file_type}")
        out.set("dtype", type_name, f"{src}: general.file_type")
        if type_name not in _UNQUANTIZED_FILE_TYPES:
            out.set("quantization", type_name, f"{src}: general.file_type")
    else:
        out.note(f"weight type unknown: no general.file_type in {src}")

    kv_lora = _gguf_int(meta, key("attention.kv_lora_rank")) if arch else None
    rope_dim = _gguf_int(meta, key("rope.dimension_count")) if arch else None
    if kv_lora and rope_dim and layers:
        out.set("kv_bytes_per_token", layers * (kv_lora + rope_dim) * 2,
                f"{src}: block_count x (attention.kv_lora_rank + rope.dimension_count) x 2 bytes (MLA)")
    elif kv_per_layer and key_len:
        out.set("kv_bytes_per_token", sum(kv_per_layer) * (key_len + (value_len or key_len)) * 2,
                f"{src}: per-layer head_count_kv x (key_length + value_length) x 2 bytes")
    elif layers and kv_heads and key_len:
        out.set("kv_bytes_per_token", layers * kv_heads * (key_len + (value_len or key_len)) * 2,
                f"{src}: block_count x head_count_kv x (key_length + value_length) x 2 bytes")
    else:
        out.note("KV cache size per token unknown")

    sizes = [_file_size(p) for p in files]
    if all(s is not None for s in sizes):
        out.set("weights_bytes", sum(s for s in sizes if s is not None), f"size of {len(files)} .gguf file(s)")
        out.set("weights_exact", True, f"size of {len(files)} .gguf file(s)")

    templates = [(k, v) for k, v in sorted(meta.items())
                 if (k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.")) and isinstance(v, str)]
    template = None
    if templates:
        template = _Template("\n".join(v for _, v in templates), f"{src}: {templates[0][0]}")
    _template_facts(out, template)

    if projectors is None:
        projectors = _projectors_beside(directory, {p.name for p in files})
    mmproj = None
    if projectors:
        mmproj = projectors[0]
        out.set("vision", True, f"{mmproj}: vision projector beside the model")
        if len(projectors) > 1:
            out.note(f"several vision projectors ({', '.join(projectors)}); using {mmproj}")
    else:
        out.set("vision", False, "no mmproj .gguf beside the model")

    general_name = meta.get("general.name") if isinstance(meta.get("general.name"), str) else None
    rope_scaling = meta.get(key("rope.scaling.type")) if arch else None
    family, origin = _decide_family(_FamilyInput(
        [(_norm(arch), f"{src}: general.architecture {arch!r}")] if arch else [],
        template,
        (rope_scaling, f"{src}: {key('rope.scaling.type')}") if isinstance(rope_scaling, str) else None,
        out.values.get("vocab_size"), context, general_name or name,
    ))
    if family:
        out.set("family", family, origin or "")
    else:
        out.note("family unknown")
    return out.facts(format="gguf", name=name, files=tuple(p.name for p in files), mmproj=mmproj)


def _projectors_beside(directory: Path, exclude: set[str]) -> tuple[str, ...]:
    found = []
    for candidate in sorted(directory.iterdir()):
        if candidate.name in exclude or candidate.suffix.lower() != ".gguf" or not candidate.is_file():
            continue
        parts = _split_parts(candidate)
        if parts and parts[1] != 1:
            continue
        try:
            meta = read_gguf_metadata(candidate, quick=True)
        except ModelFileError:
            continue  # a broken neighbour is not the model the user pointed at
        if _gguf_is_projector(meta):
            found.append(candidate.name)
    return tuple(found)


# ----------------------------------------------------------------------------------------------
# TensorRT-LLM engine
# ----------------------------------------------------------------------------------------------

def _inspect_trtllm(directory: Path, config: dict[str, Any] | None, engines: list[Path], name: str) -> ModelFacts:
    out = _Collector()
    if config is None or not _is_trtllm_config(config):
        out.note("engine config.json (pretrained_config + build_config) missing")
        config = {}
    pretrained = config.get("pretrained_config") or {}
    build = config.get("build_config") or {}

    def pc(fact: str, key: str, what: str) -> Any:
        value = pretrained.get(key)
        if value is None:
            out.note(f"{what} unknown: no pretrained_config.{key}")
            return None
        out.set(fact, value, f"config.json: pretrained_config.{key}")
        return value

    architecture = pc("architecture", "architecture", "architecture")
    architecture = architecture if isinstance(architecture, str) else None
    pc("dtype", "dtype", "dtype")
    heads = pc("num_attention_heads", "num_attention_heads", "attention heads")
    kv_heads = pretrained.get("num_key_value_heads")
    if kv_heads is not None:
        out.set("num_kv_heads", kv_heads, "config.json: pretrained_config.num_key_value_heads")
    elif heads is not None:
        kv_heads = heads
        out.set("num_kv_heads", heads, "config.json: pretrained_config.num_attention_heads (no num_key_value_heads)")
    else:
        out.note("KV head count unknown")
    layers = pc("num_layers", "num_hidden_layers", "layer count")
    hidden = pc("hidden_size", "hidden_size", "hidden size")
    vocab = pc("vocab_size", "vocab_size", "vocabulary size")
    head_dim = pretrained.get("head_size")
    if head_dim is not None:
        out.set("head_dim", head_dim, "config.json: pretrained_config.head_size")
    elif hidden and heads:
        head_dim = hidden // heads
        out.set("head_dim", head_dim, "config.json: pretrained_config.hidden_size / num_attention_heads")
    else:
        out.note("head dimension unknown")
    context = _as_int(build.get("max_seq_len"))
    if context is not None:
        out.set("context_length", context, "config.json: build_config.max_seq_len")
    else:
        out.note("context length unknown: no build_config.max_seq_len")
    mapping = pretrained.get("mapping")
    tp = _as_int(mapping.get("tp_size")) if isinstance(mapping, dict) else None
    if tp is not None:
        out.set("tp_size", tp, "config.json: pretrained_config.mapping.tp_size")
    else:
        out.note("tensor-parallel size unknown: no pretrained_config.mapping.tp_size")
    quant = pretrained.get("quantization")
    algo = quant.get("quant_algo") if isinstance(quant, dict) else None
    if isinstance(algo, str):
        out.set("quantization", algo.lower(), "config.json: pretrained_config.quantization.quant_algo")
    if layers and kv_heads and head_dim:
        out.set("kv_bytes_per_token", 2 * layers * kv_heads * head_dim * 2,
                "config.json: 2 x num_hidden_layers x num_key_value_heads x head_size x 2 bytes")
    else:
        out.note("KV cache size per token unknown")
    if engines:
        sizes = [_file_size(p) for p in engines]
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
    template = _joined(_hf_templates(directory))
    _template_facts(out, template)
    rope = pretrained.get("rotary_scaling")
    rope_type = None
    if isinstance(rope, dict):
        kind = rope.get("rope_type") or rope.get("type")
        if isinstance(kind, str):
            rope_type = (kind, f"config.json: pretrained_config.rotary_scaling {kind!r}")
    kinds = [(_kind_from_architecture(architecture), f"config.json: pretrained_config.architecture {architecture!r}")] \
        if architecture else []
    family, family_origin = _decide_family(_FamilyInput(kinds, template, rope_type, _as_int(vocab),
                                                 _as_int(pretrained.get("max_position_embeddings")), name))
    if family:
        out.set("family", family, family_origin or "")
    else:
        out.note("family unknown")
    return out.facts(format="trtllm-engine", name=name, files=tuple(p.name for p in engines))


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
