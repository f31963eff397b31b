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
    projector = source.facts.mmproj if find_projector and backend.projector else None
    if source.kind == "snapshot":
        return _snapshot(source, output_dir, var_prefix, projector)
    if source.format == "gguf":
        return _gguf(source, output_dir, var_prefix, projector)
    assert source.path is not None
    is_file = not source.is_dir
    host = host_path(source.path, source.text, output_dir)
    inside = f"/models/{source.path.name}"
    mount = Mount(host_path=host, container_path=inside,
                  variable=variable(f"{var_prefix}MODEL_{'FILE' if is_file else 'DIR'}", host), is_file=is_file)
    return (mount,), inside, None


def _snapshot(source: ModelSource, output_dir: Path, var_prefix: str,
              projector: str | None) -> tuple[tuple[Mount, ...], str, str | None]:
    """A Hugging Face cache snapshot: the whole `models--org--name` directory (its blobs too)."""
    root, model_dir = source.repo_root, source.model_dir
    assert root is not None and model_dir is not None
    host = host_path(root, source.text, output_dir)
    inside = f"/models/{root.name}"
    mount = Mount(host_path=host, container_path=inside, variable=variable(f"{var_prefix}MODEL_REPO", host),
                  is_file=False, role="Hugging Face cache repository (snapshot and blobs)")
    served = f"{inside}/{model_dir.relative_to(root).as_posix()}"
    if source.format == "gguf":
        return (mount,), f"{served}/{source.facts.files[0]}", (f"{served}/{projector}" if projector else None)
    return (mount,), served, None


def _gguf(source: ModelSource, output_dir: Path, var_prefix: str,
          projector: str | None) -> tuple[tuple[Mount, ...], str, str | None]:
    """One .gguf file (and a projector beside it), or the directory of a split set or of one model."""
    path, directory, files, given = source.path, source.model_dir, source.facts.files, source.text
    assert path is not None and directory is not None
    if not source.is_dir and len(files) <= 1:
        host = host_path(path, given, output_dir)
        found: tuple[Mount, ...] = (Mount(host_path=host, container_path=f"/models/{path.name}",
                                          variable=variable(f"{var_prefix}MODEL_FILE", host), is_file=True),)
        if not projector:
            return found, f"/models/{path.name}", None
        phost = host_path(directory / projector, _sibling(given, projector), output_dir)
        found += (Mount(host_path=phost, container_path=f"/mmproj/{projector}",
                        variable=variable(f"{var_prefix}MMPROJ_FILE", phost), is_file=True, role="vision projector"),)
        return found, f"/models/{path.name}", f"/mmproj/{projector}"
    # A directory, or one shard of a split model: mount the directory, every shard is in it.
    host = host_path(directory, given if source.is_dir else _parent(given), output_dir)
    inside = f"/models/{directory.name}"
    mount = Mount(host_path=host, container_path=inside, variable=variable(f"{var_prefix}MODEL_DIR", host),
                  is_file=False)
    first = files[0] if files else path.name
    return (mount,), f"{inside}/{first}", (f"{inside}/{projector}" if projector else None)


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
