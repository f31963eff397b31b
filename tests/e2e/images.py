"""Build the images the end-to-end tests need, without a registry (see shared TESTING.md).

- a Debian base image (debootstrap + docker import) with python3 and curl;
- LiteLLM at exactly the version config/models.yaml pins, installed from PyPI in a chroot;
- the stand-in backend (tests/e2e/fake_backend.py) on top of the base image.

Every image is cached by tag: a build is skipped when `docker image inspect TAG` succeeds.
Run `python -m tests.e2e.images` to build them ahead of a test run; `python -m tests.e2e.images vllm`
builds the real vLLM (CPU) image (tests/e2e/vllm_image.py) and prints its tag.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path(os.environ.get("LLMSTACK_E2E_CACHE", Path.home() / ".cache" / "llmstack-e2e"))
BASE_TAG = "llmstack-e2e/base:bookworm-1"
MIRROR = "http://deb.debian.org/debian"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def log(message: str) -> None:
    print(f"[e2e images {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(*cmd: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def pinned_litellm_version() -> str:
    """The LiteLLM release llmstack pins (`main-v1.104.5` -> `1.104.5`)."""
    from llmstack.gateway import pinned_version

    return pinned_version()


def _rootfs(dest: Path) -> None:
    """A minimal Debian root with python3, venv and curl; debootstrapped once, then cached."""
    tarball = CACHE / "rootfs-bookworm-1.tar"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="rootfs.", dir=CACHE))
        try:
            log("debootstrap bookworm (about a minute, once)")
            run("debootstrap", "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates,curl",
                "bookworm", str(work), MIRROR, stdout=subprocess.DEVNULL)
            shutil.rmtree(work / "var" / "cache" / "apt" / "archives", ignore_errors=True)
            partial = tarball.with_suffix(".partial")
            run("tar", "-C", str(work), "-cf", str(partial), ".")
            partial.rename(tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    run("tar", "-C", str(dest), "-xf", str(tarball))


def _import(rootfs: Path, tag: str, *changes: str) -> None:
    args = ["docker", "import"]
    for change in changes:
        args += ["-c", change]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        subprocess.run(args + ["-", tag], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
    finally:
        tar.stdout.close()
        tar.wait()


def base_image() -> str:
    if image_exists(BASE_TAG):
        return BASE_TAG
    with tempfile.TemporaryDirectory(prefix="base.", dir=_workdir()) as tmp:
        root = Path(tmp) / "root"
        _rootfs(root)
        log(f"importing {BASE_TAG}")
        _import(root, BASE_TAG, "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin")
    return BASE_TAG


def _workdir() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


def litellm_image(version: str | None = None) -> str:
    """LiteLLM from PyPI `litellm[proxy]==VERSION`: entrypoint `litellm`, python3, no curl."""
    version = version or pinned_litellm_version()
    tag = f"llmstack-e2e/litellm:{version}"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="litellm.", dir=_workdir()) as tmp:
        root = Path(tmp) / "root"
        _rootfs(root)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc" / "ssl" / "certs" / "ca-certificates.crt")
        pip_env = dict(CLEAN_ENV)
        for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
            if key in os.environ:
                pip_env[key] = os.environ[key]
        log(f"installing litellm[proxy]=={version} into a chroot (about a minute)")
        run("chroot", str(root), "sh", "-c",
            "python3 -m venv /opt/litellm && "
            f"/opt/litellm/bin/pip install --no-cache-dir --disable-pip-version-check -q 'litellm[proxy]=={version}'",
            env=pip_env)
        (root / "etc" / "resolv.conf").unlink()
        log(f"importing {tag}")
        _import(root, tag,
                'ENTRYPOINT ["/opt/litellm/bin/litellm"]',
                "ENV PATH=/opt/litellm/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "WORKDIR /app")
    return tag


def fake_backend_image() -> str:
    """The stand-in backend; the tag carries a hash of its source so edits rebuild it."""
    source = HERE / "fake_backend.py"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    tag = f"llmstack-e2e/fake-backend:{digest}"
    if image_exists(tag):
        return tag
    return _on_base(tag, source, '["python3", "-u", "/app/fake_backend.py"]')


def _on_base(tag: str, program: Path, entrypoint: str) -> str:
    """The base image plus one program in /app (a local build: FROM needs no registry)."""
    base = base_image()
    with tempfile.TemporaryDirectory(prefix="image.", dir=_workdir()) as tmp:
        context = Path(tmp)
        shutil.copy(program, context / program.name)
        (context / "Dockerfile").write_text(
            f"FROM {base}\nCOPY {program.name} /app/{program.name}\nENTRYPOINT {entrypoint}\n"
        )
        log(f"building {tag}")
        run("docker", "build", "-q", "-t", tag, str(context), stdout=subprocess.DEVNULL,
            env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return tag


LLAMA_CPP_PYTHON = os.environ.get("LLMSTACK_E2E_LLAMA_CPP_PYTHON", "0.3.36")


def llama_cpp_sdist(version: str = LLAMA_CPP_PYTHON) -> Path:
    """PyPI's llama-cpp-python sdist (the llama.cpp source, its chat templates included), cached."""
    sdist = CACHE / f"llama_cpp_python-{version}.tar.gz"
    if sdist.exists():
        return sdist
    with tempfile.TemporaryDirectory(prefix="llama-sdist.", dir=_workdir()) as tmp:
        log(f"downloading the llama-cpp-python {version} sdist")
        run(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
            "-d", tmp, f"llama-cpp-python=={version}")
        shutil.move(str(next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))), sdist.with_suffix(".partial"))
        sdist.with_suffix(".partial").rename(sdist)
    return sdist


def _llama_server_binary(version: str) -> Path:
    """llama-server built from the llama.cpp source vendored in PyPI's llama-cpp-python sdist.

    Static (no shared libraries to copy), no OpenMP (no libgomp in the image), no CURL/SSL
    (the tests never download a model). About five minutes on two cores, then cached.
    """
    binary = CACHE / f"llama-server-{version}" / "llama-server"
    if binary.exists():
        return binary
    with tempfile.TemporaryDirectory(prefix="llama-src.", dir=_workdir()) as tmp:
        work = Path(tmp)
        run("tar", "-C", str(work), "-xzf", str(llama_cpp_sdist(version)))
        source = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"))
        build = work / "build"
        log("building llama-server (about five minutes on two cores, once)")
        run("cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF", "-DGGML_NATIVE=OFF", "-DGGML_OPENMP=OFF",
            "-DBUILD_SHARED_LIBS=OFF", stdout=subprocess.DEVNULL)
        run("cmake", "--build", str(build), "--target", "llama-server", f"-j{os.cpu_count() or 2}",
            stdout=subprocess.DEVNULL)
        binary.parent.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".partial")
        shutil.copy(build / "bin" / "llama-server", partial)
        partial.rename(binary)
    return binary


def llama_server_image(version: str = LLAMA_CPP_PYTHON) -> str:
    """Like the official llama.cpp server image: entrypoint /app/llama-server, curl inside."""
    tag = f"llmstack-e2e/llama-server:{version}"
    if image_exists(tag):
        return tag
    return _on_base(tag, _llama_server_binary(version), '["/app/llama-server"]')


def respawning_gateway_image() -> str:
    """A gateway whose workers keep dying and being re-spawned (tests/e2e/respawning_gateway.py)."""
    source = HERE / "respawning_gateway.py"
    tag = f"llmstack-e2e/respawning-gateway:{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}"
    if image_exists(tag):
        return tag
    return _on_base(tag, source, '["python3", "-u", "/app/respawning_gateway.py"]')


def main(argv: list[str]) -> int:
    if argv == ["vllm"]:
        from tests.e2e.vllm_image import ImageUnavailable, vllm_image

        try:
            print(vllm_image())
        except ImageUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: python -m tests.e2e.images [vllm]", file=sys.stderr)
        return 2
    print(litellm_image())
    print(fake_backend_image())
    print(llama_server_image())
    print(respawning_gateway_image())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
