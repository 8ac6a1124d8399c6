"""Benchmark: CPU-bound work off the event loop (services/common/compute.py `off_the_loop`).

The assignment solver (`bench/assign.py`'s instance, default scale 4: 80 000 applications × 3 of
32 000 experts) runs in a process monkey-patched as a service is, beside a green thread that
ticks every 50 ms, as a service's RPC workers, event handlers and broker heartbeats would
run: once in the calling green thread (the baseline: what the solve did before) and once in
a native thread through `off_the_loop`, each in a fresh process. Measured: the longest pause
the ticking thread saw, and the solve's seconds; the assignments must be the same.

The last line is one JSON object: `ratio` is the longest pause with `off_the_loop` over the
longest pause in the green thread (smaller is better), `ratio_vs_same_work` the solve's
seconds over the same solve in the green thread.
Run: make bench-offloop, or .venv/bin/python bench/offloop.py [--scale S]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TICK_S = 0.05


def child(mode: str, scale: float) -> dict:
    import eventlet

    eventlet.monkey_patch()
    import time

    sys.path.insert(0, str(REPO))
    from bench.assign import POLICY, synthetic
    from services.common.compute import off_the_loop
    from services.review.domain.flow import assign

    applications, experts = synthetic(scale)
    pauses, last = [], [time.monotonic()]

    def tick() -> None:
        while True:
            eventlet.sleep(TICK_S)
            now = time.monotonic()
            pauses.append(now - last[0])
            last[0] = now

    eventlet.spawn(tick)
    eventlet.sleep(0.2)
    started = time.monotonic()
    if mode == "green":
        result = assign(applications, experts, POLICY)
    else:
        result = off_the_loop(lambda report: assign(applications, experts, POLICY, progress=report))
    seconds = time.monotonic() - started
    eventlet.sleep(0.2)
    return {
        "seconds": round(seconds, 2),
        "max_pause_s": round(max(pauses), 3),
        "pairs": sorted([p.application_id, p.expert_id] for p in result.pairs),
        "points": result.total_affinity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=4.0, help="1 = 20 000 applications × 3 of 8 000 experts")
    parser.add_argument("--child", choices=("green", "native"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.scale)))
        return
    print(f"2 cores, load average {os.getloadavg()[0]:.2f}; scale {args.scale:g}")
    runs = {}
    for mode in ("green", "native"):
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--scale", str(args.scale)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{mode:>6}: solve {runs[mode]['seconds']:7.2f} s, longest pause of the others {runs[mode]['max_pause_s']:7.3f} s"
        )
    same = runs["green"]["pairs"] == runs["native"]["pairs"] and runs["green"]["points"] == runs["native"]["points"]
    print("the same assignment both ways" if same else "THE ASSIGNMENTS DIFFER")
    print(
        json.dumps(
            {
                "scale": args.scale,
                "green_max_pause_s": runs["green"]["max_pause_s"],
                "native_max_pause_s": runs["native"]["max_pause_s"],
                "green_seconds": runs["green"]["seconds"],
                "native_seconds": runs["native"]["seconds"],
                "same_assignment": same,
                "ratio": round(runs["native"]["max_pause_s"] / runs["green"]["max_pause_s"], 3),
                "ratio_vs_same_work": round(runs["native"]["seconds"] / runs["green"]["seconds"], 3),
            }
        )
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
