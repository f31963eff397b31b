"""The command line: parse, call the worker, print. No logic of its own."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from llmstack import __version__
from llmstack._click import Abort, ClickException, ParameterSource, click, share_plain_coercions
from llmstack.backends import module_names
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
    epilog="Start with: llmstack render --model /data/models/Qwen2.5-7B-Instruct  (then see compose/<name>/).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

# Options that shape the output, not the stack: left out of the "regenerate with" header.
_NOT_IN_HEADER = {"check", "stdout", "force", "validate"}
_BACKENDS = "|".join(["auto", *module_names()])


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


@app.command(
    epilog=(
        "Examples:\n\n"
        "  llmstack render --model /data/models/Qwen2.5-7B-Instruct --gpus 0,1\n\n"
        "  llmstack render --model ./models/tiny.gguf --cpu --name tiny\n\n"
        "  llmstack render qwen-coder-and-chat        (a stack from config/models.yaml)\n\n"
        "  llmstack render --model Qwen/Qwen2.5-7B-Instruct --check   (CI drift gate)"
    ),
)
def render(
    ctx: typer.Context,
    stack: str | None = typer.Argument(None, metavar="STACK",
                                          help="A named stack from config/models.yaml (instead of --model)."),
    model: str | None = typer.Option(
        None, "--model", "-m", metavar="PATH_OR_HF_ID", rich_help_panel="Model",
        help="A local model directory, a .gguf file (or one shard of a split set), a Hugging Face cache "
             "snapshot directory (all mounted read-only), or a Hugging Face id org/name "
             "(served through the HF cache). Paths start with /, ./, ../ or ~."),
    backend: str | None = typer.Option(
        None, "--backend", "-b", metavar=_BACKENDS,
        help="Inference server. auto: a .gguf model (file, split set or directory) -> llama, a "
             "TensorRT-LLM engine directory -> trtllm, --api-base given -> external, anything else -> vllm."),
    name: str | None = typer.Option(None, "--name", metavar="NAME", help="Stack / compose project name [default: slug of the model's name]."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="DIR", help="Output directory [default: compose/<name>, compose/<name>-k8s for --target kubernetes]."),
    config: str | None = typer.Option(None, "--config", metavar="FILE",
                                         help="Defaults and stacks [default: ./config/models.yaml, else the built-in one]."),
    target: str | None = typer.Option(None, "--target", metavar="compose|kubernetes",
                                         help="What to render: a Compose directory, or a kustomize directory for "
                                              "`kubectl apply -k` [default: compose]."),
    litellm: bool | None = typer.Option(None, "--litellm/--no-litellm", help="Put the LiteLLM gateway in front [default: on]."),
    litellm_port: int | None = typer.Option(None, "--litellm-port", metavar="N", help="Gateway port on the host [default: 4000]."),
    litellm_alias: str | None = typer.Option(None, "--litellm-alias", metavar="NAME",
                                                help="Model name clients ask for [default: local-model]."),
    litellm_version: str | None = typer.Option(None, "--litellm-version", metavar="TAG", help="LiteLLM image tag [default: pinned]."),
    litellm_image: str | None = typer.Option(None, "--litellm-image", metavar="IMAGE:TAG",
                                                help="Full LiteLLM image reference, used as is (e.g. a registry mirror)."),
    litellm_workers: int | None = typer.Option(None, "--litellm-workers", metavar="N", help="LiteLLM worker processes (--num_workers)."),
    backend_version: str | None = typer.Option(None, "--backend-version", metavar="TAG",
                                                  help="Backend version (vLLM/SGLang tag, llama.cpp build bNNNN, TRT-LLM release)."),
    backend_image: str | None = typer.Option(None, "--backend-image", metavar="IMAGE:TAG",
                                                help="Full backend image reference, used as is."),
    port: int | None = typer.Option(None, "--port", metavar="N", help="Port the backend listens on [default: per backend]."),
    publish_backend: bool | None = typer.Option(None, "--publish-backend/--no-publish-backend",
                                                   help="Also publish the backend port on --bind [default: off]."),
    gpus: str | None = typer.Option(None, "--gpus", metavar="all|N|0,2|none", help="GPUs to reserve: all, a count N, device ids 0,2 (one id: device=1), or none [default: all]."),
    cpu: bool = typer.Option(False, "--cpu", help="No GPU (same as --gpus none). Only llama.cpp has a CPU image."),
    gpu_memory: float | None = typer.Option(
        None, "--gpu-memory", metavar="GIB",
        help="Memory of each GPU, for the memory plan [default: measured with nvidia-smi on this host, "
             "else no plan]."),
    tensor_parallel: int | None = typer.Option(None, "--tensor-parallel", metavar="N",
                                                  help="Tensor-parallel size [default: number of GPUs when countable]."),
    max_model_len: int | None = typer.Option(
        None, "--max-model-len", metavar="N",
        help="Context length in tokens [default: the backend default, capped at the model's own limit]."),
    tool_parser: str | None = typer.Option(None, "--tool-parser", metavar="NAME",
                                              help="Tool-call parser [default: from the model family when known]."),
    reasoning_parser: str | None = typer.Option(
        None, "--reasoning-parser", metavar="NAME",
        help="Reasoning parser, so <think> text becomes reasoning, not answer [default: from the model]."),
    mmproj: str | None = typer.Option(None, "--mmproj", metavar="FILE", help="Vision projector .gguf (llama.cpp only)."),
    network: str | None = typer.Option(None, "--network", metavar="bridge|host",
                                          help="bridge: LiteLLM reaches the backend by service name; host: via localhost [default: bridge]."),
    bind: str | None = typer.Option(None, "--bind", metavar="ADDR", help="Host address for published ports [default: 127.0.0.1]."),
    extra_arg: list[str] | None = typer.Option(None, "--extra-arg", metavar="ARG",
                                                  help="Extra backend argument, appended verbatim (repeatable; use --extra-arg=--flag)."),
    api_base: list[str] | None = typer.Option(
        None, "--api-base", metavar="URL",
        help="With --backend external: where the model is served, e.g. http://gpu-host-1:8000/v1 (repeat it "
             "for replicas the gateway balances and fails over)."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", metavar="NAME",
        help="With --backend external: the .env variable holding the upstream server's key."),
    replicas: int | None = typer.Option(
        None, "--replicas", metavar="N", rich_help_panel="Kubernetes",
        help="Pods serving the model behind its Service (Kubernetes only) [default: 1]."),
    litellm_replicas: int | None = typer.Option(
        None, "--litellm-replicas", metavar="N", rich_help_panel="Kubernetes",
        help="Gateway pods behind its Service (Kubernetes only) [default: 1]."),
    k8s_namespace: str | None = typer.Option(
        None, "--k8s-namespace", metavar="NS", rich_help_panel="Kubernetes",
        help="Namespace written into kustomization.yaml [default: none: the one kubectl uses]."),
    k8s_model_pvc: str | None = typer.Option(
        None, "--k8s-model-pvc", metavar="NAME", rich_help_panel="Kubernetes",
        help="Existing PersistentVolumeClaim whose root holds the local model (mounted read-only)."),
    k8s_model_host_path: str | None = typer.Option(
        None, "--k8s-model-host-path", metavar="DIR", rich_help_panel="Kubernetes",
        help="Or: an absolute directory on the GPU nodes holding the local model (hostPath)."),
    k8s_hf_cache_pvc: str | None = typer.Option(
        None, "--k8s-hf-cache-pvc", metavar="NAME", rich_help_panel="Kubernetes",
        help="Existing claim for the Hugging Face cache of hub models [default: a rendered ReadWriteOnce claim]."),
    k8s_hf_cache_size: str | None = typer.Option(
        None, "--k8s-hf-cache-size", metavar="SIZE", rich_help_panel="Kubernetes",
        help="Size of the rendered Hugging Face cache claim [default: 200Gi]."),
    k8s_storage_class: str | None = typer.Option(
        None, "--k8s-storage-class", metavar="NAME", rich_help_panel="Kubernetes",
        help="StorageClass of the rendered cache claim [default: the cluster's default]."),
    k8s_gpu_product: str | None = typer.Option(
        None, "--k8s-gpu-product", metavar="LABEL", rich_help_panel="Kubernetes",
        help="Schedule GPU pods on nodes labelled nvidia.com/gpu.product=LABEL (e.g. NVIDIA-H100-80GB-HBM3)."),
    k8s_runtime_class: str | None = typer.Option(
        None, "--k8s-runtime-class", metavar="NAME", rich_help_panel="Kubernetes",
        help="runtimeClassName of GPU pods (e.g. nvidia) [default: none: the node's default runtime]."),
    k8s_shm_size: str | None = typer.Option(
        None, "--k8s-shm-size", metavar="SIZE", rich_help_panel="Kubernetes",
        help="Size limit of each backend pod's memory-backed /dev/shm [default: 16Gi]."),
    k8s_backend_cpu: str | None = typer.Option(
        None, "--k8s-backend-cpu", metavar="CPUS", rich_help_panel="Kubernetes",
        help="CPU request and limit of each backend pod (e.g. 8 or 1500m) [default: 2 + 1 per GPU; 4 on the CPU]."),
    k8s_backend_memory: str | None = typer.Option(
        None, "--k8s-backend-memory", metavar="SIZE", rich_help_panel="Kubernetes",
        help="Memory request and limit of each backend pod (e.g. 64Gi) [default: from the model's size]."),
    k8s_litellm_cpu: str | None = typer.Option(
        None, "--k8s-litellm-cpu", metavar="CPUS", rich_help_panel="Kubernetes",
        help="CPU request and limit of each gateway pod [default: 1 per worker]."),
    k8s_litellm_memory: str | None = typer.Option(
        None, "--k8s-litellm-memory", metavar="SIZE", rich_help_panel="Kubernetes",
        help="Memory request and limit of each gateway pod [default: 256Mi + 512Mi per worker]."),
    anthropic_route: str | None = typer.Option(
        None, "--anthropic-route", metavar="native|translated",
        help="How the gateway hands Anthropic /v1/messages requests to the backend: native (its own "
             "/v1/messages, untranslated) or translated (as chat completions) [default: per backend and "
             "version, from measurements: native for llama.cpp, translated elsewhere]."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 listing files that differ from a fresh render."),
    stdout: bool = typer.Option(False, "--stdout", help="Print the compose file instead of writing the directory (compose only)."),
    force: bool = typer.Option(False, "--force", help="Overwrite rendered files even if they were edited by hand."),
    validate: bool = typer.Option(False, "--validate",
                                  help="Also run the real `docker compose config --quiet` (Kubernetes: `kubectl kustomize`) "
                                       "on the result before writing."),
) -> None:
    """Render a compose directory (or, with --target kubernetes, a kustomize directory): backend + LiteLLM gateway."""
    from llmstack.main import render_stack
    from llmstack.resolve import RenderOptions

    opts = RenderOptions(
        stack=stack, model=model, backend=backend, name=name, output=output, config=config, target=target,
        litellm=litellm, litellm_port=litellm_port, litellm_alias=litellm_alias,
        litellm_version=litellm_version, litellm_image=litellm_image, litellm_workers=litellm_workers,
        backend_version=backend_version, backend_image=backend_image, port=port,
        publish_backend=publish_backend, gpus=gpus, cpu=cpu, gpu_memory=gpu_memory,
        tensor_parallel=tensor_parallel, max_model_len=max_model_len, tool_parser=tool_parser,
        reasoning_parser=reasoning_parser, mmproj=mmproj, network=network, bind=bind,
        extra_args=list(extra_arg or []), api_base=list(api_base or []), api_key_env=api_key_env,
        replicas=replicas, litellm_replicas=litellm_replicas, k8s_namespace=k8s_namespace,
        k8s_model_pvc=k8s_model_pvc, k8s_model_host_path=k8s_model_host_path, k8s_hf_cache_pvc=k8s_hf_cache_pvc,
        k8s_hf_cache_size=k8s_hf_cache_size, k8s_storage_class=k8s_storage_class, k8s_gpu_product=k8s_gpu_product,
        k8s_runtime_class=k8s_runtime_class, k8s_shm_size=k8s_shm_size, k8s_backend_cpu=k8s_backend_cpu,
        k8s_backend_memory=k8s_backend_memory, k8s_litellm_cpu=k8s_litellm_cpu, k8s_litellm_memory=k8s_litellm_memory,
        anthropic_route=anthropic_route, regen_command=_regen_command(ctx),
    )
    if check and stdout:
        raise InputError("--check and --stdout exclude each other; pass one")
    outcome = render_stack(opts, check=check, to_stdout=stdout, force=force, validate=validate)
    for notice in outcome.notices:
        click.echo(f"llmstack: note: {notice}", err=True)
    if outcome.stdout is not None:
        click.echo(outcome.stdout, nl=False)
        return
    where = outcome.output_dir
    if outcome.differing is not None:
        if outcome.differing:
            click.echo(f"{where}: out of date with its inputs: {', '.join(outcome.differing)}", err=True)
            click.echo(f"re-render with: {opts.regen_command}", err=True)
            raise typer.Exit(1)
        click.echo(f"{where}: up to date")
        return
    result = outcome.result
    assert result is not None
    for service, lines in outcome.plans:
        click.echo(f"Memory plan for {service}: {lines[0]}")
        click.echo(f"  {lines[1]}")
    if result.written:
        click.echo(f"Rendered {where}/ ({', '.join(result.written)})")
    else:
        click.echo(f"{where}/ already up to date")
    if result.env_created:
        click.echo(f"Created {where}/.env (mode 0600) with a new LITELLM_MASTER_KEY ({result.master_key_hint}); "
                   "it is git-ignored: keep it secret.")
    for variable in outcome.key_variables:
        click.echo(f"Add {variable}=<the upstream server's key> to {where}/.env (it is never written to a rendered file).")
    if outcome.target == "kubernetes":
        click.echo(f"Next: kubectl apply -k {where}")
        if outcome.port_forward:
            click.echo(f"Then: {outcome.port_forward}   (the gateway on http://127.0.0.1:{outcome.port_forward.rsplit(':', 1)[1]})")
        return
    click.echo(f"Next: llmstack up {where}   (or: cd {where} && docker compose up -d)")


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
    """One row per service: state, health, published endpoint."""
    import json

    from llmstack import runtime, stackdir

    rows = runtime.status_rows(stackdir.load(target))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(_table(["SERVICE", "STATE", "HEALTH", "ENDPOINT"],
                      [[r["service"], r["state"], r["health"], r["endpoint"]] for r in rows]))


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
    as_json: AsJson = False,
) -> None:
    """Exercise the running gateway through the OpenAI and Anthropic APIs (exit 1 on any failure)."""
    from llmstack import smoke as smoke_checks
    from llmstack import stackdir

    stack = stackdir.load(target)
    url = base_url or stack.gateway_url
    if not url:
        raise InputError(f"{stack.directory} has no LiteLLM gateway (rendered with --no-litellm); pass --base-url")
    aliases = [(a.name, a.tools, a.vision) for a in stack.aliases]
    results = smoke_checks.run_checks(url, stack.master_key(), aliases, claude_routes=stack.claude)
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
