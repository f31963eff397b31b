"""A stand-in for a LiteLLM gateway that never gets ready because its uvicorn workers keep
dying and being re-spawned (what a busy 2-core host did to the real one, issue #16): it accepts
LiteLLM's flags, starts --num_workers worker processes the way uvicorn does (multiprocessing's
spawn start method), lets each die after a moment and starts another, prints nothing (as
LITELLM_LOG=WARNING hides uvicorn's INFO lines) and never listens on its port. Stdlib only."""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
import time


def worker() -> None:
    time.sleep(1.5)  # "does not answer the supervisor's ping in time": killed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_workers", type=int, default=1)
    args, _ = parser.parse_known_args(sys.argv[1:])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    spawn = multiprocessing.get_context("spawn")
    workers: list = []
    while True:
        workers = [w for w in workers if w.is_alive()]
        while len(workers) < args.num_workers:
            process = spawn.Process(target=worker)
            process.start()
            workers.append(process)
        time.sleep(0.3)


if __name__ == "__main__":
    main()
