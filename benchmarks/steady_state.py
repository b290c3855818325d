"""Benchmark 3: radio traffic per hour in steady state, at each default poll interval.

One simulated hour per integration (ours polls every 30 s, core every 300 s), driven by
the coordinators' own timers, after setup and (ours) the initial history import have
finished. Everything that happens in an hour is in the window: the meter's two
half-hourly EA/EB notifications (pushed at 15 and 45 minutes) and, for ours, the hourly
history top-up (requested once, as its hourly timer would). Counts come from the
simulator's counters. Air time: the dongle's own transmissions are what the ARIB
STD-T108 budget (360 s per hour) limits; the meter's replies count against its own.
``python -m benchmarks.steady_state --time-scale 0.1`` (the default: an hour in 6 min).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from benchmarks import harness as h
from benchmarks.recovery import instrument

HOUR = 3600.0


async def measure(case: dict[str, Any]) -> dict[str, Any]:
    """One integration: counters over one simulated hour."""
    integration: str = case["integration"]
    scale: float = case["time_scale"]
    hour = case.get("hour", HOUR)
    sim = h.SimProcess(time_scale=scale, latency=case["latency"])
    await sim.start()
    h.prepare(integration, scale)
    result: dict[str, Any] = {"integration": integration}
    try:
        async with h.home_assistant() as hass:
            entry = h.make_entry(integration, sim.port, scale=scale)
            task = h.load_entry_task(hass, entry)
            assert await h.wait_for(lambda: h.has_values(hass, entry), 900 * scale + 60)
            await task
            history = entry.runtime_data.history if integration == h.OURS else None
            if history is not None:
                await history.async_wait_idle()
            coordinator = h.coordinator_of(entry)
            successes = instrument(coordinator)
            await sim.call("reset_stats")
            start = h.monotonic()
            history_trips = 0
            for fraction, action in ((0.25, "inf"), (0.5, "history"), (0.75, "inf"), (1.0, "")):
                await asyncio.sleep(max(0.0, start + fraction * hour * scale - h.monotonic()))
                if action == "inf":
                    await sim.call("push_fixed_time")
                elif action == "history" and history is not None:
                    before = history.status.round_trips
                    history.async_request_catch_up()
                    await history.async_wait_idle()
                    history_trips = history.status.round_trips - before
            stats = await sim.call("stats")
            elapsed = (h.monotonic() - start) / scale
            per_hour = HOUR / elapsed
            polls = len(successes)
            result.update(
                polls=polls * per_hour,
                frames_to_meter=stats["frames_to_meter"] * per_hour,
                frames_from_meter=stats["frames_from_meter"] * per_hour,
                bytes_to_meter=stats["bytes_to_meter"] * per_hour,
                bytes_from_meter=stats["bytes_from_meter"] * per_hour,
                airtime=stats["airtime_seconds"] * per_hour,
                history_trips=history_trips * per_hour,
                frames_per_poll=(stats["frames_to_meter"] - history_trips) / max(polls, 1),
                sendto=stats["sendto"] * per_hour,
            )
            h.emit(result)
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()
    return result


def tx_airtime(frames: float, payload_bytes: float) -> float:
    """Seconds on air of the dongle's own frames (timing model of the simulator)."""
    from simulator import TimingModel

    t = TimingModel.realistic()
    return (payload_bytes + t.frame_overhead_bytes * frames) * 8 / t.bitrate


def render(results: list[dict[str, Any]]) -> str:
    """The table of benchmark 3."""
    by = {r["integration"]: r for r in results}
    ours, core = by.get(h.OURS, {}), by.get(h.CORE, {})

    def row(label: str, fn: Any) -> list[str]:
        return [label, fn(ours) if ours else "not run", fn(core) if core else "not run"]

    def tx(r: dict[str, Any]) -> float:
        return tx_airtime(r["frames_to_meter"], r["bytes_to_meter"])

    rows = [
        row("polls per hour", lambda r: f"{r['polls']:.0f}"),
        row("Get frames per poll", lambda r: f"{r['frames_per_poll']:.2f}"),
        row("history round trips per hour", lambda r: f"{r['history_trips']:.0f}"),
        row(
            "frames per hour (to / from meter)",
            lambda r: f"{r['frames_to_meter']:.0f} / {r['frames_from_meter']:.0f}",
        ),
        row(
            "ECHONET bytes per hour (to / from meter)",
            lambda r: f"{r['bytes_to_meter']:.0f} / {r['bytes_from_meter']:.0f}",
        ),
        row(
            "dongle air time per hour (share of 360 s)",
            lambda r: f"{tx(r):.3f} s ({tx(r) / h.ARIB_BUDGET_S_PER_H:.4%})",
        ),
        row(
            "both directions per hour (share of 360 s)",
            lambda r: f"{r['airtime']:.3f} s ({r['airtime'] / h.ARIB_BUDGET_S_PER_H:.4%})",
        ),
    ]
    return h.table(["per hour, steady state", "ours (30 s)", "core (300 s)"], rows)


async def run(
    scale: float, latency: float, jobs: int = 2, hour: float = HOUR, ours_only: bool = False
) -> str:
    cases = [
        {"integration": i, "time_scale": scale, "latency": latency, "hour": hour}
        for i in ((h.OURS,) if ours_only else (h.OURS, h.CORE))
    ]
    results = await h.run_workers("benchmarks.steady_state", cases, jobs)
    note = "" if hour == HOUR else f" (measured over {hour:g} s, converted to per hour)"
    return "### 3. Steady state" + note + "\n\n" + render(results)


def main() -> None:
    if h.worker_main(sys.argv, measure):
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--hour", type=float, default=HOUR, help="simulated seconds to observe")
    parser.add_argument("--ours-only", action="store_true", help="skip core")
    args = parser.parse_args()
    print(h.timing_model_text(args.time_scale, args.latency) + "\n")
    print(asyncio.run(run(args.time_scale, args.latency, args.jobs, args.hour, args.ours_only)))


if __name__ == "__main__":
    main()
