"""`--backend vllm --cpu`: what vLLM needs around its command on the CPU (backends/vllm.py,
`container()`), on both targets, each setting with its reason; proven on the real server by
tests/e2e/test_vllm_stack.py. Until the CPU image is selected by itself, `--backend-image` gives one."""

from __future__ import annotations

from pathlib import Path

import yaml

from llmstack import backends
from llmstack.spec import GpuSpec, ModelSpec

CPU_IMAGE = "vllm/vllm-openai-cpu:v0.32.0-x86_64"
QWEN = ("--model", "./models/Qwen2.5-7B-Instruct", "--backend", "vllm", "--cpu", "--backend-image", CPU_IMAGE)


def render(cli, workdir: Path, *args: str, name: str = "cpu") -> tuple[dict, Path]:
    result = cli("render", *args, "--name", name)
    assert result.exit_code == 0, result.stderr
    out = workdir / "compose" / name
    return yaml.safe_load((out / "docker-compose.yml").read_text())["services"]["backend"], out


def test_cpu_service_has_kv_cache_shared_memory_threads_and_a_long_start(cli, workdir):
    service, out = render(cli, workdir, *QWEN)
    # 28 layers x 4 KV heads x 128 x 2 (K, V) x 2 bytes = 57344 B/token x 32768 tokens = 1.75 GiB -> 2
    assert service["environment"] == {"VLLM_CPU_KVCACHE_SPACE": "2",
                                      "VLLM_CPU_OMP_THREADS_BIND": "${LLMSTACK_BACKEND_THREADS_BIND:-auto}",
                                      "VLLM_NO_USAGE_STATS": "1"}
    assert service["shm_size"] == "4g"
    assert "ipc" not in service and "deploy" not in service and "ulimits" not in service
    assert service["healthcheck"]["start_period"] == "30m"
    assert "--enforce-eager" not in service["command"]  # the official CPU image compiles
    text = (out / "docker-compose.yml").read_text()
    assert ("# KV cache on the CPU: 2 GiB (room for 1 sequence of 32768 tokens x 57344 B/token = 1792 MiB, "
            "rounded up to whole GiB; --cpu-kv-cache for more requests at once).") in text
    assert "# Per host: set LLMSTACK_BACKEND_THREADS_BIND in .env." in text
    assert "# LLMSTACK_BACKEND_THREADS_BIND=auto\n" in (out / ".env.example").read_text()


def test_kv_cache_size_given_by_flag_or_models_yaml(cli, workdir):
    service, _ = render(cli, workdir, *QWEN, "--cpu-kv-cache", "8")
    assert service["environment"]["VLLM_CPU_KVCACHE_SPACE"] == "8"
    (workdir / "models.yaml").write_text(yaml.safe_dump({"stacks": {"two": {"models": [
        {"model": "./models/Qwen2.5-7B-Instruct", "backend": "vllm", "gpus": "none", "image": CPU_IMAGE,
         "alias": "chat", "cpu_kv_cache": 6},
        {"model": "./models/Qwen2.5-7B-Instruct", "backend": "vllm", "gpus": "none", "image": CPU_IMAGE,
         "alias": "coder", "max_model_len": 4096}]}}}))
    result = cli("render", "two", "--config", "models.yaml")
    assert result.exit_code == 0, result.stderr
    services = yaml.safe_load((workdir / "compose" / "two" / "docker-compose.yml").read_text())["services"]
    chat, coder = services["backend-chat"]["environment"], services["backend-coder"]["environment"]
    assert chat["VLLM_CPU_KVCACHE_SPACE"] == "6" and coder["VLLM_CPU_KVCACHE_SPACE"] == "1"
    # Two servers on one host: each service's cores from its own .env variable.
    assert chat["VLLM_CPU_OMP_THREADS_BIND"] == "${LLMSTACK_BACKEND_CHAT_THREADS_BIND:-auto}"
    assert coder["VLLM_CPU_OMP_THREADS_BIND"] == "${LLMSTACK_BACKEND_CODER_THREADS_BIND:-auto}"


def test_kv_cache_size_is_refused_where_nothing_uses_it(cli, workdir):
    gpu, llama = ("--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1"), ("--model", "./models/tiny.gguf", "--cpu")
    for args in (gpu, llama):
        result = cli("render", *args, "--cpu-kv-cache", "4", "--stdout")
        assert result.exit_code == 2
        assert result.stderr.strip() == ("llmstack: error: --cpu-kv-cache 4: nothing in this render uses it (it does "
                                         "not apply to this model or stack); remove it")
    zero = cli("render", *QWEN, "--cpu-kv-cache", "0", "--stdout")
    assert zero.exit_code == 2 and "--cpu-kv-cache" in zero.stderr


def test_an_extra_arg_sizing_the_kv_cache_is_refused(cli, workdir):
    """vLLM reads VLLM_CPU_KVCACHE_SPACE over --kv-cache-memory-bytes: the flag would be silently ignored
    (and on GPUs it would override the memory plan's share)."""
    for args in (QWEN, ("--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1")):
        result = cli("render", *args, "--extra-arg=--kv_cache_memory_bytes=4000000000", "--stdout")
        assert result.exit_code == 2, result.stdout
        assert "llmstack derives vLLM's --kv-cache-memory-bytes" in result.stderr
        assert "--cpu-kv-cache GIB on the CPU" in result.stderr


def test_a_model_whose_kv_shape_is_unknown_gets_four_gib_and_a_notice(cli, workdir):
    bare = workdir / "models" / "bare"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    result = cli("render", "--model", str(bare), "--backend", "vllm", "--cpu", "--backend-image", CPU_IMAGE,
                 "--stdout")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["services"]["backend"]["environment"]["VLLM_CPU_KVCACHE_SPACE"] == "4"
    assert "KV cache on the CPU: 4 GiB (the model's KV cache shape or context is unknown); set --cpu-kv-cache GIB" \
        in result.stderr


def test_gpu_service_is_unchanged_but_for_usage_stats(cli, workdir):
    service, _ = render(cli, workdir, "--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1")
    assert service["environment"] == {"VLLM_NO_USAGE_STATS": "1"}
    assert service["ipc"] == "host" and "shm_size" not in service
    assert service["healthcheck"]["start_period"] == "30m"


def test_kubernetes_pod_on_the_cpu(cli, workdir):
    result = cli("render", *QWEN, "--target", "kubernetes", "--k8s-model-pvc", "models", "--name", "k")
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all((workdir / "compose" / "k-k8s" / "backend.yaml").read_text()))
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    # In a pod the thread count follows the CPU limit: vLLM's auto binding would take every core of the node.
    # (and, as every keyable backend on a cluster, its own API key from the Secret: tests/test_exposure.py)
    assert env.pop("VLLM_API_KEY") == {"secretKeyRef": {"name": "k-env", "key": "LLMSTACK_BACKEND_KEY"}}
    assert env == {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_NO_USAGE_STATS": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind",
                   "OMP_NUM_THREADS": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}}
    # 14.2 GiB of weights (estimated from the config) + 2 GiB KV cache + 2 GiB vLLM's processes, in 256 MiB steps
    memory = container["resources"]["limits"]["memory"]
    assert memory == container["resources"]["requests"]["memory"] and int(memory.removesuffix("Mi")) > 18 * 1024
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] == 30 * 60


def test_the_backend_owns_the_container_settings():
    """By capability: a backend without a CPU KV cache setting gets the plain container."""
    spec = ModelSpec(service="backend", alias="a", backend="llama", display_name="m", served_name="m",
                     model_arg="/models/m.gguf", image="i", port=8080, gpus=GpuSpec(kind="none"), tools=True,
                     vision=False)
    plain = backends.get("llama").container(spec)
    assert plain.environment == () and plain.shm_size is None and plain.start_minutes == 10
    assert not backends.get("llama").cpu_kv_cache and backends.get("vllm").cpu_kv_cache
