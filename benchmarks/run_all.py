"""Run every benchmark and print one report (Markdown) to stdout.

``python -m benchmarks.run_all`` reproduces docs/benchmarks.md: cold start, recovery
and the backfill at time scale 1 (real durations; the recovery cases run in parallel,
they mostly wait), the steady-state hour compressed ten times (counts do not depend on
the scale; polls stay on whole wall seconds), and 1000 polls for the CPU figures. A
quick run: ``--time-scale 0.05 --steady-scale 0.05 --polls 100``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks import backfill, cold_start, cpu_memory, harness as h, recovery, steady_state


async def _run(args: argparse.Namespace) -> str:
    parts = [
        "## Benchmark report",
        "",
        f"Machine: {h.machine_text()}",
        "",
        h.timing_model_text(args.time_scale, args.latency),
        f"Steady state at time scale {args.steady_scale:g}; CPU polls at time scale "
        f"{args.cpu_scale:g}.",
        "",
    ]
    started = time.monotonic()
    parts.append(await cold_start.run(args.time_scale, args.latency))
    parts.append("")
    parts.append(
        await recovery.run(args.time_scale, args.latency, args.jobs, args.fault, args.window)
    )
    parts.append("")
    parts.append(await steady_state.run(args.steady_scale, args.latency, 2, args.hour))
    parts.append("")
    parts.append(await cpu_memory.run(args.cpu_scale, args.latency, args.polls))
    parts.append("")
    parts.append(await backfill.run(args.time_scale, args.latency, args.days))
    parts.append("")
    parts.append(f"(report produced in {time.monotonic() - started:.0f} s of wall time)")
    return "\n".join(parts)


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
    args = parser.parse_args()
    print(asyncio.run(_run(args)))


if __name__ == "__main__":
    main()
