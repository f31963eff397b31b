"""SGLang: flags, parser registries and routes read statically from the released sdist or wheel.

From 0.5.11 SGLang publishes platform wheels only (no sdist); the catalogue reads the
cp312 manylinux x86_64 wheel, whose Python files are the same for every platform.
"""

from __future__ import annotations

import ast
from typing import Any

from llmstack.catalog import static
from llmstack.catalog.release import Archive
from llmstack.catalog.schemes import images_from_scheme
from llmstack.catalog.shared import anthropic_evidence, routes

SERVER_ARGS = "sglang/srt/server_args.py"
FIELDS = "sglang/srt/arg_groups/"
TOOL_REGISTRY = ("sglang/srt/function_call/function_call_parser.py",)
TOOL_NAMES = "sglang/srt/function_call/parser_names.py"
REASONING_REGISTRY = ("sglang/srt/parser/reasoning_parser.py", "sglang/srt/reasoning_parser.py")
REASONING_NAMES = "sglang/srt/parser/reasoning_parser_names.py"
ANTHROPIC_PROTOCOL = "sglang/srt/entrypoints/anthropic/protocol.py"


def read(archive: Archive, version: str) -> dict[str, Any]:
    flag_names, flag_source = flags(archive)
    return {
        "images": images_from_scheme("sglang", version),
        "flags": {"names": sorted(flag_names), "source": flag_source},
        "tool_parsers": registry(archive, TOOL_REGISTRY, "ToolCallParserEnum", TOOL_NAMES,
                                 "TOOL_CALL_PARSER_NAMES", "--tool-call-parser"),
        "reasoning_parsers": registry(archive, REASONING_REGISTRY, "DetectorMap", REASONING_NAMES,
                                      "REASONING_PARSER_NAMES", "--reasoning-parser"),
        "endpoints": endpoints(archive),
        "recipes": [],
        "notes": [],
    }


def flags(archive: Archive) -> tuple[set[str], str]:
    tree = static.parse(archive.read(SERVER_ARGS), SERVER_ARGS)
    names, dynamic = static.option_strings(tree)
    names |= _annotated_fields(tree)  # 0.5.1x: A[T, Arg(...)] fields on ServerArgs itself
    sources = [SERVER_ARGS]
    field_files = [p for p in archive.glob(FIELDS, ".py")]
    for path in field_files:
        sub = static.parse(archive.read(path), path)
        found, _ = static.option_strings(sub)  # deprecated flags registered by hand
        names |= found
        names |= _annotated_fields(sub)
    if field_files:
        sources.append(FIELDS + "** (A[T, Arg(...)] fields and add_argument)")
    elif dynamic:
        raise LookupError(f"{SERVER_ARGS}: add_argument with computed option names at lines {dynamic}")
    return names, " + ".join(sources)


def _annotated_fields(tree: ast.Module) -> set[str]:
    """`name: A[T, "help"]` / `A[T, Arg(cli_name=..., aliases=[...], no_cli=...)]` -> options.

    The rule of sglang/srt/arg_groups/arg_utils.py (add_cli_args_from_dataclass): a field becomes
    `--field-name` (or its `cli_name`) plus its `aliases`, unless `no_cli` is true.
    """
    out: set[str] = set()
    for cls in static.classes(tree).values():
        for stmt in cls.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            ann = stmt.annotation
            if not (isinstance(ann, ast.Subscript) and ast.unparse(ann.value) in ("A", "Annotated")):
                continue
            parts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else []
            meta = parts[1] if len(parts) > 1 else None
            if isinstance(meta, ast.Constant) and isinstance(meta.value, str):
                out.add("--" + stmt.target.id.replace("_", "-"))
            elif isinstance(meta, ast.Call) and ast.unparse(meta.func) == "Arg":
                kw = {k.arg: k.value for k in meta.keywords}
                no_cli = kw.get("no_cli")
                if isinstance(no_cli, ast.Constant) and no_cli.value is True:
                    continue
                cli = kw.get("cli_name")
                if isinstance(cli, ast.Constant) and isinstance(cli.value, str):
                    name = cli.value
                else:
                    name = "--" + stmt.target.id.replace("_", "-")
                out.add(name)
                out.update(static.str_list(kw.get("aliases")))
    return out


def registry(archive: Archive, paths: tuple[str, ...], dict_name: str, names_file: str, list_name: str,
             option: str) -> dict[str, Any]:
    path = next((p for p in paths if archive.has(p)), None)
    if path is None:
        raise LookupError(f"no {dict_name} registry in {archive.path.name}")
    tree = static.parse(archive.read(path), path)
    value = static.assigned(tree, dict_name)
    names = set(static.dict_keys(value))
    source = f"{path} ({dict_name})"
    if archive.has(names_file):
        listed = static.str_list(static.assigned(static.parse(archive.read(names_file), names_file), list_name))
        names |= set(listed)
        source += f" + {names_file} ({list_name})"
    if not names:
        raise LookupError(f"{path}: no parser names found")
    # Names registered to the same detector class are spellings of one parser.
    same = static.same_value_groups(value)
    out: dict[str, Any] = {"names": sorted(names), "source": source, "auto": _accepts_auto(archive, option),
                           "deprecated": {}}
    if same:
        out["same_parser"] = same
    return out


def _accepts_auto(archive: Archive, option: str) -> bool:
    """`--tool-call-parser auto`: the option's `choices` carries a literal "auto" (about 0.5.12 on)."""
    tree = static.parse(archive.read(SERVER_ARGS), SERVER_ARGS)
    for call in static.calls_named(tree, "add_argument"):
        if option not in [a.value for a in call.args if isinstance(a, ast.Constant)]:
            continue
        for kw in call.keywords:
            if kw.arg == "choices" and any(isinstance(n, ast.Constant) and n.value == "auto"
                                           for n in ast.walk(kw.value)):
                return True
    return False


def endpoints(archive: Archive) -> dict[str, Any]:
    out: dict[str, Any] = {path: {"source": src} for path, src in routes(archive, "sglang/srt/entrypoints/").items()}
    if "/v1/messages" in out and archive.has(ANTHROPIC_PROTOCOL):
        tree = static.parse(archive.read(ANTHROPIC_PROTOCOL), ANTHROPIC_PROTOCOL)
        out["/v1/messages"].update(anthropic_evidence(tree, ANTHROPIC_PROTOCOL))
    return out
