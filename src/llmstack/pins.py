"""`llmstack pin`: every image a stack of models.yaml runs, pinned by digest.

`pin` resolves each image tag the stacks would render to the digest its registry serves
(registry.py) and writes them into models.yaml's top-level `pins:` mapping (image tag -> digest),
a block of its own that it replaces on the next run (the rest of the file, comments included, is
kept byte for byte). Every render then writes `image:tag@sha256:…` for those images (`apply`,
called once after the stack is resolved): the tag stays for the reader, the digest decides what
Compose and Kubernetes pull.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmstack import imageref
from llmstack.errors import ConfigFileError, InputError, OperationFailed

BLOCK_COMMENT = ("# Image digests written by `llmstack pin` (it rewrites this block): every render uses\n"
                 "# image@digest for these tags. Run `llmstack pin` again to move to what the tags point at now.\n")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOP_PINS = re.compile(r"^pins:(\s.*)?$")


def check(pins: Mapping[str, Any], where: str) -> dict[str, str]:
    """models.yaml's `pins:`, every key an image tag reference and every value a sha256 digest."""
    if not isinstance(pins, Mapping):
        raise ConfigFileError(f"{where}: pins: expected a mapping of image -> sha256 digest")
    checked = {}
    for image, value in pins.items():
        problem = imageref.problem(str(image))
        if problem or "@" in str(image):
            raise ConfigFileError(f"{where}: pins.{image}: {problem or 'a key is an image tag, without a digest'}")
        if not isinstance(value, str) or not _DIGEST.match(value):
            raise ConfigFileError(f"{where}: pins.{image}: expected sha256:<64 lowercase hex> (run `llmstack pin`)")
        checked[str(image)] = value
    return checked


def pinned(image: str, pins: Mapping[str, str]) -> str:
    return image if "@" in image or image not in pins else f"{image}@{pins[image]}"


def apply(spec, pins: Mapping[str, str]):
    """The stack with every pinned image written as image:tag@digest."""
    if not pins:
        return spec
    models = tuple(replace(m, image=pinned(m.image, pins)) if m.image else m for m in spec.models)
    litellm = replace(spec.litellm, image=pinned(spec.litellm.image, pins)) if spec.litellm else None
    return replace(spec, models=models, litellm=litellm)


def stack_images(config_path: Path, stacks: list[str]) -> dict[str, list[str]]:
    """image -> the stacks that run it (every image a render of each stack writes)."""
    from llmstack import configfile
    from llmstack.options import RenderOptions
    from llmstack.resolve import resolve

    config = configfile.load(config_path)
    used: dict[str, list[str]] = {}
    for name in stacks:
        spec = resolve(RenderOptions({"stack": name, "config": str(config_path)}), config).spec
        images = [m.image for m in spec.services] + ([spec.litellm.image] if spec.litellm else [])
        for image in images:
            used.setdefault(image.split("@", 1)[0] if "@" in image else image, []).append(name)
    return used


def block(pins: Mapping[str, str]) -> str:
    import json

    lines = [f"  {json.dumps(image)}: {json.dumps(digest)}" for image, digest in sorted(pins.items())]
    return BLOCK_COMMENT + "pins:" + ("\n" + "\n".join(lines) if lines else " {}") + "\n"


def with_block(text: str, pins: Mapping[str, str]) -> str:
    """models.yaml's text with its `pins:` block (and the comment above it) replaced, or appended."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _TOP_PINS.match(line.rstrip("\n"))), None)
    if start is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + ("\n" if text.strip() else "") + block(pins)
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    comment = BLOCK_COMMENT.splitlines(keepends=True)
    top = start - len(comment) if lines[max(0, start - len(comment)):start] == comment else start
    return "".join(lines[:top]) + block(pins) + "".join(lines[end:])


def write(config_path: Path, pins: Mapping[str, str]) -> None:
    """Replace the `pins:` block of models.yaml, atomically, once the new text reads back the same."""
    from llmstack.configfile import load_yaml

    where = str(config_path)
    text = config_path.read_text(encoding="utf-8")
    new = with_block(text, pins)
    data = load_yaml(new, where)
    if not isinstance(data, dict) or check(data.get("pins") or {}, where) != dict(pins):
        raise OperationFailed(f"{where}: could not write its pins: block (its layout is unusual); "
                              "add the digests by hand as a top-level `pins:` mapping")
    mode = config_path.stat().st_mode & 0o777
    fd, temp = tempfile.mkstemp(dir=config_path.parent, prefix=f".{config_path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, config_path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def pin(config_path: Path, stack: str | None, resolve_digest: Callable[[str], str],
        echo: Callable[[str], None]) -> int:
    """Resolve and write; returns how many images are pinned. Nothing is written unless every
    image resolved."""
    from llmstack import configfile
    from llmstack.registry import RegistryError

    config = configfile.load(config_path)
    names = [stack] if stack else sorted(config.stacks)
    if not names:
        raise InputError(f"{config.where} defines no stacks to pin; add them under `stacks:`")
    if stack and stack not in config.stacks:
        raise InputError(f"stack {stack!r} is not defined in {config.where} (stacks: "
                         f"{', '.join(sorted(config.stacks)) or 'none'})")
    images = stack_images(config_path, names)
    pins = dict(config.pins)
    failures = []
    for image in sorted(images):
        try:
            found = resolve_digest(image)
        except RegistryError as exc:
            failures.append(str(exc))
            continue
        previous = pins.get(image)
        pins[image] = found
        change = "" if previous in (None, found) else f" (was {previous[:19]}…)"
        echo(f"{image} -> {found}{change}")
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise OperationFailed(f"{failures[0]}{more}; nothing written to {config.where}: run `llmstack pin` on a "
                              "host that reaches the registry")
    write(config_path, pins)
    return len(images)
