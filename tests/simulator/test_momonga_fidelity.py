"""Fidelity check: momonga 0.7.0, a third-party client on pyserial, reads the simulator.

momonga runs its own reader threads, so it runs in a worker thread while the
simulator serves the pty from the event loop. Every momonga thread is joined by
``Momonga.close()`` before the worker returns.
"""

from __future__ import annotations

import asyncio
from typing import Any

import momonga
import pytest

from simulator import TEST_PASSWORD, TEST_RBID, DongleModel, Simulator


def _read_with_momonga(path: str) -> dict[str, Any]:
    client = momonga.Momonga(TEST_RBID, TEST_PASSWORD, path)
    client.internal_xmit_interval = 0.01  # momonga sleeps this long between requests
    client.open()
    try:
        return {
            "device": client.session_manager.skw.device_type.name,
            "power": client.get_instantaneous_power(),
            "current": client.get_instantaneous_current(),
            "forward": client.get_measured_cumulative_energy(),
            "reverse": client.get_measured_cumulative_energy(reverse=True),
            "coefficient": client.get_coefficient_for_cumulative_energy(),
            "yesterday": client.get_historical_cumulative_energy_1(day=1),
            "fixed": client.get_cumulative_energy_measured_at_fixed_time(),
        }
    finally:
        client.close()


@pytest.mark.parametrize(
    ("model", "device"),
    [
        (DongleModel.BP35A1, "BP35A1"),
        (DongleModel.BP35C2, "BP35C2"),
        # momonga has no IPS strategy; SKINFO's FFFE makes it use its BP35A1 one.
        (DongleModel.RL7023_IPS, "BP35A1"),
    ],
)
async def test_momonga_reads_power_current_and_energy(
    make_sim: object, model: DongleModel, device: str
) -> None:
    sim: Simulator = make_sim(model)  # type: ignore[operator]
    path = await sim.start_pty()
    result = await asyncio.to_thread(_read_with_momonga, path)
    meter = sim.meter
    assert result["device"] == device
    assert result["power"] == meter.power_w()
    r, t = meter.currents_a()
    assert result["current"]["r phase current"] == pytest.approx(r)
    assert result["current"]["t phase current"] == pytest.approx(t)
    assert result["forward"] == pytest.approx(float(meter.forward_kwh() or 0))
    assert result["reverse"] == pytest.approx(float(meter.reverse_kwh() or 0))
    assert result["coefficient"] == 1
    expected_day = [
        None if v is None else float(v * meter.kwh_per_raw) for v in meter.history_day(1)
    ]
    assert [e["cumulative energy"] for e in result["yesterday"]] == pytest.approx(expected_day)
    boundary = meter.latest_boundary()
    assert result["fixed"]["timestamp"] == boundary.replace(tzinfo=None)
    assert result["fixed"]["cumulative energy"] == pytest.approx(
        float((meter.slot_raw("forward", boundary) or 0) * meter.kwh_per_raw)
    )
    # momonga switched the dongle to hex output once (flash) where the dongle has ROPT.
    assert sim.dongle.erxudp_hex is True
    assert sim.stats.flash_writes == (0 if model is DongleModel.RL7023_IPS else 1)
    # momonga ends its session with SKTERM.
    assert sim.dongle.joined is False
