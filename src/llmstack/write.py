"""Writing a rendered stack to disk: atomic, never touching an existing `.env`.

A new directory is assembled beside its final place and renamed into it in one step; an
existing directory gets every file staged first and then swapped in with os.replace, so an
error leaves either the old files or the new ones, never half-written ones.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmstack.errors import HandEdited, InputError
from llmstack.paths import ENV_FILE
from llmstack.stamp import pristine


@dataclass
class WriteResult:
    written: list[str]
    env_created: bool
    master_key_hint: str | None  # the key's first characters, never the whole key


def new_master_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


def env_file_text(master_key: str, reader: str = "`docker compose`") -> str:
    return (
        f"# Secrets for this stack, read by {reader}. Never commit this file.\n"
        f"LITELLM_MASTER_KEY={master_key}\n"
    )


def diff(output_dir: Path, files: dict[str, str]) -> list[str]:
    """Names of rendered files that are missing on disk or differ from what would be rendered."""
    differing = []
    for name, content in files.items():
        path = output_dir / name
        try:
            on_disk = path.read_bytes()
        except OSError:
            differing.append(name)
            continue
        if on_disk != content.encode("utf-8"):
            differing.append(name)
    return differing


def _unwritable(output_dir: Path, exc: OSError) -> InputError:
    reason = exc.strerror or exc.__class__.__name__
    return InputError(
        f"--output {output_dir}: cannot write there ({reason}); choose a writable directory with --output"
    )


def _write_file(path: Path, content: str, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def hand_edited(output_dir: Path, names: list[str]) -> list[str]:
    """Files about to be replaced that are not exactly as llmstack last rendered them."""
    edited = []
    for name in names:
        try:
            text = (output_dir / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            edited.append(name)
            continue
        if pristine(text) is not True:
            edited.append(name)
    return edited


def write(output_dir: Path, files: dict[str, str], with_env: bool, force: bool = False,
          env_reader: str = "`docker compose`") -> WriteResult:
    """Write the rendered files; create `.env` with a fresh master key when it is missing.

    A file edited by hand since it was rendered (its content hash no longer matches) is never
    overwritten silently: without `force` the whole write stops and names it.
    """
    changed = set(diff(output_dir, files)) if output_dir.is_dir() else set(files)
    if output_dir.is_dir() and not force:
        edited = hand_edited(output_dir, sorted(changed))
        if edited:
            raise HandEdited(
                f"{output_dir}/{edited[0]} was edited by hand since it was rendered"
                + (f" (also: {', '.join(edited[1:])})" if len(edited) > 1 else "")
                + "; move the change into the inputs (flags or config/models.yaml) or re-run with --force to overwrite"
            )
    env_needed = with_env and not (output_dir / ENV_FILE).exists()
    master_key = new_master_key() if env_needed else None
    extra = {ENV_FILE: env_file_text(master_key, env_reader)} if master_key else {}
    result = WriteResult(
        written=sorted(changed),
        env_created=bool(master_key),
        master_key_hint=(master_key[:7] + "…") if master_key else None,
    )
    to_write = {name: files[name] for name in sorted(changed)} | extra
    if not to_write:
        return result
    try:
        if output_dir.exists() and not output_dir.is_dir():
            raise NotADirectoryError(20, "exists and is not a directory")
        if output_dir.is_dir():
            _replace_in_place(output_dir, to_write)
        else:
            _create_directory(output_dir, to_write)
    except OSError as exc:
        raise _unwritable(output_dir, exc) from None
    return result


def _mode(name: str) -> int:
    return 0o600 if name == ENV_FILE else 0o644


def _create_directory(output_dir: Path, files: dict[str, str]) -> None:
    parent = output_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".tmp", dir=parent))
    try:
        for name, content in files.items():
            _write_file(staging / name, content, _mode(name))
        staging.chmod(0o755)
        os.rename(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_in_place(output_dir: Path, files: dict[str, str]) -> None:
    staged: list[tuple[Path, Path]] = []
    try:
        for name, content in files.items():
            final = output_dir / name
            temp = output_dir / f".{name}.llmstack-tmp"
            temp.unlink(missing_ok=True)
            _write_file(temp, content, _mode(name))
            staged.append((temp, final))
        for temp, final in staged:
            if final.name == ENV_FILE and final.exists():  # never overwrite a secret
                temp.unlink()
                continue
            os.replace(temp, final)
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
