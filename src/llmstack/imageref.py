"""Docker image references, checked against the grammar Docker itself uses
(github.com/distribution/reference, `reference.go`):

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]      host: DNS labels joined by ".", "localhost", or [IPv6]
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex      (sha256: exactly 64 lowercase hex digits)

The name is at most 255 characters. A reference with a digest (`name@sha256:…`, with or
without a tag) pins the exact image and is used as is.
"""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9A-Fa-f:.]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_TAG_RE = re.compile(rf"^{_TAG}$")


def problem(reference: str) -> str | None:
    """None for a valid reference; otherwise what is wrong with it, in a few words."""
    if not reference:
        return "empty image reference"
    match = _REFERENCE.match(reference)
    if match is None:
        if reference != reference.strip() or " " in reference:
            return "an image reference has no spaces"
        if any(ch.isupper() for ch in reference.split(":")[0].split("@")[0].rsplit("/", 1)[-1]):
            return "repository names are lowercase"
        return "not a valid image reference (registry/name:tag or name@sha256:digest)"
    if len(match.group("name")) > 255:
        return "the repository name is longer than 255 characters"
    digest = match.group("digest")
    if digest and digest.startswith("sha256:") and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return "a sha256 digest is exactly 64 lowercase hex digits"
    return None


def tag_problem(tag: str) -> str | None:
    """None for a valid tag (what follows the `:`)."""
    return None if _TAG_RE.match(tag) else "not a valid image tag (letters, digits, '_', '.', '-'; at most 128)"


def has_digest(reference: str) -> bool:
    match = _REFERENCE.match(reference)
    return bool(match and match.group("digest"))
