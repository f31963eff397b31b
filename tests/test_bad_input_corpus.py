"""The bad-input corpus (issue 16 item 6): every kind of bad input, one row each, held to one rule.

For every row: exactly one line on stderr (`llmstack: error: ...`), the exit code of its class
(errors.py: 2 bad input, 1 the environment or the operation, 3 an llmstack bug, which no input may
cause), no traceback, and nothing written: the working directory's tree (names, kinds, bytes,
modes) is the same before and after. Categories:

- flags: every render option (declared once in options.py, so a new option joins the corpus by
  itself) with wrong types, out-of-range numbers, control characters, U+2028 and empty values;
- models.yaml: wrong shapes, duplicate keys, aliases, tags, bytes that are not UTF-8;
- model files: hostile config.json and GGUF headers, FIFOs, devices, directories under a file's name;
- the runtime commands on broken directories: missing, half-rendered, a manifest that is not one,
  a `.env` that is not UTF-8 or not a file;
- render into a directory whose files are not files (a FIFO where `.env` or a rendered file is).

`python -m tests.test_bad_input_corpus` prints the clean rate (the rows that meet the rule) of the
llmstack it imports: `PYTHONPATH=<a checkout of main>/src python -m tests.test_bad_input_corpus`
gives the rate before a change.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llmstack import options
from tests.test_model_bounds import LLAMA, kv_string, kv_u32, write_gguf

TINY = ("--model", "./models/tiny.gguf", "--cpu")
QWEN = ("--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1")
EXTERNAL = ("--backend", "external", "--model", "q", "--api-base", "http://gpu-host-1:8000/v1")
K8S = ("--target", "kubernetes", "--model", "Qwen/Qwen2.5-7B-Instruct")


@dataclass
class Case:
    args: tuple[str, ...]
    code: int = 2
    setup: Callable[[Path], None] | None = None
    expect: str = ""  # a piece of the one line, when it matters
    marks: tuple = field(default_factory=tuple)
    line: str = "llmstack: error: "  # how the one line starts (notes before it are allowed)
    lines: int = 1  # `render --check` adds the command that re-renders


# ---- flags ------------------------------------------------------------------------------------------

HOSTILE_TEXT = {
    "newline": "x\n    privileged: true",
    "u2028": "x\u2028include: /etc/evil.yml",
    "nul": "x\x00y",
    "escape": "\x1b[31mred",
    "empty": "",
}
BAD_INT = {"word": "abc", "fraction": "1.5", "negative": "-1", "zero": "0", "huge": "9" * 30}
BAD_FLOAT = {"nan": "nan", "inf": "inf", "negative": "-1", "zero": "0", "word": "abc", "overflow": "1e999"}


def _base(option: options.Option) -> tuple[str, ...]:
    """A render that is fine without the option: the option's value alone makes it bad."""
    if option.name in ("api_base", "api_key_env"):
        return EXTERNAL
    if option.target == "kubernetes" or option.name in ("replicas", "litellm_replicas"):
        return K8S
    if option.name in ("tool_parser", "reasoning_parser", "tensor_parallel"):
        return QWEN
    if option.name == "gpu_memory":
        return ("--model", "./models/tiny.gguf", "--gpus", "1")
    if option.name in ("model", "stack"):
        return ("--cpu",)
    return TINY


def _flag_cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for option in options.OPTIONS:
        if option.kind in ("switch", "bool"):
            continue
        flag = option.flags[0] if option.flags else None
        values = BAD_INT if option.kind == "int" else BAD_FLOAT if option.kind == "float" else HOSTILE_TEXT
        if option.kind == "int" and option.name in ("port", "litellm_port"):
            values = {**values, "above 65535": "65536"}
        if option.name == "litellm_cpu_shares":  # 0 is Docker's default weight; 1 and above 262144 are not
            values = {**{k: v for k, v in values.items() if k != "zero"}, "one": "1", "above 262144": "262145"}
        for label, value in values.items():
            if option.kind == "argument" and label == "empty":
                continue  # an empty STACK is no stack: the model flags decide
            given = (value,) if flag is None else (f"{flag}={value}",)
            cases[f"flag {option.flag} {label}"] = Case((*_base(option), *given))
    return cases


# ---- models.yaml ------------------------------------------------------------------------------------

def _config(text: str | bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / "bad.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


MODEL = "      - {model: ./models/tiny.gguf, gpus: none"
CONFIG_SHAPES = {
    "a list at the top": "- stacks\n",
    "a scalar at the top": "just text\n",
    "stacks is a list": "stacks:\n  - s\n",
    "a stack is a scalar": "stacks:\n  s: 5\n",
    "models is a mapping": "stacks:\n  s:\n    models: {model: ./models/tiny.gguf}\n",
    "models is empty": "stacks:\n  s:\n    models: []\n",
    "a model is a scalar": "stacks:\n  s:\n    models:\n      - ./models/tiny.gguf\n",
    "duplicate keys": "stacks:\n  s:\n    models:\n      - model: ./models/tiny.gguf\n        gpus: none\n"
                      "        gpus: all\n",
    "duplicate stacks": "stacks:\n  s:\n    models: []\n  s:\n    models: []\n",
    "args with backend auto for another backend": f"stacks:\n  s:\n    models:\n{MODEL}, "
                                                  "args: {gpu_memory_utilization: 0.5}}\n",
    "args is a list": f"stacks:\n  s:\n    models:\n{MODEL}, args: [1, 2]}}\n",
    "extra_args is a string": f"stacks:\n  s:\n    models:\n{MODEL}, extra_args: --foo}}\n",
    "port is a string": f"stacks:\n  s:\n    models:\n{MODEL}, port: '80'}}\n",
    "port is true": f"stacks:\n  s:\n    models:\n{MODEL}, port: true}}\n",
    "gpus negative": "stacks:\n  s:\n    models:\n      - {model: ./models/tiny.gguf, gpus: -1}\n",
    "gpus twice the same": "stacks:\n  s:\n    models:\n      - {model: ./models/tiny.gguf, gpus: [0, 0]}\n",
    "context a float": f"stacks:\n  s:\n    models:\n{MODEL}, max_model_len: 1.0e+30}}\n",
    "context 10**23": f"stacks:\n  s:\n    models:\n{MODEL}, max_model_len: {10**23}}}\n",
    "publish_port a string": f"stacks:\n  s:\n    models:\n{MODEL}, publish_port: 'yes'}}\n",
    "api_base a number": "stacks:\n  s:\n    models:\n      - {model: q, backend: external, api_base: 5}\n",
    "a python tag": "stacks: !!python/object/apply:os.system ['id']\n",
    "an alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "stacks: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
    "nested 10000 deep": "stacks: " + "[" * 10000 + "]" * 10000 + "\n",
    "a tab for indentation": "stacks:\n\ts:\n\t\tmodels: []\n",
    "not UTF-8": b"stacks:\n  caf\xe9:\n    models: []\n",
    "binary": b"\x00\x01\x02\xff\xfe",
    "two documents": "stacks: {}\n---\nstacks: {}\n",
    "a key with a line separator": "stacks:\n  \"s\u2028x\":\n    models:\n      - {model: ./models/tiny.gguf}\n",
}


def _config_cases() -> dict[str, Case]:
    cases = {f"models.yaml {name}": Case(("s", "--config", "bad.yaml"), setup=_config(text), expect="bad.yaml")
             for name, text in CONFIG_SHAPES.items()}
    cases["models.yaml a FIFO"] = Case(("s", "--config", "bad.yaml"), setup=lambda root: os.mkfifo(root / "bad.yaml"))
    cases["models.yaml a directory"] = Case(("s", "--config", "bad.yaml"),
                                            setup=lambda root: (root / "bad.yaml").mkdir())
    return cases


# ---- model files ------------------------------------------------------------------------------------

def _model_dir(files: dict[str, str | bytes]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        directory = root / "hostile"
        directory.mkdir()
        for name, text in files.items():
            (directory / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


def _gguf(entries: list[bytes], **kw) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / "hostile").mkdir()
        write_gguf(root / "hostile" / "m.gguf", entries, **kw)
    return setup


def _special(kind: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / "hostile").mkdir()
        target = root / "hostile" / "m.gguf"
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "dev-zero":
            target.symlink_to("/dev/zero")
        elif kind == "directory":
            target.mkdir()
        elif kind == "dangling":
            target.symlink_to(root / "nowhere.gguf")
    return setup


def _deep_array(depth: int) -> bytes:
    """A GGUF array of arrays, `depth` deep (type 9 = array)."""
    inner = struct.pack("<IQ", 4, 1) + struct.pack("<I", 1)
    for _ in range(depth):
        inner = struct.pack("<IQ", 9, 1) + inner
    return struct.pack("<Q", len(b"x.deep")) + b"x.deep" + struct.pack("<I", 9) + inner


MODEL_FILES = {
    "config.json 100k deep": (_model_dir({"config.json": "[" * 100_000 + "]" * 100_000}), "hostile"),
    "config.json a 5000-digit number": (_model_dir({"config.json": '{"vocab_size": ' + "1" * 5000 + "}"}), "hostile"),
    "config.json not JSON": (_model_dir({"config.json": "{model_type: qwen2"}), "hostile"),
    "config.json not UTF-8": (_model_dir({"config.json": b'{"model_type": "q\xe9"}'}), "hostile"),
    "config.json a list": (_model_dir({"config.json": "[1, 2]"}), "hostile"),
    "tokenizer_config.json 100k deep": (_model_dir({"config.json": '{"model_type": "qwen2"}',
                                                    "tokenizer_config.json": "{" + '"a":{' * 70 + "}" * 71}),
                                        "hostile"),
    "gguf a FIFO": (_special("fifo"), "hostile/m.gguf"),
    "gguf /dev/zero": (_special("dev-zero"), "hostile/m.gguf"),
    "gguf a directory": (_special("directory"), "hostile/m.gguf"),
    "gguf a dangling link": (_special("dangling"), "hostile/m.gguf"),
    "gguf truncated": (_model_dir({"m.gguf": b"GGUF\x03\x00"}), "hostile/m.gguf"),
    "gguf wrong magic": (_model_dir({"m.gguf": b"GGML" + b"\x00" * 64}), "hostile/m.gguf"),
    "gguf claims 10**9 entries": (_gguf(LLAMA, kv_count=10**9, size=1 << 40), "hostile/m.gguf"),
    "gguf an array 100 deep": (_gguf([*LLAMA, _deep_array(100)]), "hostile/m.gguf"),
    "gguf a 2**60 string": (_gguf([struct.pack("<Q", 1 << 60) + b"x"]), "hostile/m.gguf"),
    "gguf no architecture": (_gguf([kv_u32("llama.context_length", 8192)]), "hostile/m.gguf"),
    "gguf architecture not text": (_gguf([kv_u32("general.architecture", 7)]), "hostile/m.gguf"),
    "gguf architecture not UTF-8": (_gguf([kv_string("general.architecture", b"ll\xffama")]), "hostile/m.gguf"),
    "an empty directory": (_model_dir({}), "hostile"),
    "the root directory": (None, "/"),
}


def _model_cases() -> dict[str, Case]:
    cases = {}
    for name, (setup, model) in MODEL_FILES.items():
        path = model if model.startswith("/") else f"./{model}"
        cases[f"model file {name}"] = Case(("--model", path, "--cpu"), setup=setup)
    return cases


# ---- the runtime commands on broken directories ---------------------------------------------------

def _rendered(then: Callable[[Path], None] | None = None, *extra: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        from tests.conftest import Cli

        result = Cli()("render", *TINY, "--name", "s", *extra)
        assert result.exit_code == 0, result.stderr
        if then is not None:
            then(root / "compose" / "s")
    return setup


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda directory: (directory / name).write_bytes(data)


def _replace_with(name: str, kind: str) -> Callable[[Path], None]:
    def change(directory: Path) -> None:
        (directory / name).unlink()
        if kind == "fifo":
            os.mkfifo(directory / name)
        else:
            (directory / name).mkdir()
    return change


def _manifest_body(old: str, new: str) -> Callable[[Path], None]:
    """The manifest with one value changed and its hash stamped again (as if llmstack wrote it)."""
    def change(directory: Path) -> None:
        from llmstack.stamp import stamp

        path = directory / "llmstack-manifest.yaml"
        text = path.read_text()
        assert old in text, old
        import re

        text = re.sub(r"# llmstack-hash: sha256:[0-9a-f]{16}", "# llmstack-hash: sha256:" + "-" * 16,
                      text.replace(old, new))
        path.write_text(stamp(text))
    return change


BROKEN = {
    "no such directory": (None, "nope"),
    "an empty directory": (lambda root: (root / "empty").mkdir(), "empty"),
    "no manifest": (_rendered(lambda d: (d / "llmstack-manifest.yaml").unlink()), "compose/s"),
    "a manifest that is not YAML": (_rendered(_write("llmstack-manifest.yaml", b"\x00\xff{[")), "compose/s"),
    "a manifest of another format": (_rendered(_manifest_body('"format": 1', '"format": 99')), "compose/s"),
    "a manifest with services a number": (_rendered(_manifest_body('"services": [', '"services": 5, "x": [')),
                                          "compose/s"),
    "a manifest with aliases a string": (_rendered(_manifest_body('"aliases": [', '"aliases": "x", "y": [')),
                                         "compose/s"),
    "a manifest with a bad GPU value": (_rendered(_manifest_body('"gpus": {}', '"gpus": {"backend": "many"}')),
                                        "compose/s"),
    "a manifest with a bad port": (_rendered(_manifest_body('"127.0.0.1:4000"', '"127.0.0.1:http"')), "compose/s"),
    "a manifest that is a FIFO": (_rendered(_replace_with("llmstack-manifest.yaml", "fifo")), "compose/s"),
    "a manifest that is a directory": (_rendered(_replace_with("llmstack-manifest.yaml", "dir")), "compose/s"),
}
ENV_BROKEN = {
    ".env not UTF-8": _write(".env", b"LITELLM_MASTER_KEY=sk-caf\xe9aaaaaaaaaaaaaaaaaaaaaaa\n"),
    ".env a FIFO": _replace_with(".env", "fifo"),
    ".env a directory": _replace_with(".env", "dir"),
}
RUNTIME = [("up",), ("down",), ("status",), ("logs",), ("doctor",), ("smoke",), ("claude", "--print-env"),
           ("claude", "--settings")]
READS_ENV = [("up",), ("doctor",), ("smoke",), ("claude", "--print-env"), ("claude", "--settings")]


def _runtime_cases() -> dict[str, Case]:
    cases = {}
    for command in RUNTIME:
        for name, (setup, target) in BROKEN.items():
            cases[f"{' '.join(command)} on {name}"] = Case((*command[:1], target, *command[1:]), setup=setup)
    for command in READS_ENV:
        for name, change in ENV_BROKEN.items():
            cases[f"{' '.join(command)} with {name}"] = Case((*command[:1], "compose/s", *command[1:]),
                                                            setup=_rendered(change), expect=".env")
    return cases


# ---- render into a directory whose files are not files -------------------------------------------------

def _render_cases() -> dict[str, Case]:
    cases = {}
    for name in (".env", "docker-compose.yml", "llmstack-manifest.yaml"):
        for kind in ("fifo", "dir"):
            for check in ((), ("--check",)):
                what = "FIFO" if kind == "fifo" else "directory"
                label = f"render{' --check' if check else ''} over a {name} that is a {what}"
                case = Case((*TINY, "--name", "s", *check), setup=_rendered(_replace_with(name, kind)), expect=name)
                if name == ".env":  # not render's file: left alone, with a note (no note with --check)
                    case.code, case.expect = 0, "" if check else ".env is not a regular file"
                elif name == "docker-compose.yml":  # not as rendered: a hand edit (exit 1), out of date with --check
                    case.code = 1
                    if check:
                        case.line, case.lines = "compose/s: out of date", 2
                cases[label] = case
    return cases


# ---- what issue 16 found, one row each (the line must name the culprit) ------------------------------

def _engine(root: Path) -> None:
    """A TensorRT-LLM engine directory (its config and one rank), as tests/conftest.workdir has it."""
    engine = root / "models" / "engine"
    if not engine.exists():
        engine.mkdir(parents=True)
        (engine / "rank0.engine").write_bytes(b"x")
        (engine / "config.json").write_text('{"pretrained_config": {"architecture": "LlamaForCausalLM"}, '
                                            '"build_config": {"max_seq_len": 8192}}')


UNCACHED = ("--model", "nobody-llmstack-test/Qwen3-8B-uncached", "--gpus", "1")
QWEN_DIR = "./models/Qwen2.5-7B-Instruct"
FOUND = {
    "--api-key-env the master key": Case((*EXTERNAL, "--api-key-env", "LITELLM_MASTER_KEY"),
                                         expect="--api-key-env LITELLM_MASTER_KEY"),
    "--api-key-env a Compose variable": Case((*EXTERNAL, "--api-key-env", "COMPOSE_FILE"),
                                             expect="--api-key-env COMPOSE_FILE"),
    "an uncached hub id with a context of 10**23": Case((*UNCACHED, "--max-model-len", str(10**23)),
                                                        expect="--max-model-len"),
    "--gpus 0": Case(("--model", QWEN_DIR, "--gpus", "0"), expect="--gpus 0"),
    "--gpus 00": Case(("--model", QWEN_DIR, "--gpus", "00"), expect="--gpus"),
    "gpus: 0 in models.yaml": Case(("s", "--config", "bad.yaml"), expect="gpus",
                                   setup=_config("stacks:\n  s:\n    models:\n      - {model: "
                                                 f"{QWEN_DIR}, gpus: 0}}\n")),
    "--gpus 10**20": Case(("--model", QWEN_DIR, "--gpus", str(10**20)), expect="--gpus"),
    "--gpus a device index of 5000": Case(("--model", QWEN_DIR, "--gpus", "0,5000"), expect="--gpus"),
    "--output inside the model directory": Case(("--model", QWEN_DIR, "--gpus", "1", "--output", f"{QWEN_DIR}/stack"),
                                                expect="--output"),
    "--output the model directory itself": Case(("--model", QWEN_DIR, "--gpus", "1", "--output", QWEN_DIR),
                                                expect="--output"),
    "--output ''": Case((*TINY, "--output", ""), expect="--output"),
    "--model an empty directory": Case(("--model", "./models/empty", "--cpu"), expect="./models/empty",
                                       setup=lambda root: (root / "models" / "empty").mkdir()),
    "--model /": Case(("--model", "/", "--cpu"), expect="--model /"),
    "--model a file that is no model": Case(("--model", f"{QWEN_DIR}/config.json", "--gpus", "1"),
                                            expect="config.json"),
    "TensorRT-LLM published on 0.0.0.0": Case(("--model", "./models/engine", "--backend", "trtllm", "--gpus", "1",
                                               "--no-litellm", "--bind", "0.0.0.0"), expect="--bind 0.0.0.0",
                                              setup=_engine),
    "TensorRT-LLM --publish-backend on a LAN address": Case(("--model", "./models/engine", "--backend", "trtllm",
                                                             "--gpus", "1", "--publish-backend", "--bind",
                                                             "10.0.0.11"), expect="--bind 10.0.0.11", setup=_engine),
    "--extra-arg --api-key": Case((*TINY, "--extra-arg=--api-key=sk-do-not-echo-me"), expect="--api-key"),
    "--gpu-memory nan": Case(("--model", "./models/tiny.gguf", "--gpus", "1", "--gpu-memory", "nan"),
                             expect="--gpu-memory"),
    "--gpu-memory inf": Case(("--model", "./models/tiny.gguf", "--gpus", "1", "--gpu-memory", "inf"),
                             expect="--gpu-memory"),
    "--litellm-workers 10**6": Case((*TINY, "--litellm-workers", str(10**6)), expect="--litellm-workers"),
    "--replicas 10**6": Case((*K8S, "--replicas", str(10**6)), expect="--replicas"),
}


def _found_cases() -> dict[str, Case]:
    return {f"found {name}": case for name, case in FOUND.items()}


CASES: dict[str, Case] = {**_flag_cases(), **_config_cases(), **_model_cases(), **_runtime_cases(),
                          **_found_cases(),
                          **_render_cases()}


# ---- the rule ---------------------------------------------------------------------------------------------

def tree(root: Path) -> dict[str, tuple]:
    """Every entry under root: its kind, mode and (files) bytes; a FIFO or device is never read."""
    found: dict[str, tuple] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            info = path.lstat()
            big = stat.S_ISREG(info.st_mode) and info.st_size > (1 << 20)  # a sparse 1 TiB "model": never read
            content: object = None
            if big:
                content = (info.st_size, info.st_mtime_ns)
            elif stat.S_ISREG(info.st_mode):
                content = path.read_bytes()
            elif stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            found[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), content)
    return found


def problems(result, case: Case, before: dict, after: dict) -> list[str]:
    """What breaks the rule (empty: a clean answer)."""
    found = []
    output = result.stdout + result.stderr
    if "Traceback" in output or (result.exception is not None and not isinstance(result.exception, SystemExit)):
        found.append(f"traceback: {type(result.exception).__name__}: {result.exception}")
    if result.exit_code != case.code:
        found.append(f"exit {result.exit_code}, not {case.code}")
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("llmstack: note: ")]
    if case.code == 0:  # not an error: render goes on, saying why (a note)
        if lines:
            found.append(f"stderr has more than notes: {lines[:3]}")
        if case.expect and case.expect not in result.stderr:
            found.append(f"no note names {case.expect!r}")
    elif len(lines) != case.lines or not lines[0].startswith(case.line):
        found.append(f"stderr is not one error line: {lines[:3]}")
    elif case.expect and case.expect not in lines[0]:
        found.append(f"the line does not name {case.expect!r}: {lines[0]}")
    if after != before:
        changed = sorted(set(before) ^ set(after) | {k for k in before if k in after and before[k] != after[k]})
        found.append(f"wrote: {changed[:5]}")
    return found


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("no answer within 60 s")


def run_case(cli, root: Path, case: Case):
    """Set the row up, run it (bounded: a row that blocks, on a FIFO say, ends as a Hang)."""
    import signal

    if case.setup is not None:
        case.setup(root)
    before = tree(root)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        result = cli(*(("render",) if _is_render(case) else ()), *case.args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return result, before, tree(root)


def _is_render(case: Case) -> bool:
    return not case.args or case.args[0] not in {command[0] for command in RUNTIME}


@pytest.mark.parametrize("name", [pytest.param(name, marks=CASES[name].marks) for name in CASES])
def test_bad_input_is_one_line_the_right_code_and_nothing_written(cli, workdir, name):
    case = CASES[name]
    result, before, after = run_case(cli, workdir, case)
    assert problems(result, case, before, after) == [], (name, result.stdout[-500:], result.stderr[-1500:])
    assert "sk-do-not-echo-me" not in result.stdout + result.stderr


def test_an_uncached_hub_id_of_a_thinking_family_gets_its_reasoning_parser(cli, workdir):
    """Nothing of the model was read, but its family (from the name) thinks by default: Qwen3's
    template thinks unless `enable_thinking` is false, so vLLM gets `--reasoning-parser qwen3`."""
    result = cli("render", *UNCACHED, "--stdout")
    assert result.exit_code == 0, result.stderr
    assert '"--reasoning-parser"' in result.stdout and '"qwen3"' in result.stdout, result.stdout[-2000:]


def test_the_corpus_covers_every_category():
    prefixes = {name.split(" ")[0] for name in CASES}
    assert {"flag", "models.yaml", "model", "render", "up", "down", "status", "logs", "doctor", "smoke",
            "claude", "found"} <= prefixes
    flags = {name.split(" ")[1] for name in CASES if name.startswith("flag ")}
    assert {o.flag for o in options.OPTIONS if o.kind not in ("switch", "bool")} <= flags
    assert len(CASES) >= 200


def main(argv: list[str]) -> int:
    """Run every row in-process and print the clean rate (for before/after comparisons)."""
    import shutil
    import tempfile

    import llmstack
    from tests.conftest import FIXTURES, LLAMA_GGUF, Cli

    cli, clean, dirty = Cli(), 0, []
    print(f"llmstack from {Path(llmstack.__file__).parent}", file=sys.stderr)
    for name, case in CASES.items():
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            models = root / "models"
            (models / "Qwen2.5-7B-Instruct").mkdir(parents=True)
            shutil.copy(FIXTURES / "families" / "Qwen2.5-7B-Instruct" / "config.json",
                        models / "Qwen2.5-7B-Instruct" / "config.json")
            shutil.copy(LLAMA_GGUF, models / "tiny.gguf")
            old = os.getcwd()
            os.chdir(root)
            try:
                result, before, after = run_case(cli, root, case)
                found = problems(result, case, before, after)
            except Exception as exc:  # noqa: BLE001 - a row that crashes the runner is not clean either
                found = [f"runner: {type(exc).__name__}: {exc}"]
            finally:
                os.chdir(old)
        if found:
            dirty.append((name, found))
        else:
            clean += 1
    for name, found in dirty:
        print(f"NOT CLEAN  {name}: {'; '.join(found)[:300]}")
    print(f"clean: {clean} of {len(CASES)} ({100 * clean / len(CASES):.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
