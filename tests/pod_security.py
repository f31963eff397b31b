"""The Pod Security Standards' baseline and restricted levels, as checks on a pod spec (a dict as
`kubectl kustomize` builds it). Written from the levels' definitions in kubernetes/pod-security-
admission, policy/check_*.go (the admission controller's own checks; read at commit 8f84a87), one
function per check file, for the newest policy version. `violations(pod_spec, "restricted")` lists
what a namespace labelled `pod-security.kubernetes.io/enforce: restricted` would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Pod = dict[str, Any]

# check_capabilities_baseline.go: capabilities a container may add under baseline.
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
# check_seLinuxOptions.go (1.31+): allowed types; user and role must be unset.
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# check_restrictedVolumes.go: the only volume types restricted allows.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
                      "projected", "secret"}


def containers(pod: Pod) -> Iterator[dict[str, Any]]:
    """visitor.go: containers, initContainers and ephemeralContainers."""
    for key in ("containers", "initContainers", "ephemeralContainers"):
        yield from pod.get(key) or []


def _ctx(container: dict[str, Any]) -> dict[str, Any]:
    return container.get("securityContext") or {}


def host_namespaces(pod: Pod) -> list[str]:  # check_hostNamespaces.go
    return [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]


def privileged(pod: Pod) -> list[str]:  # check_privileged.go
    return [f"{c['name']}: privileged" for c in containers(pod) if _ctx(c).get("privileged")]


def capabilities_baseline(pod: Pod) -> list[str]:  # check_capabilities_baseline.go
    return [f"{c['name']}: adds {cap}" for c in containers(pod)
            for cap in (_ctx(c).get("capabilities") or {}).get("add") or [] if cap not in BASELINE_CAPABILITIES]


def host_path_volumes(pod: Pod) -> list[str]:  # check_hostPathVolumes.go
    return [f"volume {v['name']}: hostPath" for v in pod.get("volumes") or [] if "hostPath" in v]


def host_ports(pod: Pod) -> list[str]:  # check_hostPorts.go
    return [f"{c['name']}: hostPort {p['hostPort']}" for c in containers(pod) for p in c.get("ports") or []
            if p.get("hostPort")]


def app_armor(pod: Pod) -> list[str]:  # check_appArmorProfile.go
    contexts = [pod.get("securityContext") or {}, *(_ctx(c) for c in containers(pod))]
    return ["appArmorProfile Unconfined" for ctx in contexts
            if (ctx.get("appArmorProfile") or {}).get("type") == "Unconfined"]


def selinux(pod: Pod) -> list[str]:  # check_seLinuxOptions.go
    bad = []
    for ctx in [pod.get("securityContext") or {}, *(_ctx(c) for c in containers(pod))]:
        options = ctx.get("seLinuxOptions") or {}
        if options.get("type", "") not in SELINUX_TYPES or options.get("user") or options.get("role"):
            bad.append(f"seLinuxOptions {options}")
    return bad


def proc_mount(pod: Pod) -> list[str]:  # check_procMount_baseline.go
    return [f"{c['name']}: procMount {_ctx(c)['procMount']}" for c in containers(pod)
            if _ctx(c).get("procMount", "Default") != "Default"]


def seccomp_baseline(pod: Pod) -> list[str]:  # check_seccompProfile_baseline.go
    contexts = [pod.get("securityContext") or {}, *(_ctx(c) for c in containers(pod))]
    return ["seccompProfile Unconfined" for ctx in contexts
            if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined"]


def sysctls(pod: Pod) -> list[str]:  # check_sysctls.go (stricter here: llmstack sets none)
    return [f"sysctl {s['name']}" for s in (pod.get("securityContext") or {}).get("sysctls") or []]


def windows_host_process(pod: Pod) -> list[str]:  # check_windowsHostProcess.go
    contexts = [pod.get("securityContext") or {}, *(_ctx(c) for c in containers(pod))]
    return ["hostProcess" for ctx in contexts if (ctx.get("windowsOptions") or {}).get("hostProcess")]


def host_probes(pod: Pod) -> list[str]:  # check_hostProbesAndhostLifecycle.go
    bad = []
    for c in containers(pod):
        handlers = [c.get(p) or {} for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(c.get("lifecycle") or {}).get(h) or {} for h in ("postStart", "preStop")]
        for handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                if (handler.get(kind) or {}).get("host"):
                    bad.append(f"{c['name']}: {kind}.host")
    return bad


def restricted_volumes(pod: Pod) -> list[str]:  # check_restrictedVolumes.go
    return [f"volume {v['name']}" for v in pod.get("volumes") or []
            if not set(v) - {"name"} <= RESTRICTED_VOLUMES]


def allow_privilege_escalation(pod: Pod) -> list[str]:  # check_allowPrivilegeEscalation.go
    return [f"{c['name']}: allowPrivilegeEscalation not false" for c in containers(pod)
            if _ctx(c).get("allowPrivilegeEscalation") is not False]


def run_as_non_root(pod: Pod) -> list[str]:  # check_runAsNonRoot.go
    pod_value = (pod.get("securityContext") or {}).get("runAsNonRoot")
    if pod_value is False:
        return ["pod: runAsNonRoot false"]
    return [f"{c['name']}: runAsNonRoot not true" for c in containers(pod)
            if _ctx(c).get("runAsNonRoot") is False or (_ctx(c).get("runAsNonRoot") is None and pod_value is not True)]


def run_as_user(pod: Pod) -> list[str]:  # check_runAsUser.go
    contexts = [pod.get("securityContext") or {}, *(_ctx(c) for c in containers(pod))]
    return ["runAsUser 0" for ctx in contexts if ctx.get("runAsUser") == 0]


def seccomp_restricted(pod: Pod) -> list[str]:  # check_seccompProfile_restricted.go
    allowed = {"RuntimeDefault", "Localhost"}
    pod_type = ((pod.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    if pod_type is not None and pod_type not in allowed:
        return [f"pod: seccompProfile {pod_type}"]
    bad = []
    for c in containers(pod):
        own = (_ctx(c).get("seccompProfile") or {}).get("type")
        if (own is not None and own not in allowed) or (own is None and pod_type is None):
            bad.append(f"{c['name']}: no RuntimeDefault/Localhost seccomp profile")
    return bad


def capabilities_restricted(pod: Pod) -> list[str]:  # check_capabilities_restricted.go
    bad = []
    for c in containers(pod):
        caps = _ctx(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad.append(f"{c['name']}: does not drop ALL")
        bad += [f"{c['name']}: adds {cap}" for cap in caps.get("add") or [] if cap != "NET_BIND_SERVICE"]
    return bad


Check = Callable[[Pod], list[str]]
BASELINE: tuple[Check, ...] = (host_namespaces, privileged, capabilities_baseline, host_path_volumes, host_ports,
                               app_armor, selinux, proc_mount, seccomp_baseline, sysctls, windows_host_process,
                               host_probes)
# Restricted is baseline plus these (restricted_volumes replaces host_path_volumes, the restricted
# capability and seccomp checks replace the baseline ones: stricter, so keeping both changes nothing).
RESTRICTED: tuple[Check, ...] = BASELINE + (restricted_volumes, allow_privilege_escalation, run_as_non_root,
                                            run_as_user, seccomp_restricted, capabilities_restricted)


def violations(pod: Pod, level: str) -> list[str]:
    checks = {"baseline": BASELINE, "restricted": RESTRICTED}[level]
    return [problem for check in checks for problem in check(pod)]
