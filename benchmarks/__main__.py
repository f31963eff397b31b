"""Run the benchmarks, print the tables and write benchmarks/RESULTS.md.

    python -m benchmarks            # full run (about ten minutes; needs Docker, builds test images)
    python -m benchmarks --quick    # seconds: proves every benchmark still runs (CI)
    python -m benchmarks --only cli # one part: cli, ready, gateway, gateway-path, anthropic, ready-vllm, anthropic-vllm

The parts on the real vLLM server (its CPU build, tests/e2e/vllm_image.py) start it once per
run, which takes minutes on a loaded 2-core host: a full run includes them, `--quick` only when
asked with `--only`. "Gateway levers" is written by `python -m benchmarks.levers` runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import anthropic, cli, common, gateway, gateway_path, ready

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLES = {"cli": "CLI wall time", "ready": "Time to ready", "gateway": "Gateway overhead",
          "gateway-path": "Gateway path (gateway vs direct on a real engine)",
          "anthropic": "Native vs translated", "anthropic-vllm": "Native vs translated on the real vLLM",
          "ready-vllm": "Time to ready on the real vLLM",
          # Written by `python -m benchmarks.levers` runs (about an hour), not by this program: kept as is.
          "gateway-levers": "Gateway levers"}
SLOW = ("ready-vllm", "anthropic-vllm", "gateway-levers")  # minutes each: not in `--quick` unless asked


def sections_of(text: str) -> dict[str, str]:
    """The measured sections of an existing RESULTS.md, so that `--only` keeps the others."""
    found = {}
    for title in TITLES.values():
        head = f"\n## {title}\n"
        if head in text:
            body = text.split(head, 1)[1].split("\n## ", 1)[0]
            found[title] = body.strip()
    return found


def document(info: dict[str, str], measured: dict[str, str], notes: str) -> str:
    lines = ["# llmstack benchmark results", "",
             ("Written by `python -m benchmarks`. Each figure is measured against its natural baseline "
              "in the same run."), "", common.table(["", "value"], [[k, v] for k, v in info.items()]), ""]
    for title in TITLES.values():
        if title in measured:
            lines += [f"## {title}", "", measured[title], ""]
    return "\n".join(lines + [notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sample sizes; results are not written")
    parser.add_argument("--only", choices=list(TITLES), action="append",
                        help="run only this part (repeatable); RESULTS.md keeps the other parts' last figures")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    parts = args.only or [part for part in TITLES if not (args.quick and part in SLOW)]

    info = common.machine()
    measured: dict[str, str] = {}
    stamp = f"_Measured {info['date']}._"
    if "cli" in parts:
        text, _ = cli.run(runs=3 if args.quick else 21)
        measured[TITLES["cli"]] = f"{stamp}\n\n{text}"
        print(text, flush=True)
    if "ready" in parts:
        text, _ = ready.run(runs=1 if args.quick else 5, startup=3.0 if args.quick else 8.0)
        measured[TITLES["ready"]] = f"{stamp}\n\n{text}"
        print(text, flush=True)
    if "ready-vllm" in parts:
        text, _ = ready.run_vllm(runs=1 if args.quick else 3)
        measured[TITLES["ready-vllm"]] = f"{stamp}\n\n{text}"
        print(text, flush=True)
    if "gateway" in parts:
        text, _ = gateway.run(quick=args.quick)
        measured[TITLES["gateway"]] = f"{stamp}\n\n{text}"
        print(text, flush=True)
    if "gateway-path" in parts:
        text, _ = gateway_path.run(quick=args.quick)
        measured[TITLES["gateway-path"]] = f"{stamp}\n\n{text}"
        print(text, flush=True)
    if "anthropic" in parts:
        text, _ = anthropic.run(quick=args.quick)
        measured[TITLES["anthropic"]] = f"{stamp}\n\n{text}"
        print(text, flush=True)
    if "anthropic-vllm" in parts:
        text, _ = anthropic.run(quick=args.quick, engine="vllm")
        measured[TITLES["anthropic-vllm"]] = f"{stamp}\n\n{text}"
        print(text, flush=True)
    if not args.quick:
        previous = sections_of(args.output.read_text()) if args.output.exists() else {}
        notes = Path(__file__).resolve().parent / "NOTES.md"
        args.output.write_text(document(info, {**previous, **measured}, notes.read_text() if notes.exists() else ""))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
