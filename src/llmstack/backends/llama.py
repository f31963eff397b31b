"""llama.cpp server: `ghcr.io/ggml-org/llama.cpp:server-cuda-b<N>` (CPU: `server-b<N>`).

Entrypoint `/app/llama-server`; `command:` holds arguments only. The image ships curl but no
python or wget, and its built-in HEALTHCHECK probes port 8080, so the rendered healthcheck
replaces it. Tool calling comes from the model's chat template (`--jinja`), not a parser; a
vision projector is a separate GGUF file (`--mmproj`). llama.cpp splits layers over every GPU it
is given by itself: no tensor-parallel switch. Reasoning needs no switch either: from b7349 on,
`--reasoning-format` defaults to `auto`, which returns a thinking model's <think> text as
`reasoning_content` (common/arg.cpp), and as thinking blocks on its own /v1/messages, where the
gateway sends Anthropic requests (see `anthropic_routes` below).
"""

from __future__ import annotations

from llmstack import catalog
from llmstack.backends.base import (
    SECRET_FLAG,
    Backend,
    BackendArgs,
    CpuThreads,
    Defaults,
    DerivedFlag,
    Features,
    ImageProfile,
)


class LlamaArgs(BackendArgs):
    n_gpu_layers: int | str | None = None
    parallel: int | None = None


class Llama(Backend):
    name = "llama"
    title = "llama.cpp"
    image_profile = ImageProfile("restricted", True, (), (
        "llama-server only reads: the binary and its libraries under /app are readable by every user",
        "(.devops/*.Dockerfile, server stage: no USER, nothing written at run time with -m), so it runs",
        "as an unprivileged user (65534) on a read-only root: Pod Security restricted. The model",
        "file must be readable by that user (world-readable, as files usually are).",
    ))
    defaults = Defaults(image="ghcr.io/ggml-org/llama.cpp", version=catalog.versions("llama")[-1], port=8080,
                        args={"n_gpu_layers": 999, "max_model_len": 8192})
    args_model = LlamaArgs
    features = Features(tools="partial", vision="yes (with --mmproj)")
    formats = frozenset({"gguf"})
    auto_for = frozenset({"gguf"})
    tensor_parallel = False
    projector = True
    # On the CPU it starts one thread per core of the node, whatever its container's quota.
    cpu_threads = CpuThreads("LLAMA_ARG_THREADS", (), "One llama.cpp thread per core of the CPU limit (it would start "
                                                      "one per core of the node)")
    # What `command` writes, with the aliases llama-server accepts (common/arg.cpp; read in the
    # llama.cpp vendored by llama-cpp-python 0.3.36, a later build than the pin: these names are
    # older than b7349 except `-mm`, which an older build refuses anyway). Exact names only.
    derived_flags = (
        DerivedFlag(("-m", "--model"), "model"),
        DerivedFlag(("--alias", "-a"), "", "the name the gateway asks for"),
        DerivedFlag(("--host",), "network"),
        DerivedFlag(("--port",), "port"),
        DerivedFlag(("-c", "--ctx-size"), "max_model_len"),
        DerivedFlag(("-ngl", "--gpu-layers", "--n-gpu-layers"), "args.n_gpu_layers"),
        DerivedFlag(("-np", "--parallel"), "args.parallel"),
        DerivedFlag(("--mmproj", "-mm"), "mmproj"),
        DerivedFlag(("--jinja",), "", "chat templates and tool calls; llmstack always passes it"),
        DerivedFlag(("--api-key", "--api-key-file"), "", SECRET_FLAG, secret=True),
    )
    # The key: `--api-key` reads LLAMA_API_KEY (common/arg.cpp, `set_env("LLAMA_API_KEY")`, in the
    # llama.cpp vendored by llama-cpp-python 0.3.36, and in builds of 2024 already, older than the
    # b7349 pin). Checked as `Authorization: Bearer` or `X-Api-Key` on every path but /health,
    # /v1/health and the web UI's files (tools/server/server-http.cpp): the probes need no key.
    api_key_env = "LLAMA_API_KEY"
    api_key_flag = "--api-key"
    # /v1/messages (and /v1/messages/count_tokens) since ggml-org/llama.cpp#17570, merged
    # 2025-11-28 (about b7190); b7349 is the first build this project vouches for. Native is the
    # default: measured against translation with the real server (benchmarks/RESULTS.md, "native
    # vs translated"; tests/e2e/test_claude_llama.py): it accepts every Claude Code request shape,
    # keeps thinking blocks of the history (as reasoning_content), reports prompt-cache reads in
    # every usage block, and costs the gateway less per request.
    messages_since = "b7349"
    anthropic_routes = (("b7349", "native", "measured, benchmarks/RESULTS.md"),)

    def tools_without_parser(self):
        return True

    def memory_share(self, args):
        # llama.cpp allocates what the model needs, with no utilization cap: leave a margin.
        return 0.95

    def command(self, model, host):
        cmd = [
            "-m", model.model_arg,
            "--alias", model.served_name,
            "--host", host,
            "--port", str(model.port),
        ]
        if model.max_model_len:
            cmd += ["-c", str(model.max_model_len)]
        if model.gpus.enabled:
            cmd += ["-ngl", str(model.args.get("n_gpu_layers") or 999)]
        if model.args.get("parallel"):
            cmd += ["-np", str(model.args["parallel"])]
        if model.mmproj_arg is not None:
            cmd += ["--mmproj", model.mmproj_arg]
        # Chat templates and tool calling; the default in newer builds, required in older ones.
        cmd += ["--jinja"]
        return cmd


BACKEND = Llama()
