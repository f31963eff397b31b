"""Run the benchmarks, print the tables and write benchmarks/RESULTS.md.

    python -m benchmarks            # full run (about ten minutes; needs Docker, builds test images)
    python -m benchmarks --quick    # seconds: proves every benchmark still runs (CI)
    python -m benchmarks --only cli # one part: cli, ready, gateway
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import cli, common, gateway, ready

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sample sizes; results are not written")
    parser.add_argument("--only", choices=["cli", "ready", "gateway"], action="append")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    parts = args.only or ["cli", "ready", "gateway"]

    info = common.machine()
    sections = ["# llmstack benchmark results", "",
                ("Written by `python -m benchmarks`. Each figure is measured against its natural baseline "
                 "in the same run."), "", common.table(["", "value"], [[k, v] for k, v in info.items()]), ""]
    if "cli" in parts:
        text, _ = cli.run(runs=3 if args.quick else 21)
        sections += ["## CLI wall time", "", text, ""]
        print(text, flush=True)
    if "ready" in parts:
        text, _ = ready.run(runs=1 if args.quick else 5, startup=3.0 if args.quick else 8.0)
        sections += ["## Time to ready", "", text, ""]
        print(text, flush=True)
    if "gateway" in parts:
        text, _ = gateway.run(quick=args.quick)
        sections += ["## Gateway overhead", "", text, ""]
        print(text, flush=True)
    if not args.quick:
        notes = Path(__file__).resolve().parent / "NOTES.md"
        if notes.exists():
            sections += [notes.read_text()]
        args.output.write_text("\n".join(sections))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
