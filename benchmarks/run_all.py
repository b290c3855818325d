"""Run every benchmark and print one report (Markdown) to stdout.

``python -m benchmarks.run_all`` reproduces docs/benchmarks.md: cold start, recovery
and the backfill at time scale 1 (real durations; the recovery cases run in parallel,
they mostly wait), the steady-state hour compressed ten times (counts do not depend on
the scale; polls stay on whole wall seconds), and 1000 polls for the CPU figures. A
quick run: ``--time-scale 0.05 --steady-scale 0.05 --polls 100``.

``--ours-only`` skips every core case (about 10 min instead of 35); ``--skip`` leaves
out whole benchmarks, e.g. ``--ours-only --skip steady_state --skip cpu_memory --skip
backfill`` re-measures cold start and recovery alone (about 4 min). The tables printed
are the ones docs/benchmarks.md shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time

from benchmarks import backfill, cold_start, cpu_memory, harness as h, recovery, steady_state


async def _run(args: argparse.Namespace) -> str:
    parts = [
        "## Benchmark report" + (" (ours only)" if args.ours_only else ""),
        "",
        f"Commit {_commit()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average at start {_load()}.",
        "",
        f"Machine: {h.machine_text()}",
        "",
        h.timing_model_text(args.time_scale, args.latency),
        f"Steady state at time scale {args.steady_scale:g}; CPU polls at time scale "
        f"{args.cpu_scale:g}.",
        "",
    ]
    started = time.monotonic()
    skip = set(args.skip or ())
    ours_only = args.ours_only
    if "cold_start" not in skip:
        parts.append(await cold_start.run(args.time_scale, args.latency, ours_only=ours_only))
        parts.append("")
    if "recovery" not in skip:
        parts.append(
            await recovery.run(
                args.time_scale,
                args.latency,
                args.jobs,
                args.fault,
                args.window,
                ours_only=ours_only,
            )
        )
        parts.append("")
    if "steady_state" not in skip:
        parts.append(
            await steady_state.run(args.steady_scale, args.latency, 2, args.hour, ours_only)
        )
        parts.append("")
    if "cpu_memory" not in skip:
        parts.append(
            await cpu_memory.run(args.cpu_scale, args.latency, args.polls, ours_only=ours_only)
        )
        parts.append("")
    if "backfill" not in skip:
        parts.append(await backfill.run(args.time_scale, args.latency, args.days))
        parts.append("")
    parts.append(
        f"(report produced in {time.monotonic() - started:.0f} s of wall time; "
        f"load average at the end {_load()})"
    )
    return "\n".join(parts)


def _commit() -> str:
    """The measured commit (and whether the work tree had changes)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=h.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=h.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except OSError, subprocess.CalledProcessError:
        return "unknown"
    return rev + (" with local changes" if dirty else "")


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


BENCHMARKS = ("cold_start", "recovery", "steady_state", "cpu_memory", "backfill")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--steady-scale", type=float, default=0.1)
    parser.add_argument("--cpu-scale", type=float, default=0.01)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=8, help="recovery cases in parallel")
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--hour", type=float, default=steady_state.HOUR)
    parser.add_argument("--window", type=float, default=recovery.WINDOW)
    parser.add_argument("--days", type=int, default=backfill.DAYS)
    parser.add_argument("--fault", action="append", choices=list(recovery.FAULTS))
    parser.add_argument("--ours-only", action="store_true", help="skip every core case")
    parser.add_argument("--skip", action="append", choices=BENCHMARKS, help="leave one out")
    args = parser.parse_args()
    print(asyncio.run(_run(args)))


if __name__ == "__main__":
    main()
