"""doctor's check of LiteLLM's image signature. No registry (nor Sigstore) is reachable here, so
a stand-in `cosign` on PATH plays the real one: it records how it was called and accepts only the
signer a test names. What is proven is llmstack's side: which image reference is checked (the
digest the engine holds), with which signers (keyless identity, LiteLLM's keys) in which order,
and what each cosign answer becomes; not cosign itself."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmstack import doctor, signature, stackdir
from tests.test_doctor import FakeHost

COSIGN = """#!{python}
import json, os, sys
args = sys.argv[1:]
key = None
if "--key" in args:
    key = open(args[args.index("--key") + 1]).read()
with open(os.environ["COSIGN_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "key": key}}) + "\\n")
accept = os.environ.get("COSIGN_ACCEPT", "")
if accept == "unreachable":
    print("Error: GET https://ghcr.io/v2/: dial tcp: lookup ghcr.io: no such host", file=sys.stderr)
    sys.exit(1)
if (accept == "keyless" and "--certificate-identity" in args) or (key is not None and accept == key):
    print("The following checks were performed on each of these signatures: ...", file=sys.stderr)
    sys.exit(0)
print("Error: no matching signatures: invalid signature when validating ASN.1 encoded signature", file=sys.stderr)
sys.exit(1)
"""


@pytest.fixture
def cosign(tmp_path, monkeypatch):
    """A stand-in cosign first on PATH; returns a function reading its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "cosign"
    program.write_text(COSIGN.format(python=sys.executable))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "cosign.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("COSIGN_LOG", str(log))
    monkeypatch.setattr(signature, "_fetch_pinned_key", lambda: None)  # no internet in tests

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return calls


IMAGE = "ghcr.io/berriai/litellm:main-v1.104.5"
DIGEST = "ghcr.io/berriai/litellm@sha256:" + "ab" * 32


class PulledHost(FakeHost):
    def local_digest(self, image):
        return DIGEST if image == IMAGE else None


@pytest.fixture
def stack(cli, workdir) -> stackdir.StackDir:
    result = cli("render", "--model", "./models/tiny.gguf", "--cpu", "--name", "s",
                 "--litellm-image", IMAGE)
    assert result.exit_code == 0, result.stderr
    return stackdir.load("s")


def signature_row(stack, host=None):
    rows = [r for r in doctor.run_checks(stack, host or PulledHost()) if r.check == "LiteLLM image signature"]
    return rows[0] if rows else None


def test_keyless_signature_of_the_pulled_digest(stack, cosign, monkeypatch):
    monkeypatch.setenv("COSIGN_ACCEPT", "keyless")
    row = signature_row(stack)
    assert (row.status, row.detail) == ("pass", f"{DIGEST} is signed by LiteLLM (keyless, LiteLLM's release "
                                                "workflow (from v1.111))")
    assert cosign()[0]["args"] == ["verify", "--certificate-identity", signature.KEYLESS_IDENTITY,
                                   "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com", DIGEST]


def test_a_release_signed_with_the_first_key(stack, cosign, monkeypatch):
    monkeypatch.setenv("COSIGN_ACCEPT", signature.KEY_0112E53)
    row = signature_row(stack)
    assert row.status == "pass" and row.detail.endswith("(the key of commit 0112e53 (releases before the rotation))")
    calls = cosign()
    assert [c["key"] for c in calls] == [None, signature.KEY_0112E53]  # keyless first, then the key
    assert all(c["args"][-1] == DIGEST for c in calls)


def test_the_rotated_key_is_used_only_when_its_published_hash_matches(cosign, monkeypatch):
    served = {"body": b"-----BEGIN PUBLIC KEY-----\nNEWKEY\n-----END PUBLIC KEY-----\n"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(served["body"])))
            self.end_headers()
            self.wfile.write(served["body"])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.undo()  # the real fetcher, pointed at this server
    try:
        monkeypatch.setattr(signature, "KEY_E82A3C6_URL", f"http://127.0.0.1:{server.server_port}/cosign.pub")
        monkeypatch.setattr(signature, "KEY_E82A3C6_SHA256", hashlib.sha256(served["body"]).hexdigest())
        assert signature._fetch_pinned_key() == served["body"].decode()
        served["body"] = b"-----BEGIN PUBLIC KEY-----\nSOMEONE ELSE'S\n-----END PUBLIC KEY-----\n"
        assert signature._fetch_pinned_key() is None  # a different file is never trusted
    finally:
        server.shutdown()
        server.server_close()


def test_the_rotated_key_comes_before_the_first(stack, cosign, monkeypatch, tmp_path):
    monkeypatch.setenv("COSIGN_ACCEPT", "rotated\n")
    verdict = signature.verify(DIGEST, fetch_key=lambda: "rotated\n")
    assert verdict.status == "pass" and "the key of commit e82a3c6" in verdict.detail
    assert [c["key"] for c in cosign()] == [None, "rotated\n"]


def test_no_signer_verifies(stack, cosign, monkeypatch):
    monkeypatch.setenv("COSIGN_ACCEPT", "nobody")
    row = signature_row(stack)
    assert row.status == "fail"
    assert row.detail.startswith(f"no LiteLLM signature verifies {DIGEST} (Error: no matching signatures")
    assert "do not run it" in row.fix
    assert len(cosign()) == 2  # keyless, then the key (the rotated one was not fetched here)


def test_an_unreachable_registry_is_a_warning_not_a_verdict(stack, cosign, monkeypatch):
    monkeypatch.setenv("COSIGN_ACCEPT", "unreachable")
    row = signature_row(stack)
    assert row.status == "warn" and "could not reach the registry" in row.detail


def test_an_image_not_pulled_is_checked_by_its_reference(stack, cosign, monkeypatch):
    monkeypatch.setenv("COSIGN_ACCEPT", "keyless")
    row = signature_row(stack, FakeHost())
    assert row.status == "pass" and cosign()[0]["args"][-1] == IMAGE


def test_without_cosign_a_warning_says_how(stack, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no cosign anywhere
    row = signature_row(stack)
    assert row.status == "warn" and row.detail == f"cosign is not installed: the signature of {DIGEST} was not checked"


def test_not_litellms_image_is_not_checked(cli, workdir, cosign):
    assert cli("render", "--model", "./models/tiny.gguf", "--cpu", "--name", "o",
               "--litellm-image", "registry.example/someone/gateway:1").exit_code == 0
    assert signature_row(stackdir.load("o")) is None
    assert signature.litellm_repository("docker.io/litellm/litellm-database:v1.104.6")
    assert signature.litellm_repository("mirror.corp:5000/berriai/litellm-non_root@sha256:" + "0" * 64)
    assert not signature.litellm_repository("ghcr.io/berriai/litellmish:1")


def test_doctor_before_up_skips_it(stack, cosign):
    assert not [r for r in doctor.run_checks(stack, PulledHost(), cheap=True) if "signature" in r.check]
