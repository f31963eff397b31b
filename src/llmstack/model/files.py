"""Reading a model's small files (JSON, chat templates): one line naming the file when it
cannot be read or decoded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmstack.errors import ModelFileError


def read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot read it ({exc.strerror or exc}); check the file and its permissions"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); re-download the file or re-save it as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "fix the file or re-download the model"
        ) from None


def read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object at the top level; fix the file or re-download the model")
    return data


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot read it ({exc.strerror or exc}); check the file and its permissions"
        ) from None
    except UnicodeDecodeError as exc:
        raise ModelFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); re-download the file or re-save it as UTF-8"
        ) from None


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size  # follows the HF cache's symlinks into blobs/
    except OSError:
        return None
