"""Benchmark 2: recovery after a fault: stale values, first valid value, first good poll.

Faults (simulator knobs, injected right after a successful poll, so the next poll is a
full interval away for both integrations):

* ``unplug_20`` / ``unplug_60``: the pty disappears for 20 s / 60 s (a USB unplug; the
  dongle loses its volatile state), then comes back at the same path;
* ``dongle_hang``: the dongle restarts and ignores everything but SKRESET (it hangs
  until the client resets it);
* ``dongle_reset``: the dongle restarts and answers again at once, its session gone;
* ``end_session``: the meter ends the session (EVENT 26);
* ``expire``: the PANA session lifetime runs out (EVENT 29) and the dongle does not
  re-authenticate by itself;
* ``meter_reboot``: the meter is silent for 30 s and forgets its session;
  ``meter_reboot_90`` / ``meter_reboot_180``: the same for 90 s / 180 s.

Ground truth comes from the simulator: the command that injects the fault also fixes
the power the meter reports from that instant to ``FRESH_W``, a value no pre-fault
reading had, and the simulator stamps when the fault acted, when the pty went away and
came back. The power entity's states are taken from Home Assistant's ``state_changed``
events (a listener, no polling), ours' link reports from the link's status listener.

Measured, in nominal seconds:

* **stale from onset**: from the fault until the power entity stops showing the
  pre-fault value as a number (it turns unavailable, or shows a fresh reading);
* **stale after known loss** (ours): the same, from the link's first report that the
  path is lost (REPAIRING or DOWN); core's link reports nothing;
* **valid after fault ends**: from the end of the physical fault (the pty back for an
  unplug, the meter back for a reboot; the onset for the instantaneous faults, whose
  repair is the client's) to the first state showing ``FRESH_W``;
* **first good poll**: the first successful coordinator update after the fault.

What is not seen within the window (10 simulated minutes) is shown as "> window".
``python -m benchmarks.recovery --time-scale 1 --jobs 7 [--ours-only]``: the cases only
sleep; ours take about 5 min, core's up to 16 min (its 300 s poll, then the window).
``--j11`` adds ours on the simulator's ROHM J11 dongle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
import sys
from typing import Any

from benchmarks import harness as h

#: key: (label, simulator command, fault length in nominal seconds or None if instant).
FAULTS: dict[str, tuple[str, dict[str, Any], float | None]] = {
    "unplug_20": ("USB unplug, 20 s", {"op": "disconnect"}, 20.0),
    "unplug_60": ("USB unplug, 60 s", {"op": "disconnect"}, 60.0),
    "dongle_hang": ("dongle hangs until reset", {"op": "dongle_reset", "silent": True}, None),
    "dongle_reset": ("dongle reset", {"op": "dongle_reset", "silent": False}, None),
    "end_session": ("meter ends the session (EVENT 26)", {"op": "end_session"}, None),
    "expire": (
        "session lifetime expiry (EVENT 29, no re-auth)",
        {"op": "expire", "reauth": False},
        None,
    ),
    "meter_reboot": ("meter reboot, silent 30 s", {"op": "meter_reboot"}, 30.0),
    # Still down when the first poll's request has failed: the rejoins meet a silent meter.
    "meter_reboot_90": ("meter reboot, silent 90 s", {"op": "meter_reboot"}, 90.0),
    "meter_reboot_180": ("meter reboot, silent 180 s", {"op": "meter_reboot"}, 180.0),
}
WINDOW = 600.0
#: The power the meter reports from the fault on; no pre-fault reading shows it.
FRESH_W = 4321
#: The issue's bound on a stale value once the link is known lost.
STALE_TARGET = 1.0
#: Extra time after a dongle's return: the port is tried every 2 s while it is gone.
PORT_POLL = 2.0


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


def _numeric(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def watch_states(hass: Any, entity_id: str) -> list[tuple[float, str]]:
    """Every state the entity takes, stamped on arrival of its ``state_changed`` event."""
    from homeassistant.const import EVENT_STATE_CHANGED
    from homeassistant.core import callback

    states: list[tuple[float, str]] = []

    @callback
    def on_state(event: Any) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == entity_id and new is not None:
            states.append((h.monotonic(), new.state))

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_state)
    return states


def watch_link(coordinator: Any) -> list[tuple[float, bool]]:
    """Ours: (time, lost) of every link status report."""
    reports: list[tuple[float, bool]] = []
    link = getattr(getattr(coordinator, "connection", None), "link", None)
    if link is None or not hasattr(link, "add_status_listener"):
        return reports

    def on_status(status: Any) -> None:
        reports.append((h.monotonic(), bool(status.lost)))

    link.add_status_listener(on_status)
    return reports


def analyse(
    states: list[tuple[float, str]],
    links: list[tuple[float, bool]],
    successes: list[float],
    *,
    pre: str,
    onset: float,
    back: float,
    fresh: float,
) -> dict[str, Any]:
    """Wall-clock figures of one run (not yet divided by the time scale)."""
    after = [(t, s) for t, s in states if t >= onset]
    end = next(((t, s) for t, s in after if s != pre), None)
    fresh_at = next((t for t, s in after if _numeric(s) == fresh), None)
    lost_at = next((t for t, lost in links if t >= onset and lost), None)
    out: dict[str, Any] = {
        "stale_onset": None if end is None else end[0] - onset,
        "stale_end_state": None if end is None else end[1],
        "link_lost_at": None if lost_at is None else lost_at - onset,
        "stale_lost": None,
        "valid_after_back": None if fresh_at is None else max(0.0, fresh_at - back),
        "went_unavailable": any(s == "unavailable" for _, s in after),
        "first_poll": next((t - onset for t in successes if t > onset), None),
        # Numbers shown after the fault that are neither the old value nor the truth.
        "wrong_values": sorted(
            {s for _, s in after if _numeric(s) is not None and s != pre and _numeric(s) != fresh}
        ),
    }
    if lost_at is not None and end is not None:
        out["stale_lost"] = max(0.0, end[0] - lost_at)
    return out


async def measure(case: dict[str, Any]) -> dict[str, Any]:
    """One integration, one fault: the figures above, in nominal seconds."""
    integration: str = case["integration"]
    scale: float = case["time_scale"]
    fault: str = case["fault"]
    window: float = case.get("window", WINDOW)
    model: str = case.get("model", "bp35c2")
    sim = h.SimProcess(time_scale=scale, latency=case["latency"], model=model)
    await sim.start()
    h.prepare(integration, scale)
    result: dict[str, Any] = {
        "integration": integration,
        "fault": fault,
        "model": model,
        "window": window,
    }
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
            power, _ = h.value_entities(hass, entry)
            states = watch_states(hass, power)
            links = watch_link(coordinator)
            successes = instrument(coordinator)
            interval = coordinator.update_interval.total_seconds()
            assert await h.wait_for(lambda: bool(successes), 3 * interval + 60 * scale + 5)
            await sim.call("reset_stats")
            _, spec, length = FAULTS[fault]
            command = dict(spec)
            if length is not None:
                command["seconds"] = length * scale
            pre = hass.states.get(power).state
            fresh = FRESH_W if _numeric(pre) != FRESH_W else FRESH_W + 1
            op = command.pop("op")
            answer = await sim.call(op, load_w=fresh, **command)
            onset = float(answer["at"])

            def done() -> bool:
                seen = any(_numeric(s) == fresh for t, s in states if t >= onset)
                return seen and any(t > onset for t in successes)

            await h.wait_for(
                done, window * scale - (h.monotonic() - onset), step=min(0.05, 0.01 * scale)
            )
            marks = await sim.call("marks")
            if op == "disconnect":
                back = float(marks.get("replugged", onset + (length or 0) * scale))
            else:
                back = onset + (length or 0.0) * scale
            figures = analyse(
                states, links, successes, pre=pre, onset=onset, back=back, fresh=fresh
            )
            for key, value in figures.items():
                result[key] = value / scale if isinstance(value, float) else value
            result["back_after"] = (back - onset) / scale
            result["seconds"] = result["first_poll"]
            result["poll_interval"] = interval / scale
            stats = await sim.call("stats")
            result["scans"] = stats["scans"]
            result["joins"] = stats["joins"]
            h.emit(result)
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()
    return result


def valid_target(fault: str, latency: float) -> float | None:
    """The issue's bound on the first valid value after the fault ends, if it sets one."""
    from simulator import TimingModel

    join = TimingModel.realistic(latency=latency).join_seconds * 0.9
    if fault in ("end_session", "expire"):
        return join + 2 * latency
    if fault.startswith("unplug"):
        return PORT_POLL + join + 2 * latency
    return None


def capped(value: float | None, cap: float) -> str:
    """Seconds, or "> cap" when it did not happen within the window."""
    return f"> {cap:.0f} s" if value is None else h.fmt_s(value)


def verdict(value: float | None, goal: float | None) -> str:
    if goal is None:
        return "none set"
    met = value is not None and value <= goal
    return f"≤ {goal:.1f} s: {'met' if met else 'missed'}"


def _stale_lost(r: dict[str, Any]) -> str:
    if not r:
        return "not run"
    if r.get("link_lost_at") is None:
        return "no loss reported"
    cap = r["window"] - r["link_lost_at"]
    return capped(r.get("stale_lost"), cap)


def _cells(r: dict[str, Any], *, link: bool) -> list[str]:
    """stale from onset [, after known loss], valid after fault ends, first good poll."""
    if not r:
        return ["not run"] * (4 if link else 3)
    window = r["window"]
    cells = [capped(r.get("stale_onset"), window)]
    if link:
        cells.append(_stale_lost(r))
    cells.append(capped(r.get("valid_after_back"), window - r.get("back_after", 0.0)))
    cells.append(capped(r.get("first_poll"), window))
    return cells


def render(results: list[dict[str, Any]], latency: float, window: float = WINDOW) -> str:
    """The table of benchmark 2."""
    by = {(r["integration"], r["fault"]): r for r in results if r.get("model") != h.J11_MODEL}
    j11 = {r["fault"]: r for r in results if r.get("model") == h.J11_MODEL}
    with_core = any(i == h.CORE for i, _ in by)
    rows = []
    for fault, (label, _, _) in FAULTS.items():
        if not any(key[1] == fault for key in by):
            continue
        ours = by.get((h.OURS, fault), {})
        core = by.get((h.CORE, fault), {})
        o = _cells(ours, link=True)
        row = [
            label,
            o[0],
            o[1],
            verdict(ours.get("stale_lost"), STALE_TARGET) if ours else "",
            o[2],
            verdict(ours.get("valid_after_back"), valid_target(fault, latency)) if ours else "",
            o[3],
            f"{ours.get('scans', '?')} / {ours.get('joins', '?')}",
        ]
        if with_core:
            core_counts = f"{core.get('scans', '?')} / {core.get('joins', '?')}"
            row += [*_cells(core, link=False), core_counts]
        if j11:
            r = j11.get(fault, {})
            row.append(f"{_stale_lost(r)} / {_cells(r, link=False)[1]}" if r else "not run")
        rows.append(row)
    headers = [
        f"fault (window {window:.0f} s)",
        "ours stale from onset",
        "ours stale after known loss",
        "target (stale)",
        "ours valid after fault ends",
        "target (valid)",
        "ours first good poll",
        "ours scans / joins",
    ]
    if with_core:
        headers += [
            "core stale from onset",
            "core valid after fault ends",
            "core first good poll",
            "core scans / joins",
        ]
    if j11:
        headers.append("ours, J11: stale after loss / valid after end")
    return h.table(headers, rows)


async def run(
    scale: float,
    latency: float,
    jobs: int = 1,
    faults: list[str] | None = None,
    window: float = WINDOW,
    j11: bool = False,
    ours_only: bool = False,
    raw: list[dict[str, Any]] | None = None,
) -> str:
    """Run the cases and render the table; ``raw`` (if given) receives the results."""
    integrations = (h.OURS,) if ours_only else (h.OURS, h.CORE)
    # Ours first: they finish in minutes, so core's long windows run after them.
    cases: list[dict[str, Any]] = [
        {"integration": i, "fault": f, "time_scale": scale, "latency": latency, "window": window}
        for i in integrations
        for f in (faults or list(FAULTS))
    ]
    if j11:
        cases += [{**case, "model": h.J11_MODEL} for case in cases if case["integration"] == h.OURS]
    results = await h.run_workers(
        "benchmarks.recovery", cases, jobs, limit=(window + 1200) * scale + 120
    )
    if raw is not None:
        raw.extend(results)
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
    parser.add_argument("--ours-only", action="store_true", help="skip core's cases")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--render", help="print the table of results saved by --json, run nothing")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        print("### 2. Recovery\n\n" + render(saved, args.latency, saved[0]["window"]))
        return
    print(h.timing_model_text(args.time_scale, args.latency) + "\n")
    raw: list[dict[str, Any]] = []
    table = asyncio.run(
        run(
            args.time_scale,
            args.latency,
            args.jobs,
            args.fault,
            args.window,
            args.j11,
            args.ours_only,
            raw,
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1) + "\n")
    print(table)


if __name__ == "__main__":
    main()
