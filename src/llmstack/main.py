"""The typed worker behind `llmstack render`: load -> resolve -> render -> check/write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmstack import configfile
from llmstack.errors import RenderError
from llmstack.paths import COMPOSE_FILE
from llmstack.render import render
from llmstack.resolve import RenderOptions, resolve
from llmstack.write import WriteResult, diff, write


@dataclass
class RenderOutcome:
    output_dir: Path
    files: dict[str, str]
    notices: list[str] = field(default_factory=list)
    plans: list[tuple[str, list[str]]] = field(default_factory=list)
    key_variables: list[str] = field(default_factory=list)  # upstream keys .env must hold
    differing: list[str] | None = None  # with check=True
    result: WriteResult | None = None  # when written
    stdout: str | None = None


def validate_with_compose(files: dict[str, str]) -> None:
    """Run the real Compose CLI's `config --quiet` on the rendered files (in a scratch directory)."""
    import os
    import subprocess
    import tempfile

    from llmstack.compose import find_compose

    cli = find_compose()
    with tempfile.TemporaryDirectory(prefix="llmstack-validate-") as scratch:
        for name, text in files.items():
            Path(scratch, name).write_text(text, encoding="utf-8")
        env = {**os.environ, "LITELLM_MASTER_KEY": "sk-validation-placeholder"}
        result = subprocess.run([*cli.argv, "config", "--quiet"], cwd=scratch, env=env,
                                capture_output=True, text=True)
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())
        raise RenderError(f"{cli.describe()} rejects the rendered {COMPOSE_FILE}: {detail}")


def render_stack(opts: RenderOptions, check: bool = False, to_stdout: bool = False,
                 force: bool = False, validate: bool = False) -> RenderOutcome:
    config = configfile.load(Path(opts.config) if opts.config else None)
    resolved = resolve(opts, config)
    spec = resolved.spec
    files = render(spec)
    if validate:
        validate_with_compose(files)
    outcome = RenderOutcome(output_dir=resolved.output_dir, files=files, notices=resolved.notices,
                            plans=resolved.plans,
                            key_variables=sorted({m.api_key_env for m in spec.models if m.api_key_env}))
    if to_stdout:
        outcome.stdout = files[COMPOSE_FILE]
    elif check:
        outcome.differing = diff(resolved.output_dir, files)
    else:
        outcome.result = write(resolved.output_dir, files, with_env=spec.litellm is not None, force=force)
    return outcome
