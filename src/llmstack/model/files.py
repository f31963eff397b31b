"""Bounded readers for a model's files: everything llmstack reads of a model comes through here.

A model directory is input nobody vetted (a download, a colleague's share, a file named by a
models.yaml). Reading it must end quickly, in little memory, with one line naming the file when
it cannot be read. So every reader:

* opens regular files only, without blocking: a FIFO, a device (`/dev/zero`), a socket or a
  directory under a file's name is refused by what it is (`regular()` / `open_regular()`);
* reads at most a fixed number of bytes (`MAX_JSON_BYTES`, `MAX_TEXT_BYTES`);
* checks a JSON text's shape before `json.loads` builds it: nesting depth (`MAX_JSON_DEPTH`:
  Python's parser recurses and would end in a RecursionError), number of values
  (`MAX_JSON_VALUES`: memory), and the length of each number (`MAX_NUMBER_CHARS`: Python refuses
  to convert integers over 4,300 digits with a ValueError, and nothing in a model needs 64).

Why these numbers: the largest JSON file of a published model we read is a sharded checkpoint's
`model.safetensors.index.json` (one entry per tensor; a 1-trillion-parameter MoE: ~10 MB, ~100k
entries); `tokenizer_config.json` with its added tokens reaches ~1 MB (Gemma 3); config.json nests
4-5 levels. The limits leave a wide margin above that and still bound what a file can cost.
GGUF headers have their own limits (gguf.py).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from llmstack.errors import ModelFileError

MiB = 1 << 20
MAX_JSON_BYTES = 32 * MiB
MAX_TEXT_BYTES = 16 * MiB      # a chat template file (published ones are under 100 KB)
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 1 << 21      # about 2 M: containers, keys and values together
MAX_NUMBER_CHARS = 64

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _what(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular(path: Path, mode: int) -> ModelFileError:
    return ModelFileError(f"{path}: {_what(mode)}, not a regular file; point to the model's real files")


def cannot_read(path: Path, exc: OSError) -> ModelFileError:
    return ModelFileError(f"{path}: cannot read it ({exc.strerror or exc}); check the file and its permissions")


def regular(path: Path) -> bool:
    """Is there a regular file at `path` (symlinks followed)? False when nothing is there (a
    dangling link included); ModelFileError when something else is (FIFO, device, directory)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise cannot_read(path, exc) from None
    if not stat.S_ISREG(mode):
        raise not_regular(path, mode)
    return True


def open_regular(path: Path) -> int:
    """A file descriptor of a regular file, opened without blocking (a FIFO would block)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise cannot_read(path, exc) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise not_regular(path, mode)
    return fd


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    fd = open_regular(path)
    try:
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise cannot_read(path, exc) from None
    finally:
        os.close(fd)
    if left <= 0:
        raise ModelFileError(f"{path}: larger than {limit // MiB} MiB, the limit for {what}; "
                             "check that it is the model's own file")
    return b"".join(chunks)


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); re-download the file or re-save it as UTF-8"
        ) from None


# A JSON string (escapes included); what is left without them is the text's structure.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class _TooLarge(Exception):
    pass


def _check_shape(text: str) -> None:
    """Raise _TooLarge when the JSON text nests too deep or holds too many values."""
    skeleton = _JSON_STRING.sub('""', text)
    opening = skeleton.count("[") + skeleton.count("{")
    if opening + skeleton.count(",") + skeleton.count(":") >= MAX_JSON_VALUES:
        raise _TooLarge(f"more than {MAX_JSON_VALUES:,} values")
    if opening <= MAX_JSON_DEPTH:
        return
    depth = 0
    for match in _BRACKET.finditer(skeleton):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise _TooLarge(f"nested deeper than {MAX_JSON_DEPTH} levels")


def _number(convert: Any) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise _TooLarge(f"a number of {len(text):,} characters (more than {MAX_NUMBER_CHARS})")
        return convert(text)
    return parse


_PARSE_INT, _PARSE_FLOAT = _number(int), _number(float)


def read_json(path: Path) -> Any:
    text = _decode(path, read_bounded(path, MAX_JSON_BYTES, "a model's JSON file"))
    try:
        _check_shape(text)
        return json.loads(text, parse_int=_PARSE_INT, parse_float=_PARSE_FLOAT)
    except _TooLarge as exc:
        raise ModelFileError(f"{path}: {exc}, beyond what llmstack reads of a model's JSON file; "
                             "fix the file or re-download the model") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "fix the file or re-download the model"
        ) from None
    except RecursionError:  # cannot happen below MAX_JSON_DEPTH; a guard, not a path
        raise ModelFileError(f"{path}: nested too deep; fix the file or re-download the model") from None


def read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object at the top level; fix the file or re-download the model")
    return data


def read_text(path: Path, limit: int = MAX_TEXT_BYTES, what: str = "a chat template file") -> str:
    return _decode(path, read_bounded(path, limit, what))


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size  # follows the HF cache's symlinks into blobs/
    except (OSError, ValueError):  # ValueError: a NUL in a name read from an index file
        return None
