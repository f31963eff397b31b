"""The inputs only the Kubernetes target has, validated with their origins, and the rules that
tell the two targets apart (replicas, host networking, published ports, local weights).

Values come through the one lookup (`--k8s-*` flags, then the stack's `kubernetes:` keys), then
the defaults of `spec.KubernetesSpec`. Every problem is one line naming the flag or the file and
key path (provenance.py), like every other input. Pure: no I/O.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llmstack import options
from llmstack.errors import InputError
from llmstack.escaping import is_safe
from llmstack.provenance import Layers, Origin, Sourced
from llmstack.resolve.checks import at_least_one
from llmstack.sources import ModelSource
from llmstack.spec import Footprint, GpuSpec, KubernetesSpec, LitellmSpec, ModelSpec, kube_name

# Kubernetes name grammars (k8s.io/apimachinery/pkg/util/validation).
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # max 63
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # max 253
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # Service names; max 63
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")  # max 63
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")  # max 63
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
CPU_QUANTITY = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")  # cores (2, 0.5) or millicores (500m)

# `<stack>-litellm` is a Service name: at most 63 characters.
MAX_STACK_NAME = 63 - len("-litellm")

# The files every kubernetes render writes: a backend service may not be named like one of them.
FIXED_FILES = ("kustomization", "litellm", "litellm-config", "network-policy", "hf-cache", "llmstack-manifest")

# The `kubernetes:` keys of a stack (each also a `--k8s-*` flag, but node_selector).
KEYS = [str(option.key) for option in options.stack_keys("kubernetes")]
NAMES = {"namespace": (DNS1123_LABEL, 63, "namespace name", "use lowercase letters, digits and '-' (e.g. llm)")}
for _key, _what in (("model_pvc", "PersistentVolumeClaim name"), ("hf_cache_pvc", "PersistentVolumeClaim name"),
                    ("storage_class", "StorageClass name"), ("runtime_class", "RuntimeClass name")):
    NAMES[_key] = (DNS1123_SUBDOMAIN, 253, f"{_what} (a DNS-1123 name)",
                   "use lowercase letters, digits, '-' and '.' (e.g. models)")


def _name(value: Sourced[Any], grammar: re.Pattern[str], limit: int, what: str, example: str) -> str:
    text = str(value.value)
    if len(text) > limit or not grammar.match(text):
        raise InputError(f"{value.label(repr(text))}: not a valid {what}; {example}")
    return text


def _quantity(value: Sourced[Any]) -> str:
    text = str(value.value)
    if not QUANTITY.match(text):
        raise InputError(f"{value.label(repr(text))}: not a Kubernetes quantity; e.g. 200Gi or 512Mi")
    return text


def _nonzero(value: Sourced[Any], grammar: re.Pattern[str], example: str) -> str:
    text = str(value.value)
    if not grammar.match(text) or not any(c in "123456789" for c in text.rstrip("mKMGTPEi")):
        raise InputError(f"{value.label(repr(text))}: not a Kubernetes quantity above zero; e.g. {example}")
    return text


def footprints(k8s: KubernetesSpec, models: Sequence[ModelSpec],
               model_sources: Sequence[ModelSource]) -> KubernetesSpec:
    """Each backend pod's model size, for its memory request (targets/kubernetes, k8spods.py)."""
    sizes = {model.service: Footprint(weights_bytes=source.facts.weights_bytes,
                                      weights_exact=bool(source.facts.weights_exact),
                                      kv_bytes_per_token=source.facts.kv_bytes_per_token)
             for model, source in zip(models, model_sources, strict=True) if model.service}
    return replace(k8s, footprints=sizes)


def _label_value(value: Sourced[Any], text: str) -> str:
    if len(text) > 63 or not LABEL_VALUE.match(text):
        raise InputError(f"{value.label(repr(text))}: not a valid label value (at most 63 letters, digits, "
                         "'-', '_', '.'; e.g. NVIDIA-H100-80GB-HBM3)")
    return text


def _label_key(value: Sourced[Any], key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) or len(name) > 63 \
            or not LABEL_NAME.match(name):
        raise InputError(f"{value.label(repr(key))}: not a valid label key; e.g. nvidia.com/gpu.product or "
                         "topology.kubernetes.io/zone")
    return key


def settings(lookup: Layers, target: str) -> KubernetesSpec | None:
    """Stage 2b: the Kubernetes settings (None for another target, where a `--k8s-*` flag is an error
    and the stack's `kubernetes:` keys do not apply)."""
    if target != "kubernetes":
        for key in KEYS:
            found = lookup.get(key)
            if found is not None and found.origin.kind == "flag":
                raise InputError(f"{found.label()}: only the Kubernetes target uses it; "
                                 "add --target kubernetes or drop the flag")
        return None
    origins: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in KEYS:
        found = lookup.get(key)
        if found is None:
            continue
        short = key.removeprefix("kubernetes.")
        origins[short] = found.origin.describe()
        values[short] = _checked(short, found)
    if "model_pvc" in values and "model_host_path" in values:
        culprit = lookup.get("kubernetes.model_host_path")
        assert culprit is not None
        raise InputError(f"{culprit.label()}: the models come either from a PersistentVolumeClaim "
                         f"({origins['model_pvc']}) or from a hostPath; pass one of them")
    return KubernetesSpec(origins=origins, **values)


def _checked(key: str, found: Sourced[Any]) -> Any:
    """One `kubernetes:` value, checked against the grammar Kubernetes holds it to."""
    if isinstance(found.value, str) and not is_safe(found.value):
        raise InputError(f"{found.label(repr(found.value))}: control characters are not supported")
    if key in NAMES:
        grammar, limit, what, example = NAMES[key]
        return _name(found, grammar, limit, what, example)
    if key == "model_host_path":
        path = str(found.value)
        if not path.startswith("/") or ".." in path.split("/"):
            raise InputError(f"{found.label(repr(path))}: a hostPath must be an absolute path on the nodes "
                             "without '..' (e.g. /data/models)")
        return posixpath.normpath(path)
    if key in ("hf_cache_size", "shm_size"):
        return _quantity(found)
    if key in ("backend_memory", "litellm_memory"):
        return _nonzero(found, QUANTITY, "64Gi or 1536Mi")
    if key in ("backend_cpu", "litellm_cpu"):
        return _nonzero(found, CPU_QUANTITY, "8, 0.5 or 1500m")
    if key == "gpu_product":
        if not str(found.value).strip():
            raise InputError(f"{found.label(repr(found.value))}: empty; name the product the cluster's GPU nodes "
                             "carry in their nvidia.com/gpu.product label (e.g. NVIDIA-L40S), or leave it out")
        return _label_value(found, str(found.value))
    return _node_selector(found)


def _node_selector(found: Sourced[Any]) -> dict[str, str]:
    selector: dict[str, str] = {}
    origin = found.origin
    for key, value in found.value.items():
        entry = Sourced(value, Origin(origin.kind, origin.where, f"{origin.key}.{key}"))
        selector[_label_key(found, key)] = _label_value(entry, str(value))
    return selector


def check_stack(name: Sourced[str], network: Sourced[str], bind: Sourced[str]) -> None:
    """What makes no sense on a cluster, and the stack name every object is prefixed with."""
    if network.value == "host":
        raise InputError(f"{network.label()}: host networking makes no sense on Kubernetes (the gateway reaches "
                         "each backend through its Service); drop it or render with --target compose")
    if bind.origin.from_user:
        raise InputError(f"{bind.label()}: Kubernetes publishes nothing on a host address; reach the gateway with "
                         "`kubectl port-forward` (or a LoadBalancer/Ingress of your own) and drop it")
    if len(kube_name(name.value, "litellm")) > 63 or not DNS1035_LABEL.match(name.value):
        slug = re.sub(r"[^a-z0-9-]+", "-", name.value.lower()).strip("-")
        slug = (slug if slug[:1].isalpha() else f"llm-{slug}")[:MAX_STACK_NAME].rstrip("-")
        raise InputError(f"{name.label(repr(name.value))}: every Kubernetes object of the stack is named after it, "
                         f"so use at most {MAX_STACK_NAME} lowercase letters, digits and '-', starting with a "
                         f"letter (e.g. {slug!r})")


def refuse_for_compose(models: Sequence[Layers], settings: Layers) -> None:
    """Compose runs one container per backend: more replicas are a Kubernetes feature."""
    for lookup in models:
        replicas = lookup.get("replicas")
        if replicas is not None and replicas.value != 1:
            raise InputError(f"{replicas.label()}: Docker Compose runs one container per model; render with "
                             "--target kubernetes for replicas behind a Service, or serve the model from several "
                             "hosts with --backend external --api-base URL (repeated)")
    gateway = settings.get("litellm.replicas")
    if gateway is not None and gateway.value != 1:
        raise InputError(f"{gateway.label()}: Docker Compose runs one gateway container; "
                         "gateway replicas need --target kubernetes")


def adapt_models(models: Sequence[ModelSpec], lookups: Sequence[Layers], model_sources: Sequence[ModelSource],
                 stack_name: str, k8s: KubernetesSpec) -> list[ModelSpec]:
    """Stage 8 (Kubernetes): each pod gets whole GPUs of its own (no sharing, a count per pod), a
    name the cluster takes, replicas, and local weights from a claim or a host path."""
    adapted = []
    for model, lookup, source in zip(models, lookups, model_sources, strict=True):
        if not model.service:
            adapted.append(model)
            continue
        _check_model(model, lookup, source, stack_name, k8s)
        replicas = lookup.get("replicas")
        origins = dict(model.origins)
        if replicas is not None:
            origins["replicas"] = replicas.origin.describe()
        gpus, note = _gpu_count(model)
        if note:
            origins["gpus_kubernetes"] = note
        adapted.append(replace(model, gpus=gpus, replicas=at_least_one(replicas), publish_port=False,
                               origins=origins))
    return adapted


def _check_model(model: ModelSpec, lookup: Layers, source: ModelSource, stack_name: str,
                 k8s: KubernetesSpec) -> None:
    service = model.service
    if not DNS1035_LABEL.match(service) or service in FIXED_FILES or len(kube_name(stack_name, service)) > 63:
        given = lookup.get("service")
        culprit = given.label(repr(service)) if given is not None else f"service {service!r} of alias {model.alias!r}"
        raise InputError(f"{culprit}: not usable as a Kubernetes name (lowercase letters, digits and '-', "
                         f"starting with a letter, not one of {', '.join(FIXED_FILES)}, and "
                         f"{stack_name}-<service> at most 63 characters); set another `service:` on the model")
    publish = lookup.get("publish_port")
    if publish is not None and publish.origin.from_user and publish.value:
        raise InputError(f"{publish.origin.describe()}: Kubernetes publishes nothing on a host; the backend's "
                         "Service is reachable inside the cluster (`kubectl port-forward` for a look from outside)")
    if model.mounts and not (k8s.model_pvc or k8s.model_host_path):
        raise InputError(
            f"{source.given.label()}: a local model must be readable on the cluster's nodes; pass "
            "--k8s-model-pvc NAME (a PersistentVolumeClaim whose root holds "
            f"{posix_name(model.mounts[0].container_path)}) or --k8s-model-host-path DIR (a directory on the "
            "GPU nodes holding it), or `kubernetes: {model_pvc: NAME}` in models.yaml"
        )


def _gpu_count(model: ModelSpec) -> tuple[GpuSpec, str]:
    """`nvidia.com/gpu` is a count: all and device ids become one (and the comment says why)."""
    count = model.gpus.kubernetes_count(model.tensor_parallel)
    given = model.origins.get("gpus", "default")
    if model.gpus.kind == "all":
        how = "the tensor-parallel size" if model.tensor_parallel else "1"
        return GpuSpec(kind="count", count=count), f"{given} all has no count on Kubernetes: {how}, pass --gpus N " \
                                                   "for more"
    if model.gpus.kind == "ids":
        return GpuSpec(kind="count", count=count), (f"{given} {model.gpus.describe()} becomes a count of {count}: "
                                                    "the device plugin picks the devices")
    return model.gpus, ""


def posix_name(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def cluster_gateway(settings: Layers, litellm: LitellmSpec | None,
                    k8s: KubernetesSpec) -> tuple[LitellmSpec | None, KubernetesSpec]:
    """The gateway on a cluster: pods behind its Service (`--litellm-replicas`, `litellm.replicas`).
    A pod's CPU weight comes from its CPU request: a Compose `cpu_shares` given as a flag is an
    error here, one from models.yaml (a stack rendered for both targets) does not apply."""
    replicas = settings.get("litellm.replicas")
    if litellm is None:
        return None, k8s
    shares = settings.get("litellm.cpu_shares")
    if shares is not None and shares.origin.kind == "flag":
        raise InputError(f"{shares.label()}: Kubernetes weighs a pod's CPU by its CPU request; "
                         "drop the flag (it is for --target compose)")
    litellm = replace(litellm, replicas=at_least_one(replicas), cpu_shares=None)
    if replicas is not None:
        k8s = replace(k8s, origins={**k8s.origins, "litellm_replicas": replicas.origin.describe()})
    return litellm, k8s


def notices(models: Sequence[ModelSpec], k8s: KubernetesSpec, lookups: Sequence[Layers]) -> list[str]:
    """What a cluster render should say: a cache claim too narrow for its pods, no GPU memory to plan with."""
    said = []
    pods = sum(m.replicas for m in models if m.service and m.hub_id)
    if pods > 1 and not k8s.hf_cache_pvc:
        said.append(f"{pods} pods mount the rendered Hugging Face cache claim, which is ReadWriteOnce: "
                    "Kubernetes runs them all on one node; for pods on several nodes pass "
                    "--k8s-hf-cache-pvc NAME (a ReadWriteMany claim of yours)")
    on_gpus = [lookup for model, lookup in zip(models, lookups, strict=True) if model.gpus.enabled and model.service]
    if on_gpus and not all(lookup.get("gpu_memory") for lookup in on_gpus):
        said.append("memory plan skipped: pass --gpu-memory with the memory of each of the cluster's GPUs (GiB as "
                    "nvidia-smi reports it, or a product such as H100); this host's nvidia-smi says nothing about "
                    "the cluster")
    return said
