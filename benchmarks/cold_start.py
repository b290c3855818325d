"""Benchmark 1: cold start to the first valid power and energy value.

* first setup: the config entry knows only the port and the credentials, so the meter
  has to be found by an active scan (ours without a cached PAN; core always scans);
* restart: the entry is unloaded and set up again in the same Home Assistant against
  the same, still powered dongle (ours now has the PAN the first setup stored; core
  scans again, as it does on every open).

* through the config flow: port and credentials submitted in the flow, the clock from
  the submit (ours: the new entry adopts the probe's joined connection, one join for
  both).

The clock runs from ``config_entries.async_setup`` (or the submit) until the power sensor
and an energy sensor both show a number; the simulator counts scans, PANA joins and Get
frames meanwhile. ``python -m benchmarks.cold_start --time-scale 1``; ``--j11`` adds
ours on the simulator's ROHM J11 dongle (the config flow detects the firmware);
``--ours-only`` leaves core out (a run at scale 1 then takes about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
import sys
from typing import Any

from benchmarks import harness as h


async def _setup_until_values(hass: Any, entry: Any, limit: float) -> float | None:
    start = h.monotonic()
    task = h.load_entry_task(hass, entry) if entry.entry_id not in _ids(hass) else None
    if task is None:
        task = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
    ok = await h.wait_for(lambda: h.has_values(hass, entry), limit)
    elapsed = h.monotonic() - start if ok else None
    if not task.done():
        await asyncio.wait({task}, timeout=limit)
    return elapsed


def _ids(hass: Any) -> set[str]:
    return {e.entry_id for e in hass.config_entries.async_entries()}


async def _flow_until_values(
    hass: Any, integration: str, port: str, limit: float
) -> tuple[float | None, Any]:
    """The user's way: submit port + credentials in the config flow, wait for values."""
    from homeassistant.const import CONF_DEVICE, CONF_ID, CONF_PASSWORD

    if integration == h.OURS:
        from custom_components.broute_meter.const import CONF_RBID

        user_input = {CONF_DEVICE: port, CONF_RBID: h.RBID, CONF_PASSWORD: h.PASSWORD}
    else:
        from homeassistant.components.route_b_smart_meter import config_flow
        from homeassistant.components.usb.models import USBDevice

        # Core offers only enumerated USB ports; list the simulator's pty as one.
        device = USBDevice(
            device=port,
            vid="0403",
            pid="6015",
            serial_number="SIM",
            manufacturer="simulator",
            description="simulated Wi-SUN dongle",
        )

        async def ports(_hass: Any) -> list[USBDevice]:
            return [device]

        config_flow.async_scan_serial_ports = ports
        user_input = {CONF_DEVICE: port, CONF_ID: h.RBID, CONF_PASSWORD: h.PASSWORD}
    flows = hass.config_entries.flow
    result = await flows.async_init(integration, context={"source": "user"})
    flow_id = result["flow_id"]
    if result.get("type") == "menu":
        # Ours first asks how the meter is reached; a click the user makes too.
        result = await flows.async_configure(flow_id, {"next_step_id": "wisun"})
    start = h.monotonic()
    result = await flows.async_configure(flow_id, user_input)
    # A progress step advances by itself when its task ends; the frontend then asks for
    # the next step, which is what this loop does.
    while result.get("type") not in ("create_entry", "abort"):
        handler = flows._progress.get(flow_id)
        if handler is None:
            break
        if (handler.cur_step or {}).get("type") == "progress_done":
            result = await flows.async_configure(flow_id)
            continue
        if result.get("type") == "form":
            return None, None
        await asyncio.sleep(0.005)
        if h.monotonic() - start > limit:
            return None, None
    entries = hass.config_entries.async_entries(integration)
    if not entries:
        return None, None
    entry = entries[0]
    ok = await h.wait_for(lambda: h.has_values(hass, entry), limit)
    return (h.monotonic() - start if ok else None), entry


async def measure(case: dict[str, Any]) -> dict[str, Any]:
    """One integration: first setup, then a restart; nominal seconds and radio counts."""
    integration: str = case["integration"]
    scale: float = case["time_scale"]
    latency: float = case["latency"]
    model: str = case.get("model", "bp35c2")
    j11 = model == h.J11_MODEL
    limit = 900 * scale + 60
    sim = h.SimProcess(time_scale=scale, latency=latency, model=model)
    await sim.start()
    h.prepare(integration, scale)
    result: dict[str, Any] = {"integration": integration, "model": model}
    try:
        async with h.home_assistant() as hass:
            entry = h.make_entry(
                integration,
                sim.port,
                scale=scale,
                cached_pan=False,
                firmware="j11" if j11 else None,
            )
            first = await _setup_until_values(hass, entry, limit)
            stats = await sim.call("stats")
            result["first"] = None if first is None else first / scale
            result["first_scans"] = stats["scans"]
            result["first_joins"] = stats["joins"]
            result["first_frames"] = stats["frames_to_meter"]
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await sim.call("reset_stats")
            again = await _setup_until_values(hass, entry, limit)
            stats = await sim.call("stats")
            result["restart"] = None if again is None else again / scale
            result["restart_scans"] = stats["scans"]
            result["restart_joins"] = stats["joins"]
            result["restart_frames"] = stats["frames_to_meter"]
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await hass.config_entries.async_remove(entry.entry_id)
            await hass.async_block_till_done()
            await sim.call("reset_stats")
            flow, flow_entry = await _flow_until_values(hass, integration, sim.port, limit)
            stats = await sim.call("stats")
            result["flow"] = None if flow is None else flow / scale
            result["flow_scans"] = stats["scans"]
            result["flow_joins"] = stats["joins"]
            result["flow_frames"] = stats["frames_to_meter"]
            h.emit(result)
            if flow_entry is not None:
                await hass.config_entries.async_unload(flow_entry.entry_id)
                await hass.async_block_till_done()
    finally:
        await sim.stop()
    return result


#: Local commands and Home Assistant's own work a restart may add to its floor.
RESTART_SLACK = 0.4


def targets(latency: float) -> tuple[float, float]:
    """Nominal targets: (restart, first setup).

    A restart knows the meter's identity, so its first frame after the join is the live
    poll: the floor is join + 1 round trip (3.7 s at 1 s latency), the target that + 0.4 s
    (4.1 s). First setup: scan + join + 2 round trips (identity, then the poll; 22.2 s).
    """
    from simulator import TimingModel

    t = TimingModel.realistic(latency=latency)
    join = t.join_seconds * 0.9  # EVENT 25 arrives 0.9 × the join model after SKJOIN
    scan = t.scan_dwell(6) * 28  # duration 6 finds the simulated meter
    return join + latency + RESTART_SLACK, scan + join + 2 * latency


def render(results: list[dict[str, Any]], latency: float) -> str:
    """The table of benchmark 1."""
    by = {r["integration"]: r for r in results if r.get("model") != h.J11_MODEL}
    ours, core = by.get(h.OURS, {}), by.get(h.CORE, {})
    with_core = bool(core)
    j11 = next((r for r in results if r.get("model") == h.J11_MODEL), None)
    restart_target, first_target = targets(latency)
    rows = []
    for key, label, target in (
        ("flow", "first setup through the config flow", first_target),
        ("first", "first setup of an entry without PAN", first_target),
        ("restart", "restart (ours: cached PAN)", restart_target),
    ):
        value = ours.get(key)
        met = "met" if value is not None and value <= target else "missed"
        core_cells = [
            h.fmt_s(core.get(key)),
            _counts(core, key),
            h.ratio(value, core.get(key)),
        ]
        rows.append(
            [
                label,
                h.fmt_s(value),
                _counts(ours, key),
                *(core_cells if with_core else []),
                f"≤ {target:.1f} s: {met}",
                *([] if j11 is None else [h.fmt_s(j11.get(key))]),
            ]
        )
    core_headers = ["core", "core scans / joins / Get frames", "core ÷ ours"]
    return h.table(
        [
            "cold start to first power + energy",
            "ours",
            "ours scans / joins / Get frames",
            *(core_headers if with_core else []),
            "target (ours)",
            *([] if j11 is None else ["ours, J11 dongle"]),
        ],
        rows,
    )


def _counts(result: dict[str, Any], key: str) -> str:
    return " / ".join(str(result.get(f"{key}_{n}", "?")) for n in ("scans", "joins", "frames"))


async def run(
    scale: float,
    latency: float,
    jobs: int = 1,
    j11: bool = False,
    ours_only: bool = False,
    raw: list[dict[str, Any]] | None = None,
) -> str:
    """Run the cases and render the table; ``raw`` (if given) receives the results."""
    integrations = (h.OURS,) if ours_only else (h.OURS, h.CORE)
    cases: list[dict[str, Any]] = [
        {"integration": i, "time_scale": scale, "latency": latency} for i in integrations
    ]
    if j11:
        cases.append(
            {"integration": h.OURS, "time_scale": scale, "latency": latency, "model": h.J11_MODEL}
        )
    results = await h.run_workers("benchmarks.cold_start", cases, jobs)
    if raw is not None:
        raw.extend(results)
    return "### 1. Cold start\n\n" + render(results, latency)


def main() -> None:
    if h.worker_main(sys.argv, measure):
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--j11", action="store_true", help="also ours on a J11 dongle")
    parser.add_argument("--ours-only", action="store_true", help="skip core")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    print(h.timing_model_text(args.time_scale, args.latency) + "\n")
    raw: list[dict[str, Any]] = []
    text = asyncio.run(run(args.time_scale, args.latency, args.jobs, args.j11, args.ours_only, raw))
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
