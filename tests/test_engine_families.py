"""The 2025-26 model families per backend version: detected from their published config.json (and
their real chat templates, llama.cpp's copies read from the llama-cpp-python sdist at test time),
then the parser each catalogued release gives them, or the note saying which releases have one;
and the switches a family needs (catalog/families.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from llmstack import backends, catalog
from llmstack.model import inspect_path
from tests.agent_fixtures import REQUIRE, real_templates
from tests.conftest import missing
from tests.model_helpers import FAMILIES

# fixture directory -> (llama.cpp's template of that model or None, the family detected)
MODELS = {
    "Qwen3.5-35B-A3B": ("Qwen3.5-4B.jinja", "qwen3.5"),
    "GLM-4.7-Flash": ("GLM-4.7-Flash.jinja", "glm47"),
    "GLM-5.1": (None, "glm5"),
    "DeepSeek-V3.2": ("deepseek-ai-DeepSeek-V3.2.jinja", "deepseek-v32"),
    "DeepSeek-V4-Flash": ("deepseek-ai-DeepSeek-V4-Flash-0731.jinja", "deepseek-v4"),
    "DeepSeek-V4.1-Flash": (None, "deepseek-v41"),
    "Kimi-K2.5": (None, "kimi-k2"),
    "Kimi-K3": ("Kimi-K3.jinja", "kimi-k3"),
    "MiniMax-M2.7": ("MiniMax-M2.jinja", "minimax-m2"),
    "MiniMax-M3": ("MiniMax-M3.jinja", "minimax-m3"),
    "gemma-4-31B-it": ("google-gemma-4-31B-it.jinja", "gemma4"),
    "Seed-OSS-36B-Instruct": ("ByteDance-Seed-OSS.jinja", "seed-oss"),
    "Step-3.5-Flash": ("StepFun3.5-Flash.jinja", "step3.5"),
    "ERNIE-4.5-21B-A3B-PT": (None, "ernie4.5"),
    "Hunyuan-A13B-Instruct": (None, "hunyuan-a13b"),
    "Hy3": ("tencent-Hy3.jinja", "hy3"),
    "Hy4-preview": (None, "hy4"),
    # One architecture, two tool formats: Nemotron 3's template writes Qwen3-Coder's <function= calls.
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja", "nemotron3"),
}


@pytest.fixture(scope="module")
def templates() -> dict[str, str]:
    try:
        return real_templates()
    except (OSError, ValueError) as exc:
        missing(f"the llama-cpp-python sdist with llama.cpp's templates is not available ({exc})", REQUIRE)
        raise  # pragma: no cover - missing() fails or skips


def model_dir(root: Path, name: str, templates: dict[str, str]) -> Path:
    """The fixture's config.json, with the model's real chat template beside it when it has one."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(FAMILIES / name / "config.json", directory / "config.json")
    template = MODELS[name][0]
    if template:
        (directory / "chat_template.jinja").write_text(templates[template])
    return directory


@pytest.mark.parametrize("name", list(MODELS))
def test_the_family_comes_from_the_published_files(tmp_path, templates, name):
    facts = inspect_path(model_dir(tmp_path, name, templates))
    assert facts.family == MODELS[name][1], facts.origins.get("family")
    assert "guessed from the name" not in facts.origins["family"]


def test_nemotron_h_without_nemotron_3_s_template_is_nemotron_h(tmp_path, templates):
    directory = model_dir(tmp_path, "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", templates)
    (directory / "chat_template.jinja").write_text(templates["NVIDIA-Nemotron-Nano-v2.jinja"])
    assert inspect_path(directory).family == "nemotron-h"  # its <TOOLCALL> format: no registry parses it


def render(cli, root: Path, name: str, templates: dict[str, str], backend: str, version: str | None = None):
    model_dir(root / "models", name, templates)
    args = ["render", "--model", f"./models/{name}", "--backend", backend, "--gpus", "1", "--stdout"]
    result = cli(*args, *(["--backend-version", version] if version else []))
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]["backend"]["command"], result.stderr


def value(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


# fixture, backend, version (None: the pin) -> tool parser, reasoning parser, switches (None: a note instead)
CASES = [
    ("Qwen3.5-35B-A3B", "vllm", None, "qwen3_coder", "qwen3", ()),
    ("Qwen3.5-35B-A3B", "sglang", None, "qwen3_coder", "qwen3", ()),
    ("GLM-4.7-Flash", "vllm", None, "glm47", "glm47", ()),
    ("GLM-4.7-Flash", "vllm", "v0.18.0", "glm47", "glm45", ()),  # glm47 reasoning from 0.24
    ("GLM-4.7-Flash", "vllm", "v0.12.0", None, "glm45", ()),  # never glm45's tool parser: another format
    ("GLM-4.7-Flash", "sglang", None, "glm47", "glm45", ()),
    ("GLM-4.7-Flash", "sglang", "v0.5.6", None, "glm45", ()),
    ("GLM-5.1", "vllm", None, "glm47", None, ()),  # no template here: whether it thinks is unknown
    ("DeepSeek-V3.2", "vllm", None, "deepseek_v32", "deepseek_v3", ()),
    ("DeepSeek-V3.2", "vllm", "v0.12.0", None, "deepseek_v3", ()),  # never V3.1's parser
    ("DeepSeek-V3.2", "sglang", "v0.5.6", "deepseekv32", "deepseek-v3", ()),
    ("DeepSeek-V4-Flash", "vllm", None, "deepseek_v4", "deepseek_v4", ()),
    ("DeepSeek-V4-Flash", "vllm", "v0.18.0", None, "deepseek_r1", ()),  # only the generic <think> parser
    ("DeepSeek-V4-Flash", "sglang", None, "deepseekv4", "deepseek-v4", ()),
    ("DeepSeek-V4.1-Flash", "vllm", "v0.32.0", "deepseek_v41", None, ()),
    ("Kimi-K2.5", "vllm", None, "kimi_k2", None, ("--trust-remote-code",)),
    ("Kimi-K2.5", "sglang", None, "kimi_k2", None, ("--trust-remote-code",)),
    ("Kimi-K3", "vllm", None, "kimi_k3", None, ("--trust-remote-code",)),
    ("Kimi-K3", "vllm", "v0.24.0", None, None, ("--trust-remote-code",)),
    ("Kimi-K3", "sglang", None, "kimi_k3", None, ("--trust-remote-code",)),
    ("MiniMax-M2.7", "vllm", None, "minimax_m2", "minimax_m2", ("--trust-remote-code",)),
    ("MiniMax-M2.7", "sglang", None, "minimax-m2", "minimax", ("--trust-remote-code",)),
    ("MiniMax-M3", "vllm", None, "minimax_m3", "minimax_m3", ()),
    ("MiniMax-M3", "vllm", "v0.23.0", None, None, ()),  # <mm:think>: the generic <think> parser would not do
    ("MiniMax-M3", "sglang", None, "minimax-m3", "minimax-m3", ()),
    ("gemma-4-31B-it", "vllm", None, "gemma4", None, ()),
    ("gemma-4-31B-it", "vllm", "v0.18.0", None, None, ()),
    ("gemma-4-31B-it", "sglang", None, "gemma4", None, ()),
    ("Seed-OSS-36B-Instruct", "vllm", None, "seed_oss", None, ()),
    ("Seed-OSS-36B-Instruct", "sglang", None, None, None, ()),  # no seed parser in any SGLang
    ("Step-3.5-Flash", "vllm", None, "step3p5", "step3p5", ("--trust-remote-code",)),
    ("Step-3.5-Flash", "vllm", "v0.12.0", None, "deepseek_r1", ("--trust-remote-code",)),
    ("Step-3.5-Flash", "sglang", None, "step3p5", "step3p5", ("--trust-remote-code",)),
    ("ERNIE-4.5-21B-A3B-PT", "vllm", None, "ernie45", None, ()),
    ("ERNIE-4.5-21B-A3B-PT", "sglang", None, None, None, ()),
    ("Hunyuan-A13B-Instruct", "vllm", None, "hunyuan_a13b", None, ()),
    ("Hy3", "vllm", None, "hy_v3", None, ()),
    ("Hy3", "vllm", "v0.18.0", None, None, ()),
    ("Hy3", "sglang", None, "hunyuan", None, ()),
    ("Hy4-preview", "vllm", None, "hy_v4", None, ()),
    ("Hy4-preview", "vllm", "v0.24.0", None, None, ()),
    ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "vllm", None, "qwen3_coder", "nemotron_v3", ()),
    ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "vllm", "v0.17.0", "qwen3_coder", "deepseek_r1", ()),  # 0.17.1
    ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "sglang", None, "qwen3_coder", "nemotron_3", ()),
    ("Qwen3.5-35B-A3B", "trtllm", None, "qwen3_coder", "qwen3", ()),
    ("Qwen3.5-35B-A3B", "trtllm", "1.0.0", None, "qwen3", ()),  # 1.0.0 has no --tool_parser
]


@pytest.mark.parametrize(("name", "backend", "version", "tool", "reasoning", "switches"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2] or 'pin'}" for c in CASES])
def test_each_family_per_backend_version(cli, workdir, templates, name, backend, version, tool, reasoning, switches):
    command, notes = render(cli, workdir, name, templates, backend, version)
    tool_flag, reasoning_flag = ("--tool_parser", "--reasoning_parser") if backend == "trtllm" else \
        ("--tool-call-parser", "--reasoning-parser")
    assert value(command, tool_flag) == tool
    assert value(command, reasoning_flag) == reasoning
    for switch in switches:
        assert switch in command
    if not switches:
        assert "--trust-remote-code" not in command
    family = MODELS[name][1]
    shown = version or backends.get(backend).defaults.version
    if tool is None:  # the note says which releases have one, or that none does
        title = backends.get(backend).title
        assert f"{title} {shown} has no tool-call parser for the {family} family" in notes
        assert "its tool calls would come back as plain text" in notes
    if version is not None and tool is None and backend == "vllm":
        assert "catalogued versions with it: " in notes


def test_switches_say_why_in_the_rendered_file(cli, workdir, templates):
    model_dir(workdir / "models", "Kimi-K2.5", templates)
    result = cli("render", "--model", "./models/Kimi-K2.5", "--gpus", "1", "--stdout")
    assert ("# Switches --trust-remote-code: the kimi-k2 family, its config.json loads custom code (auto_map) and "
            "the vLLM recipe passes it; this runs Python code from the model repository.") in result.stdout
    # an extra argument naming the switch's flag wins (and is not written twice)
    result = cli("render", "--model", "./models/Kimi-K2.5", "--gpus", "1", "--stdout",
                 "--extra-arg=--trust-remote-code")
    assert yaml.safe_load(result.stdout)["services"]["backend"]["command"].count("--trust-remote-code") == 1


def test_mistral_format_models_need_no_tokenizer_mode_switch_on_vllm(cli, workdir):
    """Every catalogued vLLM picks mistral_common's tokenizer with the default `--tokenizer-mode auto` when
    the model directory has Mistral's files (vllm/tokenizers/registry.py resolve_tokenizer_args; 0.33.0
    docs/features/tool_calling.md: "used by default with `auto`"); forcing `mistral` on a Transformers-format
    copy would fail to load it. So the mistral family gets its parsers and no switch."""
    shutil.copytree(FAMILIES / "Mistral-7B-Instruct-v0.3", workdir / "models" / "mistral")
    for version in catalog.versions("vllm"):
        result = cli("render", "--model", "./models/mistral", "--gpus", "1", "--backend-version", version,
                     "--stdout")
        command = yaml.safe_load(result.stdout)["services"]["backend"]["command"]
        assert value(command, "--tool-call-parser") == "mistral"
        assert not any(arg.startswith("--tokenizer") for arg in command)
