"""GPU memory as the memory plan counts it: GiB as `nvidia-smi` reports it, and the GPUs known by name.

`nvidia-smi --query-gpu=memory.total` reports MiB (2^20 bytes); the plan works in GiB (2^30 bytes,
MiB / 1024). Products are sold in GB (10^9 bytes) or by the size of their memory chips: an "80 GB"
H100 reports 81559 MiB = 79.6 GiB, a "24 GB" L4 23034 MiB = 22.5 GiB. `--gpu-memory` (and
`gpu_memory:` in models.yaml) takes either a number of GiB or a product name below, which stands
for the figure its `nvidia-smi` reports.

Where each figure comes from (`nvidia-smi` transcripts published by the people who ran it):

- T4 15360, A10 23028, L4 23034, L40S 46068, A100 40GB 40960, A100 80GB 81920, H100 81559 MiB:
  modal-labs/modal-client#2797 (the `nvidia-smi` totals of a cloud's GPU types);
- H100 80GB HBM3 (SXM) 81559: NVIDIA/nccl#1264, wilicc/gpu-burn#114;
- H200 143771: NVIDIA/cuda-samples#311; B200 183359: NVIDIA/TensorRT-LLM#10278;
- RTX 4090 24564: RLinf/RLinf#255; RTX 3090 24576: noonghunna/club-3090#1128;
  RTX 5090 32607: noonghunna/club-3090#1261; A40 46068: guqiong96/Lvllm#35;
- H100 PCIe 81559, H100 NVL 95830, L40 46068, RTX A6000 49140, RTX 6000 Ada 49140, RTX PRO 6000
  Blackwell (Workstation Edition) 97887: `nvidia-smi --query-gpu=name,memory.total` lines in public
  repositories (ten or more independent copies each, found with a code-search index that does not
  name them).

vLLM sizes its budget from what CUDA reports (`torch.cuda.mem_get_info`), a few hundred MiB
below `nvidia-smi` on the same GPU (an H100 reports "total capacity of 79.10 GiB" to torch); the
plan's per-GPU overhead absorbs that difference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from llmstack.errors import InputError


@dataclass(frozen=True)
class Product:
    name: str  # as the help and the plan name it
    mib: int  # memory.total as nvidia-smi reports it
    marketed_gb: int  # the size it is sold as
    aliases: tuple[str, ...] = ()  # other spellings, normalised (see `_key`)

    @property
    def gib(self) -> float:
        return round(self.mib / 1024, 1)


PRODUCTS: tuple[Product, ...] = (
    Product("T4", 15360, 16),
    Product("A10", 23028, 24),
    Product("L4", 23034, 24),
    Product("RTX-3090", 24576, 24, ("3090",)),
    Product("RTX-4090", 24564, 24, ("4090",)),
    Product("RTX-5090", 32607, 32, ("5090",)),
    Product("A100-40G", 40960, 40, ("a100sxm440g", "a100pcie40g")),
    Product("A40", 46068, 48),
    Product("L40", 46068, 48),
    Product("L40S", 46068, 48),
    Product("RTX-A6000", 49140, 48, ("a6000",)),
    Product("RTX-6000-Ada", 49140, 48, ("rtx6000ada", "6000ada")),
    Product("A100-80G", 81920, 80, ("a100sxm480g", "a100pcie80g")),
    Product("H100", 81559, 80, ("h10080g", "h10080ghbm3", "h100sxm", "h100sxm580g")),
    Product("H100-PCIe", 81559, 80, ("h100pcie80g",)),
    Product("H100-NVL", 95830, 94, ("h100nvl94g",)),
    Product("RTX-PRO-6000", 97887, 96, ("rtxpro6000blackwell", "rtxpro6000blackwellworkstationedition")),
    Product("H200", 143771, 141, ("h200141g", "h200sxm")),
    Product("B200", 183359, 180, ("b200180g", "b200192g")),
)

# Names that stand for more than one product: say which.
AMBIGUOUS: dict[str, tuple[str, ...]] = {"a100": ("A100-40G", "A100-80G")}

_NOISE = re.compile(r"nvidia|geforce|tesla|generation|[^a-z0-9]")


def _key(text: str) -> str:
    """A product name reduced for lookup: lower case, no vendor words, no punctuation, "80GB" -> "80g"."""
    key = _NOISE.sub("", text.lower())
    return re.sub(r"(\d)gb", r"\1g", key)


_BY_KEY: dict[str, Product] = {alias: product for product in PRODUCTS
                                for alias in (_key(product.name), *product.aliases)}


def known_names() -> str:
    return ", ".join(product.name for product in PRODUCTS)


@dataclass(frozen=True)
class GpuMemory:
    """Memory per GPU for the plan: GiB, and how to say where the figure came from."""

    gib: float
    product: Product | None = None

    def describe(self, origin: str) -> str:
        if self.product is None:
            return origin
        return f"{origin} {self.product.name} = {self.product.mib} MiB in nvidia-smi"


def parse(value: Any, label: str) -> GpuMemory:
    """`--gpu-memory` / `gpu_memory:`: a number of GiB (as nvidia-smi reports it) or a product name.
    Anything else (NaN, infinite, zero, negative, an unknown name) is InputError naming `label`."""
    if isinstance(value, bool):
        raise InputError(_wrong(label))
    if isinstance(value, (int, float)):
        return _number(float(value), label)
    if not isinstance(value, str) or not value.strip():
        raise InputError(_wrong(label))
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return _named(text, label)
    return _number(number, label)


def _number(number: float, label: str) -> GpuMemory:
    if not math.isfinite(number) or number <= 0:
        raise InputError(_wrong(label))
    return GpuMemory(number)


def _named(text: str, label: str) -> GpuMemory:
    key = _key(text)
    product = _BY_KEY.get(key)
    if product is not None:
        return GpuMemory(product.gib, product)
    if key in AMBIGUOUS:
        raise InputError(f"{label}: {text} is sold with different memory sizes; "
                         f"name one: {' or '.join(AMBIGUOUS[key])}")
    raise InputError(_wrong(label))


def _wrong(label: str) -> str:
    return (f"{label}: GiB of memory per GPU as nvidia-smi reports it (MiB / 1024; a positive number such as "
            f"22.5), or a GPU product: {known_names()}")


def marketed_as(number: float) -> list[Product]:
    """The products sold as `number` GB whose nvidia-smi figure is lower: a number given by hand
    that is probably the label on the box, not what the GPU reports."""
    return [p for p in PRODUCTS if p.marketed_gb == number and p.gib < number]
