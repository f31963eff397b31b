"""What each pod of the Kubernetes target may do and is given: its Pod Security level, the
securityContext that meets it, the paths it writes, and its CPU and memory. Pure: no I/O.

Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards, checked in
code by kubernetes/pod-security-admission's policy/check_*.go): every pod meets **baseline**
(no host namespaces, ports or paths, no privileged containers, no added capabilities), and every
container also gets what "restricted" asks that any image can take: seccomp RuntimeDefault,
allowPrivilegeEscalation false, capabilities drop ALL. Pods whose image runs as another user
than root meet **restricted** (runAsNonRoot, a non-zero runAsUser). Why each image is where it is
stands in each backend's `image_profile` (backends/*.py), from its image's Dockerfile at (or next
to) the pinned release.

Requests equal limits (QoS class Guaranteed: the memory a model needs is reserved on the node,
and the pod is the last one evicted under pressure). The memory figures are in `backend_resources`
and `gateway_resources`, each with the reason the rendered comment prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmstack import backends
from llmstack.backends.base import CpuThreads, ImageProfile
from llmstack.spec import GiB, KubernetesSpec, LitellmSpec, ModelSpec

# The user restricted pods run as: `nobody`, the user LiteLLM's own non-root image runs as
# (docker/Dockerfile.non_root: USER nobody), owning no file in any of the images.
NONROOT_UID = 65534

Mi = 1024**2


GATEWAY_PROFILE = ImageProfile("restricted", True, (("tmp", "/tmp"),), (
    "LiteLLM needs no root: MEASURED with LiteLLM 1.104.5 (1 and 2 workers) as user 65534 on a",
    "read-only root with no capability and no privilege escalation, it got ready and answered chat",
    "completions and /v1/messages. It wrote nothing; /tmp is writable anyway, for temporary files.",
    "Pod Security restricted.",
))


def profile(backend: str) -> ImageProfile:
    """What the backend's image lets its pod do (each backend module says, backends/*.py)."""
    return backends.get(backend).image_profile


# ---- CPU and memory ---------------------------------------------------------------------------

# Host memory of a GPU pod besides the weights: the serving processes themselves. MEASURED: one
# vLLM 0.32 (CPU build) process group takes 1.9-2.5 GiB before any weights (TESTING.md section 9);
# CUDA builds load CUDA, cuBLAS and NCCL on top in every process. vLLM, SGLang and TRT-LLM run an
# API/tokenizer process and a scheduler, plus one worker process per GPU with tensor parallelism.
GPU_POD_BASE_GIB = 3.0
GPU_POD_PER_GPU_GIB = 2.0
# A model whose size is unknown (an uncached hub id, no config to read): this much for the weights.
UNKNOWN_WEIGHTS_GIB = 16.0
# CPU cores of a backend pod on the CPU; its server is told as many compute threads (backends' cpu_threads).
CPU_POD_CPUS = 4
# LiteLLM: MEASURED with 1.104.5 (read-only root, user 65534, a fake backend, docker stats): one
# worker 265-371 MiB idle and 384 MiB at most under 32 concurrent streaming and /v1/messages clients;
# two workers 619 MiB idle, 711 MiB at most under the same load. Each uvicorn worker is a whole
# LiteLLM process, the supervisor one more. With headroom: 512 MiB per worker + 256 MiB.
GATEWAY_PER_WORKER_MIB = 512
GATEWAY_SUPERVISOR_MIB = 256


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str
    why: tuple[str, ...]  # comment lines above `resources:`
    cpu_threads: CpuThreads | None = None  # the thread count the server is given from the CPU limit (on the CPU)


def _mib(gib: float) -> str:
    """A memory quantity in MiB, rounded up to a multiple of 256 MiB."""
    return f"{math.ceil(gib * GiB / (256 * Mi)) * 256}Mi"


def backend_resources(model: ModelSpec, k8s: KubernetesSpec, gpus: int) -> Resources:
    """CPU and memory of a backend pod: from the model (weights, KV cache), or as given."""
    footprint = k8s.footprints.get(model.service)
    weights = footprint.weights_bytes if footprint and footprint.weights_bytes else None
    weights_gib = weights / GiB if weights else UNKNOWN_WEIGHTS_GIB
    size = (f"{weights_gib:.1f} GiB weights" + ("" if footprint and footprint.weights_exact else " (estimated)")
            if weights else f"{UNKNOWN_WEIGHTS_GIB:g} GiB for weights of unknown size (--k8s-backend-memory sets it)")
    why: list[str] = []
    if gpus:
        memory = weights_gib + GPU_POD_BASE_GIB + GPU_POD_PER_GPU_GIB * gpus
        why.append(f"Host memory: {size} (read through the page cache while the workers load them) + "
                   f"{GPU_POD_BASE_GIB:g} GiB server + {GPU_POD_PER_GPU_GIB:g} GiB x {gpus} GPU worker"
                   f"{'s' if gpus != 1 else ''} = {memory:.1f} GiB.")
        cpu = 2 + gpus
        cpu_why = f"CPU: 2 (HTTP server, scheduling, tokenization) + 1 per GPU worker = {cpu}."
    else:
        backend = backends.get(model.backend)
        kv_gib = 0.0
        kv = ""
        context = model.max_model_len or model.context_limit
        if model.kv_cache_gib is not None:
            kv_gib = float(model.kv_cache_gib)
            kv = f" + {model.kv_cache_gib} GiB KV cache (set in advance)"
        elif footprint and footprint.kv_bytes_per_token and context:
            kv_gib = footprint.kv_bytes_per_token * context / GiB
            kv = f" + {kv_gib:.1f} GiB KV cache ({context} tokens x {footprint.kv_bytes_per_token} B/token)"
        overhead = backend.cpu_overhead_gib
        memory = weights_gib + kv_gib + overhead
        why.append(f"Memory: {size}{kv} + {overhead:g} GiB {backend.title} itself = {memory:.1f} GiB.")
        cpu = CPU_POD_CPUS
        threads = f" ({backend.cpu_threads.count})" if backend.cpu_threads else ""
        cpu_why = f"CPU: {cpu} cores; {backend.title} runs one compute thread per core of its limit{threads}."
    memory_q = _mib(memory)
    if k8s.backend_memory:
        memory_q = k8s.backend_memory
        why = [f"Memory {memory_q}: {k8s.origins['backend_memory']} (the model's estimate: {_mib(memory)})."]
    cpu_q = str(cpu)
    if k8s.backend_cpu:
        cpu_q = k8s.backend_cpu
        cpu_why = f"CPU {cpu_q}: {k8s.origins['backend_cpu']}."
    why.append(cpu_why)
    why.append("Requests equal limits: the node reserves all of it (QoS Guaranteed).")
    return Resources(cpu=cpu_q, memory=memory_q, why=tuple(why),
                     cpu_threads=None if gpus else backends.get(model.backend).cpu_threads)


def gateway_resources(litellm: LitellmSpec, k8s: KubernetesSpec) -> Resources:
    workers = litellm.num_workers or 1
    mib = GATEWAY_SUPERVISOR_MIB + GATEWAY_PER_WORKER_MIB * workers
    memory_q, cpu_q = f"{mib}Mi", str(workers)
    why = [f"Memory: {GATEWAY_PER_WORKER_MIB} MiB x {workers} worker{'s' if workers != 1 else ''} + "
           f"{GATEWAY_SUPERVISOR_MIB} MiB supervisor (MEASURED under 32 clients: 384 MiB with 1 worker, "
           "711 MiB with 2)."]
    cpu_why = "CPU: 1 per worker (one worker saturates about one core)."
    if k8s.litellm_memory:
        memory_q = k8s.litellm_memory
        why = [f"Memory {memory_q}: {k8s.origins['litellm_memory']} (the estimate: {mib}Mi)."]
    if k8s.litellm_cpu:
        cpu_q = k8s.litellm_cpu
        cpu_why = f"CPU {cpu_q}: {k8s.origins['litellm_cpu']}."
    why += [cpu_why, "Requests equal limits (QoS Guaranteed)."]
    return Resources(cpu=cpu_q, memory=memory_q, why=tuple(why))
