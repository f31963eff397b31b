"""What a backend container mounts: the model directory or file, every shard of a split GGUF, a
Hugging Face cache snapshot with its blobs, a vision projector; and how host paths are written
into the committed file (relative to it when the inputs were relative, overridable per host
through a Compose variable).
"""

from __future__ import annotations

import os
from pathlib import Path

from llmstack.backends.base import Backend
from llmstack.sources import ModelSource
from llmstack.spec import Mount


def host_path(path: Path, given: str, output_dir: Path) -> str:
    """The path as written into the compose file.

    Absolute and `~` inputs (or an absolute --output) give absolute paths; a relative path
    with a relative output directory becomes relative to the output directory (Compose resolves
    relative bind sources against the compose file's directory), so a committed stack keeps
    working wherever the repository is checked out.
    """
    if given.startswith("~") or os.path.isabs(given) or output_dir.is_absolute():
        return str(path)
    rel = os.path.relpath(path, output_dir.absolute())
    return rel if rel.startswith("..") else f"./{rel}"


def variable(name: str, host_path: str) -> str | None:
    """A `}` would end `${VAR:-default}` early: such a path is written literally instead."""
    return None if "}" in host_path else name


def mounts(source: ModelSource, backend: Backend, output_dir: Path, var_prefix: str,
            find_projector: bool) -> tuple[tuple[Mount, ...], str, str | None]:
    """What the backend needs mounted, the model argument, and a projector found beside the model
    (unless one is given by hand)."""
    if source.kind == "hub":
        return (), source.text, None
    assert source.path is not None
    facts = source.facts
    given = source.text
    projector = facts.mmproj if find_projector and backend.projector else None
    if source.kind == "snapshot":
        root = source.repo_root
        assert root is not None and source.model_dir is not None
        host = host_path(root, given, output_dir)
        inside = f"/models/{root.name}"
        relative = source.model_dir.relative_to(root).as_posix()
        mount = Mount(host_path=host, container_path=inside, variable=variable(f"{var_prefix}MODEL_REPO", host),
                      is_file=False, role="Hugging Face cache repository (snapshot and blobs)")
        model_dir = f"{inside}/{relative}"
        if facts.format == "gguf":
            return (mount,), f"{model_dir}/{facts.files[0]}", (f"{model_dir}/{projector}" if projector else None)
        return (mount,), model_dir, None
    if facts.format == "gguf" and backend.formats == frozenset({"gguf"}):
        directory = source.model_dir
        assert directory is not None
        single_file = not source.is_dir and len(facts.files) <= 1
        if single_file:
            host = host_path(source.path, given, output_dir)
            mount = Mount(host_path=host, container_path=f"/models/{source.path.name}",
                          variable=variable(f"{var_prefix}MODEL_FILE", host), is_file=True)
            mounts: tuple[Mount, ...] = (mount,)
            mmproj_arg = None
            if projector:
                path = directory / projector
                phost = host_path(path, _sibling(given, projector), output_dir)
                mounts += (Mount(host_path=phost, container_path=f"/mmproj/{path.name}",
                                 variable=variable(f"{var_prefix}MMPROJ_FILE", phost), is_file=True,
                                 role="vision projector"),)
                mmproj_arg = f"/mmproj/{path.name}"
            return mounts, f"/models/{source.path.name}", mmproj_arg
        # A directory, or one shard of a split model: mount the directory, every shard is in it.
        dir_given = given if source.is_dir else _parent(given)
        host = host_path(directory, dir_given, output_dir)
        inside = f"/models/{directory.name}"
        mount = Mount(host_path=host, container_path=inside, variable=variable(f"{var_prefix}MODEL_DIR", host),
                      is_file=False)
        first = facts.files[0] if facts.files else source.path.name
        return (mount,), f"{inside}/{first}", (f"{inside}/{projector}" if projector else None)
    is_file = not source.is_dir
    host = host_path(source.path, given, output_dir)
    inside = f"/models/{source.path.name}"
    mount = Mount(host_path=host, container_path=inside,
                  variable=variable(f"{var_prefix}MODEL_{'FILE' if is_file else 'DIR'}", host), is_file=is_file)
    return (mount,), inside, None


def _parent(given: str) -> str:
    parent = os.path.dirname(given.rstrip("/"))
    if not parent:
        return "."
    if not parent.startswith(("/", "./", "../", "~")) and parent != ".":
        return f"./{parent}"
    return parent


def _sibling(given: str, name: str) -> str:
    parent = _parent(given)
    return f"{parent}/{name}"
