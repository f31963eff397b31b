"""model.hf (+ estimate, inspect): facts read from config.json, chat templates and the HF cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llmstack.errors import ModelFileError
from llmstack.model import hf_cache_dir, hf_snapshot, inspect_hub_id, inspect_path
from tests.conftest import REVISION
from tests.model_helpers import EXPECTED, FAMILIES, PARTIAL, one_line_naming


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
    if directory in PARTIAL:
        return
    assert facts.kv_bytes_per_token and facts.kv_bytes_per_token > 0
    assert facts.weights_bytes and facts.weights_bytes > 0
    for name in ("context_length", "num_attention_heads", "num_layers", "family", "kv_bytes_per_token",
                 "weights_bytes"):
        assert facts.origins[name]
        assert "/" not in facts.origins[name].split(":")[0], "origins name files relative to the model"


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
    assert hf_cache_dir({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "huggingface" / "hub"
    assert hf_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "huggingface" / "hub"


def test_hub_id_missing_from_the_cache_is_guessed_from_the_name(tmp_path: Path) -> None:
    facts = inspect_hub_id("meta-llama/Llama-3.1-8B-Instruct", env={"HF_HUB_CACHE": str(tmp_path)})
    assert facts.format == "unknown"
    assert facts.family == "llama3.1"
    assert facts.origins["family"] == "guessed from the name 'meta-llama/Llama-3.1-8B-Instruct'"
    assert facts.context_length is None
    assert any("not in the local Hugging Face cache" in note for note in facts.notes)


# ---------------------------------------------------------------------------------------------
# Corrupt files, odd models, names
# ---------------------------------------------------------------------------------------------

def test_config_json_not_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama",')
    with pytest.raises(ModelFileError) as caught:
        inspect_path(tmp_path)
    one_line_naming(caught.value, tmp_path / "config.json")
    assert "not valid JSON" in str(caught.value)


def test_config_json_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b'{"model_type": "\xff\xfe"}')
    with pytest.raises(ModelFileError) as caught:
        inspect_path(tmp_path)
    one_line_naming(caught.value, tmp_path / "config.json")
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
    one_line_naming(caught.value, tmp_path / "tokenizer_config.json")


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


def test_missing_path() -> None:
    with pytest.raises(ModelFileError, match="no such file or directory"):
        inspect_path(Path("/nonexistent/model"))
