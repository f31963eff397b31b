"""Writing a rendered stack to disk: whole, atomic, one render at a time, never losing `.env`.

How a render reaches its directory `D` (say `compose/qwen`):

1. Lock. Every render of `D` takes an exclusive `flock` on `.qwen.llmstack-render/.gitignore`,
   in a hidden workspace beside `D` (same parent, so the same filesystem). Renders into one directory
   run one after the other: the hand-edit check, the `.env` decision and the swap below happen
   under the lock, so no render decides on a directory another render is changing.
2. Stage. A complete new directory is built inside the workspace: every rendered file that
   changed is written (and fsynced); every file that did not change, `.env`, and anything else
   found in `D` that render does not own (a README, `.claude/`, ...) is hard-linked from `D`
   (same inode: a running container's bind mount of an unchanged file stays valid, and no copy
   of a secret is made). A missing `.env` gets a new master key, written last, mode 0600.
3. Swap. `renameat2(RENAME_EXCHANGE)` exchanges `D` and the staged directory in one step: any
   observer sees the old directory or the new one, never a mix. A new `D` is a plain rename.
   Filesystems without RENAME_EXCHANGE (ENOSYS/EINVAL: NFS, some FUSE) use two renames,
   `D -> workspace/old` then `staged -> D`, after marking the staged directory complete; a
   crash between them leaves `D` missing for a moment, and the next render (under the lock,
   before anything else) puts back the complete new directory, or the old one if the new one
   was never marked complete (`_recover`). Either way the result is exactly old or new.
4. Clean up. The old directory, now in the workspace, is removed, then the workspace itself.

Nothing temporary is ever inside `D`, and nothing in the workspace can be committed: the lock
file is the workspace's `.gitignore`, holding `*` (git then ignores the whole directory, the
`.gitignore` included), created whole before anything else and removed after everything else;
the workspace is mode 0700. A render killed with SIGKILL can leave the workspace behind
(never a temporary file in `D`); the next render of `D` removes it under the lock. A fresh
master key exists only in the new `.env` (or, after a kill before the swap, in that ignored,
owner-only workspace until the next render removes it).

Readers of this module: a shell whose working directory is `D` keeps the old (deleted)
directory after a render; `cd .` picks up the new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmstack.errors import HandEdited, InputError
from llmstack.paths import COMPOSE_FILE, ENV_FILE, MASTER_KEY
from llmstack.stamp import pristine

WORKSPACE_SUFFIX = ".llmstack-render"
LOCK_FILE = ".gitignore"  # the lock is the workspace's `*` ignore file (see locked)
IGNORE_ALL = "# llmstack render workspace: temporary, never commit (removed by the next render)\n*\n"
COMPLETE_MARK = ".llmstack-complete"  # only in a staged directory, only with the two-rename fallback


@dataclass
class WriteResult:
    written: list[str]
    env_created: bool
    master_key_hint: str | None  # the key's first characters, never the whole key
    # Keys render generated into `.env` (a new one, or added to an existing one): name -> first characters.
    keys_added: dict[str, str] = field(default_factory=dict)
    # Keys `.env` lacks that render could not add (a `.env` that is a symlink or not a regular file).
    keys_missing: list[str] = field(default_factory=list)


def new_key() -> str:
    """A fresh secret: 256 random bits, URL-safe (no `,`, `=`, quote or space: every server and
    `.env` reader takes it as is), `sk-` first so secret scanners recognise it."""
    return "sk-" + secrets.token_urlsafe(32)


new_master_key = new_key


def hint(key: str) -> str:
    """What output may show of a key: its first characters."""
    return key[:7] + "…"


def env_file_text(keys: Mapping[str, str], reader: str = "`docker compose`") -> str:
    return f"# Secrets for this stack, read by {reader}. Never commit this file.\n" + "".join(
        f"{name}={value}\n" for name, value in keys.items())


def env_names(data: bytes) -> set[str]:
    """The names a `.env` assigns (`NAME=...`, `export NAME=...`), read as bytes: a line that is not
    UTF-8 elsewhere in the file does not hide the names (the runtime commands report such a line)."""
    names = set()
    for line in data.splitlines():
        line = line.strip()
        if not line or line.startswith(b"#") or b"=" not in line:
            continue
        name = line.split(b"=", 1)[0].strip()
        if name.startswith(b"export "):
            name = name[len(b"export "):].strip()
        names.add(name.decode("ascii", "replace"))
    return names


def _added_text(data: bytes, keys: Mapping[str, str]) -> bytes:
    """`.env` with keys appended: every existing byte stays as it was."""
    separator = b"" if not data or data.endswith(b"\n") else b"\n"
    lines = "# Added by llmstack render (see .env.example).\n" + "".join(f"{n}={v}\n" for n, v in keys.items())
    return data + separator + lines.encode()


def regular_bytes(path: Path) -> bytes:
    """A file's bytes; OSError when it is not a regular file (a FIFO would block the read, a device
    never end it): opened without blocking, judged by the open file itself."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return handle.read()


def diff(output_dir: Path, files: dict[str, str]) -> list[str]:
    """Names of rendered files that are missing on disk or differ from what would be rendered."""
    differing = []
    for name, content in files.items():
        path = output_dir / name
        try:
            on_disk = regular_bytes(path)
        except OSError:
            differing.append(name)
            continue
        if on_disk != content.encode("utf-8"):
            differing.append(name)
    return differing


# What Compose's project loader picks up from a directory on its own (compose-spec/compose-go
# v2.13.0, cli/options.go, the version Compose 5.x vendors): `WithDefaultConfigPath` takes the
# first of DefaultFileNames present (compose.yaml, compose.yml, docker-compose.yml,
# docker-compose.yaml) and merges the first of DefaultOverrideFileNames present beside it;
# `WithConfigFileEnv` replaces both with COMPOSE_FILE, which `WithDotEnv` reads from `.env`
# (as it reads COMPOSE_PROJECT_NAME, which wins over the file's `name:`).
PREFERRED_OVER_OURS = ("compose.yaml", "compose.yml")  # found before docker-compose.yml: used instead
OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
ENV_KEYS_THAT_CHANGE_THE_PROJECT = ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME")


def compose_would_merge(output_dir: Path) -> list[str]:
    """What `docker compose` run in the directory would load beside or instead of the rendered
    docker-compose.yml, one phrase each (empty when Compose reads exactly what render wrote)."""
    found = []
    for name in PREFERRED_OVER_OURS:
        if (output_dir / name).is_file():
            found.append(f"{name} (Compose reads it instead of {COMPOSE_FILE})")
    for name in OVERRIDE_FILES:
        if (output_dir / name).is_file():
            found.append(f"{name} (Compose merges it into {COMPOSE_FILE})")
    env = output_dir / ENV_FILE
    if env.is_file():
        try:
            lines = regular_bytes(env).decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        for number, line in enumerate(lines, 1):
            key = line.strip().removeprefix("export ").split("=", 1)[0].strip()
            if "=" in line and key in ENV_KEYS_THAT_CHANGE_THE_PROJECT:
                found.append(f"{key} in .env line {number} (Compose loads other files or another project)")
    return found


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hand_edited(output_dir: Path, names: list[str]) -> list[str]:
    """Files about to be replaced that are not exactly as llmstack last rendered them."""
    edited = []
    for name in names:
        try:
            text = regular_bytes(output_dir / name).decode("utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            edited.append(name)
            continue
        if pristine(text) is not True:
            edited.append(name)
    return edited


# ---- the swap ------------------------------------------------------------------------------

RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _libc_renameat2():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        function = libc.renameat2  # glibc >= 2.28
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _libc_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE). False when this system or
    filesystem cannot; OSError for any other failure."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _swap(staged: Path, output_dir: Path, workspace: Path) -> Path | None:
    """Put the staged directory at output_dir; returns where the old directory now is."""
    if not output_dir.exists():
        os.rename(staged, output_dir)
        return None
    if exchange(staged, output_dir):
        return staged
    # Two renames. Mark the staged directory complete first, so that a crash between the
    # renames is rolled forward by the next render (_recover), never left half-done.
    _write_file(staged / COMPLETE_MARK, "")
    _fsync_dir(staged)
    old = workspace / "old"
    os.rename(output_dir, old)
    os.rename(staged, output_dir)
    (output_dir / COMPLETE_MARK).unlink()
    return old


def _recover(output_dir: Path, workspace: Path) -> None:
    """Finish or undo a two-rename swap that a crash interrupted (output_dir missing)."""
    if output_dir.exists() or output_dir.is_symlink():
        marker = output_dir / COMPLETE_MARK
        if marker.exists():  # the crash came after both renames
            marker.unlink()
        return
    staged = [p for p in workspace.iterdir() if p.name.startswith("new-") and (p / COMPLETE_MARK).exists()]
    if staged:
        os.rename(staged[0], output_dir)
        (output_dir / COMPLETE_MARK).unlink()
    elif (workspace / "old").is_dir():
        os.rename(workspace / "old", output_dir)


# ---- the lock and the workspace ------------------------------------------------------------


def workspace_of(output_dir: Path) -> Path:
    return output_dir.parent / f".{output_dir.name}{WORKSPACE_SUFFIX}"


@contextlib.contextmanager
def locked(output_dir: Path) -> Iterator[Path]:
    """Hold the render lock of output_dir; yields its workspace (git-ignored, mode 0700).

    The lock file is the workspace's `.gitignore` (`*`): whatever state a killed render leaves,
    the workspace holds that file, complete, or nothing at all. It is created whole (written
    anonymously, then linked in) and removed last, while held, with the workspace: a process
    that opened it before then holds a lock on a deleted file, notices (the inode check below)
    and starts again."""
    workspace = workspace_of(output_dir)
    ignore = workspace / LOCK_FILE
    while True:
        try:
            workspace.mkdir(mode=0o700, exist_ok=True)
            fd = _open_ignore_file(workspace, ignore)
        except FileNotFoundError:  # the workspace went away between mkdir and open
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(ignore))
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield workspace
    finally:
        try:
            _remove_workspace(workspace)
        finally:
            os.close(fd)


def _open_ignore_file(workspace: Path, ignore: Path) -> int:
    """Open the workspace's `.gitignore`, creating it with its whole content in one step."""
    try:
        return os.open(ignore, os.O_RDWR)
    except FileNotFoundError:
        pass
    anonymous = getattr(os, "O_TMPFILE", 0)
    try:  # Linux: written without a name, then linked in complete
        fd = os.open(workspace, anonymous | os.O_RDWR, 0o644) if anonymous else -1
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise
        fd = -1
    if fd >= 0:
        os.write(fd, IGNORE_ALL.encode())
        into = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
        try:  # linkat(AT_SYMLINK_FOLLOW) of the /proc magic link: a dir fd makes Python use linkat
            os.link(f"/proc/self/fd/{fd}", ignore.name, dst_dir_fd=into, follow_symlinks=True)
            return fd
        except FileExistsError:
            os.close(fd)
            return os.open(ignore, os.O_RDWR)
        except OSError:
            os.close(fd)
        finally:
            os.close(into)
    # Elsewhere: a named temporary file, linked in (only a crash at this very moment leaves it).
    temp = workspace / f".gitignore.{secrets.token_hex(4)}"
    _write_file(temp, IGNORE_ALL)
    try:
        os.link(temp, ignore)
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return os.open(ignore, os.O_RDWR)


def _remove_workspace(workspace: Path) -> None:
    """Everything but the lock, then the lock (the `.gitignore`), then the directory (which
    another render may have taken meanwhile: then it stays, theirs)."""
    for entry in workspace.iterdir():
        if entry.name != LOCK_FILE:
            _remove(entry)
    with contextlib.suppress(FileNotFoundError):
        (workspace / LOCK_FILE).unlink()
    with contextlib.suppress(OSError):
        workspace.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _sweep(output_dir: Path, workspace: Path) -> None:
    """What a killed render left in the workspace: finished or undone, then removed."""
    _recover(output_dir, workspace)
    for entry in workspace.iterdir():
        if entry.name != LOCK_FILE:
            _remove(entry)


# ---- staging --------------------------------------------------------------------------------


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:  # another filesystem below the directory, or links not allowed here
        shutil.copy2(source, target, follow_symlinks=False)


def _carry_over(source: Path, target: Path, skip: set[str], prefix: str = "") -> None:
    """Hard-link (or copy) everything under source into target, except the relative paths in skip."""
    for entry in os.scandir(source):
        if prefix + entry.name in skip:
            continue
        into = target / entry.name
        if entry.is_dir(follow_symlinks=False):
            into.mkdir()
            shutil.copystat(entry.path, into, follow_symlinks=False)
            _carry_over(Path(entry.path), into, skip, f"{prefix}{entry.name}/")
        elif entry.is_symlink():
            os.symlink(os.readlink(entry.path), into)
        elif entry.is_file(follow_symlinks=False):
            _link_or_copy(Path(entry.path), into)
        # sockets, FIFOs and devices are not carried into a rendered directory


def _mode(name: str) -> int:
    return 0o600 if name == ENV_FILE else 0o644


def _write_bytes(path: Path, content: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _stage(output_dir: Path, workspace: Path, files: dict[str, str], changed: set[str],
           env: bytes | None) -> Path:
    staged = workspace / f"new-{secrets.token_hex(4)}"
    staged.mkdir(mode=0o700)
    if output_dir.is_dir():
        _carry_over(output_dir, staged, changed | ({ENV_FILE} if env is not None else set()))
    for name in sorted(changed):
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        _write_file(staged / name, files[name], _mode(name))
    if env is not None:  # last: a new key is on disk for the shortest time before the swap
        _write_bytes(staged / ENV_FILE, env, 0o600)
    if output_dir.is_dir():
        old = output_dir.stat()
        os.chmod(staged, stat.S_IMODE(old.st_mode))
        if os.geteuid() == 0 and (old.st_uid, old.st_gid) != (0, 0):
            os.chown(staged, old.st_uid, old.st_gid)
    else:
        os.chmod(staged, 0o755)
    _fsync_dir(staged)
    return staged


def write(output_dir: Path, files: dict[str, str], with_env: bool, force: bool = False,
          env_reader: str = "`docker compose`", keys: Sequence[str] = (MASTER_KEY,)) -> WriteResult:
    """Write the rendered files; with `with_env`, make sure `.env` holds every key in `keys`:
    a missing `.env` is created with fresh ones, a `.env` that lacks some gets them appended
    (every byte already there stays: the keys it holds are never changed).

    A file edited by hand since it was rendered (its content hash no longer matches) is never
    overwritten silently: without `force` the whole write stops and names it.
    """
    shown = output_dir
    try:
        if output_dir.exists() and not output_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory")
        # A symlinked output directory: the directory it points at is the one replaced.
        output_dir = Path(os.path.realpath(output_dir))
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        with locked(output_dir) as workspace:
            _sweep(output_dir, workspace)
            return _write_locked(output_dir, shown, workspace, files, list(keys) if with_env else [], force,
                                 env_reader)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EBUSY):
            raise InputError(
                f"--output {shown}: cannot be replaced as a whole ({exc.strerror}): it is a mount point, or on "
                "another filesystem than its parent; render into a directory below the mount"
            ) from None
        raise _unwritable(shown, exc) from None


def _env_update(env_path: Path, keys: list[str], env_reader: str) -> tuple[bytes | None, dict[str, str], list[str]]:
    """(the new `.env` or None when it stays, the keys generated, the keys missing that cannot be added)."""
    if not keys:
        return None, {}, []
    if not os.path.lexists(env_path):
        fresh = {name: new_key() for name in keys}
        return env_file_text(fresh, env_reader).encode(), fresh, []
    try:
        data = regular_bytes(env_path)
    except OSError:
        data = b""
    missing = [name for name in keys if name not in env_names(data)]
    if not missing:
        return None, {}, []
    if env_path.is_symlink() or not env_path.is_file():  # not ours to replace
        return None, {}, missing
    added = {name: new_key() for name in missing}
    return _added_text(data, added), added, []


def _write_locked(output_dir: Path, shown: Path, workspace: Path, files: dict[str, str], keys: list[str],
                  force: bool, env_reader: str) -> WriteResult:
    exists = output_dir.is_dir()
    changed = set(diff(output_dir, files)) if exists else set(files)
    if exists and not force:
        edited = hand_edited(output_dir, sorted(changed))
        if edited:
            raise HandEdited(
                f"{shown}/{edited[0]} was edited by hand since it was rendered"
                + (f" (also: {', '.join(edited[1:])})" if len(edited) > 1 else "")
                + "; move the change into the inputs (flags or config/models.yaml) or re-run with --force to overwrite"
            )
    env_path = output_dir / ENV_FILE
    created = not os.path.lexists(env_path)
    env, added, missing = _env_update(env_path, keys, env_reader)
    result = WriteResult(
        written=sorted(changed),
        env_created=created and env is not None,
        master_key_hint=hint(added[MASTER_KEY]) if MASTER_KEY in added else None,
        keys_added={name: hint(value) for name, value in added.items()},
        keys_missing=missing,
    )
    if not changed and env is None:
        return result
    staged = _stage(output_dir, workspace, files, changed, env)
    old = _swap(staged, output_dir, workspace)
    _fsync_dir(output_dir.parent)
    if old is not None:
        _remove(old)
    return result
