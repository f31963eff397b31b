"""llama.cpp server: read from the llama.cpp source that PyPI's llama-cpp-python sdist vendors.

Flags: `common/arg.cpp` (each `add_opt(common_arg({...}, ...))` and its `.set_examples` /
`.set_excludes`: llama-server takes an option tagged SERVER or COMMON unless SERVER is excluded).
Routes: `tools/server/server.cpp`. Images: the matrix of `.github/workflows/docker.yml`
(`<repo>:server<-tag>-b<N>`, the CPU image without a tag word).
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmstack.catalog.release import Archive
from llmstack.catalog.shared import ROUTES, min_driver

ROOT = "vendor/llama.cpp/"
ARGS = ROOT + "common/arg.cpp"
SERVER = ROOT + "tools/server/server.cpp"
DOCKER = ROOT + ".github/workflows/docker.yml"
REPO = "ghcr.io/ggml-org/llama.cpp"
# llama.cpp's build number is the commit count of its history (cmake/build-info.cmake), which the
# vendored tree cannot tell. The one mapping typed here, checked against llama.cpp's release tag
# b11312 (= commit 0c1e57098); the generator refuses a package whose CHANGELOG names another commit.
BUILD_OF_COMMIT = {"0c1e57098": "b11312"}


def vendored_commit(archive: Archive) -> str:
    """The llama.cpp commit the newest CHANGELOG.md section names (`llama.cpp@<sha>`)."""
    text = archive.read("CHANGELOG.md")
    section = re.search(r"^## \[\d[^\]]*\](.*?)(?=^## \[)", text, re.M | re.S)
    found = re.search(r"llama\.cpp@([0-9a-f]{7,40})", section.group(1) if section else "")
    if not found:
        raise LookupError("CHANGELOG.md: the newest release names no llama.cpp commit")
    return found.group(1)[:9]


def read(archive: Archive, version: str) -> dict[str, Any]:
    commit = vendored_commit(archive)
    if BUILD_OF_COMMIT.get(commit) != version:
        raise LookupError(f"the package vendors llama.cpp@{commit}, which is not known to be {version}")
    return {
        "images": images(archive, version),
        "flags": {"names": sorted(flags(archive.read(ARGS))),
                  "source": ARGS + " (options for LLAMA_EXAMPLE_SERVER, inheriting COMMON)"},
        "tool_parsers": None,
        "reasoning_parsers": None,
        "endpoints": endpoints(archive),
        "recipes": [],
        "notes": ["Tool calls come from the model's chat template (--jinja), not a named parser."],
    }


_STRINGS = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _brace_group(text: str, start: int) -> tuple[list[str], int] | None:
    """A `{"a", "b"}` literal at `start` (after spaces): its strings and the index after it."""
    i = start
    while i < len(text):
        if text[i] in " \t\r\n":
            i += 1
        elif text.startswith("//", i):  # a comment line before the option list
            i = text.index("\n", i)
        else:
            break
    if i >= len(text) or text[i] != "{":
        return None
    end = text.index("}", i)
    body = text[i + 1:end]
    if body.strip() and not body.strip().startswith('"'):
        return None
    return _STRINGS.findall(body), end + 1


def flags(text: str) -> set[str]:
    out: set[str] = set()
    chunks = text.split("add_opt(common_arg(")[1:]
    for chunk in chunks:
        first = _brace_group(chunk, 0)
        if first is None:
            raise LookupError(f"{ARGS}: an add_opt(common_arg(...)) without a literal option list")
        names, after = first
        rest = chunk[after:].lstrip()
        if rest.startswith(","):
            second = _brace_group(rest, 1)
            if second is not None:
                names = names + second[0]
        examples = re.search(r"\.set_examples\(\{([^}]*)\}\)", chunk)
        excludes = re.search(r"\.set_excludes\(\{([^}]*)\}\)", chunk)
        tags = set(re.findall(r"LLAMA_EXAMPLE_\w+", examples.group(1))) if examples else {"LLAMA_EXAMPLE_COMMON"}
        excluded = set(re.findall(r"LLAMA_EXAMPLE_\w+", excludes.group(1))) if excludes else set()
        if tags & {"LLAMA_EXAMPLE_SERVER", "LLAMA_EXAMPLE_COMMON"} and "LLAMA_EXAMPLE_SERVER" not in excluded:
            out.update(n for n in names if n.startswith("-"))
    if not out:
        raise LookupError(f"{ARGS}: no options found")
    return out


def endpoints(archive: Archive) -> dict[str, Any]:
    text = archive.read(SERVER)
    out: dict[str, Any] = {}
    for path in ROUTES:
        if re.search(r'ctx_http\.(?:get|post)\s*\(\s*"' + re.escape(path) + '"', text):
            out[path] = {"source": SERVER}
    return out


def images(archive: Archive, version: str) -> list[dict[str, Any]]:
    out = []
    seen = set()
    for line in archive.read(DOCKER).splitlines():
        match = re.search(r"\{\s*\"tag\".*\}", line)
        if not match:
            continue
        config = json.loads(match.group(0))
        if not config.get("server") or "amd64" not in config.get("platforms", ""):
            continue
        for word in config["tag"].split():
            if word not in ("cpu", "cuda", "cuda12", "cuda13") or word in seen:
                continue
            seen.add(word)
            source = f"{DOCKER} (matrix tag {word!r}: <repo>:server<-tag>-<build>)"
            if word == "cpu":
                out.append({"ref": f"{REPO}:server-{version}", "kind": "cpu", "cpu_features": ["x86_64"],
                            "default": True, "source": source})
            else:
                cuda = config.get("cuda_version")
                out.append({"ref": f"{REPO}:server-{word}-{version}", "kind": "cuda", "cuda": cuda,
                            "min_driver": min_driver(cuda), "default": word == "cuda",
                            "source": source + "; CUDA: its cuda_version"})
    return sorted(out, key=lambda i: i["ref"])
