"""`llmstack pin`: image tags resolved to digests through the registry API, written into
models.yaml's `pins:`, and every render then pinned. No registry is reachable here: a stand-in
registry on 127.0.0.1 speaks the distribution API (HEAD /v2/<name>/manifests/<tag> answered with
Docker-Content-Digest, behind a Bearer token challenge as ghcr.io and docker.io do). The code
before had no way to pin images (issue #16)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from llmstack import imageref, registry
from tests.conftest import compose_config_quiet, snapshot

TOKEN = "stand-in-token"


class StandInRegistry:
    def __init__(self, tags: dict[str, list[str]]):
        self.tags = tags  # repository -> tags it holds
        self.requests: list[tuple[str, str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _manifest(self, send_body: bool):
                outer.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_response(401)
                    name = self.path.split("/v2/", 1)[1].rsplit("/manifests/", 1)[0]
                    self.send_header("WWW-Authenticate", f'Bearer realm="{outer.url}/token",service="stand-in",'
                                                         f'scope="repository:{name}:pull"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                name, tag = self.path.split("/v2/", 1)[1].rsplit("/manifests/", 1)
                if tag not in outer.tags.get(name, []):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"schemaVersion": 2, "name": name, "tag": tag}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.index.v1+json")
                self.send_header("Docker-Content-Digest", outer.digest(name, tag))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_HEAD(self):
                self._manifest(False)

            def do_GET(self):
                if self.path.startswith("/token?"):
                    outer.requests.append(("GET", self.path, ""))
                    body = json.dumps({"token": TOKEN}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._manifest(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def digest(name: str, tag: str) -> str:
        return "sha256:" + hashlib.sha256(f"{name}:{tag}".encode()).hexdigest()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    found = StandInRegistry({"ggml-org/llama.cpp": ["server-b7349"], "berriai/litellm": ["main-v1.104.5"]})
    yield found
    found.close()


MODELS_YAML = """\
# Our stacks. This comment and the layout below stay as they are.
stacks:
  tiny:
    models:
      - model: ./models/tiny.gguf
        backend: llama
        gpus: none
        image: {registry}/ggml-org/llama.cpp:server-b7349   # our mirror
    litellm:
      image: {registry}/berriai/litellm
      version: main-v1.104.5
"""


@pytest.fixture
def config(workdir, stand_in):
    path = workdir / "config" / "models.yaml"
    path.parent.mkdir()
    path.write_text(MODELS_YAML.format(registry=stand_in.host))
    return path


def test_pin_writes_digests_and_renders_use_them(cli, workdir, stand_in, config):
    result = cli("pin", "tiny")
    assert result.exit_code == 0, result.output
    backend = f"{stand_in.host}/ggml-org/llama.cpp:server-b7349"
    gateway = f"{stand_in.host}/berriai/litellm:main-v1.104.5"
    digests = {backend: stand_in.digest("ggml-org/llama.cpp", "server-b7349"),
               gateway: stand_in.digest("berriai/litellm", "main-v1.104.5")}
    assert f"{backend} -> {digests[backend]}" in result.stdout
    text = config.read_text()
    assert text.startswith(MODELS_YAML.format(registry=stand_in.host))  # the rest kept byte for byte
    assert yaml.safe_load(text)["pins"] == digests
    # The token dance happened, as with ghcr.io: a 401, a token, then the HEAD with it.
    assert [r[0] for r in stand_in.requests[:3]] == ["HEAD", "GET", "HEAD"]

    rendered = cli("render", "tiny")
    assert rendered.exit_code == 0, rendered.stderr
    compose = yaml.safe_load((workdir / "compose" / "tiny" / "docker-compose.yml").read_text())
    images = {name: service["image"] for name, service in compose["services"].items()}
    assert images == {"backend": f"{backend}@{digests[backend]}", "litellm": f"{gateway}@{digests[gateway]}"}
    assert all(imageref.problem(image) is None and imageref.has_digest(image) for image in images.values())
    checked = compose_config_quiet(workdir / "compose" / "tiny")
    assert checked.returncode == 0, checked.stderr
    assert cli("render", "tiny", "--check").exit_code == 0

    again = cli("pin")  # every stack; the block is replaced, not repeated
    assert again.exit_code == 0, again.output
    assert config.read_text() == text


def test_an_unknown_tag_writes_nothing(cli, workdir, stand_in, config):
    config.write_text(config.read_text().replace("server-b7349", "server-b1"))
    before = snapshot(workdir)
    result = cli("pin")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"llmstack: error: {stand_in.host}/ggml-org/llama.cpp:server-b1: {stand_in.host} has no tag 'server-b1' of "
        "ggml-org/llama.cpp; nothing written to config/models.yaml: run `llmstack pin` on a host that reaches the "
        "registry"]
    assert snapshot(workdir) == before


def test_an_unreachable_registry_writes_nothing(cli, workdir, config, stand_in):
    stand_in.close()
    before = snapshot(workdir)
    result = cli("pin")
    assert result.exit_code == 1 and "cannot reach 127.0.0.1" in result.stderr
    assert snapshot(workdir) == before


def test_pins_are_checked_when_models_yaml_is_read(cli, workdir, config):
    config.write_text(config.read_text() + 'pins:\n  "ghcr.io/x/y:1": "sha256:nothex"\n')
    result = cli("render", "tiny")
    assert result.exit_code == 2
    assert "config/models.yaml: pins.ghcr.io/x/y:1: expected sha256:<64 lowercase hex>" in result.stderr


def test_pin_needs_a_models_yaml_to_write(cli, workdir):
    result = cli("pin")
    assert result.exit_code == 2 and "config/models.yaml: no models.yaml here to write the pins into" in result.stderr


@pytest.mark.parametrize(("image", "host", "repository", "tag"), [
    ("vllm/vllm-openai:v0.33.0", "registry-1.docker.io", "vllm/vllm-openai", "v0.33.0"),
    ("ubuntu", "registry-1.docker.io", "library/ubuntu", "latest"),
    ("ghcr.io/berriai/litellm:main-v1.104.5", "ghcr.io", "berriai/litellm", "main-v1.104.5"),
    ("localhost:5000/a/b:1", "localhost:5000", "a/b", "1"),
    ("nvcr.io/nvidia/tensorrt-llm/release:1.2.0", "nvcr.io", "nvidia/tensorrt-llm/release", "1.2.0"),
])
def test_references_are_read_as_docker_reads_them(image, host, repository, tag):
    ref = registry.parse(image)
    assert (ref.api_host, ref.repository, ref.tag) == (host, repository, tag)
    assert ref.base_url.startswith("http://" if host.startswith("localhost") else "https://")
