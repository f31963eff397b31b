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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from llmstack.errors import ModelFileError
from llmstack.model.facts import Collector, ModelFacts, as_int
from llmstack.model.families import FamilyInput, decide_family, norm
from llmstack.model.files import file_size
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
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
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


def _gguf_int(meta: Mapping[str, Any], key: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, GgufArray):
        return None
    return as_int(value)


def _gguf_per_layer(meta: Mapping[str, Any], key: str) -> tuple[int | None, tuple[int, ...] | None]:
    """A count that may be per layer (array): (max, per-layer values)."""
    value = meta.get(key)
    if isinstance(value, GgufArray) and value.values:
        numbers = tuple(int(v) for v in value.values)
        return max(numbers), numbers
    return as_int(value), None


def inspect_gguf(path: Path, projectors: tuple[str, ...] | None = None) -> ModelFacts:
    directory = path.parent
    parts = split_parts(path)
    out = Collector()
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

    if is_projector(meta):
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

    sizes = [file_size(p) for p in files]
    if all(s is not None for s in sizes):
        out.set("weights_bytes", sum(s for s in sizes if s is not None), f"size of {len(files)} .gguf file(s)")
        out.set("weights_exact", True, f"size of {len(files)} .gguf file(s)")

    templates = [(k, v) for k, v in sorted(meta.items())
                 if (k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.")) and isinstance(v, str)]
    template = None
    if templates:
        template = Template("\n".join(v for _, v in templates), f"{src}: {templates[0][0]}")
    template_facts(out, template)

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
    family, origin = decide_family(FamilyInput(
        [(norm(arch), f"{src}: general.architecture {arch!r}")] if arch else [],
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
