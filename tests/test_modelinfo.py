"""modelinfo: facts read from config.json, the HF cache, GGUF headers and TRT-LLM engines."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from llmstack import modelinfo
from llmstack.modelinfo import (
    GgufArray,
    ModelFacts,
    ModelFileError,
    facts_from_dict,
    facts_to_dict,
    family_from_name,
    hf_snapshot,
    inspect_hub_id,
    inspect_path,
    list_gguf,
    read_gguf_metadata,
)
from tests.conftest import REVISION

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODELS = FIXTURES / "models"
FAMILIES = MODELS / "families"
GGUF_DIR = MODELS / "gguf"

import gguf  # noqa: E402  (a test dependency: its absence must fail, not skip)

# directory -> (family, context, heads, kv heads, layers, vision, thinking, tool template)
EXPECTED = {
    "Qwen2.5-7B-Instruct": ("qwen2", 32768, 28, 4, 28, False, False, True),
    "prod-chat": ("qwen2", 32768, 28, 4, 28, False, False, True),
    "QwQ-32B": ("qwen2", 131072, 40, 8, 64, False, True, True),
    "Qwen3-8B": ("qwen3", 40960, 32, 8, 36, False, True, True),
    "Qwen3-Coder-30B-A3B-Instruct": ("qwen3-coder", 262144, 32, 4, 48, False, False, True),
    "Meta-Llama-3-8B-Instruct": ("llama3", 8192, 32, 8, 32, False, False, False),
    "Llama-3.1-8B-Instruct": ("llama3.1", 131072, 32, 8, 32, False, False, True),
    "Llama-3.1-70B-Instruct": ("llama3.1", 131072, 64, 8, 80, False, None, None),
    "Llama-4-Scout-17B-16E-Instruct": ("llama4", 10485760, 40, 8, 48, True, False, True),
    "Mistral-7B-Instruct-v0.3": ("mistral", 32768, 32, 8, 32, False, False, True),
    "GLM-4.5-Air": ("glm45", 131072, 96, 8, 46, False, True, True),
    "GLM-4.7": ("glm47", 202752, 96, 8, 92, False, True, True),
    "DeepSeek-V3": ("deepseek-v3", 163840, 128, 128, 61, False, False, True),
    "DeepSeek-V3.1": ("deepseek-v31", 163840, 128, 128, 61, False, True, True),
    "DeepSeek-R1": ("deepseek-r1", 163840, 128, 128, 61, False, True, True),
    "DeepSeek-R1-Distill-Qwen-7B": ("deepseek-r1", 131072, 28, 4, 28, False, True, True),
    "gpt-oss-20b": ("gpt-oss", 131072, 64, 8, 24, False, True, True),
    "Kimi-K2-Instruct": ("kimi-k2", 131072, 64, 64, 61, False, False, True),
    "granite-3.3-8b-instruct": ("granite", 131072, 32, 8, 40, False, True, True),
    "Hermes-3-Llama-3.1-8B": ("hermes", 131072, 32, 8, 32, False, False, True),
    "gemma-3-27b-it": ("gemma3", 131072, 32, 16, 62, True, False, False),
    "Qwen2.5-VL-7B-Instruct": ("qwen2", 128000, 28, 4, 28, True, False, False),
}


@pytest.mark.parametrize("directory", sorted(EXPECTED))
def test_family_fixture_facts(directory: str) -> None:
    facts = inspect_path(FAMILIES / directory)
    family, context, heads, kv_heads, layers, vision, thinking, tools = EXPECTED[directory]
    assert facts.format == "hf"
    assert facts.name == directory
    assert facts.family == family, facts.origins.get("family")
    assert "guessed from the name" not in facts.origins["family"]
    assert facts.context_length == context
    assert facts.num_attention_heads == heads
    assert facts.num_kv_heads == kv_heads
    assert facts.num_layers == layers
    assert facts.vision is vision
    assert facts.thinking is thinking
    assert facts.tool_template is tools
    assert facts.kv_bytes_per_token and facts.kv_bytes_per_token > 0
    assert facts.weights_bytes and facts.weights_bytes > 0
    for name in ("context_length", "num_attention_heads", "num_layers", "family", "kv_bytes_per_token",
                 "weights_bytes"):
        assert facts.origins[name]
        assert "/" not in facts.origins[name].split(":")[0], "origins name files relative to the model"


def test_every_family_key_has_a_fixture() -> None:
    covered = {expected[0] for expected in EXPECTED.values()}
    assert set(modelinfo.FAMILIES) - covered == {"phi", "other"}


def test_neutral_name_takes_the_family_from_config_json() -> None:
    facts = inspect_path(FAMILIES / "prod-chat")
    assert facts.family == "qwen2"
    assert facts.origins["family"] == "config.json: model_type 'qwen2'"
    assert facts.name == "prod-chat"


def test_template_hints_behind_the_family() -> None:
    assert "<function=" in inspect_path(FAMILIES / "Qwen3-Coder-30B-A3B-Instruct").origins["family"]
    assert "rope_scaling.rope_type 'llama3'" in inspect_path(FAMILIES / "Llama-3.1-8B-Instruct").origins["family"]
    llama3 = inspect_path(FAMILIES / "Meta-Llama-3-8B-Instruct")
    assert "no llama3 rope scaling" in llama3.origins["family"]
    qwq = inspect_path(FAMILIES / "QwQ-32B")
    assert qwq.origins["thinking"] == "tokenizer_config.json: chat_template (handles <think>)"
    gpt_oss = inspect_path(FAMILIES / "gpt-oss-20b")
    assert gpt_oss.origins["thinking"] == "chat_template.jinja (harmony analysis channel)"
    vl = inspect_path(FAMILIES / "Qwen2.5-VL-7B-Instruct")
    assert vl.origins["vision"] == "config.json: vision_config"
    assert vl.origins["thinking"].startswith("chat_template.json")


def test_vision_language_wrappers_read_text_config() -> None:
    gemma = inspect_path(FAMILIES / "gemma-3-27b-it")
    assert gemma.num_layers == 62 and gemma.head_dim == 128
    assert gemma.origins["num_layers"] == "config.json: text_config.num_hidden_layers"
    assert gemma.origins["context_length"].startswith("transformers default for gemma3_text")
    assert gemma.model_type == "gemma3" and gemma.dtype == "bfloat16"
    scout = inspect_path(FAMILIES / "Llama-4-Scout-17B-16E-Instruct")
    assert scout.origins["context_length"] == "config.json: text_config.max_position_embeddings"
    assert scout.vocab_size == 202048


def test_kv_cache_bytes_per_token() -> None:
    kv = {d: inspect_path(FAMILIES / d).kv_bytes_per_token for d in (
        "Llama-3.1-8B-Instruct", "Llama-3.1-70B-Instruct", "Qwen2.5-7B-Instruct", "DeepSeek-V3", "Kimi-K2-Instruct",
        "gemma-3-27b-it", "gpt-oss-20b", "Qwen3-8B")}
    assert kv["Llama-3.1-8B-Instruct"] == 2 * 32 * 8 * 128 * 2 == 131072
    assert kv["Llama-3.1-70B-Instruct"] == 2 * 80 * 8 * 128 * 2
    assert kv["Qwen2.5-7B-Instruct"] == 2 * 28 * 4 * 128 * 2
    assert kv["DeepSeek-V3"] == 61 * (512 + 64) * 2 == 70272  # MLA latent, not 128 heads x 192
    assert kv["Kimi-K2-Instruct"] == 70272
    assert kv["gemma-3-27b-it"] == 2 * 62 * 16 * 128 * 2
    assert kv["gpt-oss-20b"] == 2 * 24 * 8 * 64 * 2
    assert kv["Qwen3-8B"] == 2 * 36 * 8 * 128 * 2
    assert "MLA" in inspect_path(FAMILIES / "DeepSeek-V3").origins["kv_bytes_per_token"]


def test_linear_attention_layers_hold_no_kv(tmp_path: Path) -> None:
    config = {"architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "num_hidden_layers": 4,
              "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256, "hidden_size": 2048,
              "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    facts = inspect_path(tmp_path)
    assert facts.kv_bytes_per_token == 2 * 1 * 2 * 256 * 2
    assert facts.family == "qwen3"


GB = 1_000_000_000


@pytest.mark.parametrize("directory, low, high", [
    ("Llama-3.1-8B-Instruct", 15 * GB, 17 * GB),      # 8.03 B parameters x 2 bytes
    ("Qwen2.5-7B-Instruct", 14 * GB, 16 * GB),        # 7.6 B
    ("Qwen3-Coder-30B-A3B-Instruct", 55 * GB, 65 * GB),  # 30.5 B, MoE
    ("gpt-oss-20b", 11 * GB, 16 * GB),                # 21 B with mxfp4 experts: 12.8 GiB published
    ("DeepSeek-V3", 600 * GB, 720 * GB),              # 671 B fp8 (+ 16-bit embeddings)
    ("Kimi-K2-Instruct", 950 * GB, 1100 * GB),        # 1 T fp8
    ("Llama-4-Scout-17B-16E-Instruct", 200 * GB, 225 * GB),  # 109 B bf16 (text part)
    ("GLM-4.5-Air", 200 * GB, 225 * GB),              # 106 B bf16
    ("gemma-3-27b-it", 50 * GB, 58 * GB),             # 27 B bf16 (text part)
])
def test_weight_estimates_within_sane_bounds(directory: str, low: int, high: int) -> None:
    facts = inspect_path(FAMILIES / directory)
    assert facts.weights_exact is False
    assert low <= facts.weights_bytes <= high, facts.origins["weights_bytes"]
    assert facts.origins["weights_bytes"].startswith("estimated:")
    assert "weight size estimated from config.json (no weight files present)" in facts.notes


def test_70b_index_total_size_is_exact() -> None:
    facts = inspect_path(FAMILIES / "Llama-3.1-70B-Instruct")
    assert facts.weights_bytes == 141107412992
    assert facts.weights_exact is True
    assert facts.origins["weights_bytes"] == "model.safetensors.index.json: metadata.total_size"
    assert "weights not all downloaded (0 of 30 shard files present)" in facts.notes


def test_weight_files_are_summed(tmp_path: Path) -> None:
    shutil.copy(FAMILIES / "Qwen2.5-7B-Instruct" / "config.json", tmp_path / "config.json")
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"x" * 1000)
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"x" * 500)
    (tmp_path / "pytorch_model.bin").write_bytes(b"x" * 9999)  # a .bin copy is not counted twice
    (tmp_path / "training_args.bin").write_bytes(b"x" * 7)
    facts = inspect_path(tmp_path)
    assert facts.weights_bytes == 1500 and facts.weights_exact is True
    assert facts.origins["weights_bytes"] == "sum of 2 *.safetensors file(s)"


# ---------------------------------------------------------------------------------------------
# Hugging Face cache
# ---------------------------------------------------------------------------------------------

def test_hf_snapshot_layout(hf_cache: Path) -> None:
    repo = hf_cache / "models--Qwen--Qwen2.5-7B-Instruct"
    snap = hf_snapshot(repo / "snapshots" / REVISION)
    assert snap is not None
    assert snap.hub_id == "Qwen/Qwen2.5-7B-Instruct"
    assert snap.repo_root == repo
    assert snap.revision == REVISION and snap.ref == "main"
    assert hf_snapshot(repo) == snap
    assert inspect_path(repo) == inspect_path(repo / "snapshots" / REVISION)
    assert hf_snapshot(FAMILIES / "Qwen2.5-7B-Instruct") is None


def test_snapshot_directory_is_inspected_through_symlinks(hf_cache: Path) -> None:
    facts = inspect_path(hf_cache / "models--Qwen--Qwen2.5-7B-Instruct" / "snapshots" / REVISION)
    assert facts.name == "Qwen/Qwen2.5-7B-Instruct"
    assert facts.family == "qwen2" and facts.context_length == 32768 and facts.tool_template is True
    assert facts.weights_bytes == 4096 and facts.weights_exact is True
    assert facts.origins["context_length"] == "config.json: max_position_embeddings"


@pytest.mark.parametrize("variable", ["HF_HUB_CACHE", "HF_HOME"])
def test_hub_id_found_in_the_local_cache(hf_cache: Path, variable: str) -> None:
    env = {"HF_HUB_CACHE": str(hf_cache)} if variable == "HF_HUB_CACHE" else {"HF_HOME": str(hf_cache.parent)}
    facts = inspect_hub_id("Qwen/Qwen2.5-7B-Instruct", env=env)
    assert facts.format == "hf" and facts.name == "Qwen/Qwen2.5-7B-Instruct"
    assert facts.family == "qwen2" and facts.num_kv_heads == 4


def test_hub_id_cache_falls_back_to_home(tmp_path: Path) -> None:
    assert modelinfo.hf_cache_dir({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "huggingface" / "hub"
    assert modelinfo.hf_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "huggingface" / "hub"


def test_hub_id_missing_from_the_cache_is_guessed_from_the_name(tmp_path: Path) -> None:
    facts = inspect_hub_id("meta-llama/Llama-3.1-8B-Instruct", env={"HF_HUB_CACHE": str(tmp_path)})
    assert facts.format == "unknown"
    assert facts.family == "llama3.1"
    assert facts.origins["family"] == "guessed from the name 'meta-llama/Llama-3.1-8B-Instruct'"
    assert facts.context_length is None
    assert any("not in the local Hugging Face cache" in note for note in facts.notes)


# ---------------------------------------------------------------------------------------------
# GGUF
# ---------------------------------------------------------------------------------------------

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
        assert modelinfo.GGUF_FILE_TYPES[member.value] == member.name.split("_", 1)[1], member


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
        "import sys; from pathlib import Path; import llmstack.modelinfo as m; "
        f"m.inspect_path(Path({str(GGUF_DIR / 'gemma-3-4b-it')!r})); "
        f"m.inspect_path(Path({str(FAMILIES / 'Qwen3-8B')!r})); "
        "print(sorted(n for n in ('numpy', 'gguf', 'pydantic', 'yaml', 'jinja2') if n in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# TensorRT-LLM engines
# ---------------------------------------------------------------------------------------------

def test_trtllm_engine_facts() -> None:
    directory = FAMILIES / "Llama-3.1-8B-Instruct-trtllm-engine"
    facts = inspect_path(directory)
    assert facts.format == "trtllm-engine"
    assert facts.architecture == "LlamaForCausalLM" and facts.family == "llama3.1"
    assert "rotary_scaling 'llama3'" in facts.origins["family"]
    assert facts.context_length == 32768
    assert facts.origins["context_length"] == "config.json: build_config.max_seq_len"
    assert facts.tp_size == 2 and facts.quantization == "fp8" and facts.dtype == "bfloat16"
    assert (facts.num_attention_heads, facts.num_kv_heads, facts.num_layers, facts.head_dim) == (32, 8, 32, 128)
    assert facts.vocab_size == 128256 and facts.hidden_size == 4096
    assert facts.kv_bytes_per_token == 131072
    assert facts.files == ("rank0.engine", "rank1.engine")
    assert facts.weights_bytes == sum((directory / n).stat().st_size for n in facts.files)
    assert facts.weights_exact is True


def test_minimal_trtllm_engine_fixture_notes_what_it_lacks() -> None:
    facts = inspect_path(MODELS / "llama-3.1-8b-trtllm-engine")
    assert facts.format == "trtllm-engine"
    assert facts.context_length == 8192
    assert facts.family == "llama3.1"
    assert "guessed from the name 'llama-3.1-8b-trtllm-engine'" in facts.origins["family"]
    assert facts.tp_size is None and facts.kv_bytes_per_token is None
    assert "tensor-parallel size unknown: no pretrained_config.mapping.tp_size" in facts.notes


# ---------------------------------------------------------------------------------------------
# Corrupt files, odd models, names
# ---------------------------------------------------------------------------------------------

def _one_line_naming(error: ModelFileError, path: Path) -> None:
    message = str(error)
    assert "\n" not in message
    assert str(path) in message
    assert error.exit_code == 2


def test_config_json_not_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama",')
    with pytest.raises(ModelFileError) as caught:
        inspect_path(tmp_path)
    _one_line_naming(caught.value, tmp_path / "config.json")
    assert "not valid JSON" in str(caught.value)


def test_config_json_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b'{"model_type": "\xff\xfe"}')
    with pytest.raises(ModelFileError) as caught:
        inspect_path(tmp_path)
    _one_line_naming(caught.value, tmp_path / "config.json")
    assert "not UTF-8" in str(caught.value)


def test_config_json_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="expected a JSON object"):
        inspect_path(tmp_path)


def test_corrupt_tokenizer_config(tmp_path: Path) -> None:
    shutil.copy(FAMILIES / "Qwen3-8B" / "config.json", tmp_path / "config.json")
    (tmp_path / "tokenizer_config.json").write_text("{oops")
    with pytest.raises(ModelFileError) as caught:
        inspect_path(tmp_path)
    _one_line_naming(caught.value, tmp_path / "tokenizer_config.json")


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
    _one_line_naming(caught.value, path)


def test_truncated_gguf(tmp_path: Path) -> None:
    source = (GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf").read_bytes()
    for cut in (30, 200, 1000, 3000):
        path = tmp_path / f"cut{cut}.gguf"
        path.write_bytes(source[:cut])
        with pytest.raises(ModelFileError) as caught:
            inspect_path(path)
        _one_line_naming(caught.value, path)


def test_placeholder_gguf_files_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "tinyllama-q8_0.gguf"
    path.write_bytes(b"GGUF")  # what the old fixtures held: a magic and nothing else
    with pytest.raises(ModelFileError) as caught:
        inspect_path(path)
    _one_line_naming(caught.value, path)


def test_unknown_fields_become_notes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"architectures": ["FooBarForCausalLM"], "model_type": "foo_bar"}')
    facts = inspect_path(tmp_path)
    assert facts.format == "hf" and facts.family == "other"
    assert facts.origins["family"] == "config.json: model_type 'foo_bar' (no family table entry)"
    assert facts.context_length is None and facts.weights_bytes is None and facts.kv_bytes_per_token is None
    assert "context length unknown: config.json has no max_position_embeddings" in facts.notes
    assert "no chat template found: thinking and tool support unknown" in facts.notes
    assert facts.vision is False


def test_empty_config_and_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text("{}")
    facts = inspect_path(tmp_path / "cfg")
    assert facts.family is None and "family unknown" in facts.notes
    (tmp_path / "Qwen3-8B-empty").mkdir()
    empty = inspect_path(tmp_path / "Qwen3-8B-empty")
    assert empty.format == "unknown" and empty.family == "qwen3"
    assert "no config.json, .gguf file or TensorRT-LLM engine found" in empty.notes


def _write_config(directory: Path, config: dict, template: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    return directory


def test_llama2_chat_format_is_not_mistral(tmp_path: Path) -> None:
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
              "max_position_embeddings": 4096, "num_attention_heads": 32, "num_hidden_layers": 32, "hidden_size": 4096}
    template = "{{ bos_token + '[INST] <<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' }}"
    facts = inspect_path(_write_config(tmp_path / "my-model", config, template))
    assert facts.family == "other"


def test_hermes_on_mistral(tmp_path: Path) -> None:
    config = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 32032}
    template = "{{ '<|im_start|>system\\n<tools>' }}{{ tools | tojson }}{{ '</tools> <tool_call>' }}"
    facts = inspect_path(_write_config(tmp_path / "m", config, template))
    assert facts.family == "hermes"


def test_kimi_gguf_with_deepseek2_architecture(tmp_path: Path) -> None:
    path = tmp_path / "Kimi-K2-Instruct-Q2_K.gguf"
    writer = gguf.GGUFWriter(path, "deepseek2")
    writer.add_block_count(61)
    writer.add_context_length(131072)
    writer.add_head_count(64)
    writer.add_uint32("deepseek2.attention.kv_lora_rank", 512)
    writer.add_rope_dimension_count(64)
    writer.add_file_type(10)
    writer.add_chat_template((FAMILIES / "Kimi-K2-Instruct" / "tokenizer_config.json").read_text())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    facts = inspect_path(path)
    assert facts.family == "kimi-k2"
    assert facts.kv_bytes_per_token == 61 * (512 + 64) * 2
    assert facts.dtype == "Q2_K"


def test_missing_path() -> None:
    with pytest.raises(ModelFileError, match="no such file or directory"):
        inspect_path(Path("/nonexistent/model"))


@pytest.mark.parametrize("name, family", [
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2"),
    ("Qwen/QwQ-32B", "qwen2"),
    ("Qwen/Qwen3-8B", "qwen3"),
    ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3-coder"),
    ("meta-llama/Meta-Llama-3-8B-Instruct", "llama3"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1"),
    ("meta-llama/Llama-3.3-70B-Instruct", "llama3.1"),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama4"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
    ("zai-org/GLM-4.5-Air", "glm45"),
    ("zai-org/GLM-4.7", "glm47"),
    ("deepseek-ai/DeepSeek-V3", "deepseek-v3"),
    ("deepseek-ai/DeepSeek-V3.1", "deepseek-v31"),
    ("deepseek-ai/DeepSeek-R1", "deepseek-r1"),
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-r1"),
    ("openai/gpt-oss-20b", "gpt-oss"),
    ("moonshotai/Kimi-K2-Instruct", "kimi-k2"),
    ("ibm-granite/granite-3.3-8b-instruct", "granite"),
    ("NousResearch/Hermes-3-Llama-3.1-8B", "hermes"),
    ("google/gemma-3-27b-it", "gemma3"),
    ("microsoft/Phi-4-mini-instruct", "phi"),
    ("prod-chat", None),
])
def test_family_from_name(name: str, family: str | None) -> None:
    assert family_from_name(name) == family


# ---------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------

def _all_fixture_facts() -> list[ModelFacts]:
    facts = [inspect_path(FAMILIES / d) for d in sorted(p.name for p in FAMILIES.iterdir())]
    facts.append(inspect_path(GGUF_DIR / "gemma-3-4b-it"))
    facts.append(inspect_path(GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"))
    return facts


def test_facts_dict_round_trip_is_yaml_safe_and_deterministic() -> None:
    for facts in _all_fixture_facts():
        data = facts_to_dict(facts)
        assert facts_from_dict(data) == facts
        dumped = yaml.safe_dump(data, sort_keys=False)
        assert yaml.safe_load(dumped) == data
        assert facts_from_dict(yaml.safe_load(dumped)) == facts
        assert yaml.safe_dump(facts_to_dict(facts_from_dict(data)), sort_keys=False) == dumped
        assert list(data) == [f for f in ModelFacts.__dataclass_fields__]
        assert list(data["origins"]) == sorted(data["origins"])


def test_facts_from_dict_ignores_unknown_keys_and_defaults_missing_ones() -> None:
    facts = facts_from_dict({"format": "gguf", "name": "x", "future_field": 1})
    assert facts == ModelFacts(format="gguf", name="x")
