"""The command line: parse, call the worker, print. No logic of its own."""

from __future__ import annotations

import inspect
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from llmstack import __version__, options
from llmstack._click import Abort, ClickException, ParameterSource, click, share_plain_coercions
from llmstack.errors import EnvironmentProblem, InputError, LlmstackError, RenderError
from llmstack.escaping import one_line

share_plain_coercions()


class _OneLineErrors(TyperGroup):
    """Every error ends as one line on stderr and a non-zero exit, never a traceback. The one
    place that maps exceptions to exit codes: each LlmstackError class carries its own."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except RenderError as exc:  # a rendered file failed its own validation: nothing was written
            click.echo(one_line(f"llmstack: internal error (nothing written; please report): {exc}"), err=True)
            code = exc.exit_code
        except LlmstackError as exc:
            click.echo(one_line(f"llmstack: error: {exc}"), err=True)
            code = exc.exit_code
        except Abort:
            click.echo("llmstack: aborted", err=True)
            code = 130
        except ClickException as exc:
            where = f" (see `llmstack {exc.ctx.info_name} --help`)" if getattr(exc, "ctx", None) and exc.ctx.parent else " (see `llmstack --help`)"
            message = " ".join(exc.format_message().split())
            click.echo(f"llmstack: error: {message}{where}", err=True)
            code = exc.exit_code
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="llmstack",
    help=(
        "Serve a local model behind a LiteLLM gateway with Docker Compose: one reviewable, "
        "committable directory that answers the OpenAI (/v1/chat/completions) and Anthropic "
        "(/v1/messages) APIs."
    ),
    epilog=("Start with: llmstack render --model /data/models/Qwen2.5-7B-Instruct  (then see compose/<name>/). "
            "Engine releases pinned and catalogued: llmstack versions."),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

# Options that shape the output, not the stack: left out of the "regenerate with" header.
_NOT_IN_HEADER = {option.name for option in options.OPTIONS if not option.header}


def _regen_command(ctx: click.Context) -> str:
    """The command line that regenerates this directory, rebuilt from the options given."""
    words = ["llmstack", "render"]
    for param in ctx.command.params:
        if param.name in _NOT_IN_HEADER or param.name is None:
            continue
        if ctx.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if param.param_type_name == "argument":
            words.append(str(value))
            continue
        if getattr(param, "is_flag", False):
            if param.secondary_opts:
                words.append(param.opts[0] if value else param.secondary_opts[0])
            elif value:
                words.append(param.opts[0])
            continue
        for item in value if param.multiple else [value]:
            text = str(item)
            words.append(f"{param.opts[0]}={text}" if text.startswith("-") else param.opts[0])
            if not text.startswith("-"):
                words.append(text)
    return shlex.join(words)


def _version(value: bool) -> None:
    if value:
        click.echo(f"llmstack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    pass


def render(ctx: typer.Context, **values: Any) -> None:
    """Render a compose directory (or, with --target kubernetes, a kustomize directory): backend + LiteLLM gateway."""
    from llmstack.main import render_stack

    pair = options.excluded_pairs(values)
    if pair is not None:
        raise InputError(f"{pair[0].flag} and {pair[1].flag} exclude each other; pass one")
    opts = options.RenderOptions(values, regen_command=_regen_command(ctx))
    check, stdout = bool(values.get("check")), bool(values.get("stdout"))
    outcome = render_stack(opts, check=check, to_stdout=stdout, force=bool(values.get("force")),
                           validate=bool(values.get("validate")))
    for notice in outcome.notices:
        click.echo(f"llmstack: note: {notice}", err=True)
    if outcome.stdout is not None:
        click.echo(outcome.stdout, nl=False)
        return
    where = outcome.output_dir
    if outcome.differing is not None:
        if outcome.merged:
            click.echo(f"{where}: Compose would also load what render did not write: {'; '.join(outcome.merged)}; "
                       "remove it, or move the change into the inputs and re-render", err=True)
        if outcome.differing:
            click.echo(f"{where}: out of date with its inputs: {', '.join(outcome.differing)}", err=True)
            for line in outcome.upgrade:
                click.echo(f"  engine change: {line}", err=True)
            click.echo(f"re-render with: {opts.regen_command}", err=True)
        if outcome.differing or outcome.merged:
            raise typer.Exit(1)
        click.echo(f"{where}: up to date")
        return
    result = outcome.result
    assert result is not None
    for service, lines in outcome.plans:
        click.echo(f"Memory plan for {service}: {lines[0]}")
        for line in lines[1:]:
            click.echo(f"  {line}")
    if result.written:
        click.echo(f"Rendered {where}/ ({', '.join(result.written)})")
    else:
        click.echo(f"{where}/ already up to date")
    added = ", ".join(f"{name} ({shown})" for name, shown in result.keys_added.items())
    if result.env_created:
        click.echo(f"Created {where}/.env (mode 0600) with a new {added}; it is git-ignored: keep it secret.")
    elif added:
        click.echo(f"Added a new {added} to {where}/.env (the keys already there are kept); keep it secret.")
    for name in result.keys_missing:
        click.echo(f"llmstack: note: {where}/.env is not a regular file, so render leaves it alone: add {name}=<a long "
                   "random key, e.g. from `openssl rand -hex 32`> to it yourself", err=True)
    for variable in outcome.key_variables:
        click.echo(f"Add {variable}=<the upstream server's key> to {where}/.env (it is never written to a rendered file).")
    for line in outcome.next_steps:
        click.echo(line)


_PARAMETER_TYPES: dict[str, Any] = {"str": str | None, "int": int | None, "float": float | None, "bool": bool | None,
                                     "switch": bool, "list": list[str] | None, "argument": str | None}


def _typer_parameter(option: options.Option) -> inspect.Parameter:
    """A Typer parameter of `render`, from its declaration in options.py."""
    if option.kind == "argument":
        default = typer.Argument(None, metavar=option.metavar, help=option.help)
    else:
        default = typer.Option(False if option.kind == "switch" else None, *option.flags, metavar=option.metavar,
                               help=option.help, rich_help_panel=option.panel)
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=_PARAMETER_TYPES[option.kind])


def _declare_render() -> None:
    parameters = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
                  *(_typer_parameter(option) for option in options.OPTIONS)]
    render.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    render.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    app.command(
        name="render",
        epilog=(
            "Examples:\n\n"
            "  llmstack render --model /data/models/Qwen2.5-7B-Instruct --gpus 0,1\n\n"
            "  llmstack render --model ./models/tiny.gguf --cpu --name tiny\n\n"
            "  llmstack render qwen-coder-and-chat        (a stack from config/models.yaml)\n\n"
            "  llmstack render --model Qwen/Qwen2.5-7B-Instruct --check   (CI drift gate)"
        ),
    )(render)


_declare_render()


@app.command(
    epilog=(
        "Examples:\n\n"
        "  llmstack pin                      (every stack of ./config/models.yaml)\n\n"
        "  llmstack pin qwen --config deploy/models.yaml"
    ),
)
def pin(
    stack: str | None = typer.Argument(None, metavar="[STACK]",
                                       help="Only this stack of models.yaml [default: every stack]."),
    config: str | None = typer.Option(None, "--config", metavar="FILE",
                                      help="The models.yaml to read and write [default: ./config/models.yaml]."),
) -> None:
    """Pin every image the stacks run by digest: ask each registry what its tag points at and write the
    digests into models.yaml's `pins:`, so every render writes image:tag@sha256:... (needs the registries)."""
    from llmstack import pins, registry

    path = Path(config) if config else Path("config/models.yaml")
    if not path.is_file():
        raise InputError(f"{path}: no models.yaml here to write the pins into; pass --config FILE (copy the "
                         "packaged defaults there first if you have none)")
    count = pins.pin(path, stack, registry.digest, click.echo)
    click.echo(f"Pinned {count} image(s) in {path}; re-render the stacks (their images now carry the digests).")


@app.command(epilog="Render another catalogued release with --backend-version TAG (models.yaml: `version:`).")
def versions(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The engine releases llmstack pins by default, and every release its engine catalogue knows
    (images, flags, parser names and routes per release: docs/engines.md)."""
    import json

    from llmstack import backends, catalog
    from llmstack.gateway import DEFAULTS

    pins = {b.name: b.defaults.version for b in backends.registry().values() if b.runs_service}
    pins["litellm"] = DEFAULTS.version
    known = {name: list(catalog.versions(name)) if name in catalog.backends() else [] for name in pins}
    if as_json:
        click.echo(json.dumps([{"engine": name, "pinned": pins[name], "catalogued": known[name]}
                               for name in sorted(pins)], indent=2))
        return
    click.echo(_table(["ENGINE", "PINNED", "CATALOGUED"],
                      [[name, pins[name], " ".join(known[name]) or "-"] for name in sorted(pins)]))


SETTINGS_FILE = Path(".claude") / "settings.json"  # llmstack.claude.SETTINGS_FILE, without importing it for --help

# Parameters the runtime commands share.
Target = Annotated[str | None, typer.Argument(
    metavar="[DIR_OR_STACK]",
    help=("A rendered directory, or a stack name rendered under compose/<name> "
          "[default: this directory, else the only stack under compose/]."))]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command()
def up(
    target: Target = None,
    timeout: float = typer.Option(1800.0, "--timeout", metavar="SECONDS",
                                  help="How long to wait for the gateway (model load can take minutes)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Start the containers and return at once."),
) -> None:
    """Start the stack (docker compose up -d) and wait until the gateway really answers."""
    from llmstack import runtime, stackdir

    stack = stackdir.load(target)
    if stack.gateway_url:
        stack.gateway()  # the manifest and its gateway URL checked before anything starts
    _preflight(stack)
    waited = runtime.up(stack, timeout=timeout, wait=not no_wait, echo=click.echo, echo_err=runtime.echo_stderr)
    if no_wait:
        click.echo(f"Started {stack.project}; follow it with `llmstack status {stack.directory}`")
        return
    click.echo(f"Ready in {waited:.1f}s.")
    if stack.gateway_url:
        click.echo(runtime.snippets(stack))


def _print_checks(results) -> None:
    click.echo(_table(["STATUS", "CHECK", "DETAIL", "FIX"],
                      [[r.status.upper(), r.check, r.detail, r.fix] for r in results]))


def _preflight(stack) -> None:
    """The cheap doctor checks, so a half set-up host fails with a clear message, not a container error."""
    from llmstack import doctor as checks

    failures = checks.failed(checks.run_checks(stack, cheap=True))
    if failures:
        for r in failures:
            click.echo(f"llmstack: {r.check}: {r.detail}; fix: {r.fix}", err=True)
        raise EnvironmentProblem(f"{len(failures)} pre-flight check(s) failed; see `llmstack doctor {stack.directory}`")


@app.command()
def doctor(
    target: Target = None,
    as_json: AsJson = False,
) -> None:
    """Check that this host can run the stack: engine, Compose, NVIDIA runtime, GPUs, files, ports, .env, disk."""
    from llmstack import doctor as checks
    from llmstack import stackdir

    results = checks.run_checks(stackdir.load(target))
    if as_json:
        click.echo(checks.as_json(results))
    else:
        _print_checks(results)
    if checks.failed(results):
        raise typer.Exit(1)


@app.command()
def down(
    target: Target = None,
    volumes: bool = typer.Option(False, "--volumes", help="Also delete named volumes (the Hugging Face model cache)."),
) -> None:
    """Stop and remove the stack's containers and network (named volumes are kept)."""
    from llmstack import runtime, stackdir

    stack = stackdir.load(target)
    runtime.down(stack, volumes=volumes)
    kept = "" if volumes else " (named volumes kept; add --volumes to delete them)"
    click.echo(f"Stopped {stack.project}{kept}")


@app.command()
def status(
    target: Target = None,
    as_json: AsJson = False,
) -> None:
    """One row per service: state, health, published endpoint.

    Exit codes: 0 every service is running (and healthy, where it has a healthcheck); 1 a service
    is not (not created, starting, paused, restarting, exited, unhealthy), or the engine cannot be
    asked; 2 bad input (no such directory or stack)."""
    import json

    from llmstack import runtime, stackdir

    rows = runtime.status_rows(stackdir.load(target))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(["SERVICE", "STATE", "HEALTH", "ENDPOINT"],
                          [[r["service"], r["state"], r["health"], r["endpoint"]] for r in rows]))
    down = [f"{r['service']} ({r['state']}{', ' + r['health'] if r['health'] not in ('-', 'healthy') else ''})"
            for r in rows if not r["ok"]]
    if down:
        click.echo(f"llmstack: not running or not healthy: {', '.join(down)}", err=True)
        raise typer.Exit(1)


@app.command()
def logs(
    target: Target = None,
    service: str | None = typer.Argument(None, metavar="[SERVICE]", help="Only this service (e.g. backend, litellm)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming new lines."),
    tail: int | None = typer.Option(None, "--tail", metavar="N", help="Only the last N lines per service."),
) -> None:
    """Show the stack's container logs."""
    from llmstack import runtime, stackdir

    stack, service = stackdir.load_with_service(target, service)
    code = runtime.logs(stack, service, follow, tail)
    if code:
        raise typer.Exit(code)


@app.command()
def smoke(
    target: Target = None,
    base_url: str | None = typer.Option(None, "--base-url", metavar="URL",
                                           help="Gateway URL [default: from the rendered directory]."),
    timeout: float = typer.Option(120.0, "--timeout", metavar="SECONDS", min=1,
                                  help="Longest wait for each check; after one times out, that model's other checks "
                                       "are skipped."),
    as_json: AsJson = False,
) -> None:
    """Exercise the running gateway through the OpenAI and Anthropic APIs (exit 1 on any failure)."""
    from llmstack import smoke as smoke_checks
    from llmstack import stackdir

    stack = stackdir.load(target)
    if not (base_url or stack.gateway_url):
        raise InputError(f"{stack.directory} has no LiteLLM gateway (rendered with --no-litellm); pass --base-url")
    url, key = stack.gateway(base_url)
    aliases = [(a.name, a.tools, a.vision) for a in stack.aliases]
    results = smoke_checks.run_checks(url, key, aliases, claude_routes=stack.claude, timeout=timeout)
    if as_json:
        click.echo(smoke_checks.as_json(results))
    else:
        click.echo(_table(["CHECK", "RESULT", "LATENCY", "DETAIL"],
                          [[r.check, "ok" if r.ok else "FAIL", f"{r.latency_ms:.0f} ms", r.detail[:80]]
                           for r in results]))
    failed = [r for r in results if not r.ok]
    if failed:
        click.echo(f"llmstack: {len(failed)} of {len(results)} checks failed", err=True)
        raise typer.Exit(1)


class _PassThrough(TyperCommand):
    """Everything after the first `--` goes to the program run, untouched by this parser; a bare
    `--write` (not followed by a `.json` path) means the default settings file."""

    def parse_args(self, ctx, args):
        args = list(args)
        if "--" in args:
            at = args.index("--")
            ctx.meta["passed_through"] = args[at + 1:]
            args = args[:at]
        for i, arg in enumerate(args):
            if arg == "--write" and (i + 1 == len(args) or not args[i + 1].endswith(".json")):
                args[i] = f"--write={SETTINGS_FILE}"
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx):
        return [*super().collect_usage_pieces(ctx), "[-- CLAUDE_ARGS...]"]


@app.command(
    cls=_PassThrough,
    epilog=(
        "Examples:\n\n"
        "  llmstack claude qwen            (Claude Code on compose/qwen)\n\n"
        "  llmstack claude qwen -- -p \"Explain this repository\"\n\n"
        "  eval \"$(llmstack claude qwen --print-env)\"; claude\n\n"
        "  llmstack claude qwen --settings --write"
    ),
)
def claude(
    ctx: typer.Context,
    target: Target = None,
    print_env: bool = typer.Option(False, "--print-env",
                                   help="Print `export NAME=value` lines for a POSIX shell instead of running claude."),
    settings: bool = typer.Option(False, "--settings",
                                  help="Print a Claude Code settings.json `env` block instead of running claude."),
    write: str | None = typer.Option(
        None, "--write", metavar="[PATH.json]",
        help=f"With --settings: merge the block into PATH.json [default: {SETTINGS_FILE}] instead of printing "
             "it (other settings in the file are kept)."),
) -> None:
    """Run Claude Code (`claude`) against the stack's gateway: its URL, key, model names and settings
    suited to a local model. Arguments after `--` go to claude."""
    from llmstack import claude as cc
    from llmstack import stackdir

    passed = ctx.meta.get("passed_through", [])
    if print_env and settings:
        raise InputError("--print-env and --settings exclude each other; pass one")
    if write is not None and not settings:
        raise InputError("--write goes with --settings (llmstack claude STACK --settings --write [PATH])")
    if passed and (print_env or settings):
        raise InputError(f"{passed[0]}: arguments after `--` go to a claude run; drop them with --print-env/--settings")
    stack = stackdir.load(target)
    env = cc.environment(stack)
    if print_env or settings:
        if print_env:
            click.echo(cc.export_lines(env), nl=False)
        elif write is None:
            click.echo(cc.settings_text(env), nl=False)
        else:
            for line in cc.write_settings(Path(write), env):
                click.echo(line)
        for note in env.notes:
            click.echo(f"llmstack: note: {note}", err=True)
        return

    binary = cc.find_claude(os.environ.get("PATH"))
    cc.check_gateway(env.values["ANTHROPIC_BASE_URL"], stack.directory)
    notes = env.notes + cc.overriding_settings(env.values, Path.home(), Path.cwd())
    if any(os.environ.get(name) for name in cc.LEFT_OUT):
        notes.append(f"{', '.join(cc.LEFT_OUT)} left out of this run (the gateway's key goes in ANTHROPIC_AUTH_TOKEN)")
    for note in notes:
        click.echo(f"llmstack: note: {note}", err=True)
    cc.launch(binary, list(passed), cc.run_environment(env, dict(os.environ)))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Any:
    """The `llmstack` program. A CLI process has no use for third-party pydantic plugins, and
    discovering them scans every installed package's entry points (about 25 ms of each run):
    the program (not an import of the package) turns that off unless the user chose otherwise."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    return app(args=argv, prog_name="llmstack")


if __name__ == "__main__":  # pragma: no cover
    main()
