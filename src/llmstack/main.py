"""The typed worker behind `llmstack render`: load -> resolve -> render -> check/write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmstack import configfile
from llmstack.render import COMPOSE_FILE, render
from llmstack.resolve import RenderOptions, resolve
from llmstack.write import WriteResult, diff, write


@dataclass
class RenderOutcome:
    output_dir: Path
    files: dict[str, str]
    differing: list[str] | None = None  # with check=True
    result: WriteResult | None = None  # when written
    stdout: str | None = None


def render_stack(opts: RenderOptions, check: bool = False, to_stdout: bool = False,
                 force: bool = False) -> RenderOutcome:
    config = configfile.load(Path(opts.config) if opts.config else None)
    spec, output_dir = resolve(opts, config)
    files = render(spec)
    outcome = RenderOutcome(output_dir=output_dir, files=files)
    if to_stdout:
        outcome.stdout = files[COMPOSE_FILE]
    elif check:
        outcome.differing = diff(output_dir, files)
    else:
        outcome.result = write(output_dir, files, with_env=spec.litellm is not None, force=force)
    return outcome
