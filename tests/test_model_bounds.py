"""Bounded readers: hostile model files end in one line naming the file (exit 2), quickly and in
little memory; numbers that are no counts never reach the plan."""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmstack.errors import ModelFileError
from llmstack.model import files, gguf, hf_snapshot, inspect_path, read_gguf_metadata
from tests.conftest import REVISION, snapshot
from tests.model_helpers import FAMILIES, GGUF_DIR, one_line_naming
from tests.test_bad_input import assert_rejected

HANG_GUARD = 5.0  # seconds: a hang guard, not a speed target (benchmarks/ holds those)


def refused(path: Path, names: Path | None = None) -> ModelFileError:
    """inspect_path(path) refuses in one line naming `names` (default: path), well within the hang guard."""
    started = time.monotonic()
    with pytest.raises(ModelFileError) as caught:
        inspect_path(path)
    assert time.monotonic() - started < HANG_GUARD
    one_line_naming(caught.value, names or path)
    return caught.value


# ---------------------------------------------------------------------------------------------
# GGUF files written byte by byte (the gguf package cannot write hostile headers)
# ---------------------------------------------------------------------------------------------

def _str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_u32(key: str, value: int) -> bytes:
    return _str(key) + struct.pack("<II", 4, value)


def kv_i32(key: str, value: int) -> bytes:
    return _str(key) + struct.pack("<Ii", 5, value)


def kv_f32(key: str, value: float) -> bytes:
    return _str(key) + struct.pack("<If", 6, value)


def kv_string(key: str, value: str | bytes) -> bytes:
    return _str(key) + struct.pack("<I", 8) + _str(value)


def write_gguf(path: Path, entries: list[bytes], *, kv_count: int | None = None, tensors: int = 0,
               size: int | None = None) -> Path:
    """A GGUF v3 header holding `entries`; `size` makes it a sparse file of that many bytes."""
    count = len(entries) if kv_count is None else kv_count
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, tensors, count) + b"".join(entries))
    if size is not None:
        os.truncate(path, size)
    return path


LLAMA = [kv_string("general.architecture", "llama"), kv_u32("llama.context_length", 8192),
         kv_u32("llama.block_count", 32), kv_u32("llama.embedding_length", 4096)]


@pytest.fixture
def bounded_memory() -> Iterator[None]:
    """Python allocations while the block runs stay small (the file itself is mapped, not read)."""
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MiB"
    finally:
        tracemalloc.stop()


TB = 1 << 40


@pytest.mark.parametrize("case, entries, kwargs, message", [
    ("a billion keys", LLAMA, {"kv_count": 10**9}, "claims 1,000,000,000 metadata entries (more than 65,536)"),
    ("a trillion tensors", LLAMA, {"tensors": 10**12}, "claims 1,000,000,000,000 tensors"),
    ("a string array of 10**10 strings",
     [*LLAMA, _str("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 10**10)], {},
     "its arrays hold more than 2,097,152 elements"),
    ("a 100 GB key", [struct.pack("<Q", 10**11)], {}, "claims a string of 100,000,000,000 bytes (more than 65,536)"),
    ("a 100 GB chat template", [*LLAMA, _str("tokenizer.chat_template") + struct.pack("<IQ", 8, 10**11)], {},
     "claims a string of 100,000,000,000 bytes (more than 16,777,216)"),
    ("an array of 10**9 arrays", [_str("x") + struct.pack("<IIQ", 9, 9, 10**9)], {},
     "its arrays hold more than 2,097,152 elements"),
])
def test_a_sparse_gguf_claiming_huge_counts_is_refused_fast(tmp_path: Path, bounded_memory: None, case: str,
                                                            entries: list[bytes], kwargs: dict, message: str) -> None:
    path = write_gguf(tmp_path / "model.gguf", entries, size=TB, **kwargs)
    error = refused(path)
    assert message in str(error), str(error)
    assert "beyond what llmstack reads of a GGUF header" in str(error)


def test_the_total_of_all_arrays_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many arrays, each under the limit, add up: the limit is on their total."""
    monkeypatch.setattr(gguf, "MAX_WALKED", 1000)
    arrays = [_str(f"a{i}") + struct.pack("<IIQ", 9, 8, 400) + _str(b"") * 400 for i in range(3)]
    error = refused(write_gguf(tmp_path / "model.gguf", [*LLAMA, *arrays]))
    assert "its arrays hold more than 1,000 elements" in str(error)


def test_reading_a_header_has_a_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf, "MAX_SECONDS", -1.0)
    error = refused(write_gguf(tmp_path / "model.gguf", LLAMA))
    assert "reading its header took more than" in str(error)


def test_a_deeply_nested_gguf_array_is_refused(tmp_path: Path) -> None:
    nested = _str("deep") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 100_000 + struct.pack("<IQ", 4, 0)
    error = refused(write_gguf(tmp_path / "model.gguf", [*LLAMA, nested]))
    assert "its arrays nest more than 4 deep" in str(error)


def test_shallow_nested_arrays_are_still_read(tmp_path: Path) -> None:
    nested = _str("pairs") + struct.pack("<IIQ", 9, 9, 2) + (struct.pack("<IQ", 4, 2) + struct.pack("<II", 1, 2)) * 2
    meta = read_gguf_metadata(write_gguf(tmp_path / "model.gguf", [*LLAMA, nested]))
    assert meta["pairs"].length == 2 and meta["llama.context_length"] == 8192


# ---------------------------------------------------------------------------------------------
# What a path is: FIFOs, devices, directories under a file's name
# ---------------------------------------------------------------------------------------------

def test_a_fifo_named_gguf_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    assert "a FIFO (named pipe), not a regular file" in str(refused(fifo))
    with pytest.raises(ModelFileError, match="FIFO"):
        read_gguf_metadata(fifo)


def test_dev_zero_is_refused(tmp_path: Path) -> None:
    assert "a character device" in str(refused(Path("/dev/zero")))
    link = tmp_path / "model.gguf"
    link.symlink_to("/dev/zero")
    assert "a character device" in str(refused(link))


def test_a_directory_named_gguf_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "model.gguf"
    directory.mkdir()
    shutil.copy(GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", directory / "inner.gguf")
    assert "a directory, not a regular file" in str(refused(directory))


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json", "chat_template.jinja",
                                  "model.safetensors.index.json", "other.gguf"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_a_model_directory_entry_that_is_no_file_is_refused(tmp_path: Path, name: str, kind: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(FAMILIES / "Qwen3-8B" / "config.json", model / "config.json")
    entry = model / name
    entry.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(entry)
    elif kind == "dev-zero":
        entry.symlink_to("/dev/zero")
    else:
        entry.mkdir()
    if name == "other.gguf":
        (model / "config.json").unlink()
    refused(model, entry)


def test_a_fifo_beside_a_gguf_model_is_not_read(tmp_path: Path) -> None:
    model = shutil.copy(GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", tmp_path / "model.gguf")
    os.mkfifo(tmp_path / "mmproj.gguf")
    assert inspect_path(Path(model)).mmproj is None


def test_a_fifo_as_refs_main_does_not_block(tmp_path: Path, hf_cache: Path) -> None:
    repo = hf_cache / "models--Qwen--Qwen2.5-7B-Instruct"
    (repo / "refs" / "main").unlink()
    os.mkfifo(repo / "refs" / "main")
    started = time.monotonic()
    found = hf_snapshot(repo / "snapshots" / REVISION)
    assert time.monotonic() - started < HANG_GUARD
    assert found is not None and found.ref is None


# ---------------------------------------------------------------------------------------------
# JSON: depth, values, numbers, bytes
# ---------------------------------------------------------------------------------------------

def _config_dir(tmp_path: Path, text: str, name: str = "config.json") -> Path:
    model = tmp_path / "model"
    model.mkdir()
    if name != "config.json":
        shutil.copy(FAMILIES / "Qwen3-8B" / "config.json", model / "config.json")
    (model / name).write_text(text)
    return model


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json"])
def test_a_100k_deep_json_file_is_refused(tmp_path: Path, name: str) -> None:
    model = _config_dir(tmp_path, '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", name)
    assert "nested deeper than 64 levels" in str(refused(model, model / name))


def test_deep_brackets_inside_strings_do_not_count(tmp_path: Path) -> None:
    config = json.loads((FAMILIES / "Qwen3-8B" / "config.json").read_text())
    config["note"] = "[" * 10_000 + '\\"{' * 1000
    model = _config_dir(tmp_path, json.dumps(config))
    assert inspect_path(model).num_layers == 36


def test_a_5000_digit_number_is_refused(tmp_path: Path) -> None:
    model = _config_dir(tmp_path, '{"model_type": "qwen2", "max_position_embeddings": ' + "9" * 5000 + "}")
    assert "a number of 5,000 characters (more than 64)" in str(refused(model, model / "config.json"))


def test_a_5000_digit_float_is_refused(tmp_path: Path) -> None:
    model = _config_dir(tmp_path, '{"rope_theta": 0.' + "1" * 5000 + "}")
    assert "a number of 5,002 characters" in str(refused(model, model / "config.json"))


def test_too_many_json_values_are_refused(tmp_path: Path) -> None:
    model = _config_dir(tmp_path, '{"model_type": "qwen2", "x": [' + "0," * (1 << 21) + "0]}")
    assert "more than 2,097,152 values" in str(refused(model, model / "config.json"))


def test_a_json_file_over_the_byte_limit_is_refused(tmp_path: Path, bounded_memory: None) -> None:
    model = _config_dir(tmp_path, "{}")
    os.truncate(model / "config.json", 1 << 30)
    assert "larger than 32 MiB" in str(refused(model, model / "config.json"))


def test_a_chat_template_over_the_byte_limit_is_refused(tmp_path: Path) -> None:
    model = _config_dir(tmp_path, "x", "chat_template.jinja")
    os.truncate(model / "chat_template.jinja", files.MAX_TEXT_BYTES + 1)
    assert "larger than 16 MiB" in str(refused(model, model / "chat_template.jinja"))


# ---------------------------------------------------------------------------------------------
# Numbers that are no counts: ignored with a note, never used
# ---------------------------------------------------------------------------------------------

QWEN = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "max_position_embeddings": 32768,
        "num_attention_heads": 28, "num_key_value_heads": 4, "num_hidden_layers": 28, "hidden_size": 3584,
        "vocab_size": 152064, "intermediate_size": 18944}


@pytest.mark.parametrize("key, value", [
    ("num_attention_heads", -28), ("num_key_value_heads", -4), ("num_hidden_layers", "28"),
    ("hidden_size", 3584.5), ("max_position_embeddings", 1e300), ("max_position_embeddings", -1),
    ("vocab_size", True), ("num_key_value_heads", [4, 4]), ("head_dim", -128),
])
def test_a_bad_count_in_config_json_is_ignored_with_a_note(tmp_path: Path, key: str, value: object) -> None:
    model = _config_dir(tmp_path, json.dumps({**QWEN, key: value}))
    facts = inspect_path(model)
    notes = [n for n in facts.notes if n.startswith(f"config.json: {key} ")]
    assert len(notes) == 1 and notes[0].endswith("; ignored"), facts.notes
    numbers = [facts.context_length, facts.num_attention_heads, facts.num_kv_heads, facts.num_layers,
               facts.hidden_size, facts.head_dim, facts.vocab_size, facts.kv_bytes_per_token, facts.weights_bytes]
    assert all(n is None or (isinstance(n, int) and 0 < n < 10**15) for n in numbers), numbers
    if key in ("num_key_value_heads", "head_dim"):  # no fallback from a value that is there but wrong
        assert facts.kv_bytes_per_token is None


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_config_json_are_ignored(tmp_path: Path, constant: str) -> None:
    text = json.dumps(QWEN).replace('"num_attention_heads": 28', f'"num_attention_heads": {constant}')
    facts = inspect_path(_config_dir(tmp_path, text))
    assert facts.num_attention_heads is None
    assert any(n.startswith("config.json: num_attention_heads ") for n in facts.notes), facts.notes


def test_a_bad_total_size_in_an_index_is_ignored(tmp_path: Path) -> None:
    model = _config_dir(tmp_path, json.dumps(QWEN))
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": -5}, "weight_map": {}}))
    facts = inspect_path(model)
    assert facts.weights_exact is False and facts.weights_bytes and facts.weights_bytes > 0  # the estimate
    assert "model.safetensors.index.json: metadata.total_size -5: not a whole number from 1 to " \
           "1,125,899,906,842,624; ignored" in facts.notes


def test_shard_names_in_an_index_are_only_looked_up(tmp_path: Path) -> None:
    model = _config_dir(tmp_path, json.dumps(QWEN))
    (model / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 1000}, "weight_map": {"a": "x\u0000y.safetensors", "b": "../../../../../x"}}))
    facts = inspect_path(model)
    assert facts.weights_bytes == 1000
    assert "weights not all downloaded (0 of 2 shard files present)" in facts.notes


def test_bad_quantization_bits_are_ignored(tmp_path: Path) -> None:
    config = {**QWEN, "quantization_config": {"quant_method": "gptq", "bits": -4}}
    facts = inspect_path(_config_dir(tmp_path, json.dumps(config)))
    assert facts.weights_bytes and facts.weights_bytes > 0
    assert any(n.startswith("config.json: quantization_config.bits -4") for n in facts.notes)


@pytest.mark.parametrize("entry, key", [
    (kv_i32("llama.attention.head_count", -32), "llama.attention.head_count"),
    (kv_f32("llama.context_length", float("nan")), "llama.context_length"),
    (kv_f32("llama.context_length", float("inf")), "llama.context_length"),
    (kv_i32("llama.attention.key_length", -128), "llama.attention.key_length"),
    (_str("llama.attention.head_count_kv") + struct.pack("<IIQ", 9, 5, 2) + struct.pack("<ii", 8, -8),
     "llama.attention.head_count_kv"),
    (_str("llama.attention.head_count_kv") + struct.pack("<IIQ", 9, 6, 2) + struct.pack("<ff", 8, float("nan")),
     "llama.attention.head_count_kv"),
])
def test_a_bad_count_in_a_gguf_header_is_ignored_with_a_note(tmp_path: Path, entry: bytes, key: str) -> None:
    entries = [e for e in [*LLAMA, kv_u32("llama.attention.head_count", 32)] if not e.startswith(_str(key))]
    facts = inspect_path(write_gguf(tmp_path / "model.gguf", [*entries, entry]))
    assert any(n.startswith(f"model.gguf: {key}") and n.endswith("ignored") for n in facts.notes), facts.notes
    numbers = [facts.context_length, facts.num_attention_heads, facts.num_kv_heads, facts.head_dim,
               facts.kv_bytes_per_token]
    assert all(n is None or n > 0 for n in numbers), numbers


def test_bad_counts_in_a_trtllm_engine_config_are_ignored(tmp_path: Path) -> None:
    engine = tmp_path / "engine"
    engine.mkdir()
    (engine / "rank0.engine").write_bytes(b"x")
    (engine / "config.json").write_text(json.dumps({
        "pretrained_config": {"architecture": "LlamaForCausalLM", "num_attention_heads": "32", "num_hidden_layers": -1,
                              "hidden_size": 4096, "dtype": ["x"], "mapping": {"tp_size": -2}},
        "build_config": {"max_seq_len": float("inf")}}).replace("Infinity", "1e999"))
    facts = inspect_path(engine)
    assert facts.num_attention_heads is None and facts.num_layers is None and facts.tp_size is None
    assert facts.dtype is None and facts.context_length is None and facts.hidden_size == 4096
    assert "config.json: pretrained_config.mapping.tp_size -2: not a whole number from 1 to 2,147,483,647; ignored" \
        in facts.notes


# ---------------------------------------------------------------------------------------------
# Through the CLI: one line, exit 2, nothing written
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hostile files outside the working directory (whose snapshot must stay unchanged)."""
    root = tmp_path_factory.mktemp("hostile")
    os.mkfifo(root / "fifo.gguf")
    write_gguf(root / "sparse.gguf", LLAMA, kv_count=10**9, size=TB)
    (root / "deep").mkdir()
    (root / "deep" / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "digits").mkdir()
    (root / "digits" / "config.json").write_text('{"vocab_size": ' + "1" * 5000 + "}")
    (root / "dir.gguf").mkdir()
    return root


@pytest.mark.parametrize("target, expected", [
    ("fifo.gguf", "fifo.gguf: a FIFO (named pipe), not a regular file"),
    ("sparse.gguf", "sparse.gguf: it claims 1,000,000,000 metadata entries"),
    ("deep", "config.json: nested deeper than 64 levels"),
    ("digits", "config.json: a number of 5,000 characters"),
    ("dir.gguf", "dir.gguf: a directory, not a regular file"),
    ("/dev/zero", "/dev/zero: a character device, not a regular file"),
])
def test_hostile_model_files_through_render(cli, workdir: Path, hostile: Path, target: str, expected: str) -> None:
    model = target if target.startswith("/") else str(hostile / target)
    before = snapshot(workdir)
    started = time.monotonic()
    result = cli("render", "--model", model)
    assert time.monotonic() - started < HANG_GUARD * 4  # the whole CLI, imports included
    assert_rejected(result, expected, before, workdir)
