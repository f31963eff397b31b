"""vLLM: everything an entry holds, read statically from the released sdist (never imported)."""

from __future__ import annotations

import ast
import re
from typing import Any

import yaml

from llmstack.catalog import static
from llmstack.catalog.release import Archive
from llmstack.catalog.shared import anthropic_evidence, min_driver, routes

ENGINE_ARGS = "vllm/engine/arg_utils.py"
SERVE = "vllm/entrypoints/cli/serve.py"
REGISTRIES = {
    "tool": ("vllm/tool_parsers/__init__.py", "vllm/entrypoints/openai/tool_parsers/__init__.py"),
    "reasoning": ("vllm/reasoning/__init__.py",),
}
REGISTRY_DICTS = {"tool": "_TOOL_PARSERS_TO_REGISTER", "reasoning": "_REASONING_PARSERS_TO_REGISTER"}
ANTHROPIC_PROTOCOL = "vllm/entrypoints/anthropic/protocol.py"
RELEASE_SCRIPTS = (
    ".buildkite/release-pipeline.yaml",
    ".buildkite/scripts/annotate-release.sh",
    ".buildkite/scripts/publish-release-images.sh",
)


def read(archive: Archive, version: str) -> dict[str, Any]:
    return {
        "images": images(archive, version),
        "flags": flags(archive),
        "tool_parsers": registry(archive, "tool"),
        "reasoning_parsers": registry(archive, "reasoning"),
        "endpoints": endpoints(archive),
        "recipes": recipes(archive),
        "notes": [
            "vLLM's FlexibleArgumentParser also takes each long option with `_` for `-` "
            "(vllm/utils/argparse_utils.py); `flags` lists the spelling the parser declares.",
        ],
    }


def _frontend_file(archive: Archive) -> str:
    """The module that defines `make_arg_parser` used by `vllm serve` (it moved between releases)."""
    tree = static.parse(archive.read(SERVE), SERVE)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == "make_arg_parser" for a in node.names):
            path = node.module.replace(".", "/") + ".py"
            if archive.has(path):
                return path
    raise LookupError(f"{SERVE}: no import of make_arg_parser found")


def flags(archive: Archive) -> dict[str, Any]:
    names: set[str] = set()
    sources = []
    for path in (ENGINE_ARGS, _frontend_file(archive)):
        tree = static.parse(archive.read(path), path)
        found, dynamic = static.option_strings(tree)
        names |= found
        sources.append(path)
        if path == ENGINE_ARGS and dynamic:
            raise LookupError(f"{path}: add_argument with computed option names at lines {dynamic}")
        if path != ENGINE_ARGS:
            names |= _frontend_dataclass_flags(tree, path, dynamic)
    return {"names": sorted(names), "source": " + ".join(sources)}


def _frontend_dataclass_flags(tree: ast.Module, path: str, dynamic: list[int]) -> set[str]:
    """`FrontendArgs` (and its bases in the same file) become `--field-name` options."""
    classes = static.classes(tree)
    if "FrontendArgs" not in classes:
        if dynamic:
            raise LookupError(f"{path}: computed option names at lines {dynamic} and no FrontendArgs")
        return set()
    out: set[str] = set()
    todo = ["FrontendArgs"]
    while todo:
        cls = classes[todo.pop()]
        out.update("--" + name.replace("_", "-") for name in static.field_names(cls))
        todo.extend(b.id for b in cls.bases if isinstance(b, ast.Name) and b.id in classes)
    # Extra spellings a frontend adds through `kwargs["field"]["flags"] = ["-x"]`.
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            target = node.targets[0]
            if isinstance(target.slice, ast.Constant) and target.slice.value == "flags":
                out.update(static.str_list(node.value))
    return out


def registry(archive: Archive, kind: str) -> dict[str, Any]:
    path = next((p for p in REGISTRIES[kind] if archive.has(p)), None)
    if path is None:
        raise LookupError(f"no {kind} parser registry in {archive.path.name}")
    tree = static.parse(archive.read(path), path)
    value = static.assigned(tree, REGISTRY_DICTS[kind])
    names = set(static.dict_keys(value))
    folder = path.rsplit("/", 1)[0] + "/"
    for module in archive.glob(folder, ".py"):
        if "/" in module[len(folder):]:
            continue
        names |= static.decorator_names(static.parse(archive.read(module), module), "register_module")
    if not names:
        raise LookupError(f"{path}: no parser names found")
    out: dict[str, Any] = {"names": sorted(names), "source": path + f" ({REGISTRY_DICTS[kind]} and @register_module)",
                           "auto": False, "deprecated": {}}
    same = static.same_value_groups(value)
    if same:
        out["same_parser"] = same  # names registered to one (module, class): spellings of one parser
    return out


def endpoints(archive: Archive) -> dict[str, Any]:
    found = routes(archive, "vllm/entrypoints/")
    out: dict[str, Any] = {}
    for path, source in found.items():
        out[path] = {"source": source}
    if "/v1/messages" in out and archive.has(ANTHROPIC_PROTOCOL):
        tree = static.parse(archive.read(ANTHROPIC_PROTOCOL), ANTHROPIC_PROTOCOL)
        out["/v1/messages"].update(anthropic_evidence(tree, ANTHROPIC_PROTOCOL))
    return out


def recipes(archive: Archive) -> list[dict[str, Any]]:
    """`recipes/models/<org>/<model>.yaml` (shipped from about v0.30): base args and parsers per model."""
    out = []
    for path in archive.glob("recipes/models/", ".yaml"):
        data = yaml.safe_load(archive.read(path)) or {}
        model = data.get("model") or {}
        if not model.get("model_id"):
            continue
        features = data.get("features") or {}
        tool_args = list((features.get("tool_calling") or {}).get("args") or [])
        reasoning_args = list((features.get("reasoning") or {}).get("args") or [])
        item: dict[str, Any] = {
            "model": model["model_id"],
            "args": [str(a) for a in model.get("base_args") or []],
            "source": path,
        }
        tool = _value_after(tool_args, "--tool-call-parser")
        reasoning = _value_after(reasoning_args, "--reasoning-parser")
        if tool:
            item["tool_parser"] = tool
        if reasoning:
            item["reasoning_parser"] = reasoning
        plugin_flags = ("--tool-parser-plugin", "--reasoning-parser-plugin")
        if any(str(a) in plugin_flags for a in tool_args + reasoning_args):
            item["parser_plugin"] = True  # the parser is not in the release: the recipe downloads a plugin
        if model.get("min_vllm_version"):
            item["min_version"] = str(model["min_vllm_version"])
        out.append(item)
    return sorted(out, key=lambda r: r["model"])


def _value_after(args: list, flag: str) -> str | None:
    for i, arg in enumerate(args):
        text = str(arg)
        if text == flag and i + 1 < len(args):
            return str(args[i + 1])
        if text.startswith(flag + "="):
            return text.split("=", 1)[1]
    return None


_TAG = re.compile(r"vllm/vllm-openai(?:-cpu)?:v\$\{?(?:RELEASE_VERSION|PURE_VERSION)\}?[A-Za-z0-9_${}.-]*")


def images(archive: Archive, version: str) -> list[dict[str, Any]]:
    """Tags the release tooling publishes (scripts shipped in the sdist), with the CUDA inside.

    Kept: the multi-arch GPU tags `v<ver>` and `v<ver>-cuNNN`, and the CPU tag `v<ver>-x86_64`.
    `${suffix}` is expanded with the literal arguments of the script's publish_*_family calls.
    """
    bare = version.lstrip("v")
    refs: dict[str, str] = {}
    for path in RELEASE_SCRIPTS:
        if not archive.has(path):
            continue
        text = archive.read(path)
        suffixes = re.findall(r'publish_(?:image|optional)_family\s+"([^"]*)"', text) or [""]
        for match in _TAG.findall(text):
            for suffix in suffixes:
                tag = re.sub(r"\$\{?(RELEASE_VERSION|PURE_VERSION)\}?", bare, match).replace("${suffix}", suffix)
                if "$" not in tag:
                    refs.setdefault(tag, path)
    default_cuda = _dockerfile_arg(archive, "docker/Dockerfile", "CUDA_VERSION")
    out = []
    gpu_default = f"vllm/vllm-openai:v{bare}"
    for ref in sorted(refs):
        tail = ref.split(":", 1)[1][len("v" + bare):]
        if ref.startswith("vllm/vllm-openai-cpu:"):
            if tail == "-x86_64":
                out.append({"ref": ref, "kind": "cpu", "cpu_features": ["x86_64"], "default": True,
                            "source": refs[ref] + "; docker/Dockerfile.cpu"})
            continue
        if tail == "":
            out.append({"ref": ref, "kind": "cuda", "cuda": default_cuda, "min_driver": min_driver(default_cuda),
                        "default": True, "source": refs[ref] + "; CUDA: docker/Dockerfile ARG CUDA_VERSION"})
        elif re.fullmatch(r"-cu\d{3}", tail):
            digits = tail[3:]
            cuda = f"{digits[:2]}.{digits[2:]}"
            out.append({"ref": ref, "kind": "cuda", "cuda": cuda, "min_driver": min_driver(cuda),
                        "source": refs[ref] + f"; CUDA: the tag's cu{digits}"})
    if not any(i["ref"] == gpu_default for i in out):
        raise LookupError(f"vLLM {version}: the release scripts publish no {gpu_default}")
    return out


def _dockerfile_arg(archive: Archive, path: str, name: str) -> str | None:
    if not archive.has(path):
        return None
    match = re.search(rf"^ARG {name}=(\S+)", archive.read(path), re.M)
    return match.group(1) if match else None
