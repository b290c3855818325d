"""Benchmark 5: the 44-day history backfill of a first setup (ours; core has none).

The entry is set up as after the config flow (cached PAN, history_days 44); its history
job starts right after setup and reads the meter's 30-minute history (E5 selects a day,
E2/E4 read it) into hourly long-term statistics. Measured: radio round trips (the job's
own count and the simulator's frames), wall time from the end of setup until the job is
idle, and how much it delays live polls: every coordinator update during the backfill
is timed and compared with the median update once the backfill is over.
``python -m benchmarks.backfill --time-scale 1`` (the 1 s latency figures).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from benchmarks import harness as h

DAYS = 44


def time_updates(coordinator: Any) -> list[tuple[float, float]]:
    """Record (start, duration) of every coordinator update."""
    spans: list[tuple[float, float]] = []
    original = coordinator._async_update_data

    async def update() -> Any:
        start = h.monotonic()
        data = await original()
        spans.append((start, h.monotonic() - start))
        return data

    coordinator._async_update_data = update
    return spans


async def measure(case: dict[str, Any]) -> dict[str, Any]:
    """Backfill ``days`` days; nominal seconds and round trips."""
    scale: float = case["time_scale"]
    days: int = case.get("days", DAYS)
    sim = h.SimProcess(time_scale=scale, latency=case["latency"])
    await sim.start()
    h.prepare(h.OURS, scale)
    result: dict[str, Any] = {"days": days, "poll_interval": case.get("poll_interval") or 30}
    try:
        async with h.home_assistant() as hass:
            entry = h.make_entry(
                h.OURS,
                sim.port,
                scale=scale,
                history_days=days,
                poll_interval=case.get("poll_interval"),
            )
            coordinator_spans: list[tuple[float, float]] = []
            task = h.load_entry_task(hass, entry)
            await task
            history = entry.runtime_data.history
            coordinator_spans = time_updates(entry.runtime_data.coordinator)
            frames_before = (await sim.call("stats"))["frames_to_meter"]
            start = h.monotonic()
            await history.async_wait_idle()
            end = h.monotonic()
            frames = (await sim.call("stats"))["frames_to_meter"] - frames_before
            during = [d for s, d in coordinator_spans if s < end]
            # Idle reference: a few live polls with nothing else on the radio.
            coordinator = entry.runtime_data.coordinator
            idle: list[float] = []
            for _ in range(5):
                t0 = h.monotonic()
                await coordinator.async_refresh()
                idle.append(h.monotonic() - t0)
            reference = h.median(idle)
            status = history.status
            result.update(
                seconds=(end - start) / scale,
                round_trips=status.round_trips,
                frames=frames,
                days_imported=status.days_imported,
                state=str(status.state),
                polls_during=len(during),
                worst_poll=max(during) / scale if during else None,
                idle_poll=reference / scale,
                worst_delay=(max(during) - reference) / scale if during else None,
            )
            h.emit(result)
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()
    return result


def render(result: dict[str, Any], latency: float) -> str:
    """The table of benchmark 5."""
    delay = result.get("worst_delay")
    rows = [
        ["days imported (job state)", f"{result['days_imported']} ({result['state']})", ""],
        [
            "radio round trips (job count / SKSENDTO frames)",
            f"{result['round_trips']} / {result['frames']}",
            "≤ 90",
        ],
        ["wall time", h.fmt_s(result["seconds"]), "≤ 180 s"],
        ["live polls during the backfill", str(result["polls_during"]), ""],
        ["live poll alone (median)", h.fmt_s(result["idle_poll"], 2), ""],
        ["slowest live poll during the backfill", h.fmt_s(result["worst_poll"], 2), ""],
        [
            "worst delay to a live update",
            "no poll fell in the window" if delay is None else h.fmt_s(delay, 2),
            f"none set (floor: one round trip, {latency:g} s)",
        ],
    ]
    title = (
        f"{result['days']}-day backfill at {latency:g} s latency, "
        f"live polls every {result['poll_interval']:g} s"
    )
    return h.table([title, "ours", "target"], rows)


async def run(scale: float, latency: float, days: int = DAYS, poll_interval: float = 30) -> str:
    case = {"time_scale": scale, "latency": latency, "days": days, "poll_interval": poll_interval}
    (result,) = await h.run_workers("benchmarks.backfill", [case], 1)
    return "### 5. History backfill\n\n" + render(result, latency)


def main() -> None:
    if h.worker_main(sys.argv, measure):
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--poll-interval", type=float, default=30.0)
    args = parser.parse_args()
    print(h.timing_model_text(args.time_scale, args.latency) + "\n")
    print(asyncio.run(run(args.time_scale, args.latency, args.days, args.poll_interval)))


if __name__ == "__main__":
    main()
