"""The typed description of one stack: the single source of truth every target renders from.

Everything here is already resolved (flag > stack > models.yaml defaults > built-in defaults,
then decisions from the model's facts) and validated; rendering takes a StackSpec and nothing
else. `origins` maps each field of a model to where its value came from (see provenance.py), so
the rendered comments and the manifest can say why a value is what it is.

Plain frozen dataclasses: no validation cost on the render path (resolve/ validated it all).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llmstack.manifest import RecordedModel, TemplateCheck

ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

GiB = 1024**3

# GPUs of one host, and its device indices: far above any real host, low enough that every set of
# GPUs stays small (a count of 10**20 used to build a set of that many device indices: a hang).
MAX_GPUS = 1024
GPUS_HINT = "use all, a count (2), device ids (0,2 or device=1) or none"


@dataclass(frozen=True)
class GpuSpec:
    """`all`, a count, explicit device ids, or none (CPU only)."""

    kind: Literal["all", "count", "ids", "none"]
    count: int | None = None
    ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | int | list[int | str]) -> GpuSpec:
        """`all`, `none`, a count (`2`), or device ids (`0,2`, `device=1`, a YAML list)."""
        if isinstance(text, list):
            text = "device=" + ",".join(str(item) for item in text)
        value = str(text).strip().lower()
        if value == "all":
            return cls(kind="all")
        if value in ("none", "cpu"):
            return cls(kind="none")
        if value.startswith("device="):
            value = value.removeprefix("device=") + ","
        if "," in value:
            ids = tuple(part.strip() for part in value.split(",") if part.strip())
            if not ids or not all(part.isascii() and part.isdigit() for part in ids):
                raise ValueError(GPUS_HINT)
            if any(len(part.lstrip("0")) > 4 or int(part) >= MAX_GPUS for part in ids):
                raise ValueError(f"a device index of {MAX_GPUS} or more: no host has that many GPUs")
            ids = tuple(str(int(part)) for part in ids)
            if len(set(ids)) != len(ids):
                raise ValueError(f"a device listed twice; {GPUS_HINT}")
            return cls(kind="ids", ids=ids)
        if value.isascii() and value.isdigit():
            if len(value.lstrip("0")) > 4 or int(value) > MAX_GPUS:
                raise ValueError(f"more than {MAX_GPUS} GPUs: no host has that many")
            if int(value) == 0:
                return cls(kind="none")
            return cls(kind="count", count=int(value))
        raise ValueError(GPUS_HINT)

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    @property
    def countable(self) -> int | None:
        """How many GPUs are reserved, when that is known at render time."""
        if self.kind == "count":
            return self.count
        if self.kind == "ids":
            return len(self.ids)
        if self.kind == "none":
            return 0
        return None

    def devices(self, visible: int | None = None) -> frozenset[int] | None:
        """Which device indices the reservation lands on (Docker gives `count: N` the first N
        GPUs); None for `all` when the host's GPU count is unknown."""
        if self.kind == "ids":
            return frozenset(int(i) for i in self.ids)
        if self.kind == "count":
            return frozenset(range(self.count or 0))
        if self.kind == "none":
            return frozenset()
        return frozenset(range(visible)) if visible is not None else None

    def kubernetes_count(self, tensor_parallel: int | None) -> int:
        """`nvidia.com/gpu` is a count: device ids become how many they are (the device plugin picks
        the devices), and `all` has no count on a cluster: the tensor-parallel size, else 1."""
        if self.kind == "none":
            return 0
        return self.countable or tensor_parallel or 1

    def describe(self) -> str:
        if self.kind == "ids":
            return ",".join(self.ids)
        if self.kind == "count":
            return str(self.count)
        return self.kind


@dataclass(frozen=True)
class Mount:
    """A host path (as written into the compose file) mounted read-only into a container."""

    host_path: str
    container_path: str
    # Compose variable that overrides host_path on another host; None when the path holds a
    # `}` (which would end `${VAR:-default}` early), so the path is written literally.
    variable: str | None
    is_file: bool
    role: str = "model"  # what it is, for comments: "model", "vision projector", "Hugging Face cache repository"


@dataclass(frozen=True)
class KvPart:
    """The KV cache of one kind of layer for one sequence, as the backend allocates it (memory.py):
    `bytes_per_token` (over its `layers`, summed over the GPUs) x the tokens it keeps, plus a state
    of `fixed_bytes` whatever the context."""

    kind: str  # "full attention", "sliding window", "chunked attention", "linear attention", ...
    layers: int  # layers counted (with the padding the allocator adds)
    bytes_per_token: int
    cap: int | None = None  # tokens it keeps at most (a window plus the tokens in flight); None: all
    share: float = 1.0  # of the context (SGLang's SWA pool: 0.8 of the full pool's tokens)
    fixed_bytes: int = 0  # per sequence (a recurrent state)
    how: str = ""  # why these tokens: "window 1024 + 4096 in flight", ...

    def tokens(self, context: int) -> int:
        tokens = context if self.share == 1.0 else math.ceil(context * self.share)
        return tokens if self.cap is None else min(self.cap, tokens)

    def bytes(self, context: int) -> int:
        return self.bytes_per_token * self.tokens(context) + self.fixed_bytes

    def describe(self, context: int) -> str:
        if self.fixed_bytes:
            text = f"{self.layers} {self.kind} layers: {self.fixed_bytes / 2**20:.0f} MiB of state"
        elif self.kind.startswith("linear"):  # a pool sized from the per-token cache of the other layers
            text = f"{self.layers} {self.kind} layers: {self.bytes(context) / GiB:.1f} GiB"
        else:
            text = f"{self.layers} {self.kind} layers x {self.tokens(context)} tokens"
        return text + (f" ({self.how})" if self.how else "")


@dataclass(frozen=True)
class MemoryPlan:
    """Does the model fit? weights + KV cache (context x sequences) + overhead vs share x memory x GPUs."""

    gpu_memory_gib: float  # per GPU, GiB as nvidia-smi reports it (MiB / 1024)
    gpu_memory_source: str  # "--gpu-memory", "--gpu-memory L4 = 23034 MiB in nvidia-smi", "nvidia-smi", a key
    gpus: int
    share: float  # fraction of each GPU's memory this model may use
    weights_gib: float
    weights_exact: bool
    kv_gib: float
    kv_bytes_per_token: int  # every layer with a per-token cache counted over the whole context
    context: int
    sequences: int
    overhead_gib: float
    kv_parts: tuple[KvPart, ...] = ()  # by layer type; empty: kv_bytes_per_token over the whole context
    kv_rules: str = ""  # whose allocation the parts follow: "vLLM v0.33.0", ...

    @property
    def needed_gib(self) -> float:
        return self.weights_gib + self.kv_gib + self.overhead_gib

    @property
    def available_gib(self) -> float:
        return self.share * self.gpu_memory_gib * self.gpus

    @property
    def fits(self) -> bool:
        return self.needed_gib <= self.available_gib

    def kv_bytes(self, context: int) -> int:
        """KV cache bytes at `context` tokens, for all sequences."""
        if not self.kv_parts:
            return self.kv_bytes_per_token * context * self.sequences
        return sum(part.bytes(context) for part in self.kv_parts) * self.sequences

    def max_context(self) -> int:
        """The largest context up to the planned one whose KV cache fits beside the weights (0 when
        even one token does not)."""
        room = (self.available_gib - self.weights_gib - self.overhead_gib) * GiB
        if room <= 0 or self.kv_bytes(1) > room:
            return 0
        low, high = 1, self.context
        while low < high:
            middle = (low + high + 1) // 2
            if self.kv_bytes(middle) <= room:
                low = middle
            else:
                high = middle - 1
        return low

    def lines(self) -> list[str]:
        weights = f"{self.weights_gib:.1f} GiB weights" + ("" if self.weights_exact else " (estimated)")
        sequences = f"{self.sequences} sequence{'s' if self.sequences != 1 else ''}"
        if self.kv_parts:
            kv = f"{self.kv_gib:.1f} GiB KV cache ({self.context} tokens x {sequences}, by layer type below)"
        else:
            kv = (f"{self.kv_gib:.1f} GiB KV cache ({self.context} tokens x {sequences} x "
                  f"{self.kv_bytes_per_token} B/token)")
        lines = [
            f"{weights} + {kv} + {self.overhead_gib:.1f} GiB overhead = {self.needed_gib:.1f} GiB needed",
            f"{self.share:g} x {self.gpu_memory_gib:g} GiB x {self.gpus} GPU{'s' if self.gpus != 1 else ''} "
            f"({self.gpu_memory_source}) = {self.available_gib:.1f} GiB available: "
            + ("fits" if self.fits else "does NOT fit"),
        ]
        if self.kv_parts:
            lines.append(f"KV cache as {self.kv_rules} allocates it: "
                         + "; ".join(part.describe(self.context) for part in self.kv_parts))
        return lines


@dataclass(frozen=True)
class EngineChoice:
    """Which release of the engine a model runs and what its image needs of the host (the manifest
    records it: doctor checks the driver, `render --check` names what an upgrade changes)."""

    version: str | None  # the release rendered; None: an image given as is
    catalogued: str | None = None  # the catalogue entry its facts came from (None: no catalogue)
    kind: str = "cuda"  # "cuda" | "cpu"
    cuda: str | None = None  # the CUDA toolkit in the image, when the catalogue records it
    min_driver: str | None = None  # the NVIDIA driver that CUDA needs, when known
    cpu_features: tuple[str, ...] = ()  # what a CPU image needs of the host's CPU


@dataclass(frozen=True)
class ModelSpec:
    service: str  # compose service (empty for gateway-only backends)
    alias: str
    backend: str
    display_name: str  # the model's own name (hub id or file/directory name)
    served_name: str  # what the backend calls it (and what LiteLLM asks it for)
    model_arg: str  # what the backend is told to load: a path inside the container or a hub id
    image: str
    port: int
    gpus: GpuSpec
    tools: bool
    vision: bool
    hub_id: str | None = None  # set for Hugging Face ids, served through the HF cache
    mounts: tuple[Mount, ...] = ()  # model first, then a projector
    mmproj_arg: str | None = None  # projector path inside the container (llama.cpp)
    tensor_parallel: int | None = None
    max_model_len: int | None = None
    context_limit: int | None = None  # the model's own limit, when known
    tool_parser: str | None = None
    reasoning_parser: str | None = None
    family: str | None = None
    vision_source: str = ""  # why vision is on or off, for the rendered comment
    args: Mapping[str, Any] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    # Server arguments the model's family needs on this release (catalog/families.py), after the
    # command's own and before the extra arguments.
    switches: tuple[str, ...] = ()
    engine: EngineChoice | None = None
    publish_port: bool = False
    api_bases: tuple[str, ...] = ()  # gateway-only backends: where the model is served (replicas)
    api_key_env: str | None = None  # gateway-only backends: env variable holding the upstream key
    # A backend the stack runs that requires a key (published beyond this host, or on a cluster):
    # the .env variable holding it (paths.BACKEND_KEY); None: no key.
    backend_key: str | None = None
    native_messages: bool = False  # the gateway hands /v1/messages to the backend untranslated
    native_responses: bool = False  # the gateway hands /v1/responses to the backend (else LiteLLM's bridge)
    # What the model's chat template made of agents' requests (None: not known, served elsewhere),
    # and the gateway hook's switches for the alias (empty: requests pass as sent).
    template: TemplateCheck | None = None
    adapt: tuple[str, ...] = ()
    # This model's part of each GPU when it shares them with other models (decide.share_gpus).
    memory_share: float | None = None
    plan: MemoryPlan | None = None
    kv_cache_gib: int | None = None  # on the CPU, for a backend that sizes its KV cache in advance (vLLM)
    replicas: int = 1  # Kubernetes: pods behind the model's Service (Compose runs one container)
    origins: Mapping[str, str] = field(default_factory=dict)  # field -> where its value came from


@dataclass(frozen=True)
class LitellmSpec:
    image: str
    port: int
    num_workers: int | None = None
    # The gateway container's CPU weight (Compose cpu_shares); None: Docker's default.
    cpu_shares: int | None = None
    # (model name pattern, alias) pairs: Claude Code's model names routed to a stack alias.
    claude_routes: tuple[tuple[str, str], ...] = ()
    replicas: int = 1  # Kubernetes: gateway pods behind its Service


@dataclass(frozen=True)
class Footprint:
    """What a pod's memory is computed from (the model's facts, recorded in the manifest)."""

    weights_bytes: int | None
    weights_exact: bool
    kv_bytes_per_token: int | None


@dataclass(frozen=True)
class KubernetesSpec:
    """What only the Kubernetes target needs: where the cluster finds the weights, node selection."""

    namespace: str | None = None  # kustomize `namespace:`; None: the one `kubectl` uses
    model_pvc: str | None = None  # an existing PersistentVolumeClaim whose root holds the local models
    model_host_path: str | None = None  # or a directory on every GPU node holding them
    hf_cache_pvc: str | None = None  # an existing claim for the Hugging Face cache; None: render one
    hf_cache_size: str = "200Gi"
    storage_class: str | None = None  # of the rendered HF cache claim; None: the cluster's default
    gpu_product: str | None = None  # nodeSelector nvidia.com/gpu.product (GPU Feature Discovery)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    runtime_class: str | None = None  # opt-in: a pod naming a missing RuntimeClass never runs
    shm_size: str = "16Gi"  # memory-backed /dev/shm of each backend pod
    # CPU and memory of each backend / gateway pod (requests = limits); None: from the model (k8spods.py)
    backend_cpu: str | None = None
    backend_memory: str | None = None
    litellm_cpu: str | None = None
    litellm_memory: str | None = None
    footprints: Mapping[str, Footprint] = field(default_factory=dict)  # service -> the model's size
    origins: Mapping[str, str] = field(default_factory=dict)


def kube_name(stack: str, service: str) -> str:
    """The name of a stack's object on the cluster: prefixed, so stacks share a namespace."""
    return f"{stack}-{service}"


@dataclass(frozen=True)
class StackSpec:
    name: str
    models: tuple[ModelSpec, ...]
    litellm: LitellmSpec | None  # None with --no-litellm
    regen_command: str
    llmstack_version: str
    network: str = "bridge"  # or "host"
    bind: str = "127.0.0.1"
    target: str = "compose"  # a name of the targets registry
    kubernetes: KubernetesSpec | None = None  # set for the kubernetes target
    # What the manifest records so --check works without the weights (see manifest.py).
    inputs: Mapping[str, Any] = field(default_factory=dict)
    facts: Mapping[str, RecordedModel] = field(default_factory=dict)  # model input -> what was read of it

    @property
    def uses_hub(self) -> bool:
        return any(m.hub_id for m in self.models)

    @property
    def services(self) -> tuple[ModelSpec, ...]:
        """The models that run a container of this stack (not the gateway-only ones)."""
        return tuple(m for m in self.models if m.service)
