"""Bad input: one line on stderr naming the culprit and the fix, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, snapshot

TINY = ("--model", "./models/tiny.gguf", "--cpu")

CASES = {
    "missing model path": (("--model", "./models/nope"), "--model ./models/nope: no such file"),
    "missing gguf file": (("--model", "missing.gguf"), "--model missing.gguf: no such file"),
    "neither path nor hub id": (("--model", "qwen"), "neither a local path"),
    "gguf to vllm": (("--model", "./models/tiny.gguf", "--backend", "vllm"), "cannot be served by vLLM"),
    "gguf to sglang": (("--model", "./models/tiny.gguf", "--backend", "sglang"), "cannot be served by SGLang"),
    "gguf to trtllm": (("--model", "./models/tiny.gguf", "--backend", "trtllm"), "cannot be served by TensorRT-LLM"),
    "hub id to llama": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--backend", "llama"), "serves a local .gguf file"),
    "two ggufs in a directory": (("--model", "./models/two-gguf"), "holds 2 .gguf files"),
    "unknown backend": (("--model", "./models/tiny.gguf", "--backend", "ollama"), "--backend ollama: unknown backend"),
    "unknown tool parser": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--tool-parser", "nope"),
                            "--tool-parser nope: unknown to vLLM"),
    "vllm parser name on sglang": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--backend", "sglang",
                                    "--tool-parser", "llama3_json"), "--tool-parser llama3_json: unknown to SGLang"),
    "tool parser on llama": ((*TINY, "--tool-parser", "hermes"), "llama.cpp has no tool parser"),
    "port zero": ((*TINY, "--port", "0"), "--port 0: a port must be between 1 and 65535"),
    "port too large": ((*TINY, "--port", "70000"), "--port 70000"),
    "litellm port too large": ((*TINY, "--litellm-port", "65536"), "--litellm-port 65536"),
    "litellm port equals backend port": ((*TINY, "--litellm-port", "8080"),
                                         "--litellm-port 8080 equals the port of backend"),
    "port not a number": ((*TINY, "--port", "http"), "--port"),
    "alias with a space": ((*TINY, "--litellm-alias", "my model"), "--litellm-alias 'my model'"),
    "alias with a slash": ((*TINY, "--litellm-alias", "org/model"), "--litellm-alias 'org/model'"),
    "tensor parallel above gpus": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--gpus", "2", "--tensor-parallel", "4"),
                                   "--tensor-parallel 4 is larger than the 2 GPU(s)"),
    "tensor parallel above device ids": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--gpus", "0,3",
                                          "--tensor-parallel", "3"), "--tensor-parallel 3 is larger"),
    "tensor parallel on cpu": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--cpu", "--tensor-parallel", "2"),
                               "--tensor-parallel 2 is larger than the 0 GPU(s)"),
    "bad gpus": (("--model", "./models/tiny.gguf", "--gpus", "many"), "--gpus many"),
    "cpu with gpus": ((*TINY, "--gpus", "2"), "--cpu and --gpus 2 contradict"),
    "mmproj with vllm": (("--model", "./models/Qwen2.5-7B-Instruct", "--mmproj", "./models/mmproj.gguf"),
                         "--mmproj ./models/mmproj.gguf: only llama.cpp"),
    "missing mmproj": ((*TINY, "--mmproj", "./models/none.gguf"), "--mmproj ./models/none.gguf: no such file"),
    "bad bind": ((*TINY, "--bind", "localhost:80"), "--bind localhost:80: not an IP address"),
    "bad network": ((*TINY, "--network", "overlay"), "--network overlay"),
    "bad name": ((*TINY, "--name", "My Stack"), "--name 'My Stack'"),
    "unknown stack": (("nope",), "stack 'nope' is not defined"),
    "nothing to render": ((), "nothing to render"),
    "unwritable output": ((*TINY, "--output", "models/tiny.gguf/out"), "--output models/tiny.gguf/out: cannot write"),
    "output is a file": ((*TINY, "--output", "models/mmproj.gguf"), "--output models/mmproj.gguf: cannot write"),
    "unknown option": ((*TINY, "--frobnicate"), "--frobnicate"),
    "check with stdout": ((*TINY, "--check", "--stdout"), "--check and --stdout"),
}


def assert_rejected(result, expected: str, before: dict, root: Path) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("llmstack: error: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(root) == before  # nothing written, nothing half-written


@pytest.mark.parametrize("case", list(CASES))
def test_bad_cli_input(cli, workdir, case):
    args, expected = CASES[case]
    before = snapshot(workdir)
    assert_rejected(cli("render", *args), expected, before, workdir)


def _config(workdir: Path, mutate) -> Path:
    data = yaml.safe_load((REPO / "config" / "models.yaml").read_text())
    mutate(data)
    path = workdir / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


CONFIG_CASES = {
    "unknown args key": (lambda d: d["defaults"]["backends"]["vllm"]["args"].update(gpu_mem=0.5),
                         "defaults.backends.vllm.args.gpu_mem: unknown key"),
    "unknown backend key": (lambda d: d["defaults"]["backends"]["vllm"].update(imgae="x"),
                            "defaults.backends.vllm.imgae: unknown key"),
    "unknown backend": (lambda d: d["defaults"]["backends"].update(ollama={"version": "1", "image": "x", "port": 1}),
                        "defaults.backends.ollama: unknown backend"),
    "missing version": (lambda d: d["defaults"]["backends"]["llama"].pop("version"),
                        "defaults.backends.llama.version: required key is missing"),
    "bad port type": (lambda d: d["defaults"]["backends"]["litellm"].update(port="four"),
                      "defaults.backends.litellm.port"),
    "port out of range": (lambda d: d["defaults"]["backends"]["sglang"].update(port=0),
                          "defaults.backends.sglang.port"),
    "unknown stack key": (lambda d: d["stacks"]["qwen-coder-and-chat"].update(gpu="all"),
                          "stacks.qwen-coder-and-chat.gpu: unknown key"),
    "unknown stack model key": (lambda d: d["stacks"]["qwen-coder-and-chat"]["models"][1].update(quant="q4"),
                                "stacks.qwen-coder-and-chat.models.1.quant: unknown key"),
    "unknown stack model args": (lambda d: d["stacks"]["qwen-coder-and-chat"]["models"][0].update(args={"x": 1}),
                                 "stacks.qwen-coder-and-chat.models.0.args.x: unknown key"),
    "unknown top-level key": (lambda d: d.update(extras=1), "extras: unknown key"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_file(cli, workdir, case):
    mutate, expected = CONFIG_CASES[case]
    path = _config(workdir, mutate)
    before = snapshot(workdir)
    result = cli("render", *TINY, "--config", str(path))
    assert_rejected(result, expected, before, workdir)
    assert "bad.yaml" in result.stderr  # names the file


def test_malformed_yaml_names_file_and_line(cli, workdir):
    path = workdir / "broken.yaml"
    path.write_text("defaults:\n  backends: [unclosed\n")
    before = snapshot(workdir)
    result = cli("render", *TINY, "--config", str(path))
    assert_rejected(result, "broken.yaml:", before, workdir)
    assert "malformed YAML" in result.stderr


def test_missing_config_file(cli, workdir):
    before = snapshot(workdir)
    assert_rejected(cli("render", *TINY, "--config", "nope.yaml"), "nope.yaml: config file not found",
                    before, workdir)


def test_per_model_flags_refused_for_multi_model_stack(cli, workdir):
    before = snapshot(workdir)
    assert_rejected(cli("render", "qwen-coder-and-chat", "--port", "9000"),
                    "--port: stack 'qwen-coder-and-chat' serves 2 models", before, workdir)
