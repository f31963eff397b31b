"""Issue 20, item 4: what the gateway path renders by default, and the knobs that change it.

- the gateway container's CPU weight (Compose `cpu_shares`, `--litellm-cpu-shares`,
  `litellm.cpu_shares` in models.yaml; 0 leaves Docker's default);
- vLLM's and SGLang's tokens per streamed chunk (`--stream-interval`, `args.stream_interval`).

Their measured effect: benchmarks/RESULTS.md, "Gateway path"."""

from __future__ import annotations

import yaml

from llmstack.backends.base import STREAM_INTERVAL


def _compose(cli, *args: str) -> tuple[dict, str]:
    result = cli("render", *args, "--stdout")
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load(result.stdout), result.stdout


def _error(cli, *args: str, code: int = 2) -> str:
    result = cli("render", *args)
    assert result.exit_code == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_gateway_cpu_weight_is_rendered_and_explained(cli, workdir):
    compose, text = _compose(cli, "--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1")
    assert compose["services"]["litellm"]["cpu_shares"] == 8192
    assert "cpu_shares" not in compose["services"]["backend"]  # the engine keeps Docker's default weight
    comment = text[text.index("    # CPU weight against the engine's"):text.index("    cpu_shares:")]
    assert "+173 ms" in comment and "+18 ms at 8192" in comment and "--litellm-cpu-shares" in comment


def test_gateway_cpu_weight_from_the_flag_and_models_yaml(cli, workdir):
    compose, _ = _compose(cli, "--model", "./models/tiny.gguf", "--cpu", "--litellm-cpu-shares", "2048")
    assert compose["services"]["litellm"]["cpu_shares"] == 2048
    compose, text = _compose(cli, "--model", "./models/tiny.gguf", "--cpu", "--litellm-cpu-shares", "0")
    assert "cpu_shares" not in compose["services"]["litellm"] and "CPU weight" not in text
    (workdir / "my.yaml").write_text(yaml.safe_dump({"defaults": {"backends": {"litellm": {"cpu_shares": 512}}}}))
    compose, _ = _compose(cli, "--model", "./models/tiny.gguf", "--cpu", "--config", "my.yaml")
    assert compose["services"]["litellm"]["cpu_shares"] == 512


def test_bad_gateway_cpu_weights_are_refused_in_one_line(cli, workdir):
    for value in ("1", "262145", "-5"):
        error = _error(cli, "--model", "./models/tiny.gguf", "--cpu", "--litellm-cpu-shares", value)
        assert "--litellm-cpu-shares" in error and "262144" in error and "0 for Docker's default" in error
    assert not (workdir / "compose").exists()
    (workdir / "my.yaml").write_text(yaml.safe_dump({"defaults": {"backends": {"litellm": {"cpu_shares": 300000}}}}))
    error = _error(cli, "--model", "./models/tiny.gguf", "--cpu", "--config", "my.yaml")
    assert "cpu_shares" in error and "my.yaml" in error


def test_kubernetes_refuses_the_compose_cpu_weight_flag(cli, workdir):
    error = _error(cli, "--model", "./models/tiny.gguf", "--cpu", "--target", "kubernetes",
                   "--litellm-cpu-shares", "4096")
    assert error == ("llmstack: error: --litellm-cpu-shares 4096: Kubernetes weighs a pod's CPU by its CPU request; "
                     "drop the flag (it is for --target compose)")
    # From models.yaml (a stack rendered for both targets) it does not apply, silently.
    (workdir / "my.yaml").write_text(yaml.safe_dump({"defaults": {"backends": {"litellm": {"cpu_shares": 512}}}}))
    result = cli("render", "--model", "./models/tiny.gguf", "--cpu", "--target", "kubernetes", "--config", "my.yaml",
                 "--k8s-model-pvc", "models")
    assert result.exit_code == 0, result.stderr
    assert "cpu_shares" not in "".join(p.read_text() for p in (workdir / "compose").rglob("*.yaml"))


def test_stream_interval_default_for_vllm_and_sglang(cli, workdir):
    for backend in ("vllm", "sglang"):
        compose, text = _compose(cli, "--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1", "--backend", backend)
        command = compose["services"]["backend"]["command"]
        assert command[command.index("--stream-interval") + 1] == str(STREAM_INTERVAL)
        assert f"# Streams {STREAM_INTERVAL} tokens per chunk after the first: the built-in {backend} default " \
               "(args.stream_interval)" in text


def test_stream_interval_is_not_rendered_where_the_server_has_none(cli, workdir):
    compose, text = _compose(cli, "--model", "./models/tiny.gguf", "--cpu")  # llama.cpp
    assert "--stream-interval" not in compose["services"]["backend"]["command"] and "Streams" not in text


def test_stream_interval_from_models_yaml_and_extra_arg_refused(cli, workdir):
    (workdir / "my.yaml").write_text(yaml.safe_dump({"stacks": {"t": {"models": [
        {"model": "./models/Qwen2.5-7B-Instruct", "backend": "vllm", "gpus": [0], "args": {"stream_interval": 1}}]}}}))
    compose, text = _compose(cli, "t", "--config", "my.yaml")
    command = compose["services"]["backend"]["command"]
    assert command[command.index("--stream-interval") + 1] == "1"
    assert "# Streams 1 token per chunk after the first: my.yaml: stacks.t.models[0].args.stream_interval" in text
    error = _error(cli, "--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1", "--extra-arg=--stream-interval=2")
    assert "llmstack derives vLLM's --stream-interval" in error and "args: {stream_interval: ...}" in error
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"stacks": {"t": {"models": [
        {"model": "./models/Qwen2.5-7B-Instruct", "backend": "vllm", "gpus": [0], "args": {"stream_interval": 0}}]}}}))
    error = _error(cli, "t", "--config", "bad.yaml")
    assert "stacks.t.models[0].args.stream_interval" in error
