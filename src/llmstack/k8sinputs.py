"""The inputs only the Kubernetes target has, validated with their origins, and the rules that
tell the two targets apart (replicas, host networking, published ports, local weights).

Values come from `--k8s-*` flags, then the stack's `kubernetes:` keys in models.yaml, then the
defaults of `spec.KubernetesSpec`. Every problem is one line naming the flag or the file and key
path (provenance.py), like every other input. Pure: no I/O.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llmstack.configfile import Config, Stack
from llmstack.errors import InputError
from llmstack.escaping import is_safe
from llmstack.provenance import Layers, Sourced, flag
from llmstack.sources import ModelSource
from llmstack.spec import Footprint, GpuSpec, KubernetesSpec, ModelSpec, kube_name

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

# `kubernetes:` key -> (RenderOptions attribute, flag)
FLAGS: dict[str, tuple[str, str]] = {
    "namespace": ("k8s_namespace", "--k8s-namespace"),
    "model_pvc": ("k8s_model_pvc", "--k8s-model-pvc"),
    "model_host_path": ("k8s_model_host_path", "--k8s-model-host-path"),
    "hf_cache_pvc": ("k8s_hf_cache_pvc", "--k8s-hf-cache-pvc"),
    "hf_cache_size": ("k8s_hf_cache_size", "--k8s-hf-cache-size"),
    "storage_class": ("k8s_storage_class", "--k8s-storage-class"),
    "gpu_product": ("k8s_gpu_product", "--k8s-gpu-product"),
    "runtime_class": ("k8s_runtime_class", "--k8s-runtime-class"),
    "shm_size": ("k8s_shm_size", "--k8s-shm-size"),
    "backend_cpu": ("k8s_backend_cpu", "--k8s-backend-cpu"),
    "backend_memory": ("k8s_backend_memory", "--k8s-backend-memory"),
    "litellm_cpu": ("k8s_litellm_cpu", "--k8s-litellm-cpu"),
    "litellm_memory": ("k8s_litellm_memory", "--k8s-litellm-memory"),
}


def _pick(opts: Any, config: Config, stack: Stack | None, stack_name: str, key: str) -> Sourced[Any] | None:
    attr, name = FLAGS[key]
    given = getattr(opts, attr)
    if given is not None:
        return Sourced(given, flag(name))
    if stack is not None and key in stack.kubernetes.model_fields_set:
        value = getattr(stack.kubernetes, key)
        if value is not None:
            return Sourced(value, config.origin("stacks", stack_name, "kubernetes", key))
    return None


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


def resolve(opts: Any, config: Config, stack: Stack | None, stack_name: str | None,
            target: Sourced[str]) -> KubernetesSpec | None:
    """The Kubernetes settings (None for compose, where a `--k8s-*` flag is an error)."""
    sn = stack_name or ""
    if target.value != "kubernetes":
        for attr, name in FLAGS.values():
            if getattr(opts, attr) is not None:
                raise InputError(f"{name} {getattr(opts, attr)}: only the Kubernetes target uses it; "
                                 "add --target kubernetes or drop the flag")
        return None
    origins: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in FLAGS:
        found = _pick(opts, config, stack, sn, key)
        if found is None:
            continue
        if isinstance(found.value, str) and not is_safe(found.value):
            raise InputError(f"{found.label(repr(found.value))}: control characters are not supported")
        origins[key] = found.origin.describe()
        if key == "namespace":
            values[key] = _name(found, DNS1123_LABEL, 63, "namespace name",
                                "use lowercase letters, digits and '-' (e.g. llm)")
        elif key in ("model_pvc", "hf_cache_pvc", "storage_class", "runtime_class"):
            what = {"model_pvc": "PersistentVolumeClaim name", "hf_cache_pvc": "PersistentVolumeClaim name",
                    "storage_class": "StorageClass name", "runtime_class": "RuntimeClass name"}[key]
            values[key] = _name(found, DNS1123_SUBDOMAIN, 253, f"{what} (a DNS-1123 name)",
                                "use lowercase letters, digits, '-' and '.' (e.g. models)")
        elif key == "model_host_path":
            path = str(found.value)
            if not path.startswith("/") or ".." in path.split("/"):
                raise InputError(f"{found.label(repr(path))}: a hostPath must be an absolute path on the nodes "
                                 "without '..' (e.g. /data/models)")
            values[key] = posixpath.normpath(path)
        elif key in ("hf_cache_size", "shm_size"):
            values[key] = _quantity(found)
        elif key in ("backend_memory", "litellm_memory"):
            values[key] = _nonzero(found, QUANTITY, "64Gi or 1536Mi")
        elif key in ("backend_cpu", "litellm_cpu"):
            values[key] = _nonzero(found, CPU_QUANTITY, "8, 0.5 or 1500m")
        elif key == "gpu_product":
            values[key] = _label_value(found, str(found.value))
    if "model_pvc" in values and "model_host_path" in values:
        culprit = _pick(opts, config, stack, sn, "model_host_path")
        assert culprit is not None
        raise InputError(f"{culprit.label()}: the models come either from a PersistentVolumeClaim "
                         f"({origins['model_pvc']}) or from a hostPath; pass one of them")
    selector: dict[str, str] = {}
    if stack is not None and stack.kubernetes.node_selector:
        where = Sourced(None, config.origin("stacks", sn, "kubernetes", "node_selector"))
        for key, value in stack.kubernetes.node_selector.items():
            entry = Sourced(value, config.origin("stacks", sn, "kubernetes", "node_selector", key))
            selector[_label_key(where, key)] = _label_value(entry, str(value))
        origins["node_selector"] = where.origin.describe()
    return KubernetesSpec(node_selector=selector, origins=origins, **values)


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


def refuse_for_compose(layers: Sequence[Layers], litellm_replicas: Sourced[Any] | None,
                       target: Sourced[str]) -> None:
    """Compose runs one container per backend: more replicas are a Kubernetes feature."""
    for model_layers in layers:
        replicas = model_layers.get("replicas")
        if replicas is not None and replicas.value != 1:
            raise InputError(f"{replicas.label()}: Docker Compose runs one container per model; render with "
                             "--target kubernetes for replicas behind a Service, or serve the model from several "
                             "hosts with --backend external --api-base URL (repeated)")
    if litellm_replicas is not None and litellm_replicas.value != 1:
        raise InputError(f"{litellm_replicas.label()}: Docker Compose runs one gateway container; "
                         "gateway replicas need --target kubernetes")


def adapt_models(models: Sequence[ModelSpec], layers: Sequence[Layers], model_sources: Sequence[ModelSource],
                 stack_name: str, k8s: KubernetesSpec) -> tuple[list[ModelSpec], KubernetesSpec]:
    """The per-model Kubernetes rules: names, replicas, a GPU count, where local weights come from;
    and each pod's model size (for its memory, k8spods.py)."""
    adapted = []
    footprints: dict[str, Footprint] = {}
    for model, model_layers, source in zip(models, layers, model_sources, strict=True):
        if not model.service:
            adapted.append(model)
            continue
        service = model.service
        if not DNS1035_LABEL.match(service) or service in FIXED_FILES or len(kube_name(stack_name, service)) > 63:
            given = model_layers.get("service")
            culprit = given.label(repr(service)) if given is not None else \
                f"service {service!r} of alias {model.alias!r}"
            raise InputError(f"{culprit}: not usable as a Kubernetes name (lowercase letters, digits and '-', "
                             f"starting with a letter, not one of {', '.join(FIXED_FILES)}, and "
                             f"{stack_name}-<service> at most 63 characters); set another `service:` on the model")
        publish = model_layers.get("publish_port")
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
        replicas = model_layers.get("replicas")
        count_replicas = check_replicas(replicas)
        origins = dict(model.origins)
        count = model.gpus.kubernetes_count(model.tensor_parallel)
        gpus = model.gpus
        if gpus.kind == "all":
            origins["gpus_kubernetes"] = (f"{origins.get('gpus', 'default')} all has no count on Kubernetes: "
                                          f"{'the tensor-parallel size' if model.tensor_parallel else '1'}, "
                                          "pass --gpus N for more")
            gpus = GpuSpec(kind="count", count=count)
        elif gpus.kind == "ids":
            origins["gpus_kubernetes"] = (f"{origins.get('gpus', 'default')} {gpus.describe()} becomes a count of "
                                          f"{count}: the device plugin picks the devices")
            gpus = GpuSpec(kind="count", count=count)
        if replicas is not None:
            origins["replicas"] = replicas.origin.describe()
        adapted.append(replace(model, gpus=gpus, replicas=count_replicas,
                               publish_port=False, origins=origins))
        facts = source.facts
        footprints[service] = Footprint(weights_bytes=facts.weights_bytes, weights_exact=bool(facts.weights_exact),
                                        kv_bytes_per_token=facts.kv_bytes_per_token)
    return adapted, replace(k8s, footprints=footprints)


def posix_name(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def litellm_replicas(opts: Any, config: Config, stack: Stack | None, stack_name: str | None) -> Sourced[Any] | None:
    if opts.litellm_replicas is not None:
        return Sourced(opts.litellm_replicas, flag("--litellm-replicas"))
    if stack is not None and stack.litellm.replicas is not None:
        return Sourced(stack.litellm.replicas, config.origin("stacks", stack_name or "", "litellm", "replicas"))
    return None


def check_replicas(value: Sourced[Any] | None) -> int:
    if value is None:
        return 1
    if not isinstance(value.value, int) or value.value < 1:
        raise InputError(f"{value.label()}: must be 1 or more")
    return value.value

