"""What render may learn from the host it runs on: the GPUs' memory and the NVIDIA driver, from `nvidia-smi`.

Only resolve/ calls this (rendering stays pure); tests put a fake `nvidia-smi` on PATH.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mib: int

    @property
    def memory_gib(self) -> float:
        return round(self.memory_mib / 1024, 1)


def gpus(timeout: float = 10.0) -> list[Gpu] | None:
    """Every GPU `nvidia-smi` reports, or None when there is no nvidia-smi or it fails (no driver)."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    found = []
    for line in out.stdout.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) < 3:
            continue
        try:
            found.append(Gpu(int(parts[0]), ",".join(parts[1:-1]), int(float(parts[-1]))))
        except ValueError:
            continue
    return found or None


def driver(timeout: float = 10.0) -> str | None:
    """The NVIDIA driver version (`580.65.06`) `nvidia-smi` reports, or None without nvidia-smi or a driver."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    versions = [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []
    return versions[0] if versions and re.fullmatch(r"\d+(\.\d+)*", versions[0]) else None
