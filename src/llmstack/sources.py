"""What `--model` names: a local directory or file, a Hugging Face cache snapshot, a hub id, or
(for gateway-only backends) a model another server serves. Classifying it reads the model's
facts (llmstack.model); when the weights are not on this host, the facts recorded in the stack's
manifest stand in for them, so `--check` works in a checkout without the weights.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmstack.errors import InputError, ModelFileError
from llmstack.manifest import RecordedModel
from llmstack.model import (
    ModelFacts,
    facts_from_dict,
    facts_to_dict,
    family_from_name,
    hf_snapshot,
    inspect_hub_id,
    inspect_path,
    vision_from_name,
)
from llmstack.provenance import Sourced

HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
SHARD_RE = re.compile(r"-\d{5}-of-\d{5}$")

Kind = Literal["path", "snapshot", "hub", "name"]


@dataclass(frozen=True)
class ModelSource:
    given: Sourced[str]  # what the user wrote, and where
    kind: Kind
    facts: ModelFacts
    path: Path | None = None  # the local file or directory (absolute; may be absent with from_manifest)
    hub_id: str | None = None  # hub ids and cache snapshots
    revision: str | None = None  # cache snapshots: the snapshot directory's name
    is_dir: bool = False  # `path` is a directory (else a file)
    from_manifest: bool = False  # the weights are not here: facts come from the manifest

    @property
    def text(self) -> str:
        return self.given.value

    @property
    def format(self) -> str:
        return self.facts.format

    @property
    def model_dir(self) -> Path | None:
        """The directory that holds the model's files (a file's parent)."""
        if self.path is None:
            return None
        return self.path if self.is_dir else self.path.parent

    @property
    def repo_root(self) -> Path | None:
        """Cache snapshots: the `models--org--name` directory (its blobs must be mounted too)."""
        if self.kind != "snapshot" or self.model_dir is None:
            return None
        return self.model_dir.parent.parent

    @property
    def display_name(self) -> str:
        """The model's own name: a hub id, else the file or directory name."""
        if self.hub_id:
            return self.hub_id
        if self.kind == "name":
            return self.text
        assert self.path is not None
        if self.format == "gguf":
            first = self.facts.files[0] if self.facts.files else self.path.name
            return SHARD_RE.sub("", Path(first).name.removesuffix(".gguf").removesuffix(".GGUF"))
        return self.path.name

    @property
    def servable_format(self) -> str:
        """The format a backend is chosen for: a local or hub model whose files say nothing is
        taken for a Hugging Face model (the hub is where it would come from)."""
        return "hf" if self.format == "unknown" and self.kind in ("hub", "path") else self.format

    def check_servable(self) -> None:
        """A GGUF directory that holds no model file (only projectors, or nothing readable)."""
        if self.format == "gguf" and not self.facts.files:
            why = next((n for n in self.facts.notes if "GGUF" in n or "projector" in n), "no GGUF model to serve")
            raise InputError(f"{self.given.label()}: {why.split('; pass')[0]}; pass the model file as "
                             "--model DIR/FILE.gguf")

    def fact_origin(self, key: str) -> str:
        """Where a fact came from, for messages: `config.json: num_attention_heads of ./m`."""
        where = self.facts.origins.get(key)
        if not where:
            return f"read from {self.text}"
        if where.startswith("guessed"):
            return where
        return f"{where} of {self.text}"

    def vision(self) -> tuple[bool, str]:
        """Whether the model takes images, from its own files, else guessed from its name."""
        facts = self.facts
        where = facts.origins.get("vision")
        if facts.vision is not None and where and not where.startswith("guessed"):
            return bool(facts.vision), f"{'vision_config in' if facts.vision else 'no vision_config in'} {where}"
        if facts.vision is not None:
            return bool(facts.vision), where or "from the model"
        return vision_from_name(self.display_name), "guessed from the model name; `vision:` in " \
                                                                "models.yaml overrides"

    def record(self) -> RecordedModel:
        """What the manifest records of this input: its source layout and the facts read from it."""
        return RecordedModel(self.describe(), facts_to_dict(self.facts))

    def describe(self) -> dict[str, Any]:
        """What the manifest records of the source (the facts are recorded beside it)."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.hub_id:
            data["hub_id"] = self.hub_id
        if self.revision:
            data["revision"] = self.revision
        if self.path is not None:
            data["is_dir"] = self.is_dir
        return data


def looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text.lower().endswith(".gguf")


def name_facts(name: str, note: str | None = None, fmt: str = "name") -> ModelFacts:
    """Facts for a model nothing can be read of: everything unknown, the family guessed from the name."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(ModelFacts):
        if item.default is not dataclasses.MISSING:
            continue
        if item.default_factory is not dataclasses.MISSING:
            continue
        values[item.name] = None
    values.update(format=fmt, name=name, weights_exact=False, files=(), origins={}, notes=(note,) if note else ())
    family = family_from_name(name)
    if family:
        values["family"] = family
        values["origins"] = {"family": f"guessed from the name {name!r}"}
    return ModelFacts(**values)


def classify(given: Sourced[str], recorded: RecordedModel | None, external: bool,
             env: Mapping[str, str] | None = None) -> ModelSource:
    """Read what `given` names. `recorded`: this input's entry in the stack's manifest, if any."""
    text = given.value
    if external:
        return ModelSource(given, "name", name_facts(text))
    if looks_like_path(text):
        path = Path(text).expanduser()
        if not path.exists():
            if recorded is not None and recorded.kind in ("path", "snapshot"):
                return _from_manifest(given, path.absolute(), recorded)
            raise InputError(
                f"{given.label()}: no such file or directory on this host; check the path "
                "(local models are mounted read-only) or pass a Hugging Face id like org/name"
            )
        path = path.resolve() if not _inside_snapshot(path) else path.absolute()
        snapshot = hf_snapshot(path if path.is_dir() else path.parent)
        facts = inspect_path(path)
        if facts.format == "unknown":  # nothing to serve: do not mount a directory (`/`, say) into a container
            what = "neither a .gguf file nor a model directory" if path.is_file() else \
                "no model in it (no config.json, .gguf file or TensorRT-LLM engine)"
            raise ModelFileError(f"{given.label()}: {what}; name the directory that holds the model's files, or its "
                                 ".gguf file")
        if snapshot is not None:
            return ModelSource(given, "snapshot", facts, path=path, hub_id=snapshot.hub_id,
                               revision=snapshot.revision, is_dir=path.is_dir())
        return ModelSource(given, "path", facts, path=path, is_dir=path.is_dir())
    if HUB_ID_RE.match(text):
        facts = inspect_hub_id(text, env)
        known_before = recorded.facts if recorded is not None else {}
        if facts.format == "unknown" and known_before.get("format", "unknown") != "unknown":
            return ModelSource(given, "hub", facts_from_dict(known_before), hub_id=text,
                               from_manifest=True)
        return ModelSource(given, "hub", facts, hub_id=text)
    raise InputError(
        f"{given.label(repr(text))}: neither a local path (start it with /, ./, ../ or ~) "
        "nor a Hugging Face model id of the form org/name"
    )


def _inside_snapshot(path: Path) -> bool:
    """Files in a cache snapshot are symlinks into ../../blobs: keep the snapshot path, not the blob's."""
    parts = path.absolute().parts
    return "snapshots" in parts and any(part.startswith("models--") for part in parts)


def _from_manifest(given: Sourced[str], path: Path, recorded: RecordedModel) -> ModelSource:
    source = recorded.source
    facts = facts_from_dict(recorded.facts)
    return ModelSource(given, source["kind"], facts, path=path, hub_id=source.get("hub_id"),
                       revision=source.get("revision"), is_dir=bool(source.get("is_dir")), from_manifest=True)
