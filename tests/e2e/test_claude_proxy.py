"""The real Claude Code CLI, run by `llmstack claude` with proxy variables set: the master key
goes to the loopback gateway directly, never to the proxy (a recording socket). The gateway is a
stand-in on 127.0.0.1; no Docker engine is needed, only Claude Code at the pinned version."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import LLAMA_GGUF, Cli
from tests.e2e import claude_code as cc
from tests.test_runtime import FakeGateway, Recorder, free_port

pytestmark = pytest.mark.e2e


def test_claude_code_never_sends_the_key_through_a_proxy(claude_code, workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    shutil.copy(LLAMA_GGUF, tmp_path / "models" / "tiny.gguf")
    port = free_port()
    rendered = Cli()("render", "--model", "./models/tiny.gguf", "--cpu", "--name", "p", "--litellm-port", str(port),
                     "--max-model-len", "65536")
    assert rendered.exit_code == 0, rendered.stderr
    directory = tmp_path / "compose" / "p"
    key = (directory / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
    proxy = Recorder()
    gateway = FakeGateway(port, ["local-model"])
    try:
        run = cc.llmstack_claude(directory, claude_code, workspace, *cc.print_args("Say hello."), timeout=90,
                                 HTTPS_PROXY=proxy.url, HTTP_PROXY=proxy.url, https_proxy=proxy.url,
                                 http_proxy=proxy.url)
    finally:
        gateway.close()
        proxy.close()
    assert proxy.received == [], run
    assert any(method == "POST" and path.startswith("/v1/messages") and auth == f"Bearer {key}"
               for method, path, auth in gateway.requests), (gateway.requests, str(run))
