"""Identifiers read from a model (architecture, model type, dtype, quantization, rope type; the
family comes from the table) are validated where they are read: anything that is no identifier
is ignored with a note that shows it escaped, so hostile text travels no further."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from llmstack.model import ModelFacts, facts_from_dict, facts_to_dict, inspect_path
from llmstack.model.facts import is_display_name, is_identifier
from tests.conftest import snapshot
from tests.model_helpers import FAMILIES
from tests.test_model_bounds import LLAMA, kv_string, kv_u32, write_gguf

# Every line break YAML and Compose know, other controls, and text that means something to YAML,
# Compose or a shell.
LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")
HOSTILE = [
    "llama\nprivileged: true", "llama\r\n  entrypoint: [sh]", "llama\x85x", "llama\u2028include: x.yml", "llama\u2029",
    "llama\x00", "llama\x1b[2J", "${HOME}", "$(id)", "- x", "&anchor", "*alias", "!!python/object", "llama: x",
    "'quoted'", '"quoted"', "#comment", " llama", "llama ", "", "lla ma", "llama\u202e", "x" * 200, "{a: b}",
]
VALID = ["llama", "gpt-oss", "Qwen2_5_VLForConditionalGeneration", "gemma3_text", "float8_e4m3fn", "W4A16_AWQ",
         "compressed-tensors", "deepseek2", "falcon-h1", "llama3.1"]


@pytest.mark.parametrize("text", VALID)
def test_published_identifiers_pass(text: str) -> None:
    assert is_identifier(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_no_identifier(text: str) -> None:
    assert not is_identifier(text)


@pytest.mark.parametrize("text, ok", [
    ("Meta Llama 3.1 8B Instruct", True), ("Qwen2.5-7B-Instruct (GGUF) & more: ${x}", True),
    ("a\nb", False), ("a\u2028b", False), ("a\x85b", False), ("a\x00", False), ("a\u202eb", False),
    ("", False), (" padded", False), ("x" * 300, False),
])
def test_display_names(text: str, ok: bool) -> None:
    assert is_display_name(text) is ok


def clean(facts: ModelFacts) -> None:
    """No hostile text in what the facts say: identifiers are identifiers, notes and origins hold
    no line break (values in them are escaped)."""
    for key in ("architecture", "model_type", "family", "dtype", "quantization"):
        value = getattr(facts, key)
        assert value is None or is_identifier(value), (key, value)
    for text in (*facts.notes, *facts.origins.values()):
        assert not any(char in text for char in (*LINE_BREAKS, "\x00")), text


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_gguf_architecture_is_unknown_with_a_note(tmp_path: Path, value: str) -> None:
    entries = [kv_string("general.architecture", value), kv_string("general.name", value),
               *(e for e in LLAMA if b"general.architecture" not in e)]
    facts = inspect_path(write_gguf(tmp_path / "model.gguf", entries))
    clean(facts)
    assert facts.architecture is None and facts.family is None
    assert any(n.startswith("model.gguf: general.architecture ") and n.endswith("not an architecture name; ignored")
               for n in facts.notes), facts.notes
    assert "no general.architecture in the GGUF header" not in facts.notes


def test_a_hostile_gguf_name_is_not_used_for_the_family(tmp_path: Path) -> None:
    name = "Llama-3.1-8B\nprivileged: true"
    entries = [*LLAMA, kv_u32("llama.attention.head_count", 32), kv_string("general.name", name)]
    facts = inspect_path(write_gguf(tmp_path / "Meta-Llama-3-8B.gguf", entries))
    clean(facts)
    assert "model.gguf" not in facts.origins["family"]
    assert facts.family == "llama3"  # from the file name, not from general.name
    assert "Meta-Llama-3-8B.gguf: general.name 'Llama-3.1-8B\\nprivileged: true': not a model name; ignored" \
        in facts.notes


@pytest.mark.parametrize("key", ["model_type", "architectures", "text_config", "torch_dtype", "quantization_config",
                                 "rope_scaling"])
@pytest.mark.parametrize("value", ["qwen2\nprivileged: true", "bf16\u2028x", "${X}"])
def test_hostile_identifiers_in_config_json_are_ignored(tmp_path: Path, key: str, value: str) -> None:
    config = json.loads((FAMILIES / "Qwen2.5-7B-Instruct" / "config.json").read_text())
    config[key] = {"architectures": [value], "text_config": {"model_type": value},
                   "quantization_config": {"quant_method": value},
                   "rope_scaling": {"rope_type": value, "factor": 4.0}}.get(key, value)
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(config))
    facts = inspect_path(model)
    clean(facts)
    assert any("; ignored" in n and n.startswith("config.json: ") for n in facts.notes), facts.notes
    if key != "model_type":
        assert facts.family == "qwen2" and facts.model_type == "qwen2"


def test_hostile_identifiers_in_a_trtllm_engine_config_are_ignored(tmp_path: Path) -> None:
    name = "Llama-3.1-8B-Instruct-trtllm-engine"
    engine = shutil.copytree(FAMILIES / name, tmp_path / name)
    config = json.loads((engine / "config.json").read_text())
    config["pretrained_config"]["architecture"] = "LlamaForCausalLM\nprivileged: true"
    config["pretrained_config"]["dtype"] = "bfloat16\u2028x"
    config["pretrained_config"]["quantization"]["quant_algo"] = "FP8 ${X}"
    (engine / "config.json").write_text(json.dumps(config))
    facts = inspect_path(engine)
    clean(facts)
    assert facts.architecture is None and facts.dtype is None and facts.quantization is None
    assert facts.family == "llama3.1"  # the name still tells it
    assert len([n for n in facts.notes if n.endswith("; ignored")]) == 3, facts.notes


def test_a_hand_edited_manifest_cannot_smuggle_values_in() -> None:
    facts = inspect_path(FAMILIES / "Qwen2.5-7B-Instruct")
    data = facts_to_dict(facts)
    data.update(architecture="x\nprivileged: true", family="qwen2\u2028x", context_length=-5, num_layers="28",
                vision="yes", files="a.gguf", origins=["x"], format="docker")
    read = facts_from_dict(data)
    clean(read)
    assert (read.architecture, read.family, read.context_length, read.num_layers) == (None, None, None, None)
    assert (read.vision, read.files, read.origins, read.format) == (None, (), {}, "unknown")
    dropped = [n for n in read.notes if n.startswith("manifest: facts.")]
    assert len(dropped) == 8 and all(n.endswith("not what llmstack records there; ignored") for n in dropped)
    assert facts_from_dict(facts_to_dict(facts)) == facts  # a manifest llmstack wrote reads back whole


def test_a_hostile_architecture_renders_nothing_of_itself(cli, workdir: Path) -> None:
    value = "llama\nprivileged: true\n    entrypoint: [sh, -c, id]"
    entries = [kv_string("general.architecture", value), *(e for e in LLAMA if b"general.architecture" not in e)]
    write_gguf(workdir / "models" / "hostile.gguf", entries)
    result = cli("render", "--model", "./models/hostile.gguf", "--cpu")
    assert result.exit_code == 0, result.stderr
    assert "general.architecture 'llama\\nprivileged: true" in result.stderr  # said, escaped
    out = workdir / "compose" / "hostile"
    compose = yaml.safe_load((out / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"backend", "litellm"}
    assert all("privileged" not in service and "entrypoint" not in service for service in compose["services"].values())
    for name, content in snapshot(out).items():
        assert value.encode() not in content and b"privileged: true\n" not in content, name
