"""Where `inspect_path` and `inspect_hub_id` send a model: a TensorRT-LLM engine directory, GGUF
files, or a Hugging Face layout (a cache snapshot included). Model files are the only input:
never the network."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from llmstack.errors import ModelFileError
from llmstack.model.facts import Collector, ModelFacts
from llmstack.model.families import family_from_name
from llmstack.model.files import not_regular, read_json_object, regular
from llmstack.model.gguf import inspect_gguf, list_gguf
from llmstack.model.hf import WEIGHT_SUFFIXES, hf_cache_dir, hf_snapshot, inspect_hf
from llmstack.model.trtllm import inspect_trtllm, is_trtllm_config


def inspect_path(path: Path) -> ModelFacts:
    """Facts for a local model: a directory (HF layout, HF cache snapshot, TRT-LLM engine,
    GGUF files) or a .gguf file (a split shard means the whole set)."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file or directory; check the path") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read it ({exc.strerror or exc}); check the path") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) or (stat.S_ISDIR(mode) and path.suffix.lower() == ".gguf"):
        raise not_regular(path, mode)
    if stat.S_ISREG(mode):
        if path.suffix.lower() == ".gguf":
            return inspect_gguf(path)
        out = Collector()
        out.note(f"{path.name} is neither a .gguf file nor a model directory")
        return out.facts(format="unknown", name=path.name)
    snapshot = hf_snapshot(path)
    if snapshot is not None:
        return inspect_directory(snapshot.snapshot_dir, name=snapshot.hub_id)
    return inspect_directory(path, name=path.name)


def inspect_directory(directory: Path, name: str) -> ModelFacts:
    config_path = directory / "config.json"
    config = read_json_object(config_path) if regular(config_path) else None
    engines = sorted(directory.glob("rank*.engine"))
    if (config is not None and is_trtllm_config(config)) or engines:
        return inspect_trtllm(directory, config, engines, name)
    ggufs = [p for p in directory.iterdir() if p.suffix.lower() == ".gguf" and regular(p)]
    has_hf_weights = any(p.suffix in WEIGHT_SUFFIXES for p in directory.iterdir())
    if ggufs and not has_hf_weights:
        listing = list_gguf(directory)
        if len(listing.models) == 1:
            return inspect_gguf(directory / listing.models[0][0], projectors=listing.projectors)
        out = Collector()
        if listing.models:
            names = ", ".join(m[0] for m in listing.models)
            out.note(f"holds {len(listing.models)} GGUF models ({names}); pass the one to serve")
        else:
            out.note("holds only a vision projector (.gguf), no model")
        return out.facts(format="gguf", name=name, mmproj=listing.projectors[0] if listing.projectors else None)
    if config is None:
        out = Collector()
        out.set("family", family_from_name(name), f"guessed from the name {name!r}")
        out.note("no config.json, .gguf file or TensorRT-LLM engine found")
        return out.facts(format="unknown", name=name)
    return inspect_hf(directory, config, name)


def inspect_hub_id(hub_id: str, env: Mapping[str, str] | None = None) -> ModelFacts:
    """Facts for `org/name` from the local HF cache only (never the network)."""
    repo_root = hf_cache_dir(env) / ("models--" + hub_id.replace("/", "--"))
    snapshot = hf_snapshot(repo_root) if repo_root.is_dir() else None
    if snapshot is None:
        out = Collector()
        family = family_from_name(hub_id)
        out.set("family", family, f"guessed from the name {hub_id!r}")
        if repo_root.is_dir():
            out.note("in the local Hugging Face cache, but no snapshot is named by refs/main")
        else:
            out.note("not in the local Hugging Face cache: facts come from the name only")
        if family is None:
            out.note("family unknown")
        return out.facts(format="unknown", name=hub_id)
    return inspect_directory(snapshot.snapshot_dir, name=hub_id)
