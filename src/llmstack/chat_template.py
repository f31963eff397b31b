"""Run a model's own chat template, sandboxed, against the conversation shapes agent clients send,
and say which shapes it refuses (with the template's own error text).

Claude Code and Codex send conversations many real templates refuse: a `system` message after
the first one (Claude Code's environment and mode messages, Codex's instructions), a `developer`
message, two user turns in a row, tool results, tool-call ids the template does not expect,
thinking in the history. `check_template(text)` renders the template once per shape (SHAPES) and
returns `TemplateFindings`: which shapes were refused and what the gateway hook (gateway_hook.py)
should switch on for the alias (`findings.adaptations`).

The environment is the one Hugging Face transformers gives templates (read in its source,
transformers 5.24.0 `utils/chat_template_utils.py`; vLLM and SGLang render through it):
`ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with the `loopcontrols`
extension and the `{% generation %}` tag, `tojson` without HTML escaping and with `ensure_ascii`,
`indent`, `separators`, `sort_keys`; `raise_exception`, `strftime_now`, `namespace` (no
underscore-prefixed attributes), `dict`; `bos_token`/`eos_token` and `add_generation_prompt` in
the context; messages without their None-valued keys and with `reasoning_content` and `thinking`
both filled from whichever reasoning field a message has. vLLM parses tool-call `arguments` into
objects before rendering (vllm `entrypoints/chat_utils._postprocess_messages`); the shapes carry
objects. llama.cpp's own engine (common/jinja in the llama-cpp-python 0.3.36 sdist) offers the
same names and maps `developer` to `system` before rendering (common/chat.cpp
`workaround::map_developer_role_to_system`, every template but gpt-oss's); it also lets templates
mutate lists, which the immutable sandbox (and so vLLM) refuses: this check is the stricter one.

Nothing but the template runs, and never for long: `check_template` renders in a child Python
process (this file run as a script) with its address space capped and a deadline, and inside it
every render is cut off after a few seconds (a trace on the template's own frames) and when its
output grows past a few MB. A template that is too slow or too big, or does not compile, gives a
note instead of findings; nothing raises to the caller.

Kept to the standard library and Jinja2, so the child needs nothing of llmstack.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

RENDER_SECONDS = 3.0  # one shape
CHECK_SECONDS = 20.0  # the whole check, child process included
MEMORY_BYTES = 1 << 30  # the child's address space
MAX_OUTPUT = 4 << 20  # characters one render may produce
MAX_REPEAT = 1 << 20  # `'x' * n`, `[..] * n`: the largest n

# A shape refused -> the hook switch that makes the request acceptable (gateway_hook.py).
FOLD_SYSTEM = "fold_system"  # every system/developer message into the first one
MERGE_TURNS = "merge_turns"  # consecutive turns of one role into one (a user turn after tool results into them)
TOOL_IDS = "tool_ids"  # tool-call ids rewritten to 9 letters and digits
SYSTEM_INTO_USER = "system_into_user"  # no system role at all: the system text opens the first user turn
SPLIT_TOOL_CALLS = "split_tool_calls"  # one tool call per assistant turn (and no parallel calls asked for)
ADAPTATIONS = (SYSTEM_INTO_USER, FOLD_SYSTEM, MERGE_TURNS, TOOL_IDS, SPLIT_TOOL_CALLS)

TOOLS = [
    {"type": "function", "function": {
        "name": "Bash", "description": "Run a shell command.",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"},
                                                          "description": {"type": "string"}},
                       "required": ["command"]}}},
    {"type": "function", "function": {
        "name": "Read", "description": "Read a file.",
        "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}},
]


def _call(ident: str, name: str = "Bash", **arguments: Any) -> dict:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments or {"command": "ls"}}}


def _calling(*calls: dict) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": list(calls)}


def _tool(ident: str, content: str = "README.md\nsrc") -> dict:
    return {"role": "tool", "tool_call_id": ident, "content": content}


SYSTEM = {"role": "system", "content": "You are a coding agent."}
USER = {"role": "user", "content": "List the files."}
ANSWER = {"role": "assistant", "content": "There are two."}
NEUTRAL_ID = "a1B2c3D4e"  # nine letters and digits: what Mistral's templates demand


@dataclass(frozen=True)
class Shape:
    name: str
    what: str  # who sends it, in a few words
    messages: tuple[dict, ...]
    fix: str | None  # the hook switch that removes it, if any


def _shapes() -> dict[str, Shape]:
    call = _calling(_call(NEUTRAL_ID))
    shapes = [
        Shape("user_only", "one user turn, no system prompt", (USER,), None),
        Shape("baseline", "a system prompt and one user turn", (SYSTEM, USER), SYSTEM_INTO_USER),
        Shape("trailing_system", "Claude Code: a system message after the user's turn",
              (SYSTEM, USER, {"role": "system", "content": "Environment: linux."}), FOLD_SYSTEM),
        Shape("mid_system", "Claude Code: a system message inside the conversation (mode changes, --continue)",
              (SYSTEM, USER, ANSWER, {"role": "system", "content": "Plan mode is active."},
               {"role": "user", "content": "Go on."}), FOLD_SYSTEM),
        Shape("multiple_system", "Codex: two instruction messages first",
              (SYSTEM, {"role": "system", "content": "Sandbox: read-only."}, USER), FOLD_SYSTEM),
        Shape("developer", "Codex: a developer message",
              ({"role": "developer", "content": "You are a coding agent."}, USER), FOLD_SYSTEM),
        Shape("consecutive_user", "Codex's context and prompt; a translated system message",
              (SYSTEM, {"role": "user", "content": "<environment_context>linux</environment_context>"}, USER),
              MERGE_TURNS),
        Shape("consecutive_assistant", "two assistant turns in a row",
              (SYSTEM, USER, ANSWER, {"role": "assistant", "content": "And one more."},
               {"role": "user", "content": "Go on."}), MERGE_TURNS),
        Shape("tool_round_trip", "a tool call and its result (ids of nine letters and digits)",
              (SYSTEM, USER, call, _tool(NEUTRAL_ID)), None),
        Shape("tool_then_user", "Claude Code: a tool result followed by a user message",
              (SYSTEM, USER, call, _tool(NEUTRAL_ID), {"role": "user", "content": "Carry on."}), MERGE_TURNS),
        Shape("parallel_tool_calls", "two tool calls in one turn, two results",
              (SYSTEM, USER, _calling(_call("b1B2c3D4e"), _call("c1B2c3D4e", "Read", file_path="a.txt")),
               _tool("b1B2c3D4e"), _tool("c1B2c3D4e", "text")), SPLIT_TOOL_CALLS),
        Shape("anthropic_tool_ids", "Claude Code's tool-call ids (toolu_...)",
              (SYSTEM, USER, _calling(_call("toolu_01A09q90qw90lq917835lq9")),
               _tool("toolu_01A09q90qw90lq917835lq9")), TOOL_IDS),
        Shape("openai_tool_ids", "Codex's tool-call ids (call_...)",
              (SYSTEM, USER, _calling(_call("call_Zk3m9QwErTy7uIoP1aSdF2gH")),
               _tool("call_Zk3m9QwErTy7uIoP1aSdF2gH")), TOOL_IDS),
        Shape("reasoning_history", "thinking kept in an earlier assistant turn",
              (SYSTEM, USER, {"role": "assistant", "content": "There are two.",
                              "reasoning_content": "Count the files."},
               {"role": "user", "content": "Go on."}), None),
        Shape("reasoning_tool_call", "thinking before a tool call (interleaved thinking)",
              (SYSTEM, USER, {"role": "assistant", "content": "", "reasoning_content": "Look first.",
                              "tool_calls": [_call(NEUTRAL_ID)]},
               _tool(NEUTRAL_ID)), None),
    ]
    return {shape.name: shape for shape in shapes}


SHAPES = _shapes()


@dataclass(frozen=True)
class Refusal:
    shape: str
    error: str  # the template's own words (raise_exception), or the error it ran into


@dataclass(frozen=True)
class TemplateFindings:
    """What a template made of the shapes it was given (frozen; `to_manifest()` for the manifest)."""

    sha256: str  # of the template text
    checked: tuple[str, ...]  # the shapes rendered (a template cut off early has fewer)
    refused: tuple[Refusal, ...] = ()
    notes: tuple[str, ...] = ()  # why something could not be checked; one line each
    engine: str = "transformers"  # whose rendering was modelled (ENGINES)

    def refuses(self, shape: str) -> bool:
        return any(r.shape == shape for r in self.refused)

    @property
    def complete(self) -> bool:
        return not self.notes

    @property
    def adaptations(self) -> tuple[str, ...]:
        """The gateway hook's switches this template needs, in a stable order."""
        wanted = {SHAPES[r.shape].fix for r in self.refused if r.shape in SHAPES}
        if self.refuses("user_only"):  # refuses plain chat: nothing the hook can do about system messages
            wanted.discard(SYSTEM_INTO_USER)
        if SYSTEM_INTO_USER in wanted:  # every system message goes into the first user turn anyway
            wanted.discard(FOLD_SYSTEM)
        return tuple(fix for fix in ADAPTATIONS if fix in wanted)

    def to_manifest(self) -> dict:
        data: dict[str, Any] = {"sha256": self.sha256, "engine": self.engine, "checked": list(self.checked),
                                "refused": {r.shape: r.error for r in self.refused}}
        if self.adaptations:
            data["adaptations"] = list(self.adaptations)
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any]) -> TemplateFindings:
        return cls(sha256=str(data.get("sha256", "")), checked=tuple(data.get("checked") or ()),
                   refused=tuple(Refusal(s, str(e)) for s, e in (data.get("refused") or {}).items()),
                   notes=tuple(data.get("notes") or ()), engine=str(data.get("engine", "transformers")))


def template_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- the sandbox --------------------------------------------------------------------------------

class TemplateTooCostly(Exception):
    """A render ran past its time or size bound."""


ENGINES = ("transformers", "llama.cpp")  # who renders: vLLM, SGLang, TensorRT-LLM use transformers


@functools.lru_cache(maxsize=128)
def _compiled(engine: str, text: str):
    """The template compiled once per engine (compiling a large template takes a tenth of a second)."""
    return _environment(engine).from_string(text)


@functools.cache
def _environment(engine: str = "transformers"):
    """The sandboxed Jinja environment an engine renders chat templates in (see the module doc):
    transformers' immutable sandbox, or a sandbox that lets templates change their own lists the
    way llama.cpp's engine does (`list.append`)."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    import jinja2.utils
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

    base = SandboxedEnvironment if engine == "llama.cpp" else ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):
        """`{% generation %}...{% endgeneration %}` (transformers marks assistant text with it): the body."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    class Namespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):  # noqa: N805 - Jinja's own signature trick (`namespace(self=...)`)
            self, rest = args[0], args[1:]
            attrs = dict(*rest, **kwargs)
            for name in attrs:
                Namespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            Namespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"namespace attribute {name!r} starts with an underscore")

    class Env(base):  # type: ignore[valid-type,misc]
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, operator, left, right):
            if operator == "**" and isinstance(right, int) and right > 64:
                raise jinja2.exceptions.SecurityError("exponent too large")
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                            and len(seq) * times > MAX_REPEAT:
                        raise jinja2.exceptions.SecurityError("repetition too large")
            return super().call_binop(context, operator, left, right)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    class Dict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    env = Env(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now, dict=Dict(),
                       namespace=Namespace)
    return env


_REASONING = ("reasoning_content", "thinking", "reasoning")


def template_messages(messages: Sequence[Mapping[str, Any]], engine: str = "transformers",
                      template: str = "") -> list[dict]:
    """Messages as the engine hands them to the template: plain JSON data, no None values,
    reasoning under `reasoning_content`, `reasoning` and `thinking`, tool-call arguments as
    objects; for llama.cpp `developer` as `system` (but for gpt-oss's template, `<|channel|>`)."""
    out = []
    developer_as_system = engine == "llama.cpp" and "<|channel|>" not in template
    for message in json.loads(json.dumps(list(messages))):
        message = {k: v for k, v in message.items() if v is not None}
        if developer_as_system and message.get("role") == "developer":
            message["role"] = "system"
        reasoning = next((message[k] for k in _REASONING if message.get(k) is not None), None)
        if reasoning is not None:
            message = {"thinking": reasoning, "reasoning": reasoning, **message, "reasoning_content": reasoning}
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                try:
                    function["arguments"] = json.loads(function["arguments"] or "{}")
                except ValueError:
                    pass
        out.append(message)
    return out


class _Deadline:
    """A trace on the template's own frames that stops a render at its deadline."""

    def __init__(self, seconds: float):
        self.until = time.monotonic() + seconds
        self.count = 0

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename == "<template>":
            return self._local
        return None

    def _local(self, frame, event, arg):
        self.count += 1
        if self.count % 256 == 0 and time.monotonic() > self.until:
            raise TemplateTooCostly("did not finish in time")
        return self._local


def _render_bounded(template, context: dict, seconds: float) -> str:
    deadline = _Deadline(seconds)
    previous = sys.gettrace()
    sys.settrace(deadline)
    try:
        parts: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise TemplateTooCostly(f"rendered more than {MAX_OUTPUT // (1 << 20)} MB")
            if time.monotonic() > deadline.until:
                raise TemplateTooCostly("did not finish in time")
            parts.append(piece)
        return "".join(parts)
    finally:
        sys.settrace(previous)


def _error_text(exc: BaseException) -> str:
    import jinja2

    message = str(exc).strip() or type(exc).__name__
    if isinstance(exc, jinja2.exceptions.TemplateError) and type(exc) is jinja2.exceptions.TemplateError:
        return message[:500]  # raise_exception: the template's own words
    return f"{type(exc).__name__}: {message}"[:500]


def evaluate(text: str, conversations: Mapping[str, Sequence[Mapping[str, Any]]], *,
             tools: Sequence[Mapping[str, Any]] | None = None, context: Mapping[str, Any] | None = None,
             engine: str = "transformers", seconds: float = RENDER_SECONDS) -> dict:
    """Render `text` once per conversation in this process (sandboxed, time- and size-bounded, but
    without the child's memory cap): {"checked": [...], "refused": {name: error}, "notes": [...]}.
    `check_template` runs this in a child process."""
    import jinja2

    result: dict[str, Any] = {"checked": [], "refused": {}, "notes": []}
    try:
        template = _compiled(engine, text)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        result["notes"].append(f"the template does not compile: {exc.message} (line {exc.lineno})")
        return result
    except Exception as exc:  # noqa: BLE001 - anything a template can make the compiler raise
        result["notes"].append(f"the template does not compile: {_error_text(exc)}")
        return result
    base = {"bos_token": "", "eos_token": "", "add_generation_prompt": True, **(context or {})}
    plain_tools = json.loads(json.dumps(list(TOOLS if tools is None else tools)))
    for name, messages in conversations.items():
        variables = {**base, "messages": template_messages(messages, engine, text), "tools": plain_tools or None}
        try:
            _render_bounded(template, variables, seconds)
        except TemplateTooCostly as exc:
            result["notes"].append(f"{name}: the template {exc}; stopped (not checked further)")
            break
        except RecursionError:
            result["notes"].append(f"{name}: the template recursed too deeply; stopped (not checked further)")
            break
        except MemoryError:
            result["notes"].append(f"{name}: the template ran out of memory; stopped (not checked further)")
            break
        except Exception as exc:  # noqa: BLE001 - whatever the template raises is its refusal
            result["refused"][name] = _error_text(exc)
        result["checked"].append(name)
    return result


def render(text: str, messages: Sequence[Mapping[str, Any]], *, tools: Sequence[Mapping[str, Any]] | None = None,
           add_generation_prompt: bool = True, engine: str = "transformers", seconds: float = RENDER_SECONDS,
           **context: Any) -> str:
    """One render in this process (sandboxed and bounded): the prompt text, or the exception the
    template raised (TemplateTooCostly past the bounds)."""
    template = _compiled(engine, text)
    variables = {"bos_token": "", "eos_token": "", **context, "add_generation_prompt": add_generation_prompt,
                 "messages": template_messages(messages, engine, text),
                 "tools": json.loads(json.dumps(list(tools))) if tools else None}
    return _render_bounded(template, variables, seconds)


# ---- the child process --------------------------------------------------------------------------

def check_template(text: str, *, bos_token: str = "", eos_token: str = "", engine: str = "transformers",
                   shapes: Sequence[str] | None = None, seconds: float = CHECK_SECONDS) -> TemplateFindings:
    """Which of the agent conversation shapes (SHAPES, or those named) the template refuses.

    Runs in a child process (memory capped, killed at `seconds`); never raises for anything the
    template does: what could not be checked is in `notes`."""
    names = list(shapes or SHAPES)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    request = {"template": text, "engine": engine, "context": {"bos_token": bos_token, "eos_token": eos_token},
               "conversations": {name: list(SHAPES[name].messages) for name in names}}
    digest = template_sha256(text)
    try:
        done = subprocess.run([sys.executable, "-I", os.path.abspath(__file__)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=seconds,
                              env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        return TemplateFindings(digest, (), notes=(f"the template did not finish within {seconds:g}s; not checked",),
                                engine=engine)
    except OSError as exc:
        return TemplateFindings(digest, (), notes=(f"could not start the template check ({exc.strerror or exc})",),
                                engine=engine)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return TemplateFindings(digest, (), notes=(f"the template check failed ({tail})",), engine=engine)
    refused = tuple(Refusal(name, error) for name, error in result["refused"].items())
    return TemplateFindings(digest, tuple(result["checked"]), refused, tuple(result["notes"]), engine)


def _child() -> None:
    """Read one request from stdin, write the result to stdout, within a capped address space."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    request = json.loads(sys.stdin.read())
    result = evaluate(request["template"], request["conversations"], context=request.get("context"),
                      engine=request.get("engine", "transformers"))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    _child()
