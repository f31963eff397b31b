"""GGUF files: a header reader, split shard sets, vision projectors, and the facts of a GGUF model.

GGUF header reader: `gguf.GGUFReader` parses every array element of the header into numpy
views when it opens a file; on a Qwen2.5 7B-sized header (152,064 tokens + 151,387 merges,
339 tensors, 4.7 GB sparse file) that took about 25 s here. `read_gguf_metadata` below walks the
same key/value section with `struct` over an `mmap` instead (about 0.06 s for that header, no
numpy import, nothing read beyond the key/value section): fixed-size arrays are skipped by
arithmetic, string arrays by their length prefixes, and only small arrays keep their values.
Format per the GGUF spec (llama.cpp `docs/gguf.md`): magic `GGUF`, uint32 version (2 or 3),
uint64 tensor count, uint64 key/value count, then per key a uint64-length UTF-8 name, a uint32
value type and the value; big-endian files are recognised like gguf-py does (version with zero
low 16 bits). tests/test_model_gguf.py checks it against files written by the `gguf` package.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from llmstack.errors import ModelFileError
from llmstack.model.facts import MAX_COUNT, Collector, ModelFacts, as_int, is_display_name, shown
from llmstack.model.families import FamilyInput, decide_family, norm
from llmstack.model.files import file_size, open_regular, regular
from llmstack.model.template import Template, template_facts


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


# Limits of the header reader. A GGUF file is mapped, not read, so a claimed length costs
# nothing until something walks it: every claim is checked against the file's real size and
# these caps before anything is allocated or walked. Published models stay far below them: some
# 30-60 keys, tokenizer arrays of up to ~650k strings (gpt-oss: 201k tokens + 446k merges),
# chat templates of a few 10 KB, no arrays of arrays.
MAX_KEYS = 1 << 16             # key/value entries
MAX_TENSORS = 1 << 20          # tensor infos claimed by the header (not read)
MAX_KEY_BYTES = 1 << 16        # a key's name
MAX_STRING_BYTES = 16 << 20    # one string value kept (a chat template)
MAX_KEPT_BYTES = 64 << 20      # all strings kept together
MAX_WALKED = 1 << 21           # string and array elements walked one by one, all arrays together
MAX_NESTING = 4                # arrays of arrays
MAX_SECONDS = 20.0             # the whole header (a slow disk; never reached by a real file here)


class _Corrupt(Exception):
    pass


class _Limit(Exception):
    pass


def read_gguf_metadata(path: Path, *, quick: bool = False) -> dict[str, Any]:
    """The key/value header of a GGUF file, without reading tensor data.

    Values: int/float/bool/str for scalars, `GgufArray` for arrays. `quick` stops at the first
    `tokenizer.*` key (enough to tell a model from a projector). Raises ModelFileError when the
    file is not a regular, readable GGUF file or its header goes beyond the limits above.
    """
    path = Path(path)
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size < 24:
            raise _Corrupt(f"{size} bytes is too short for a GGUF header")
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
            return _Header(data, size).parse(quick)
    except _Limit as exc:
        raise ModelFileError(
            f"{path}: {exc}, beyond what llmstack reads of a GGUF header; "
            "re-download it or convert the model again"
        ) from None
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
    finally:
        os.close(fd)


class _Header:
    """One pass over the key/value section, within the limits."""

    def __init__(self, data: Any, size: int) -> None:
        self.data, self.size = data, size
        self.order = "<"
        self.kept = 0
        self.walked = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def u64(self, at: int) -> int:
        return int(struct.unpack_from(self.order + "Q", self.data, at)[0])

    def fits(self, at: int, length: int, what: str) -> int:
        """The end of `length` bytes at `at`, when the file holds them."""
        end = at + length
        if end > self.size:
            raise _Corrupt(f"{what} runs past the end of the file")
        return end

    def walk(self, count: int) -> None:
        self.walked += count
        if self.walked > MAX_WALKED:
            raise _Limit(f"its arrays hold more than {MAX_WALKED:,} elements")
        if time.monotonic() > self.deadline:
            raise _Limit(f"reading its header took more than {MAX_SECONDS:.0f} s")

    def string(self, at: int, limit: int = MAX_STRING_BYTES) -> tuple[str, int]:
        length = self.u64(at)
        end = self.fits(at + 8, length, "a string")
        if length > limit:
            raise _Limit(f"it claims a string of {length:,} bytes (more than {limit:,})")
        self.kept += length
        if self.kept > MAX_KEPT_BYTES:
            raise _Limit(f"its strings hold more than {MAX_KEPT_BYTES:,} bytes")
        return bytes(self.data[at + 8:end]).decode("utf-8", errors="replace"), end

    def value(self, kind: int, at: int, depth: int = 0) -> tuple[Any, int]:
        if kind == GGUF_STRING:
            return self.string(at)
        if kind != GGUF_ARRAY:
            fmt = _GGUF_SCALAR.get(kind)
            if fmt is None:
                raise _Corrupt(f"unknown value type {kind}")
            end = self.fits(at, _GGUF_SIZE[kind], "a value")
            return struct.unpack_from(self.order + fmt, self.data, at)[0], end
        if depth >= MAX_NESTING:
            raise _Limit(f"its arrays nest more than {MAX_NESTING} deep")
        item, count = struct.unpack_from(self.order + "IQ", self.data, at)
        at += 12
        if item in _GGUF_SCALAR:
            end = self.fits(at, count * _GGUF_SIZE[item], "an array")
            values = None
            if count <= _KEEP_ARRAY_VALUES:
                values = struct.unpack_from(f"{self.order}{count}{_GGUF_SCALAR[item]}", self.data, at)
            return GgufArray(item, count, values), end
        if item not in (GGUF_STRING, GGUF_ARRAY):
            raise _Corrupt(f"unknown array element type {item}")
        self.fits(at, count * (8 if item == GGUF_STRING else 12), "an array")  # the smallest elements
        self.walk(count)
        if item == GGUF_STRING and count <= _KEEP_STRING_VALUES:
            kept = []
            for _ in range(count):
                text, at = self.string(at)
                kept.append(text)
            return GgufArray(item, count, tuple(kept)), at
        if item == GGUF_ARRAY:
            for _ in range(count):
                _, at = self.value(GGUF_ARRAY, at, depth + 1)
            return GgufArray(item, count, None), at
        u64, data, size = struct.Struct(self.order + "Q").unpack_from, self.data, self.size
        for number in range(count):  # skipped: only the count is kept
            at += 8 + u64(data, at)[0]
            if at > size:
                raise _Corrupt("a string runs past the end of the file")
            if not number & 0xFFFF:
                self.walk(0)
        return GgufArray(item, count, None), at

    def parse(self, quick: bool) -> dict[str, Any]:
        data = self.data
        if data[:4] != b"GGUF":
            raise _Corrupt("it does not start with the GGUF magic")
        (version,) = struct.unpack_from("<I", data, 4)
        if version & 0xFFFF == 0:  # written on a machine of the other byte order
            self.order = ">"
            (version,) = struct.unpack_from(">I", data, 4)
        if version not in (2, 3):
            raise _Corrupt(f"GGUF version {version} is not supported (2 and 3 are)")
        tensor_count, kv_count = struct.unpack_from(self.order + "QQ", data, 8)
        if kv_count * 13 > self.size:  # every entry takes at least 13 bytes
            raise _Corrupt(f"it claims {kv_count} metadata entries")
        if kv_count > MAX_KEYS:
            raise _Limit(f"it claims {kv_count:,} metadata entries (more than {MAX_KEYS:,})")
        if tensor_count > MAX_TENSORS:
            raise _Limit(f"it claims {tensor_count:,} tensors (more than {MAX_TENSORS:,})")
        meta: dict[str, Any] = {"GGUF.version": version, "GGUF.tensor_count": tensor_count}
        offset = 24
        for _ in range(kv_count):
            key, offset = self.string(offset, MAX_KEY_BYTES)
            if quick and key.startswith("tokenizer."):
                break
            (kind,) = struct.unpack_from(self.order + "I", data, offset)
            meta[key], offset = self.value(kind, offset + 4)
            self.walk(0)
        return meta


def is_projector(meta: Mapping[str, Any]) -> bool:
    return meta.get("general.type") == "mmproj" or meta.get("general.architecture") == "clip"


def split_parts(path: Path) -> tuple[str, int, int] | None:
    match = _SPLIT_RE.match(path.name)
    if not match:
        return None
    return match["base"], int(match["no"]), int(match["count"])


def list_gguf(directory: Path) -> GgufListing:
    """Sort the .gguf files of a directory into models (shard sets) and vision projectors.

    Reads only the first keys of each header (cheap). Raises ModelFileError for a corrupt file.
    """
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".gguf" and regular(p))
    groups: dict[str, list[tuple[int, Path]]] = {}
    for path in files:
        parts = split_parts(path)
        key = f"{parts[0]}\0{parts[2]}" if parts else f"\0{path.name}"
        groups.setdefault(key, []).append((parts[1] if parts else 1, path))
    models: list[tuple[str, ...]] = []
    projectors: list[str] = []
    for key in sorted(groups):
        members = [p for _, p in sorted(groups[key])]
        meta = read_gguf_metadata(members[0], quick=True)
        if is_projector(meta):
            projectors.extend(p.name for p in members)
        else:
            models.append(tuple(p.name for p in members))
    return GgufListing(tuple(models), tuple(projectors))


def _gguf_int(meta: Mapping[str, Any], key: str, out: Collector, src: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, GgufArray):
        return None
    return out.count(value, f"{src}: {key}")


def _gguf_per_layer(meta: Mapping[str, Any], key: str, out: Collector,
                    src: str) -> tuple[int | None, tuple[int, ...] | None]:
    """A count that may be per layer (array): (max, per-layer values). Layers without attention
    count 0 (hybrid models)."""
    value = meta.get(key)
    if isinstance(value, GgufArray) and value.values:
        numbers = [as_int(v) for v in value.values]
        counts = tuple(n for n in numbers if n is not None and 0 <= n <= MAX_COUNT)
        if len(counts) == len(numbers) and max(counts) > 0:
            return max(counts), counts
        out.note(f"{src}: {key} holds values that are no head counts; ignored")
        return None, None
    return _gguf_int(meta, key, out, src), None


def _shards(path: Path, out: Collector) -> tuple[str, list[Path], tuple[str, int, int] | None]:
    """The model's name, its files (every shard of a split set that is there) and the split parts."""
    parts = split_parts(path)
    name = path.name[:-5] if path.name.lower().endswith(".gguf") else path.stem
    if not parts:
        return name, [path], None
    base, _, count = parts
    files = []
    for number in range(1, count + 1):
        shard = path.parent / f"{base}-{number:05d}-of-{count:05d}.gguf"
        if regular(shard):
            files.append(shard)
        else:
            out.note(f"split shard {shard.name} missing")
    return base, files or [path], parts


@dataclass
class _Reader:
    """One GGUF header being read: its keys are `{arch}.<suffix>`; every fact goes to `out`."""
    meta: dict[str, Any]
    arch: str | None
    src: str
    out: Collector

    def key(self, suffix: str) -> str:
        return f"{self.arch}.{suffix}"

    def integer(self, suffix: str) -> int | None:
        return _gguf_int(self.meta, self.key(suffix), self.out, self.src) if self.arch else None

    def fact(self, fact: str, suffix: str, what: str) -> int | None:
        value = self.integer(suffix)
        if value is None:
            absent = not self.arch or self.key(suffix) not in self.meta
            where = self.key(suffix) if self.arch else suffix
            self.out.note(f"{what} unknown: no {where} in {self.src}" if absent else f"{what} unknown")
            return None
        self.out.set(fact, value, f"{self.src}: {self.key(suffix)}")
        return value


@dataclass(frozen=True)
class _Attention:
    layers: int | None
    heads: int | None
    kv_heads: int | None
    kv_per_layer: tuple[int, ...] | None
    key_len: int | None
    value_len: int | None


def _attention(h: _Reader) -> _Attention:
    layers = h.fact("num_layers", "block_count", "layer count")
    hidden = h.fact("hidden_size", "embedding_length", "hidden size")
    heads_key, kv_key, key_key = h.key("attention.head_count"), h.key("attention.head_count_kv"), \
        h.key("attention.key_length")
    heads, _ = _gguf_per_layer(h.meta, heads_key, h.out, h.src) if h.arch else (None, None)
    h.out.set("num_attention_heads", heads, f"{h.src}: {heads_key}")
    if heads is None:
        h.out.note("attention heads unknown")
    kv_heads, kv_per_layer = _gguf_per_layer(h.meta, kv_key, h.out, h.src) if h.arch else (None, None)
    kv_origin = f"{h.src}: {kv_key}"
    if kv_heads is None and heads is not None and kv_key not in h.meta:
        kv_heads, kv_origin = heads, f"{h.src}: {heads_key} (no head_count_kv)"
    h.out.set("num_kv_heads", kv_heads, kv_origin)
    key_len, value_len = h.integer("attention.key_length"), h.integer("attention.value_length")
    head_origin = f"{h.src}: {key_key}"
    if key_len is None and hidden and heads and key_key not in h.meta:
        key_len, head_origin = hidden // heads, f"{h.src}: {h.key('embedding_length')} / {heads_key}"
    h.out.set("head_dim", key_len, head_origin)
    return _Attention(layers, heads, kv_heads, kv_per_layer, key_len, value_len or key_len)


def _vocabulary(h: _Reader) -> None:
    tokens = h.meta.get("tokenizer.ggml.tokens")
    if isinstance(tokens, GgufArray):
        h.out.set("vocab_size", tokens.length, f"{h.src}: tokenizer.ggml.tokens (length)")
    elif (size := h.integer("vocab_size")) is not None:
        h.out.set("vocab_size", size, f"{h.src}: {h.key('vocab_size')}")
    else:
        h.out.note("vocabulary size unknown")


def _weight_type(h: _Reader) -> None:
    file_type = h.meta.get("general.file_type")
    file_type = as_int(file_type) if not isinstance(file_type, GgufArray) else None
    if file_type is not None and not 0 <= file_type <= 0xFFFF:
        h.out.note(f"{h.src}: general.file_type {file_type}: no weight type; ignored")
        file_type = None
    if file_type is None:
        h.out.note(f"weight type unknown: no general.file_type in {h.src}")
        return
    type_name = GGUF_FILE_TYPES.get(file_type, f"type {file_type}")
    h.out.set("dtype", type_name, f"{h.src}: general.file_type")
    if type_name not in _UNQUANTIZED_FILE_TYPES:
        h.out.set("quantization", type_name, f"{h.src}: general.file_type")


def _kv_cache(h: _Reader, att: _Attention) -> None:
    kv_lora, rope_dim = h.integer("attention.kv_lora_rank"), h.integer("rope.dimension_count")
    if kv_lora and rope_dim and att.layers:
        h.out.set("kv_bytes_per_token", att.layers * (kv_lora + rope_dim) * 2,
                  f"{h.src}: block_count x (attention.kv_lora_rank + rope.dimension_count) x 2 bytes (MLA)")
    elif att.kv_per_layer and att.key_len:
        h.out.set("kv_bytes_per_token", sum(att.kv_per_layer) * (att.key_len + (att.value_len or att.key_len)) * 2,
                  f"{h.src}: per-layer head_count_kv x (key_length + value_length) x 2 bytes")
    elif att.layers and att.kv_heads and att.key_len:
        h.out.set("kv_bytes_per_token", att.layers * att.kv_heads * (att.key_len + (att.value_len or att.key_len)) * 2,
                  f"{h.src}: block_count x head_count_kv x (key_length + value_length) x 2 bytes")
    else:
        h.out.note("KV cache size per token unknown")
    if h.arch and att.layers:
        _gguf_layer_kinds(h.out, h.meta, h.arch, att.layers, h.src, per_layer_kv=att.kv_per_layer is not None)


def _chat_template(h: _Reader) -> Template | None:
    templates = [(k, v) for k, v in sorted(h.meta.items())
                 if (k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.")) and isinstance(v, str)]
    template = Template("\n".join(v for _, v in templates), f"{h.src}: {templates[0][0]}") if templates else None
    template_facts(h.out, template)
    return template


def _projector(out: Collector, projectors: tuple[str, ...]) -> str | None:
    if not projectors:
        out.set("vision", False, "no mmproj .gguf beside the model")
        return None
    mmproj = projectors[0]
    out.set("vision", True, f"{mmproj}: vision projector beside the model")
    if len(projectors) > 1:
        out.note(f"several vision projectors ({', '.join(projectors)}); using {mmproj}")
    return mmproj


def _family(h: _Reader, template: Template | None, context: int | None, name: str) -> None:
    general_name = h.meta.get("general.name")
    if general_name is not None and not is_display_name(general_name):
        h.out.note(f"{h.src}: general.name {shown(general_name)}: not a model name; ignored")
        general_name = None
    rope_key = h.key("rope.scaling.type")
    rope_scaling = h.out.identifier(h.meta.get(rope_key), f"{h.src}: {rope_key}", "a rope type") if h.arch else None
    family, origin = decide_family(FamilyInput(
        [(norm(h.arch), f"{h.src}: general.architecture {h.arch!r}")] if h.arch else [],
        template,
        (rope_scaling, f"{h.src}: {rope_key}") if isinstance(rope_scaling, str) else None,
        h.out.values.get("vocab_size"), context, general_name or name,
    ))
    if family:
        h.out.set("family", family, origin or "")
    else:
        h.out.note("family unknown")


def inspect_gguf(path: Path, projectors: tuple[str, ...] | None = None) -> ModelFacts:
    out = Collector()
    name, files, parts = _shards(path, out)
    first = files[0]
    meta = read_gguf_metadata(first)
    src = first.name
    arch = out.identifier(meta.get("general.architecture"), f"{src}: general.architecture", "an architecture name")
    out.set("architecture", arch, f"{src}: general.architecture")
    if "general.architecture" not in meta:
        out.note("no general.architecture in the GGUF header")
    if parts:
        split_count = _gguf_int(meta, "split.count", out, src)
        if split_count is not None and split_count != parts[2]:
            out.note(f"split.count {split_count} in {src} disagrees with the file names ({parts[2]} shards)")
    if is_projector(meta):
        out.note(f"{src} is a vision projector (mmproj), not a language model; pass the model .gguf")
        return out.facts(format="gguf", name=name, files=tuple(p.name for p in files))

    h = _Reader(meta, arch, src, out)
    context = h.fact("context_length", "context_length", "context length")
    attention = _attention(h)
    _vocabulary(h)
    _weight_type(h)
    _kv_cache(h, attention)
    sizes = [file_size(p) for p in files]
    if all(s is not None for s in sizes):
        out.set("weights_bytes", sum(s for s in sizes if s is not None), f"size of {len(files)} .gguf file(s)")
        out.set("weights_exact", True, f"size of {len(files)} .gguf file(s)")
    template = _chat_template(h)
    if projectors is None:
        projectors = _projectors_beside(path.parent, {p.name for p in files})
    mmproj = _projector(out, projectors)
    _family(h, template, context, name)
    return out.facts(format="gguf", name=name, files=tuple(p.name for p in files), mmproj=mmproj)


# llama.cpp's sliding-window patterns where the GGUF leaves `{arch}.attention.sliding_window_pattern`
# out (`load_swa_pattern(ml, N)` in src/models/<arch>.cpp of the llama.cpp vendored by
# llama-cpp-python 0.3.36): every Nth layer is full attention, the others slide. Llama 4's local
# layers are chunked (LLAMA_SWA_TYPE_CHUNKED, n_swa set to 8192, pattern 4) unless the GGUF sets
# `llama4.attention.sliding_window` to 0.
_SWA_PATTERNS = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2, "cohere2": 4, "exaone4": 4}
_LLAMA4_CHUNK = 8192


def _gguf_layer_kinds(out: Collector, meta: Mapping[str, Any], arch: str, layers: int, src: str,
                      per_layer_kv: bool) -> None:
    """Sliding-window, chunked and recurrent layers as llama.cpp reads them from the header."""
    window_key, pattern_key = f"{arch}.attention.sliding_window", f"{arch}.attention.sliding_window_pattern"
    window = _gguf_int(meta, window_key, out, src)
    window_origin = f"{src}: {window_key}"
    chunked = arch == "llama4" and not (window_key in meta and meta[window_key] == 0)
    if chunked:  # llama.cpp sets 8192 whatever the header says (models/llama4.cpp)
        window, window_origin = _LLAMA4_CHUNK, "llama.cpp's chunk size for llama4 (models/llama4.cpp)"
    if window:
        flags = _swa_flags(out, meta, pattern_key, 4 if chunked else _SWA_PATTERNS.get(arch), layers, src)
        if flags is not None:
            count, origin = flags
            if chunked:
                out.set("chunked_layers", count, origin)
                out.set("attention_chunk_size", window, window_origin)
            else:
                out.set("sliding_layers", count, origin)
                out.set("sliding_window", window, window_origin)
    if arch == "qwen3next":
        _gguf_recurrent(out, meta, arch, layers, src, per_layer_kv)


def _swa_flags(out: Collector, meta: Mapping[str, Any], key: str, default: int | None, layers: int,
               src: str) -> tuple[int, str] | None:
    """(sliding layers, origin) from the pattern key (a period, or one flag per layer) or the default."""
    value = meta.get(key)
    if isinstance(value, GgufArray) and value.values is not None and len(value.values) >= layers:
        return sum(1 for flag in value.values[:layers] if flag), f"{src}: {key} (one flag per layer)"
    period = _gguf_int(meta, key, out, src) if key in meta else default
    if not period:
        return None
    origin = f"{src}: {key}" if key in meta else f"llama.cpp's pattern for this architecture ({src} sets no {key})"
    return sum(1 for il in range(layers) if il % period < period - 1), f"{origin}: every {period}th layer full"


def _gguf_recurrent(out: Collector, meta: Mapping[str, Any], arch: str, layers: int, src: str,
                    per_layer_kv: bool) -> None:
    """Qwen3-Next: every `full_attention_interval`th layer (default 4) attends, the rest are Gated
    DeltaNet (`models/qwen3next.cpp`), with a state of (d_conv - 1) x (d_inner + 2 x groups x
    d_state) + d_state x d_inner values per layer and sequence (`llama_hparams::n_embd_r/_s`)."""
    key = f"{arch}.full_attention_interval"
    interval = _gguf_int(meta, key, out, src) or 4
    recurrent = sum(1 for il in range(layers) if (il + 1) % interval)
    origin = f"{src}: {key}" if key in meta else f"llama.cpp's full_attention_interval 4 ({src} sets no {key})"
    out.set("linear_layers", recurrent, origin)
    kv = out.values.get("kv_bytes_per_token")
    if kv and not per_layer_kv:  # the KV head count was for every layer: only the attention layers keep a cache
        out.set("kv_bytes_per_token", kv * (layers - recurrent) // layers,
                f"{out.origins['kv_bytes_per_token']}, over the {layers - recurrent} attention layers")
    conv, inner, state, groups = (_gguf_int(meta, f"{arch}.ssm.{name}", out, src)
                                  for name in ("conv_kernel", "inner_size", "state_size", "group_count"))
    if conv and inner and state and groups:
        values = (conv - 1) * (inner + 2 * groups * state) + state * inner
        out.set("linear_state_bytes", recurrent * values * 2,
                f"{src}: {arch}.ssm.* ((conv_kernel - 1) x (inner_size + 2 x group_count x state_size) + "
                f"state_size x inner_size) x 2 bytes x {recurrent} layers")
    else:
        out.note(f"linear-attention state size unknown: no {arch}.ssm.conv_kernel/inner_size/state_size/group_count")


def _projectors_beside(directory: Path, exclude: set[str]) -> tuple[str, ...]:
    found = []
    for candidate in sorted(directory.iterdir()):
        if candidate.name in exclude or candidate.suffix.lower() != ".gguf" or not candidate.is_file():
            continue  # FIFOs and devices beside the model are not read
        parts = split_parts(candidate)
        if parts and parts[1] != 1:
            continue
        try:
            meta = read_gguf_metadata(candidate, quick=True)
        except ModelFileError:
            continue  # a broken neighbour is not the model the user pointed at
        if is_projector(meta):
            found.append(candidate.name)
    return tuple(found)
