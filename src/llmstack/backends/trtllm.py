"""TensorRT-LLM: `nvcr.io/nvidia/tensorrt-llm/release:<x.y.z>`, served by `trtllm-serve`.

No entrypoint, default host `localhost` (so `--host 0.0.0.0` is mandatory), python3 present but
curl unverified: the healthcheck uses python3. The served model name is the model string for a
hub id and the directory basename for a local directory (checked in trtllm-serve's source:
`OpenAIServer.__init__` takes `Path(model).name` when the path is a directory). A
`--served_model_name` flag exists only in some release candidates, so it is not passed.
"""

from __future__ import annotations

from typing import Literal

from llmstack.backends.base import Backend, BackendArgs, FamilyRule, Features, python_healthcheck


class TrtllmArgs(BackendArgs):
    backend: Literal["pytorch", "tensorrt", "_autodeploy"] | None = None
    max_batch_size: int | None = None
    kv_cache_free_gpu_memory_fraction: float | None = None


class Trtllm(Backend):
    name = "trtllm"
    title = "TensorRT-LLM"
    default_port = 8000
    args_model = TrtllmArgs
    features = Features(tools="limited", vision="limited")
    ipc_host = True
    ulimits = True
    tool_parsers = frozenset({"qwen3", "qwen3_coder", "kimi_k2", "deepseek_v3"})
    family_rules = (
        FamilyRule(r"qwen3[-_.]?coder", "qwen3_coder"),
        FamilyRule(r"qwen3", "qwen3"),
        FamilyRule(r"kimi[-_.]?k2", "kimi_k2"),
        FamilyRule(r"deepseek[-_.]?v3", "deepseek_v3"),
    )

    def served_name(self, model):
        if model.mount is not None:
            return model.mount.container_path.rstrip("/").rsplit("/", 1)[-1]
        return model.model_arg

    def command(self, model, host):
        cmd = ["trtllm-serve", model.model_arg, "--host", host, "--port", str(model.port)]
        if model.args.get("backend"):
            cmd += ["--backend", model.args["backend"]]
        if model.max_model_len:
            cmd += ["--max_seq_len", str(model.max_model_len)]
        if model.args.get("max_batch_size"):
            cmd += ["--max_batch_size", str(model.args["max_batch_size"])]
        if model.args.get("kv_cache_free_gpu_memory_fraction") is not None:
            cmd += [
                "--kv_cache_free_gpu_memory_fraction",
                str(model.args["kv_cache_free_gpu_memory_fraction"]),
            ]
        if model.tensor_parallel and model.tensor_parallel > 1:
            cmd += ["--tp_size", str(model.tensor_parallel)]
        if model.tool_parser:
            cmd += ["--tool_parser", model.tool_parser]
        return cmd

    def healthcheck(self, host, port):
        return python_healthcheck(host, port)


BACKEND = Trtllm()
