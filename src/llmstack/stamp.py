"""Content hashes in rendered files, so a re-render notices hand edits instead of losing them.

Each rendered file carries `# llmstack-hash: sha256:<16 hex>` computed over the file with the
hash itself blanked out. A file whose hash still matches is exactly as llmstack wrote it.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "# llmstack-hash: "
PLACEHOLDER = "sha256:" + "-" * 16
_LINE_RE = re.compile(re.escape(PREFIX) + r"sha256:[0-9a-f]{16}")


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def stamp(text: str) -> str:
    """Fill the placeholder hash line a template left in `text`."""
    marker = PREFIX + PLACEHOLDER
    if marker not in text:
        return text
    return text.replace(marker, PREFIX + _digest(text), 1)


def pristine(text: str) -> bool | None:
    """True: untouched since rendered; False: edited; None: carries no llmstack hash."""
    match = _LINE_RE.search(text)
    if match is None:
        return None
    blanked = text[: match.start()] + PREFIX + PLACEHOLDER + text[match.end():]
    return _digest(blanked) == match.group(0)[len(PREFIX):]
