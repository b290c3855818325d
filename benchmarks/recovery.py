"""Benchmark 2: recovery after a fault, until the next successful poll.

Faults (simulator knobs, injected right after a successful poll, so the next poll is a
full interval away for both integrations):

* ``expire``: the PANA session lifetime runs out (EVENT 29) and the dongle does not
  re-authenticate by itself;
* ``end_session``: the meter ends the session (EVENT 26);
* ``disconnect``: the pty disappears for 30 s (a USB unplug; the dongle loses its
  volatile state), then comes back at the same path;
* ``dongle_reset``: the dongle restarts and ignores everything but SKRESET.

Recovery time = first successful coordinator update after the fault − the fault.
Observation window: 10 simulated minutes; "never" means no successful update in it.
``python -m benchmarks.recovery --time-scale 1 --jobs 8`` (the cases only sleep);
``--j11`` adds ours on the simulator's ROHM J11 dongle.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from benchmarks import harness as h

FAULTS = {
    "expire": ("session lifetime expiry (EVENT 29, no re-auth)", {"op": "expire", "reauth": False}),
    "end_session": ("meter ends the session (EVENT 26)", {"op": "end_session"}),
    "disconnect": ("30 s transport disconnect", {"op": "disconnect"}),
    "dongle_reset": ("dongle reset", {"op": "dongle_reset"}),
}
DISCONNECT_SECONDS = 30.0
WINDOW = 600.0


def instrument(coordinator: Any) -> list[float]:
    """Record the time of every successful update of a coordinator."""
    successes: list[float] = []
    original = coordinator._async_update_data

    async def update() -> Any:
        data = await original()
        successes.append(h.monotonic())
        return data

    coordinator._async_update_data = update
    return successes


async def measure(case: dict[str, Any]) -> dict[str, Any]:
    """One integration, one fault: nominal seconds until the next successful update."""
    integration: str = case["integration"]
    scale: float = case["time_scale"]
    fault: str = case["fault"]
    window: float = case.get("window", WINDOW)
    model: str = case.get("model", "bp35c2")
    sim = h.SimProcess(time_scale=scale, latency=case["latency"], model=model)
    await sim.start()
    h.prepare(integration, scale)
    result: dict[str, Any] = {"integration": integration, "fault": fault, "model": model}
    try:
        async with h.home_assistant() as hass:
            # One day of history keeps the background import short; it is not measured.
            entry = h.make_entry(
                integration,
                sim.port,
                scale=scale,
                history_days=1,
                firmware="j11" if model == h.J11_MODEL else None,
            )
            task = h.load_entry_task(hass, entry)
            assert await h.wait_for(lambda: h.has_values(hass, entry), 900 * scale + 60)
            await task
            if integration == h.OURS:
                await entry.runtime_data.history.async_wait_idle()
            coordinator = h.coordinator_of(entry)
            successes = instrument(coordinator)
            interval = coordinator.update_interval.total_seconds()
            assert await h.wait_for(lambda: bool(successes), 3 * interval + 60 * scale + 5)
            await sim.call("reset_stats")
            command = dict(FAULTS[fault][1])
            if fault == "disconnect":
                command["seconds"] = DISCONNECT_SECONDS * scale
            op = command.pop("op")
            start = h.monotonic()
            await sim.call(op, **command)
            recovered = await h.wait_for(
                lambda: any(t > start for t in successes), window * scale, step=0.01 * scale
            )
            first = next((t for t in successes if t > start), None)
            result["seconds"] = (first - start) / scale if recovered and first else None
            result["poll_interval"] = interval / scale
            stats = await sim.call("stats")
            result["scans"] = stats["scans"]
            result["joins"] = stats["joins"]
            h.emit(result)
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()
    return result


def target(latency: float) -> float:
    """One poll interval (ours: 30 s) + one join."""
    from custom_components.broute_meter.const import DEFAULT_SCAN_INTERVAL
    from simulator import TimingModel

    t = TimingModel.realistic(latency=latency)
    return DEFAULT_SCAN_INTERVAL + t.join_seconds * 0.9


def render(results: list[dict[str, Any]], latency: float, window: float = WINDOW) -> str:
    """The table of benchmark 2."""
    by = {(r["integration"], r["fault"]): r for r in results if r.get("model") != h.J11_MODEL}
    j11 = {r["fault"]: r for r in results if r.get("model") == h.J11_MODEL}
    goal = target(latency)
    rows = []
    for fault, (label, _) in FAULTS.items():
        if not any(key[1] == fault for key in by):
            continue
        ours = by.get((h.OURS, fault), {})
        core = by.get((h.CORE, fault), {})
        extra = DISCONNECT_SECONDS if fault == "disconnect" else 0.0
        rows.append(
            [
                label,
                h.fmt_s(ours.get("seconds")),
                f"{ours.get('scans', '?')} / {ours.get('joins', '?')}",
                h.fmt_s(core.get("seconds")),
                f"{core.get('scans', '?')} / {core.get('joins', '?')}",
                f"≤ {goal + extra:.1f} s",
                *([h.fmt_s(j11.get(fault, {}).get("seconds"))] if j11 else []),
            ]
        )
    return h.table(
        [
            f"fault (window {window:.0f} s)",
            "ours",
            "ours scans / joins",
            "core",
            "core scans / joins",
            "target (ours)",
            *(["ours, J11 dongle"] if j11 else []),
        ],
        rows,
    )


async def run(
    scale: float,
    latency: float,
    jobs: int = 1,
    faults: list[str] | None = None,
    window: float = WINDOW,
    j11: bool = False,
) -> str:
    cases: list[dict[str, Any]] = [
        {"integration": i, "fault": f, "time_scale": scale, "latency": latency, "window": window}
        for f in (faults or list(FAULTS))
        for i in (h.OURS, h.CORE)
    ]
    if j11:
        cases += [{**case, "model": h.J11_MODEL} for case in cases if case["integration"] == h.OURS]
    results = await h.run_workers(
        "benchmarks.recovery", cases, jobs, limit=(window + 1200) * scale + 120
    )
    return "### 2. Recovery\n\n" + render(results, latency, window)


def main() -> None:
    if h.worker_main(sys.argv, measure):
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--fault", action="append", choices=list(FAULTS))
    parser.add_argument("--window", type=float, default=WINDOW, help="simulated seconds")
    parser.add_argument("--j11", action="store_true", help="also ours on a J11 dongle")
    args = parser.parse_args()
    print(h.timing_model_text(args.time_scale, args.latency) + "\n")
    print(
        asyncio.run(
            run(args.time_scale, args.latency, args.jobs, args.fault, args.window, args.j11)
        )
    )


if __name__ == "__main__":
    main()
