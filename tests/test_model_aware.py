"""Render knows the model and the host before the GPU does (issue #10): every case that used to
render with exit 0 and fail hours later on the GPU host, now decided from the model's facts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, compose_config_quiet, snapshot
from tests.test_bad_input import assert_rejected

FAMILIES = REPO / "tests" / "fixtures" / "models" / "families"
GGUF = REPO / "tests" / "fixtures" / "models" / "gguf"


@pytest.fixture
def models(workdir: Path) -> Path:
    """The family fixtures (config.json + chat template as the models publish them) under ./fam/."""
    shutil.copytree(FAMILIES, workdir / "fam")
    shutil.copytree(GGUF, workdir / "gguf")
    return workdir


def backend_of(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]["backend"]


def flag_value(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


def rejected(cli, root: Path, expected: str, *args: str) -> None:
    before = snapshot(root)
    assert_rejected(cli("render", *args), expected, before, root)


# ---- context ----------------------------------------------------------------------------------

def test_default_context_is_capped_at_the_models_limit(cli, models):
    backend = backend_of(cli("render", "--model", "./fam/Meta-Llama-3-8B-Instruct", "--stdout"))
    assert flag_value(backend["command"], "--max-model-len") == "8192"  # not vLLM's default 32768
    sglang = backend_of(cli("render", "--model", "./fam/Meta-Llama-3-8B-Instruct", "--backend", "sglang",
                            "--stdout"))
    assert flag_value(sglang["command"], "--context-length") == "8192"


def test_a_larger_explicit_context_names_both_numbers(cli, models):
    rejected(cli, models, "--max-model-len 32768: the model's context limit is 8192 tokens "
             "(config.json: max_position_embeddings of ./fam/Meta-Llama-3-8B-Instruct); pass at most 8192",
             "--model", "./fam/Meta-Llama-3-8B-Instruct", "--max-model-len", "32768")


def test_the_rendered_file_says_where_the_context_came_from(cli, models):
    result = cli("render", "--model", "./fam/Meta-Llama-3-8B-Instruct", "--stdout")
    assert "# Context 8192 tokens: the model's limit (config.json: max_position_embeddings" in result.stdout


# ---- CPU --------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend, image", [
    ("vllm", "vllm/vllm-openai-cpu:v0.33.0-x86_64"),  # vLLM's official CPU image (release tooling)
    ("sglang", "lmsysorg/sglang:v0.5.23-xeon"),  # AVX-512/AMX Xeons
])
def test_cpu_renders_the_release_cpu_image(cli, models, backend, image):
    result = cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--backend", backend, "--cpu", "--stdout")
    assert result.exit_code == 0, result.stderr
    service = yaml.safe_load(result.stdout)["services"]["backend"]
    assert service["image"] == image and "deploy" not in service
    if backend == "sglang":
        assert "needs a CPU with AVX-512, AMX" in result.stderr  # named, not checked here (doctor checks it)


def test_cpu_without_a_cpu_image_names_what_runs_there(cli, models):
    rejected(cli, models, "--cpu: TensorRT-LLM has no CPU image (only llama.cpp, SGLang, vLLM run on the CPU)",
             "--model", "./fam/Qwen2.5-7B-Instruct", "--backend", "trtllm", "--cpu")
    # vLLM's release tooling publishes CPU images from 0.16 on: older catalogued releases have none.
    rejected(cli, models, "--cpu: vLLM v0.12.0 publishes no CPU image (catalogued versions with it: v0.17.0, ",
             "--model", "./fam/Qwen2.5-7B-Instruct", "--backend-version", "v0.12.0", "--cpu")


def test_a_cpu_image_given_explicitly_is_used(cli, models):
    backend = backend_of(cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--cpu", "--stdout",
                             "--backend-image", "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.12.0"))
    assert backend["image"] == "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.12.0" and "deploy" not in backend


# ---- parsers and vision from config.json ------------------------------------------------------

def test_family_comes_from_config_json_not_the_directory_name(cli, models):
    result = cli("render", "--model", "./fam/prod-chat", "--name", "p")
    assert result.exit_code == 0, result.stderr
    compose = yaml.safe_load((models / "compose" / "p" / "docker-compose.yml").read_text())
    assert flag_value(compose["services"]["backend"]["command"], "--tool-call-parser") == "hermes"
    config = yaml.safe_load((models / "compose" / "p" / "litellm-config.yaml").read_text())
    assert config["model_list"][0]["model_info"]["supports_function_calling"] is True


@pytest.mark.parametrize("model, backend, tool, reasoning", [
    ("Qwen3-8B", "vllm", "hermes", "qwen3"),
    ("Qwen3-8B", "sglang", "qwen", "qwen3"),  # SGLang's own detection names it `qwen` (qwen25: an alias)
    ("DeepSeek-R1", "vllm", None, "deepseek_r1"),
    ("DeepSeek-R1", "sglang", None, "deepseek-r1"),
    ("DeepSeek-R1-Distill-Qwen-7B", "vllm", None, "deepseek_r1"),
    ("QwQ-32B", "vllm", "hermes", "deepseek_r1"),
    ("GLM-4.5-Air", "vllm", "glm45", "glm45"),
    ("GLM-4.5-Air", "sglang", "glm45", "glm45"),
    ("GLM-4.7", "vllm", "glm47", "glm47"),
    ("Qwen3-Coder-30B-A3B-Instruct", "vllm", "qwen3_xml", None),
    ("Qwen3-Coder-30B-A3B-Instruct", "sglang", "qwen3_coder", None),
    ("Llama-3.1-8B-Instruct", "vllm", "llama3_json", None),
    ("Meta-Llama-3-8B-Instruct", "vllm", None, None),  # Llama 3.0 has no tool format
    ("gpt-oss-20b", "vllm", "openai", None),  # harmony needs no reasoning parser in vLLM
    ("gpt-oss-20b", "sglang", "gpt-oss", "gpt-oss"),
    ("Mistral-7B-Instruct-v0.3", "sglang", "mistral", None),
    ("DeepSeek-V3.1", "sglang", "deepseekv31", "deepseek-v3"),
    ("Qwen3-8B", "trtllm", "qwen3", "qwen3"),  # TRT-LLM 1.2 has --tool_parser
])
def test_tool_and_reasoning_parsers_by_family(cli, models, model, backend, tool, reasoning):
    gpus = "8" if model in ("DeepSeek-R1", "DeepSeek-V3.1", "GLM-4.7") else "1"
    command = backend_of(cli("render", "--model", f"./fam/{model}", "--backend", backend, "--gpus", gpus,
                             "--stdout"))["command"]
    tool_flag = {"vllm": "--tool-call-parser", "sglang": "--tool-call-parser", "trtllm": "--tool_parser"}[backend]
    reasoning_flag = {"vllm": "--reasoning-parser", "sglang": "--reasoning-parser",
                      "trtllm": "--reasoning_parser"}[backend]
    assert flag_value(command, tool_flag) == tool
    assert flag_value(command, reasoning_flag) == reasoning


def test_reasoning_parser_can_be_chosen_and_is_checked(cli, models):
    command = backend_of(cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--reasoning-parser", "deepseek_r1",
                             "--stdout"))["command"]
    assert flag_value(command, "--reasoning-parser") == "deepseek_r1"
    rejected(cli, models, "--reasoning-parser qwen3-thinking: unknown to vLLM v0.33.0; choose one of",
             "--model", "./fam/Qwen3-8B", "--reasoning-parser", "qwen3-thinking")
    rejected(cli, models, "--reasoning-parser deepseek: llama.cpp has no reasoning parser switch",
             "--model", "./gguf/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "--reasoning-parser", "deepseek")


def test_vision_comes_from_vision_config(cli, models):
    result = cli("render", "--model", "./fam/Qwen2.5-VL-7B-Instruct", "--name", "vl")
    assert result.exit_code == 0, result.stderr
    text = (models / "compose" / "vl" / "litellm-config.yaml").read_text()
    assert yaml.safe_load(text)["model_list"][0]["model_info"]["supports_vision"] is True
    assert "config.json: vision_config" in text  # and says why


# ---- tensor parallelism -----------------------------------------------------------------------

def test_tensor_parallel_must_divide_the_attention_heads(cli, models):
    rejected(cli, models, "--gpus 0,1,2 (tensor parallel 3): tensor parallel 3 must divide the model's 28 attention "
             "heads (config.json: num_attention_heads of ./fam/Qwen2.5-7B-Instruct); use 2 or 4 GPUs or set",
             "--model", "./fam/Qwen2.5-7B-Instruct", "--gpus", "0,1,2")
    rejected(cli, models, "--tensor-parallel 3: tensor parallel 3 must divide the model's 28 attention heads",
             "--model", "./fam/Qwen2.5-7B-Instruct", "--gpus", "4", "--tensor-parallel", "3")
    command = backend_of(cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--gpus", "0,1,2,3",
                             "--stdout"))["command"]
    assert flag_value(command, "--tensor-parallel-size") == "4"


def test_a_built_engine_fixes_its_tensor_parallel_size(cli, models):
    engine = "./fam/Llama-3.1-8B-Instruct-trtllm-engine"
    rejected(cli, models, "--gpus 1: the engine ./fam/Llama-3.1-8B-Instruct-trtllm-engine was built for tensor "
             "parallel 2", "--model", engine, "--gpus", "1")
    command = backend_of(cli("render", "--model", engine, "--gpus", "0,1", "--stdout"))["command"]
    assert flag_value(command, "--tp_size") == "2" and flag_value(command, "--backend") == "tensorrt"
    assert "--max_seq_len" not in command  # baked into the engine


# ---- the memory plan --------------------------------------------------------------------------

def test_a_70b_bf16_model_does_not_fit_one_24_gib_gpu(cli, models):
    rejected(cli, models, "--gpus 1: Llama-3.1-70B-Instruct needs 142.9 GiB (131.4 GiB weights + 10.0 GiB KV cache "
             "for 32768 tokens + 1.5 GiB overhead) but 0.9 x 24 GiB x 1 GPU(s) = 21.6 GiB are available "
             "(--gpu-memory); use more GPUs (8 of 24 GiB), or a quantized model",
             "--model", "./fam/Llama-3.1-70B-Instruct", "--gpus", "1", "--gpu-memory", "24")


def test_a_context_that_fits_is_offered_when_only_the_kv_cache_overflows(cli, models):
    rejected(cli, models, "use a context that fits (--max-model-len 12288)",
             "--model", "./fam/Llama-3.1-8B-Instruct", "--gpus", "1", "--gpu-memory", "20",
             "--max-model-len", "131072")


def test_the_plan_is_printed_and_kept_as_a_comment(cli, models):
    result = cli("render", "--model", "./fam/Llama-3.1-70B-Instruct", "--gpus", "0,1,2,3,4,5,6,7",
                 "--gpu-memory", "80", "--name", "big")
    assert result.exit_code == 0, result.stderr
    assert "Memory plan for backend: 131.4 GiB weights + 10.0 GiB KV cache (32768 tokens x 1 sequence x " \
           "327680 B/token) + 12.0 GiB overhead = 153.4 GiB needed" in result.stdout
    text = (models / "compose" / "big" / "docker-compose.yml").read_text()
    assert "# Memory plan: 131.4 GiB weights" in text and "= 576.0 GiB available: fits" in text


def fake_nvidia_smi(root: Path, monkeypatch, lines: str) -> None:
    bin_dir = root / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{lines}EOF\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_gpu_memory_is_measured_with_nvidia_smi_on_the_gpu_host(cli, models, monkeypatch):
    fake_nvidia_smi(models, monkeypatch, "0, NVIDIA GeForce RTX 4090, 24564\n1, NVIDIA GeForce RTX 4090, 24564\n")
    rejected(cli, models, "--gpus 1: Llama-3.1-70B-Instruct needs 142.9 GiB",
             "--model", "./fam/Llama-3.1-70B-Instruct", "--gpus", "1")
    result = cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--gpus", "device=1", "--max-model-len", "8192",
                 "--stdout")
    assert result.exit_code == 0, result.stderr
    assert "0.9 x 24 GiB x 1 GPU (nvidia-smi)" in result.stdout


def test_without_gpu_memory_the_plan_is_skipped_with_one_notice(cli, models, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvidia-smi
    result = cli("render", "--model", "./fam/Llama-3.1-70B-Instruct", "--gpus", "1", "--stdout")
    assert result.exit_code == 0
    notices = [line for line in result.stderr.splitlines() if "memory plan skipped" in line]
    assert notices == ["llmstack: note: memory plan skipped: no --gpu-memory given (GiB as nvidia-smi reports it, "
                       "or a GPU product such as L4 or H100) and no nvidia-smi on this host"]


def test_models_sharing_a_gpu_split_its_memory(cli, models):
    (models / "two.yaml").write_text(yaml.safe_dump({"stacks": {"two": {"models": [
        {"model": "./fam/Qwen2.5-7B-Instruct", "alias": "a", "gpus": [0]},
        {"model": "./fam/Qwen3-8B", "alias": "b", "gpus": [0], "backend": "sglang"},
    ]}}}))
    result = cli("render", "two", "--config", "two.yaml", "--stdout")
    assert result.exit_code == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert flag_value(services["backend-a"]["command"], "--gpu-memory-utilization") == "0.45"
    assert flag_value(services["backend-b"]["command"], "--mem-fraction-static") == "0.45"
    assert "GPU memory share: split evenly: backend-a, backend-b share a GPU" in result.stdout


def test_models_sharing_a_gpu_with_shares_set_by_hand_must_sum_below_one(cli, models):
    (models / "two.yaml").write_text(yaml.safe_dump({"stacks": {"two": {"models": [
        {"model": "./fam/Qwen2.5-7B-Instruct", "alias": "a", "gpus": 1,
         "args": {"gpu_memory_utilization": 0.6}},
        {"model": "./fam/Qwen3-8B", "alias": "b", "gpus": 1},
    ]}}}))
    rejected(cli, models, "two.yaml: stacks.two.models[0].args.gpu_memory_utilization 0.6: the models backend-a, "
             "backend-b share a GPU and their memory shares sum to 1.5", "two", "--config", "two.yaml")


def test_models_on_different_gpus_keep_their_shares(cli, models):
    result = cli("render", "qwen-coder-and-chat", "--stdout")
    services = yaml.safe_load(result.stdout)["services"]
    assert flag_value(services["backend-coder"]["command"], "--gpu-memory-utilization") == "0.9"


def shares_by_gpu(stdout: str, devices: dict[str, list[int]]) -> dict[int, float]:
    """The memory share each GPU gives away in total, from the rendered commands."""
    services = yaml.safe_load(stdout)["services"]
    totals: dict[int, float] = {}
    for service, ids in devices.items():
        command = services[service]["command"]
        share = flag_value(command, "--gpu-memory-utilization") or flag_value(command, "--mem-fraction-static")
        for gpu in ids:
            totals[gpu] = round(totals.get(gpu, 0) + float(share), 4)
    return totals


def test_chained_reservations_never_give_away_more_than_a_gpu(cli, models):
    """Issue 17, bug 3: [0], [1,2], [1,2], [0,2] are one group (connected through GPU 2 and GPU 0);
    split as two groups, GPU 2 was given 1.12 of itself."""
    reservations = {"a": [0], "b": [1, 2], "c": [1, 2], "d": [0, 2]}
    (models / "chain.yaml").write_text(yaml.safe_dump({"stacks": {"chain": {"models": [
        {"model": "./fam/Qwen2.5-7B-Instruct", "alias": alias, "gpus": ids} for alias, ids in reservations.items()
    ]}}}))
    result = cli("render", "chain", "--config", "chain.yaml", "--stdout")
    assert result.exit_code == 0, result.stderr
    totals = shares_by_gpu(result.stdout, {f"backend-{alias}": ids for alias, ids in reservations.items()})
    assert max(totals.values()) <= 0.9, totals
    assert totals[2] == 0.9  # three models on GPU 2: 0.3 each, not less than they can have


def test_a_llama_cpp_model_on_a_shared_gpu_is_planned_against_its_share(cli, models):
    """Issue 17, bug 3: llama.cpp has no memory switch; beside a vLLM model it was planned against
    0.95 of the GPU while the vLLM model took 0.45 of it."""
    (models / "mixed.yaml").write_text(yaml.safe_dump({"stacks": {"mixed": {"gpu_memory": 48, "models": [
        {"model": "./fam/Qwen2.5-7B-Instruct", "alias": "chat", "gpus": [0], "max_model_len": 4096},
        {"model": "./gguf/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "alias": "small", "gpus": [0]},
    ]}}}))
    result = cli("render", "mixed", "--config", "mixed.yaml", "--stdout")
    assert result.exit_code == 0, result.stderr
    small = result.stdout.split("backend-chat:")[1].split("backend-small:")[0]  # the comments above backend-small
    assert "0.45 x 48 GiB x 1 GPU (mixed.yaml: stacks.mixed.gpu_memory)" in small
    assert "0.95 x" not in result.stdout
    services = yaml.safe_load(result.stdout)["services"]
    assert flag_value(services["backend-chat"]["command"], "--gpu-memory-utilization") == "0.45"


def test_tensor_parallel_advice_only_names_sizes_the_kv_heads_accept(cli, models):
    """Issue 17, bug 3: 28 attention heads and 4 KV heads: 7 divides the heads but not the KV heads,
    so the advice must not offer it (the next render would refuse it)."""
    result = cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--gpus", "1", "--gpu-memory", "6", "--stdout")
    assert result.exit_code == 2
    assert "more GPUs (28 of 6 GiB)" in result.stderr, result.stderr
    rejected(cli, models, "--gpus 14 (tensor parallel 14): tensor parallel 14 does not split the model's 4 KV heads "
             "evenly (config.json: num_key_value_heads of ./fam/Qwen2.5-7B-Instruct); use 2 or 4 or 28 GPUs or set",
             "--model", "./fam/Qwen2.5-7B-Instruct", "--gpus", "14")


# ---- what the container mounts -----------------------------------------------------------------

def test_a_split_gguf_mounts_every_shard(cli, models):
    result = cli("render", "--model",
                 "./gguf/Qwen2.5-7B-Instruct-Q4_K_M/Qwen2.5-7B-Instruct-Q4_K_M-00001-of-00003.gguf", "--name", "s")
    assert result.exit_code == 0, result.stderr
    backend = yaml.safe_load((models / "compose" / "s" / "docker-compose.yml").read_text())["services"]["backend"]
    assert backend["volumes"][0]["source"] == "${LLMSTACK_MODEL_DIR:-../../gguf/Qwen2.5-7B-Instruct-Q4_K_M}"
    assert flag_value(backend["command"], "-m") == \
        "/models/Qwen2.5-7B-Instruct-Q4_K_M/Qwen2.5-7B-Instruct-Q4_K_M-00001-of-00003.gguf"
    assert flag_value(backend["command"], "--alias") == "qwen2-5-7b-instruct-q4_k_m"  # not "...-00001-of-00003"
    assert compose_config_quiet(models / "compose" / "s").returncode == 0


def test_a_projector_beside_a_gguf_model_is_found(cli, models):
    backend = backend_of(cli("render", "--model", "./gguf/gemma-3-4b-it", "--stdout"))
    assert flag_value(backend["command"], "--mmproj") == "/models/gemma-3-4b-it/mmproj-gemma-3-4b-it-F16.gguf"
    assert flag_value(backend["command"], "-m") == "/models/gemma-3-4b-it/gemma-3-4b-it-Q4_K_M.gguf"


def test_a_hugging_face_cache_snapshot_mounts_its_blobs_and_serves_a_readable_name(cli, workdir, hf_cache):
    from tests.conftest import REVISION

    snapshot_dir = hf_cache / "models--Qwen--Qwen2.5-7B-Instruct" / "snapshots" / REVISION
    result = cli("render", "--model", str(snapshot_dir), "--gpus", "1", "--name", "snap")
    assert result.exit_code == 0, result.stderr
    out = workdir / "compose" / "snap"
    backend = yaml.safe_load((out / "docker-compose.yml").read_text())["services"]["backend"]
    mount = backend["volumes"][0]
    repo = hf_cache / "models--Qwen--Qwen2.5-7B-Instruct"
    assert mount["source"] == f"${{LLMSTACK_MODEL_REPO:-{repo}}}" and mount["read_only"] is True
    assert mount["target"] == "/models/models--Qwen--Qwen2.5-7B-Instruct"  # snapshots/ and blobs/ inside
    assert flag_value(backend["command"], "--model") == \
        f"/models/models--Qwen--Qwen2.5-7B-Instruct/snapshots/{REVISION}"
    assert flag_value(backend["command"], "--served-model-name") == "qwen2-5-7b-instruct"  # not the hash
    assert flag_value(backend["command"], "--tool-call-parser") == "hermes"  # facts read through the symlinks


def test_a_hub_id_in_the_local_cache_is_read_without_the_network(cli, workdir, hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_cache))
    result = cli("render", "--model", "Qwen/Qwen2.5-7B-Instruct", "--max-model-len", "65536", "--stdout")
    assert result.exit_code == 2  # the cached config.json says 32768
    assert "the model's context limit is 32768 tokens" in result.stderr


# ---- gateway, images, manifest -----------------------------------------------------------------

def test_no_litellm_publishes_the_backend(cli, models):
    backend = backend_of(cli("render", "--model", "./gguf/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "--cpu",
                             "--no-litellm", "--bind", "0.0.0.0", "--stdout"))
    assert backend["ports"] == ["0.0.0.0:8080:8080"]


@pytest.mark.parametrize("image, problem", [
    ("Foo Bar:x", "an image reference has no spaces"),
    ("vllm/VLLM-openai:v0.12.0", "repository names are lowercase"),
    ("vllm/vllm-openai:", "not a valid image reference"),
    ("vllm/vllm-openai@sha256:abc", "not a valid image reference"),
])
def test_image_references_are_checked(cli, models, image, problem):
    rejected(cli, models, f"--backend-image {image!r}: {problem}",
             "--model", "./fam/Qwen2.5-7B-Instruct", "--backend-image", image)


def test_an_image_digest_is_used_as_is(cli, models):
    digest = "vllm/vllm-openai@sha256:" + "a" * 64
    backend = backend_of(cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--backend-image", digest,
                             "--stdout"))
    assert backend["image"] == digest
    tagged = "registry.example.com:5000/vllm/vllm-openai:v0.12.0@sha256:" + "b" * 64
    assert backend_of(cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--backend-image", tagged,
                          "--stdout"))["image"] == tagged


def test_check_works_in_a_checkout_without_the_weights(cli, models):
    args = ("--model", "./fam/Meta-Llama-3-8B-Instruct", "--gpus", "1", "--gpu-memory", "24", "--name", "l3")
    assert cli("render", *args).exit_code == 0
    shutil.rmtree(models / "fam" / "Meta-Llama-3-8B-Instruct")  # a deployment repo's CI has no weights
    check = cli("render", *args, "--check")
    assert check.exit_code == 0, check.stderr
    assert "compose/l3: up to date" in check.stdout
    assert "not on this host; using the facts recorded in compose/l3/llmstack-manifest.yaml" in check.stderr
    again = cli("render", *args)  # the header's regenerate command works too
    assert again.exit_code == 0 and "already up to date" in again.stdout
    manifest = yaml.safe_load((models / "compose" / "l3" / "llmstack-manifest.yaml").read_text())
    facts = manifest["models"]["./fam/Meta-Llama-3-8B-Instruct"]["facts"]
    assert facts["context_length"] == 8192 and facts["family"] == "llama3"


def test_without_the_weights_or_a_manifest_the_error_names_the_path(cli, models):
    rejected(cli, models, "--model ./fam/gone: no such file or directory on this host",
             "--model", "./fam/gone", "--check")


def test_runtime_commands_read_the_manifest_not_the_compose_file(cli, models):
    from llmstack import stackdir

    assert cli("render", "qwen-coder-and-chat").exit_code == 0
    out = models / "compose" / "qwen-coder-and-chat"
    (out / "docker-compose.yml").write_text((out / "docker-compose.yml").read_text() + "\nnot: [valid yaml\n")
    stack = stackdir.load("qwen-coder-and-chat")
    assert stack.services == ["backend-coder", "backend-chat", "litellm"]
    assert [a.name for a in stack.aliases] == ["coder", "chat"]
    assert stack.gateway_url == "http://127.0.0.1:4000"
    assert stack.claude == {"claude-opus-*": "coder", "claude-sonnet-*": "coder", "claude-haiku-*": "chat",
                            "claude-fable-*": "coder"}


def test_kv_cache_over_tensor_parallel_gpus_counts_copies():
    from llmstack.memory import kv_per_token
    from llmstack.model import inspect_path

    llama = inspect_path(FAMILIES / "Llama-3.1-8B-Instruct")  # 8 KV heads: split up to 8 GPUs, copied beyond
    assert kv_per_token(llama, 1) == kv_per_token(llama, 8) == 131072
    assert kv_per_token(llama, 16) == 2 * 131072
    deepseek = inspect_path(FAMILIES / "DeepSeek-V3")  # MLA: every GPU holds the whole latent
    assert kv_per_token(deepseek, 1) == 61 * 576 * 2
    assert kv_per_token(deepseek, 8) == 8 * 61 * 576 * 2


def test_a_share_that_leaves_no_room_for_cuda_graphs_is_noticed(cli, models):
    (models / "tight.yaml").write_text(yaml.safe_dump({"defaults": {"backends": {"vllm": {
        "args": {"gpu_memory_utilization": 0.98}}}}}))
    result = cli("render", "--model", "./fam/Qwen2.5-7B-Instruct", "--gpus", "1", "--gpu-memory", "24",
                 "--max-model-len", "8192", "--config", "tight.yaml", "--stdout")
    assert result.exit_code == 0, result.stderr
    assert "backend: a memory share of 0.98 leaves 0.5 GiB of each 24 GiB GPU outside the budget" in result.stderr
