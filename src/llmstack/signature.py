"""Is the LiteLLM image this stack runs the one LiteLLM signed? (`doctor`, with `cosign`.)

LiteLLM signs every image it publishes (ghcr.io/berriai/litellm, -database, -non_root, and
docker.io/litellm/*) with cosign. Who signed which release, from LiteLLM's own release notes and
repository (BerriAI/litellm):

- up to the key rotation (#48103, Oct-Nov 2026: 1.103.7, 1.104.5, 1.106.2 and older): the key in
  `cosign.pub` introduced by commit 0112e53 (its text below, read from the repository's cosign.pub
  and its docker image security page, which names that commit);
- from the rotation (1.103.8, 1.104.6, the 1.108 and 1.109 lines): the key of commit e82a3c6,
  whose file has SHA-256 e3fe3e08c44b1640... (release notes of v1.104.6); its text is fetched
  from that commit and used only when its SHA-256 matches;
- from v1.111.0-dev.3: keyless (Sigstore, GitHub OIDC), identity
  https://github.com/BerriAI/project-releaser/.github/workflows/release.yml@refs/heads/main.

The release decides the signer, and the rotation did not follow version numbers, so each signer
is tried in turn, newest first; the check passes with the first that verifies and says which.
No registry is reachable on llmstack's own test machines: the tests prove this logic with a
stand-in `cosign` on PATH (tests/test_signature.py), never against ghcr.io.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

KEY_0112E53 = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKi4ivqGpE231OGH50PKbqy1Y1Kkb
POJC8+i2Wko82gBOUCe3M0Vw86H/4rhUhfoYEti4gdJ9wZbYmK0I2EE96g==
-----END PUBLIC KEY-----
"""
KEY_E82A3C6_URL = "https://raw.githubusercontent.com/BerriAI/litellm/e82a3c646908ba0a6ee0beddc4310d7a6cac4065/cosign.pub"
KEY_E82A3C6_SHA256 = "e3fe3e08c44b16407fe0b37c43b4f8b603b3a0f4ee74c29e647bc022d762c2c0"
KEYLESS_IDENTITY = "https://github.com/BerriAI/project-releaser/.github/workflows/release.yml@refs/heads/main"
KEYLESS_ISSUER = "https://token.actions.githubusercontent.com"
REPOSITORIES = ("berriai/litellm", "litellm/litellm")  # ghcr.io/berriai/litellm*, docker.io/litellm/*
TIMEOUT = 120.0
# cosign's words when it could not ask at all (no registry, no Rekor/TUF): not a verdict.
_UNREACHABLE = ("no such host", "dial tcp", "i/o timeout", "connection refused", "network is unreachable",
                "tls handshake timeout", "context deadline exceeded", "temporary failure in name resolution")


@dataclass
class Signer:
    name: str
    args: list[str]  # what `cosign verify` gets besides the image


@dataclass
class Verdict:
    status: str  # pass | warn | fail
    detail: str
    fix: str = ""


def litellm_repository(image: str) -> bool:
    """Whether the image is one LiteLLM publishes (a registry mirror of it counts)."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    repository = "/".join(name.lower().split("/")[-2:])
    return any(repository == repo or repository.startswith(repo + "-") for repo in REPOSITORIES)


def _fetch_pinned_key() -> str | None:
    """The e82a3c6 key, only if the file fetched has the SHA-256 LiteLLM published."""
    import httpx

    try:
        answer = httpx.get(KEY_E82A3C6_URL, timeout=20, follow_redirects=True)
    except httpx.HTTPError:
        return None
    if answer.status_code != 200 or hashlib.sha256(answer.content).hexdigest() != KEY_E82A3C6_SHA256:
        return None
    return answer.text


def signers(fetch_key: Callable[[], str | None], keydir: str) -> list[Signer]:
    found = [Signer("keyless, LiteLLM's release workflow (from v1.111)",
                    ["--certificate-identity", KEYLESS_IDENTITY, "--certificate-oidc-issuer", KEYLESS_ISSUER])]
    fetched = fetch_key()
    for label, text in (("the key of commit e82a3c6 (from the 2026 rotation)", fetched),
                        ("the key of commit 0112e53 (releases before the rotation)", KEY_0112E53)):
        if text is None:
            continue
        path = os.path.join(keydir, f"{len(found)}.pub")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        found.append(Signer(label, ["--key", path]))
    return found


def verify(image: str, cosign: str | None = None, fetch_key: Callable[[], str | None] | None = None) -> Verdict:
    """Verify the image's signature with cosign against each of LiteLLM's signers."""
    fetch_key = fetch_key or _fetch_pinned_key
    cosign = cosign or shutil.which("cosign")
    if cosign is None:
        return Verdict("warn", f"cosign is not installed: the signature of {image} was not checked",
                       "install cosign (https://docs.sigstore.dev/cosign/system_config/installation/) and run "
                       "doctor again: LiteLLM signs its images")
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="llmstack-cosign-") as keydir:
        for signer in signers(fetch_key, keydir):
            try:
                result = subprocess.run([cosign, "verify", *signer.args, image], capture_output=True, text=True,
                                        timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                return Verdict("warn", f"cosign did not finish within {TIMEOUT:.0f} s for {image}",
                               "check this host reaches the registry, then run doctor again")
            said = " ".join((result.stderr or result.stdout or "").split())
            if result.returncode == 0:
                return Verdict("pass", f"{image} is signed by LiteLLM ({signer.name})")
            if any(part in said.lower() for part in _UNREACHABLE):
                return Verdict("warn", f"cosign could not reach the registry or Sigstore for {image}: {said[-200:]}",
                               "run doctor on a host that reaches the registry")
            failures.append(said[-160:] or f"exit {result.returncode}")
    return Verdict("fail", f"no LiteLLM signature verifies {image} ({failures[-1]})",
                   "do not run it: pull LiteLLM's image from ghcr.io/berriai/litellm again, or pin a digest that "
                   "verifies (`llmstack pin`)")
