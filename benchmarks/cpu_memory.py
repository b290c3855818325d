"""Benchmark 4: event-loop CPU per poll inside Home Assistant, and memory footprint.

CPU: the coordinator's refresh is run back to back (default 1000 times) and timed with
``time.thread_time()`` on the event-loop thread, from the start of the refresh until
Home Assistant is idle again (state writes and event listeners included), and with
``time.process_time()`` (every thread of the process: core's momonga does its serial
work in executor and reader threads). The simulator runs in another process, so none
of its work is counted. Before each poll (outside the timed window) the simulated
load changes, so every poll brings a new power value, as on a real meter.

Memory: VmRSS of the Home Assistant process with the recorder and usb set up, before
the integration is loaded and after it has been set up and polled (ours also after its
history import), in a fresh process per integration.
``python -m benchmarks.cpu_memory --polls 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
import gc
from pathlib import Path
import sys
import time
from typing import Any

from benchmarks import harness as h


def rss_mib() -> float:
    """Resident set size of this process (MiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(case: dict[str, Any]) -> dict[str, Any]:
    """One integration: per-poll CPU samples and the RSS it adds."""
    integration: str = case["integration"]
    scale: float = case["time_scale"]
    polls: int = case["polls"]
    sim = h.SimProcess(time_scale=scale, latency=case["latency"])
    await sim.start()
    h.prepare(integration, scale)
    result: dict[str, Any] = {"integration": integration}
    try:
        async with h.home_assistant() as hass:
            # A long interval: only the polls below run, never the timer's.
            gc.collect()
            await asyncio.sleep(0.5)
            base = rss_mib()
            entry = h.make_entry(integration, sim.port, scale=scale, poll_interval=3600 / scale)
            if integration == h.CORE:
                from homeassistant.components.route_b_smart_meter import coordinator as core

                core.DEFAULT_SCAN_INTERVAL = timedelta(hours=1)
            task = h.load_entry_task(hass, entry)
            assert await h.wait_for(lambda: h.has_values(hass, entry), 900 * scale + 60)
            await task
            if integration == h.OURS:
                await entry.runtime_data.history.async_wait_idle()
            coordinator = h.coordinator_of(entry)
            loop_cpu: list[float] = []
            proc_cpu: list[float] = []
            wall: list[float] = []
            failures = 0
            for i in range(polls):
                await sim.call("set_load", watts=300 + (i * 37) % 2500)
                await hass.async_block_till_done()
                w0, t0, p0 = time.monotonic(), time.thread_time(), time.process_time()
                await coordinator.async_refresh()
                await hass.async_block_till_done()
                t1, p1, w1 = time.thread_time(), time.process_time(), time.monotonic()
                if not coordinator.last_update_success:
                    failures += 1
                    continue
                loop_cpu.append((t1 - t0) * 1000)
                proc_cpu.append((p1 - p0) * 1000)
                wall.append((w1 - w0) * 1000)
            gc.collect()
            await asyncio.sleep(0.5)
            result.update(
                polls=len(loop_cpu),
                failures=failures,
                loop_median=h.median(loop_cpu),
                loop_p99=h.percentile(loop_cpu, 99),
                proc_median=h.median(proc_cpu),
                proc_p99=h.percentile(proc_cpu, 99),
                wall_median=h.median(wall),
                rss_base=base,
                rss_loaded=rss_mib(),
            )
            h.emit(result)
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()
    return result


def render(results: list[dict[str, Any]]) -> str:
    """The table of benchmark 4."""
    by = {r["integration"]: r for r in results}
    ours, core = by.get(h.OURS, {}), by.get(h.CORE, {})

    def row(label: str, fn: Any) -> list[str]:
        return [label, fn(ours) if ours else "not run", fn(core) if core else "not run"]

    rows = [
        row("polls measured (failed)", lambda r: f"{r['polls']} ({r['failures']})"),
        row(
            "event-loop CPU per poll, median / p99",
            lambda r: f"{r['loop_median']:.2f} / {r['loop_p99']:.2f} ms",
        ),
        row(
            "process CPU per poll (all threads), median / p99",
            lambda r: f"{r['proc_median']:.2f} / {r['proc_p99']:.2f} ms",
        ),
        row("wall time per poll, median", lambda r: f"{r['wall_median']:.1f} ms"),
        row(
            "RSS before → after loading",
            lambda r: f"{r['rss_base']:.1f} → {r['rss_loaded']:.1f} MiB",
        ),
        row("RSS added", lambda r: f"{r['rss_loaded'] - r['rss_base']:.1f} MiB"),
    ]
    return h.table(["inside Home Assistant", "ours", "core"], rows)


async def run(
    scale: float, latency: float, polls: int, jobs: int = 1, ours_only: bool = False
) -> str:
    cases = [
        {"integration": i, "time_scale": scale, "latency": latency, "polls": polls}
        for i in ((h.OURS,) if ours_only else (h.OURS, h.CORE))
    ]
    # One at a time for real figures: they must not compete for the two cores.
    results = await h.run_workers("benchmarks.cpu_memory", cases, jobs)
    return "### 4. CPU per poll and memory\n\n" + render(results)


def main() -> None:
    if h.worker_main(sys.argv, measure):
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=1, help=">1 only for smoke runs")
    parser.add_argument("--ours-only", action="store_true", help="skip core")
    args = parser.parse_args()
    print(h.timing_model_text(args.time_scale, args.latency) + "\n")
    print(asyncio.run(run(args.time_scale, args.latency, args.polls, args.jobs, args.ours_only)))


if __name__ == "__main__":
    main()
