"""The one path by which a value reaches a rendered file.

A rendered file's structure comes from the templates alone; no value may add a line, a key or a
document. Every `{{ ... }}` in a template passes through `finalize` (the Jinja environment's
hook for every expression), which writes each character YAML (1.1 and 1.2), Compose and
JSON would not carry verbatim as a `\\uXXXX` escape: every line break YAML knows (`\\n`, `\\r`,
U+0085, U+2028, U+2029), the other control characters, DEL, surrogates, the byte-order mark and
the non-characters U+FFFE/U+FFFF. Inside a double-quoted scalar that escape reads back as the
very character (YAML and JSON share it); in a comment it is visible text; anywhere else it can
at most spoil a value, which the parse-back check after every render catches (exit 3).

The quoting filters then make values exact: `yaml_quote` (a JSON string, which is a YAML
double-quoted scalar) and `compose_quote` (the same with `$` doubled against Compose's
interpolation). Text that is itself structure written by llmstack (a macro's output, the
manifest's JSON body) is marked `Block` by the code that built it from escaped pieces, and only
that passes `finalize` as is.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Characters that are not written verbatim: C0 controls (tab included: YAML refuses it in
# places), DEL and C1 (U+0085 is a YAML 1.1 line break), the line and paragraph separators
# (line breaks to PyYAML and to go-yaml, which Compose uses), surrogates, BOM, non-characters.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")

# What json.dumps(ensure_ascii=False) leaves raw inside a string (it escapes C0 itself): the
# same set without C0, so the line feeds of an indented document stay.
_JSON_LEFT = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")

# The same, as line breaks only: what must never reach a comment or a plain scalar raw.
LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate has no UTF-8 form and no YAML escape
        code = 0xFFFD
    return f"\\u{code:04x}"


def escape_unsafe(text: str) -> str:
    """`text` with every character YAML/Compose would not carry verbatim as a `\\uXXXX` escape."""
    return _UNSAFE.sub(_escape_char, text)


def is_safe(text: str) -> bool:
    return _UNSAFE.search(text) is None


class Block(str):
    """Multi-line text llmstack itself assembled from escaped pieces: passes `finalize` as is."""

    __slots__ = ()


def finalize(value: Any) -> Any:
    """Jinja's hook for every `{{ ... }}`: nothing but a Block carries a raw line break out."""
    if isinstance(value, Block):
        return value
    if isinstance(value, str):
        return escape_unsafe(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return escape_unsafe(str(value))


def json_text(value: Any, indent: int | None = None) -> str:
    """JSON (which YAML reads as the same value) with every unsafe character escaped; with
    `indent`, the only raw line feeds are the layout's."""
    return _JSON_LEFT.sub(_escape_char, json.dumps(value, ensure_ascii=False, indent=indent))


def yaml_quote(value: Any) -> str:
    """A YAML scalar that reads back as `value` exactly (strings double-quoted)."""
    return json_text(value)


def compose_quote(value: Any) -> str:
    """A YAML scalar Compose reads back verbatim: quoted as `yaml_quote`, `$` doubled."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return json.dumps(value)
    return json_text(str(value).replace("$", "$$"))


def compose_variable(name: str, default: str) -> str:
    """`${NAME:-default}`: a host-specific value another host can override from `.env`."""
    return f"${{{name}:-{default.replace('$', '$$')}}}"


def compose_required(name: str) -> str:
    """`${NAME:?why}`: a secret Compose must find in `.env` (or the environment), else it stops
    with that message before starting anything."""
    return f"${{{name}:?{name} is not set: run llmstack render again (it adds the missing key to .env)}}"


def block(text: str) -> Block:
    """Mark the output of a template macro (already finalized piece by piece) as structure."""
    if not is_safe(text.replace("\n", "")):
        raise ValueError("a block may only hold line feeds between escaped pieces")
    return Block(text)


def one_line(text: str) -> str:
    """A message for the terminal on one line: every line break a space, other unsafe characters escaped."""
    return escape_unsafe(" ".join(text.splitlines()))
