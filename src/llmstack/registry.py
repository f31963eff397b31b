"""The digest a registry serves for an image tag, through the distribution API (the protocol
every registry speaks: docker.io, ghcr.io, nvcr.io, a mirror):

    HEAD /v2/<repository>/manifests/<tag>     Accept: the manifest and index media types
    -> 200, Docker-Content-Digest: sha256:<64 hex>

A registry that wants a token first answers 401 with `WWW-Authenticate: Bearer realm=...,
service=...,scope=...`; an anonymous token from the realm (GET ?service=&scope=) is enough to read
a public image. Names are normalised as Docker does (distribution/reference, normalize.go): no
domain means docker.io (API host registry-1.docker.io) and a one-part name lives under library/.
Loopback registries are spoken to over plain HTTP, as Docker treats 127.0.0.0/8 as insecure;
everything else over HTTPS, with the user's proxy settings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from llmstack.errors import OperationFailed

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
TIMEOUT = 30.0


class RegistryError(OperationFailed):
    """The registry could not be asked, or did not know the tag."""


@dataclass(frozen=True)
class Reference:
    domain: str  # as written (docker.io when none)
    repository: str  # path on the registry (library/x for official docker.io images)
    tag: str

    @property
    def api_host(self) -> str:
        return "registry-1.docker.io" if self.domain in ("docker.io", "index.docker.io") else self.domain

    @property
    def base_url(self) -> str:
        host = self.api_host
        hostname = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
        loopback = hostname in ("localhost", "::1") or hostname.startswith("127.")
        return f"{'http' if loopback else 'https'}://{self.api_host}"


def parse(image: str) -> Reference:
    """A tag reference (`name[:tag]`, no digest) split the way Docker reads it."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        domain, path = first, rest
    else:
        domain, path = "docker.io", image
    name, tag = path, "latest"
    if ":" in path.rsplit("/", 1)[-1]:
        name, tag = path.rsplit(":", 1)
    if domain == "docker.io" and "/" not in name:
        name = f"library/{name}"
    return Reference(domain, name, tag)


def _token(client, challenge: str, reference: Reference) -> str | None:
    fields = dict(_CHALLENGE.findall(challenge))
    realm = fields.get("realm")
    if not challenge.lower().startswith("bearer") or not realm:
        return None
    params = {"service": fields.get("service", ""), "scope": fields.get("scope") or
              f"repository:{reference.repository}:pull"}
    answer = client.get(realm, params={k: v for k, v in params.items() if v})
    if answer.status_code != 200:
        return None
    data = answer.json()
    return data.get("token") or data.get("access_token")


def digest(image: str, client=None) -> str:
    """`sha256:…` of the manifest (or multi-platform index) the registry serves for the tag."""
    import httpx

    reference = parse(image)
    url = f"{reference.base_url}/v2/{reference.repository}/manifests/{reference.tag}"
    headers = {"Accept": MANIFEST_TYPES}
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=True)
    try:
        answer = client.head(url, headers=headers)
        if answer.status_code == 401:
            token = _token(client, answer.headers.get("WWW-Authenticate", ""), reference)
            if token:
                headers["Authorization"] = f"Bearer {token}"
                answer = client.head(url, headers=headers)
        if answer.status_code == 404:
            raise RegistryError(f"{image}: {reference.api_host} has no tag {reference.tag!r} of {reference.repository}")
        if answer.status_code != 200:
            raise RegistryError(f"{image}: {reference.api_host} answers {answer.status_code} for its manifest")
        found = answer.headers.get("Docker-Content-Digest", "")
        if not found:  # the digest is the hash of the manifest as served
            body = client.get(url, headers=headers)
            if body.status_code != 200:
                raise RegistryError(f"{image}: {reference.api_host} answers {body.status_code} for its manifest")
            found = "sha256:" + hashlib.sha256(body.content).hexdigest()
    except httpx.HTTPError as exc:
        raise RegistryError(f"{image}: cannot reach {reference.api_host} ({type(exc).__name__}: {exc})") from None
    finally:
        if own:
            client.close()
    if not _DIGEST.match(found):
        raise RegistryError(f"{image}: {reference.api_host} answered a digest llmstack cannot use ({found[:80]!r})")
    return found
