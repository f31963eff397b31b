"""TensorRT-LLM: `nvcr.io/nvidia/tensorrt-llm/release:<x.y.z>`, served by `trtllm-serve` (GPU only).

No entrypoint, default host `localhost` (so `--host 0.0.0.0` is mandatory), python3 present but
curl unverified: the healthcheck uses python3. The served model name is the model string for a
hub id and the directory basename for a local directory (checked in trtllm-serve's source:
`OpenAIServer.__init__` takes `Path(model).name` when the path is a directory). A
`--served_model_name` flag exists only in some release candidates, so it is not passed.
A built engine directory has its backend, sequence length and tensor-parallel size baked in.
"""

from __future__ import annotations

from typing import Literal

from llmstack import catalog
from llmstack.backends.base import Backend, BackendArgs, Defaults, DerivedFlag, Features, python_healthcheck, root_image


class TrtllmArgs(BackendArgs):
    backend: Literal["pytorch", "tensorrt", "_autodeploy"] | None = None
    max_batch_size: int | None = None
    kv_cache_free_gpu_memory_fraction: float | None = None


class Trtllm(Backend):
    name = "trtllm"
    title = "TensorRT-LLM"
    image_profile = root_image("docker/Dockerfile.multi's release stage, on nvcr.io/nvidia/pytorch")
    defaults = Defaults(image="nvcr.io/nvidia/tensorrt-llm/release", version=catalog.versions("trtllm")[-1], port=8000,
                        args={"backend": "pytorch", "kv_cache_free_gpu_memory_fraction": 0.9,
                              "max_model_len": 32768})
    args_model = TrtllmArgs
    program_words = 1  # trtllm-serve
    features = Features(tools="yes from 1.2 (--tool_parser; 1.0 has none)", vision="limited")
    formats = frozenset({"hf", "trtllm-engine"})
    auto_for = frozenset({"trtllm-engine"})
    ipc_host = True
    ulimits = True
    # What `command` writes, with the aliases trtllm-serve's click options declare
    # (tensorrt_llm/commands/serve.py, read at a commit later than 1.0.0: an alias 1.0.0 lacks would
    # stop it anyway; click matches exact names). `--tool_parser` only from 1.2 (the catalogue).
    derived_flags = (
        DerivedFlag(("--host",), "network"),
        DerivedFlag(("--port",), "port"),
        DerivedFlag(("--backend",), "args.backend"),
        DerivedFlag(("--max_seq_len",), "max_model_len"),
        DerivedFlag(("--max_batch_size",), "args.max_batch_size"),
        DerivedFlag(("--kv_cache_free_gpu_memory_fraction", "--free_gpu_memory_fraction"),
                    "args.kv_cache_free_gpu_memory_fraction"),
        DerivedFlag(("--tp_size", "--tensor_parallel_size"), "tensor_parallel"),
        DerivedFlag(("--tool_parser",), "tool_parser"),
        DerivedFlag(("--reasoning_parser",), "reasoning_parser"),
    )
    # Parser names per version: the catalogue (1.0.0 has no --tool_parser, NVIDIA/TensorRT-LLM#8216
    # came with 1.2; the lists are partial extracts: PyPI holds only a stub package).
    # trtllm-serve gained /v1/messages in NVIDIA/TensorRT-LLM#18289 (2026-09); no catalogued release
    # serves it: translated (`--anthropic-route native` for an image that does).
    messages_since = None
    # No API key: trtllm-serve has no such option (tensorrt_llm/commands/serve.py) and its app no
    # authenticating middleware (tensorrt_llm/serve/openai_server.py), read at NVIDIA/TensorRT-LLM
    # commits 00209af1 and 00057725, both later than 1.2.1. So it is never published beyond this host.

    def memory_share(self, args):
        # The KV cache gets this fraction of what is free after the weights: plan with 0.9 of the GPU.
        return 0.9

    def format_args(self, fmt):
        return {"backend": "tensorrt"} if fmt == "trtllm-engine" else {}

    def built_engine(self, fmt):
        return fmt == "trtllm-engine"

    def served_name(self, model):
        if model.mounts:
            return model.model_arg.rstrip("/").rsplit("/", 1)[-1]
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
        if model.reasoning_parser:
            cmd += ["--reasoning_parser", model.reasoning_parser]
        return cmd

    def healthcheck(self, host, port):
        return python_healthcheck(host, port, self.health_path)


BACKEND = Trtllm()
