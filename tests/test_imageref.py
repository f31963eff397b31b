"""Docker's image reference grammar (distribution/reference), as imageref.py implements it."""

from __future__ import annotations

import pytest

from llmstack.imageref import has_digest, problem, tag_problem

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("reference", [
    "vllm/vllm-openai:v0.12.0",
    "lmsysorg/sglang:v0.5.6",
    "ghcr.io/ggml-org/llama.cpp:server-cuda-b7349",
    "nvcr.io/nvidia/tensorrt-llm/release:1.0.0",
    "localhost:5000/mirror/litellm:main-v1.104.5",
    "registry.example.com:443/a/b/c:Tag_With.Upper-1",
    "[::1]:5000/llama:cpu",
    "busybox",
    "a__b/c--d.e:1",
    f"vllm/vllm-openai@{DIGEST}",
    f"vllm/vllm-openai:v0.12.0@{DIGEST}",
])
def test_valid_references(reference):
    assert problem(reference) is None


@pytest.mark.parametrize("reference, what", [
    ("", "empty"),
    ("Foo Bar:x", "no spaces"),
    ("vllm/VLLM-openai:v1", "lowercase"),
    ("vllm/vllm-openai:", "not a valid image reference"),
    ("vllm/vllm-openai:-bad", "not a valid image reference"),
    ("vllm//vllm-openai", "not a valid image reference"),
    ("vllm/vllm-openai:" + "x" * 129, "not a valid image reference"),
    ("vllm/vllm-openai@sha256:abc", "not a valid image reference"),
    ("vllm/vllm-openai@sha256:" + "A" * 64, "exactly 64 lowercase hex"),
    ("a" * 256 + ":1", "longer than 255"),
])
def test_invalid_references(reference, what):
    assert what in (problem(reference) or "")


def test_tags_and_digests():
    assert tag_problem("b7349") is None and tag_problem("v 1") is not None
    assert has_digest(f"x@{DIGEST}") and not has_digest("x:1")
