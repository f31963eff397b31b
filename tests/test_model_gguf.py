"""model.gguf: the bounded GGUF header reader, split sets, projectors and GGUF model facts."""

from __future__ import annotations

import filecmp
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gguf  # a test dependency: its absence must fail, not skip
import pytest

from llmstack.errors import ModelFileError
from llmstack.model import GGUF_FILE_TYPES, GgufArray, inspect_path, list_gguf, read_gguf_metadata
from tests.model_helpers import FAMILIES, FIXTURES, GGUF_DIR, one_line_naming


def test_gguf_fixtures_match_their_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_gguf", FIXTURES / "make_gguf_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    committed = sorted(p.relative_to(GGUF_DIR) for p in GGUF_DIR.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert committed == fresh
    for name in committed:
        assert filecmp.cmp(GGUF_DIR / name, tmp_path / name, shallow=False), f"{name} drifted: run the generator"
        assert (GGUF_DIR / name).stat().st_size < 100_000


def _gguf_files() -> list[Path]:
    return sorted(GGUF_DIR.rglob("*.gguf"))


@pytest.mark.parametrize("path", _gguf_files(), ids=lambda p: p.name)
def test_header_reader_agrees_with_gguf_reader(path: Path) -> None:
    ours = read_gguf_metadata(path)
    reader = gguf.GGUFReader(path)
    theirs = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert set(ours) - {"GGUF.version", "GGUF.tensor_count"} == set(theirs)
    assert ours["GGUF.tensor_count"] == len(reader.tensors)
    for key, field in theirs.items():
        value = ours[key]
        if isinstance(value, GgufArray):
            assert value.length == len(field.data)
            if value.values is not None:
                assert list(value.values) == pytest.approx(field.contents()) if value.type != 8 else \
                    list(value.values) == field.contents()
        elif isinstance(value, float):
            assert value == pytest.approx(field.contents())
        else:
            assert value == field.contents(), key


def test_header_reader_reads_big_endian_files(tmp_path: Path) -> None:
    path = tmp_path / "be.gguf"
    writer = gguf.GGUFWriter(path, "llama", endianess=gguf.GGUFEndian.BIG)
    writer.add_context_length(4096)
    writer.add_head_count(8)
    writer.add_token_list(["a", "b", "c"])
    writer.add_string("tokenizer.chat_template", "{{ messages }}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    meta = read_gguf_metadata(path)
    assert meta["llama.context_length"] == 4096 and meta["llama.attention.head_count"] == 8
    assert meta["tokenizer.ggml.tokens"].values == ("a", "b", "c")


def test_file_type_names_match_llama_cpp() -> None:
    for member in gguf.LlamaFileType:
        if member.name == "GUESSED":
            continue
        assert GGUF_FILE_TYPES[member.value] == member.name.split("_", 1)[1], member


def test_gguf_llama31_facts() -> None:
    path = GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"
    facts = inspect_path(path)
    assert facts.format == "gguf" and facts.architecture == "llama"
    assert facts.name == "Meta-Llama-3.1-8B-Instruct-Q4_K_M"
    assert facts.context_length == 131072
    assert (facts.num_attention_heads, facts.num_kv_heads, facts.num_layers) == (32, 8, 32)
    assert facts.head_dim == 128 and facts.hidden_size == 4096
    assert facts.kv_bytes_per_token == 131072
    assert facts.dtype == "Q4_K_M" and facts.quantization == "Q4_K_M"
    assert facts.vocab_size == 256  # the fixture's token list length (cut from 128256)
    assert facts.weights_bytes == path.stat().st_size and facts.weights_exact is True
    assert facts.files == (path.name,) and facts.mmproj is None and facts.vision is False
    assert facts.family == "llama3.1" and facts.tool_template is True and facts.thinking is False
    assert facts.origins["context_length"] == f"{path.name}: llama.context_length"
    assert facts.origins["vocab_size"] == f"{path.name}: tokenizer.ggml.tokens (length)"


@pytest.mark.parametrize("shard", [1, 2, 3])
def test_gguf_split_shard_means_the_whole_set(shard: int) -> None:
    directory = GGUF_DIR / "Qwen2.5-7B-Instruct-Q4_K_M"
    facts = inspect_path(directory / f"Qwen2.5-7B-Instruct-Q4_K_M-{shard:05d}-of-00003.gguf")
    names = tuple(f"Qwen2.5-7B-Instruct-Q4_K_M-{n:05d}-of-00003.gguf" for n in (1, 2, 3))
    assert facts.files == names
    assert facts.name == "Qwen2.5-7B-Instruct-Q4_K_M"
    assert facts.weights_bytes == sum((directory / n).stat().st_size for n in names)
    assert facts.family == "qwen2" and facts.context_length == 32768 and facts.num_kv_heads == 4
    assert facts.kv_bytes_per_token == 2 * 28 * 4 * 128 * 2
    assert facts.origins["context_length"] == f"{names[0]}: qwen2.context_length"
    assert facts.notes == ()
    assert inspect_path(directory) == facts  # the directory holds one (split) model


def test_gguf_split_with_a_missing_shard(tmp_path: Path) -> None:
    for n in (1, 3):
        name = f"Qwen2.5-7B-Instruct-Q4_K_M-{n:05d}-of-00003.gguf"
        shutil.copy(GGUF_DIR / "Qwen2.5-7B-Instruct-Q4_K_M" / name, tmp_path / name)
    facts = inspect_path(tmp_path / "Qwen2.5-7B-Instruct-Q4_K_M-00003-of-00003.gguf")
    assert len(facts.files) == 2
    assert "split shard Qwen2.5-7B-Instruct-Q4_K_M-00002-of-00003.gguf missing" in facts.notes
    assert facts.context_length == 32768


def test_gguf_model_and_projector_in_one_directory() -> None:
    directory = GGUF_DIR / "gemma-3-4b-it"
    listing = list_gguf(directory)
    assert listing.models == (("gemma-3-4b-it-Q4_K_M.gguf",),)
    assert listing.projectors == ("mmproj-gemma-3-4b-it-F16.gguf",)
    for given in (directory, directory / "gemma-3-4b-it-Q4_K_M.gguf"):
        facts = inspect_path(given)
        assert facts.files == ("gemma-3-4b-it-Q4_K_M.gguf",)
        assert facts.mmproj == "mmproj-gemma-3-4b-it-F16.gguf"
        assert facts.vision is True and facts.family == "gemma3"
        assert facts.kv_bytes_per_token == 34 * 4 * (256 + 256) * 2
        assert facts.origins["head_dim"] == "gemma-3-4b-it-Q4_K_M.gguf: gemma3.attention.key_length"


def test_projector_given_as_the_model_says_so() -> None:
    facts = inspect_path(GGUF_DIR / "gemma-3-4b-it" / "mmproj-gemma-3-4b-it-F16.gguf")
    assert facts.architecture == "clip" and facts.family is None
    assert any("vision projector" in note for note in facts.notes)


def test_directory_with_two_gguf_models_is_a_note(tmp_path: Path) -> None:
    shutil.copy(GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", tmp_path / "a-Q4_K_M.gguf")
    shutil.copy(GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", tmp_path / "a-Q8_0.gguf")
    shutil.copy(GGUF_DIR / "gemma-3-4b-it" / "mmproj-gemma-3-4b-it-F16.gguf", tmp_path / "mmproj.gguf")
    facts = inspect_path(tmp_path)
    assert facts.format == "gguf" and facts.files == ()
    assert facts.notes == ("holds 2 GGUF models (a-Q4_K_M.gguf, a-Q8_0.gguf); pass the one to serve",)


def _big_header(path: Path, tokens: int) -> None:
    writer = gguf.GGUFWriter(path, "qwen2")
    writer.add_context_length(32768)
    writer.add_block_count(28)
    writer.add_head_count(28)
    writer.add_head_count_kv(4)
    writer.add_embedding_length(3584)
    writer.add_file_type(15)
    writer.add_token_list([f"t{i}" for i in range(tokens)])
    writer.add_token_types([1] * tokens)
    writer.add_token_merges([f"a{i} b{i}" for i in range(tokens)])
    writer.add_chat_template("{{ messages }}")
    for i in range(300):
        writer.add_tensor_info(f"blk.{i}.w", [3584, 3584 // 256 * 144], gguf.np.dtype(gguf.np.uint8),
                               3584 * 3584 // 256 * 144, raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    os.truncate(path, 4_700_000_000)  # sparse: the tensor data a real 7B Q4_K_M file would hold


def test_reading_a_big_header_is_fast_and_reads_no_weights(tmp_path: Path) -> None:
    path = tmp_path / "Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    _big_header(path, tokens=152064)
    started = time.perf_counter()
    facts = inspect_path(path)
    elapsed = time.perf_counter() - started
    assert facts.vocab_size == 152064 and facts.context_length == 32768
    assert facts.weights_bytes == 4_700_000_000
    assert elapsed < 2.0, f"reading the header took {elapsed:.2f} s"


def test_inspecting_does_not_import_numpy_or_gguf() -> None:
    code = (
        "import sys; from pathlib import Path; import llmstack.model as m; "
        f"m.inspect_path(Path({str(GGUF_DIR / 'gemma-3-4b-it')!r})); "
        f"m.inspect_path(Path({str(FAMILIES / 'Qwen3-8B')!r})); "
        "print(sorted(n for n in ('numpy', 'gguf', 'pydantic', 'yaml', 'jinja2') if n in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("content", [
    b"",
    b"GGUF",
    b"not a gguf file at all, just text",
    b"GGUF\x03\x00\x00\x00" + b"\x00" * 8 + b"\xff" * 8 + b"\x00" * 64,  # absurd key count
    b"GGUF\x09\x00\x00\x00" + b"\x00" * 64,  # unknown version
])
def test_garbage_gguf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as caught:
        inspect_path(path)
    one_line_naming(caught.value, path)


def test_truncated_gguf(tmp_path: Path) -> None:
    source = (GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf").read_bytes()
    for cut in (30, 200, 1000, 3000):
        path = tmp_path / f"cut{cut}.gguf"
        path.write_bytes(source[:cut])
        with pytest.raises(ModelFileError) as caught:
            inspect_path(path)
        one_line_naming(caught.value, path)


def test_placeholder_gguf_files_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "tinyllama-q8_0.gguf"
    path.write_bytes(b"GGUF")  # what the old fixtures held: a magic and nothing else
    with pytest.raises(ModelFileError) as caught:
        inspect_path(path)
    one_line_naming(caught.value, path)
