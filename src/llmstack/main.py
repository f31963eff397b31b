"""The typed worker behind `llmstack render`: load -> resolve -> render -> check/write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmstack import configfile, targets
from llmstack.errors import InputError
from llmstack.options import RenderOptions
from llmstack.pins import apply as apply_pins
from llmstack.resolve import resolve
from llmstack.targets import render
from llmstack.write import WriteResult, diff, write


@dataclass
class RenderOutcome:
    output_dir: Path
    files: dict[str, str]
    notices: list[str] = field(default_factory=list)
    plans: list[tuple[str, list[str]]] = field(default_factory=list)
    key_variables: list[str] = field(default_factory=list)  # upstream keys .env must hold
    next_steps: list[str] = field(default_factory=list)  # what to run next (the target says)
    differing: list[str] | None = None  # with check=True
    upgrade: list[str] = field(default_factory=list)  # with check=True: what changes in the engines
    merged: list[str] = field(default_factory=list)  # with check=True: what Compose would load beside them
    result: WriteResult | None = None  # when written
    stdout: str | None = None


def engine_changes(directory: Path, files: dict[str, str]) -> list[str]:
    """What the fresh render changes in the engines the committed stack records (upgrade.py)."""
    from llmstack import manifest, upgrade, yamlio
    from llmstack.paths import MANIFEST

    fresh = manifest.Manifest.from_dict(yamlio.load(files[MANIFEST]), directory.name)
    committed = manifest.read(directory)
    return upgrade.changes(directory, committed.stack if committed else None, fresh.stack)


def render_stack(opts: RenderOptions, check: bool = False, to_stdout: bool = False,
                 force: bool = False, validate: bool = False) -> RenderOutcome:
    for name in ("config", "output"):  # an empty path would silently mean the default one
        if opts.get(name) == "":
            raise InputError(f"--{name} '': an empty path; name a file or directory, or leave --{name} out for "
                             "the default")
    config = configfile.load(Path(opts.get("config")) if opts.get("config") else None)
    resolved = resolve(opts, config)
    spec = apply_pins(resolved.spec, config.pins)  # image:tag@digest where models.yaml pins the tag
    target = targets.renderer(spec.target)
    if to_stdout and target.STDOUT_FILE is None:
        raise InputError(f"--stdout prints a compose file; {target.NO_STDOUT}")
    files = render(spec)
    if validate:
        target.validate_with_tool(files)
    outcome = RenderOutcome(output_dir=resolved.output_dir, files=files, notices=resolved.notices,
                            plans=resolved.plans,
                            key_variables=sorted({m.api_key_env for m in spec.models if m.api_key_env}),
                            next_steps=target.next_steps(spec, resolved.output_dir))
    if to_stdout:
        outcome.stdout = files[target.STDOUT_FILE]
    elif check:
        outcome.differing = diff(resolved.output_dir, files)
        outcome.merged = target.foreign_files(resolved.output_dir)
        if outcome.differing:
            outcome.upgrade = engine_changes(resolved.output_dir, files)
    else:
        keys = target.env_keys(spec)
        outcome.result = write(resolved.output_dir, files, with_env=bool(keys), force=force,
                               env_reader=target.ENV_READER, keys=keys)
    return outcome
