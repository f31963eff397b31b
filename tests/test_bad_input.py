"""Bad input: one line on stderr naming the culprit and the fix, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmstack import backends
from tests.conftest import snapshot

PIN = {name: backends.get(name).defaults.version for name in backends.names()}  # the built-in pins
TINY = ("--model", "./models/tiny.gguf", "--cpu")
EXTERNAL = ("--backend", "external", "--model", "qwen2-5-7b-instruct", "--api-base", "http://gpu-host-1:8000/v1")

CASES = {
    "missing model path": (("--model", "./models/nope"), "--model ./models/nope: no such file"),
    "missing gguf file": (("--model", "missing.gguf"), "--model missing.gguf: no such file"),
    "neither path nor hub id": (("--model", "qwen"), "neither a local path"),
    "gguf to vllm": (("--model", "./models/tiny.gguf", "--backend", "vllm"), "cannot be served by vLLM"),
    "gguf to sglang": (("--model", "./models/tiny.gguf", "--backend", "sglang"), "cannot be served by SGLang"),
    "gguf to trtllm": (("--model", "./models/tiny.gguf", "--backend", "trtllm"), "cannot be served by TensorRT-LLM"),
    "hub id to llama": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--backend", "llama"), "serves a local .gguf file"),
    "two ggufs in a directory": (("--model", "./models/two-gguf"),
                                 "holds 2 GGUF models (a.gguf, b.gguf); pass the model file"),
    "unknown backend": (("--model", "./models/tiny.gguf", "--backend", "ollama"), "--backend ollama: unknown backend"),
    "unknown tool parser": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--tool-parser", "nope"),
                            "--tool-parser nope: unknown to vLLM"),
    "vllm parser name on sglang": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--backend", "sglang",
                                    "--tool-parser", "llama3_json"), "--tool-parser llama3_json: unknown to SGLang"),
    "tool parser on llama": ((*TINY, "--tool-parser", "hermes"), "llama.cpp has no tool parser"),
    "unknown anthropic route": ((*TINY, "--anthropic-route", "direct"), "--anthropic-route direct: choose native"),
    "native route where the version has none": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--backend", "sglang",
                                                 "--backend-version", "v0.5.6", "--anthropic-route", "native"),
                                                "--anthropic-route native: SGLang v0.5.6 has no /v1/messages"),
    "port zero": ((*TINY, "--port", "0"), "--port 0: a port must be between 1 and 65535"),
    "port too large": ((*TINY, "--port", "70000"), "--port 70000"),
    "litellm port too large": ((*TINY, "--litellm-port", "65536"), "--litellm-port 65536"),
    "litellm port equals backend port": ((*TINY, "--litellm-port", "8080", "--publish-backend"),
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
    # --backend external: an OpenAI-compatible server the stack does not run (replicas: --api-base twice)
    "external without api base": (("--backend", "external", "--model", "qwen"),
                                   "--model qwen: --backend external needs --api-base URL"),
    "external api base not a url": ((*EXTERNAL[:-2], "--api-base", "gpu-host-1:8000/v1"),
                                    "--api-base 'gpu-host-1:8000/v1': not an http(s) URL"),
    "external api base with a space": ((*EXTERNAL[:-2], "--api-base", "http://gpu host/v1"),
                                       "--api-base 'http://gpu host/v1': not an http(s) URL"),
    "external api base another scheme": ((*EXTERNAL[:-2], "--api-base", "ftp://gpu-host-1/v1"),
                                         "not an http(s) URL"),
    "external same url twice": ((*EXTERNAL, "--api-base", "http://gpu-host-1:8000/v1/"),
                                "the same URL twice; each replica needs its own --api-base"),
    "external the second url twice": ((*EXTERNAL, "--api-base", "http://gpu-host-2:8000/v1",
                                       "--api-base", "http://gpu-host-2:8000/v1"),
                                      "--api-base 'http://gpu-host-2:8000/v1': the same URL twice"),
    "external key env lower case": ((*EXTERNAL, "--api-key-env", "upstream_key"),
                                    "--api-key-env 'upstream_key': an environment variable name"),
    "external key env is a value": ((*EXTERNAL, "--api-key-env", "sk-1234"),
                                    "--api-key-env 'sk-1234': an environment variable name"),
    "external gpus": ((*EXTERNAL, "--gpus", "2"), "--gpus 2: the external server decides this"),
    "external max model len": ((*EXTERNAL, "--max-model-len", "4096"),
                               "--max-model-len 4096: the external server decides this"),
    "external tensor parallel": ((*EXTERNAL, "--tensor-parallel", "2"), "--tensor-parallel 2: the external server"),
    "external tool parser": ((*EXTERNAL, "--tool-parser", "hermes"), "--tool-parser hermes: the external server"),
    "external reasoning parser": ((*EXTERNAL, "--reasoning-parser", "qwen3"),
                                  "--reasoning-parser qwen3: the external server"),
    "external port": ((*EXTERNAL, "--port", "8000"), "--port 8000: the external server decides this"),
    "external backend image": ((*EXTERNAL, "--backend-image", "vllm/vllm-openai:v0.12.0"),
                               "--backend-image vllm/vllm-openai:v0.12.0: the external server decides this"),
    "external extra arg": ((*EXTERNAL, "--extra-arg=--enforce-eager"), "the external server decides this"),
    "external mmproj": ((*EXTERNAL, "--mmproj", "./models/mmproj.gguf"), "--mmproj ./models/mmproj.gguf: the external"),
    "external without gateway": ((*EXTERNAL, "--no-litellm"),
                                 "only reachable through the gateway; drop --no-litellm"),
    "api base for a backend the stack runs": (("--model", "./models/Qwen2.5-7B-Instruct", "--backend", "vllm",
                                               "--api-base", "http://gpu-host-1:8000/v1"),
                                              "vLLM runs in this stack; --api-base is for --backend external"),
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


BASE_CONFIG = {
    "defaults": {"backends": {
        "vllm": {"version": "v0.12.0", "args": {"gpu_memory_utilization": 0.9}},
        "llama": {"version": "b7349"},
        "sglang": {"port": 30000},
        "litellm": {"version": "main-v1.104.5", "port": 4000},
    }},
    "stacks": {"qwen-coder-and-chat": {"models": [
        {"model": "Qwen/Qwen3-Coder-30B-A3B-Instruct", "backend": "vllm", "alias": "coder", "gpus": [0]},
        {"model": "Qwen/Qwen2.5-7B-Instruct", "backend": "sglang", "alias": "chat", "gpus": [1]},
    ]}},
}


def _config(workdir: Path, mutate) -> Path:
    import copy

    data = copy.deepcopy(BASE_CONFIG)
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
    "bad port type": (lambda d: d["defaults"]["backends"]["litellm"].update(port="four"),
                      "defaults.backends.litellm.port"),
    "port out of range": (lambda d: d["defaults"]["backends"]["sglang"].update(port=0),
                          "defaults.backends.sglang.port"),
    "unknown stack key": (lambda d: d["stacks"]["qwen-coder-and-chat"].update(gpu="all"),
                          "stacks.qwen-coder-and-chat.gpu: unknown key"),
    "unknown stack model key": (lambda d: d["stacks"]["qwen-coder-and-chat"]["models"][1].update(quant="q4"),
                                "stacks.qwen-coder-and-chat.models[1].quant: unknown key"),
    "unknown stack model args": (lambda d: d["stacks"]["qwen-coder-and-chat"]["models"][0].update(args={"x": 1}),
                                 "stacks.qwen-coder-and-chat.models[0].args.x: unknown key"),
    "unknown top-level key": (lambda d: d.update(extras=1), "extras: unknown key"),
    "bad target": (lambda d: d["stacks"]["qwen-coder-and-chat"].update(target="nomad"),
                   "stacks.qwen-coder-and-chat.target"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_file(cli, workdir, case):
    mutate, expected = CONFIG_CASES[case]
    path = _config(workdir, mutate)
    before = snapshot(workdir)
    result = cli("render", *TINY, "--config", str(path))
    assert_rejected(result, expected, before, workdir)
    assert "bad.yaml" in result.stderr  # names the file


# A value from models.yaml that is wrong is named by its file and key path, not by a flag.
STACK_VALUE_CASES = {
    "gpus": ({"gpus": "many"}, "bad.yaml: stacks.s.models[0].gpus many: use all, a count"),
    "port": ({"port": 8080, "publish_port": True}, None),
    "alias": ({"alias": "my model"}, "bad.yaml: stacks.s.models[0].alias 'my model': LiteLLM model names"),
    "tool parser": ({"tool_parser": "nope"}, "bad.yaml: stacks.s.models[0].tool_parser nope: unknown to vLLM"),
    "tensor parallel": ({"gpus": 2, "tensor_parallel": 4},
                        "bad.yaml: stacks.s.models[0].tensor_parallel 4 is larger than the 2 GPU(s) requested with "
                        "bad.yaml: stacks.s.models[0].gpus 2"),
    "context": ({"max_model_len": 200000},
                "bad.yaml: stacks.s.models[0].max_model_len 200000: the model's context limit is 32768 tokens"),
    "image": ({"image": "Foo Bar:x"}, "bad.yaml: stacks.s.models[0].image 'Foo Bar:x': an image reference has no"),
    "version": ({"version": "v 1"}, "bad.yaml: stacks.s.models[0].version 'v 1': not a valid image tag"),
    "mmproj": ({"mmproj": "./models/mmproj.gguf"}, "bad.yaml: stacks.s.models[0].mmproj ./models/mmproj.gguf: only"),
    "model": ({"model": "./models/nope"}, "bad.yaml: stacks.s.models[0].model ./models/nope: no such file"),
    "api base": ({"model": "qwen", "backend": "external", "api_base": ["http://gpu-host-1:8000/v1", "gpu-host-2"]},
                 "bad.yaml: stacks.s.models[0].api_base 'gpu-host-2': not an http(s) URL"),
    "api key env": ({"model": "qwen", "api_base": "http://gpu-host-1:8000/v1", "api_key_env": "my key"},
                    "bad.yaml: stacks.s.models[0].api_key_env 'my key': an environment variable name"),
    "external gpus": ({"model": "qwen", "api_base": "http://gpu-host-1:8000/v1", "gpus": 2},
                      "bad.yaml: stacks.s.models[0].gpus 2: the external server decides this"),
}


@pytest.mark.parametrize("case", [c for c in STACK_VALUE_CASES if STACK_VALUE_CASES[c][1]])
def test_stack_values_are_named_by_file_and_key_path(cli, workdir, case):
    values, expected = STACK_VALUE_CASES[case]
    model = {"model": "./models/Qwen2.5-7B-Instruct", **values}
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"stacks": {"s": {"models": [model]}}}))
    before = snapshot(workdir)
    assert_rejected(cli("render", "s", "--config", "bad.yaml"), expected, before, workdir)


def test_defaults_from_models_yaml_are_named_by_their_key_path(cli, workdir):
    (workdir / "bad.yaml").write_text("defaults:\n  backends:\n    vllm: {image: 'Vllm/Vllm'}\n")
    before = snapshot(workdir)
    assert_rejected(cli("render", "--model", "./models/Qwen2.5-7B-Instruct", "--config", "bad.yaml"),
                    f"bad.yaml: defaults.backends.vllm.image 'Vllm/Vllm:{PIN['vllm']}': repository names are lowercase",
                    before, workdir)


def test_a_models_yaml_with_only_stacks_is_complete(cli, workdir):
    (workdir / "only.yaml").write_text(
        "stacks:\n  s:\n    models:\n      - {model: ./models/tiny.gguf, gpus: none}\n")
    result = cli("render", "s", "--config", "only.yaml")
    assert result.exit_code == 0, result.stderr
    compose = yaml.safe_load((workdir / "compose" / "s" / "docker-compose.yml").read_text())
    assert compose["services"]["backend"]["image"] == f"ghcr.io/ggml-org/llama.cpp:server-{PIN['llama']}"  # the pin


def test_an_undecodable_models_yaml_is_one_line(cli, workdir):
    (workdir / "latin1.yaml").write_bytes(b"stacks:\n  caf\xe9:\n    models: []\n")
    before = snapshot(workdir)
    assert_rejected(cli("render", *TINY, "--config", "latin1.yaml"),
                    "latin1.yaml: line 2: not UTF-8 text (byte 0xe9); save the file as UTF-8", before, workdir)


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
