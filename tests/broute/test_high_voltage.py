"""The 0x028A meter model through the UDP link against the simulated meter's ground truth."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
import itertools
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute.errors import PropertyNotAvailableError
from custom_components.broute_meter.broute.meters.high_voltage import (
    HighVoltageMeter,
    power_factor,
)
from simulator import JST, SimulatedHvMeter

from .udp_harness import FAMILIES, UdpHarness, hosts

if TYPE_CHECKING:
    from typing import Any

    from simulator import UdpMeterServer


async def _meter(
    udp: UdpHarness, family: str = "ipv4", **config: Any
) -> tuple[HighVoltageMeter, SimulatedHvMeter, UdpMeterServer]:
    server = await udp.hv_server(hosts(family)[1], **config)
    client = await udp.client(udp.link(server, family))
    sim = server.meter
    assert isinstance(sim, SimulatedHvMeter)
    return HighVoltageMeter(client), sim, server


def _naive(dt: Any) -> Any:
    return dt.replace(tzinfo=None)


def test_power_factor() -> None:
    assert power_factor(Decimal(3), Decimal(4)) == pytest.approx(0.6)
    assert power_factor(Decimal(5), Decimal(0)) == 1.0
    assert power_factor(Decimal(0), Decimal(0)) is None


@pytest.mark.parametrize("family", FAMILIES)
async def test_identity(udp: UdpHarness, family: str) -> None:
    meter, sim, _ = await _meter(udp, family)
    identity = await meter.read_identity()
    assert identity.identification == sim.identification.hex().upper()
    assert identity.maker_code == 0x16
    assert identity.serial == "SIMHV0000001"
    assert identity.release == "M"
    assert identity.billing_day == 1
    # 40 x 0.01 x 0.1 per step, as the simulator's scale.
    assert identity.energy.to_kwh(1) == sim.kwh_per_raw == Decimal("0.04")
    assert identity.demand.to_kwh(1) == sim.kw_per_raw
    assert identity.reactive is not None
    assert identity.reactive.to_kwh(1) == sim.kvarh_per_raw
    assert identity.energy.digits == 8
    assert identity.demand.digits == 6
    assert identity.has_cumulative_max_demand
    assert identity.has_demand_history
    diagnostics = repr(identity.diagnostics())
    assert identity.identification not in diagnostics
    assert "SIMHV" not in diagnostics


@pytest.mark.parametrize("family", FAMILIES)
async def test_reading_equals_ground_truth(udp: UdpHarness, family: str) -> None:
    meter, sim, _ = await _meter(udp, family)
    reading = await meter.read()
    now = sim.now()
    boundary = sim.latest_boundary()
    assert reading.energy is not None
    assert reading.energy.value == sim.energy_kwh(now)
    assert reading.energy.timestamp == _naive(now)
    assert reading.fixed_time_energy is not None
    assert reading.fixed_time_energy.value == sim.energy_kwh(boundary)
    assert reading.fixed_time_energy.timestamp == _naive(boundary)
    assert reading.demand is not None
    assert reading.demand.value == sim.demand_kw(boundary)
    assert reading.demand.value is not None
    assert reading.demand.value > 10  # the office load is on
    assert reading.monthly_max_demand_kw == sim.monthly_max_demand_kw()
    assert reading.cumulative_max_demand_kw == sim.cumulative_max_demand_kw()
    assert reading.cumulative_max_demand_kw > 0  # at least one month has closed
    assert reading.reactive is not None
    assert reading.reactive.value == sim.reactive_kvarh(now)
    assert reading.fixed_time_reactive is not None
    assert reading.fixed_time_reactive.value == sim.reactive_kvarh(boundary)
    assert reading.power_factor is None  # needs two consecutive slots


async def test_power_factor_of_the_last_slot(udp: UdpHarness) -> None:
    meter, sim, _ = await _meter(udp)
    await meter.read()
    udp.clock.advance(30 * 60)
    reading = await meter.read()
    pf = reading.power_factor
    assert pf is not None
    assert pf.slot_end == _naive(sim.latest_boundary())
    expected = sim.slot_power_factor(sim.latest_boundary())
    assert expected is not None
    assert pf.power_factor == pytest.approx(expected, abs=1e-12)
    assert 0.8 < expected < 1.0
    # The same slot polled again keeps its value; a skipped slot forgets it.
    assert (await meter.read()).power_factor == pf
    udp.clock.advance(60 * 60)
    assert (await meter.read()).power_factor is None


async def test_frames_per_poll(udp: UdpHarness) -> None:
    meter, _, server = await _meter(udp)
    await meter.read_identity()
    before = server.requests
    await meter.read()  # six EPCs with reactive energy, then C2 once
    assert server.requests - before == 2
    before = server.requests
    await meter.read()  # same slot: one frame
    assert server.requests - before == 1
    udp.clock.advance(30 * 60)
    before = server.requests
    await meter.read()  # a new slot refreshes C2
    assert server.requests - before == 2


async def test_fault_status_rides_the_once_per_slot_frame_when_the_poll_is_full(
    udp: UdpHarness,
) -> None:
    """With reactive energy the poll frame is full: 88 comes with C2, once per slot."""
    meter, sim, server = await _meter(udp)
    identity = await meter.read_identity()
    assert identity.has_fault_status
    assert (await meter.read()).fault is False
    sim.config.fault = True
    before = server.requests
    assert (await meter.read()).fault is False  # same slot: the last value, one frame
    assert server.requests - before == 1
    udp.clock.advance(30 * 60)
    before = server.requests
    assert (await meter.read()).fault is True
    assert server.requests - before == 2
    sim.config.fault = False
    udp.clock.advance(30 * 60)
    assert (await meter.read()).fault is False


async def test_fault_status_in_the_poll_frame_when_there_is_room(udp: UdpHarness) -> None:
    """Without reactive energy 88 and C2 fit the one poll frame: read on every poll."""
    meter, sim, server = await _meter(udp, reactive=False)
    assert (await meter.read()).fault is False
    sim.config.fault = True
    before = server.requests
    reading = await meter.read()
    assert server.requests - before == 1
    assert reading.fault is True
    assert reading.cumulative_max_demand_kw == sim.cumulative_max_demand_kw()


async def test_without_reactive_energy_one_frame_per_poll(udp: UdpHarness) -> None:
    meter, sim, server = await _meter(udp, reactive=False)
    identity = await meter.read_identity()
    assert not identity.has_reactive
    for _ in range(2):
        before = server.requests
        reading = await meter.read()
        assert server.requests - before == 1
    assert reading.reactive is None
    assert reading.power_factor is None
    assert reading.cumulative_max_demand_kw == sim.cumulative_max_demand_kw()


async def test_without_c2(udp: UdpHarness) -> None:
    meter, _, _ = await _meter(udp, cumulative_max_demand=False)
    reading = await meter.read()
    assert reading.cumulative_max_demand_kw is None


@pytest.mark.parametrize("family", FAMILIES)
async def test_history_day(udp: UdpHarness, family: str) -> None:
    meter, sim, _ = await _meter(udp, family)
    day = await meter.read_history_day(1)
    assert day.day == sim.now().date() - timedelta(days=1)
    assert list(day.energy) == sim.history_day(1)
    assert day.demand is not None
    assert list(day.demand) == sim.demand_history_day(1)
    assert day.reactive is not None
    assert list(day.reactive) == sim.reactive_history_day(1)
    cumulative = day.energy_kwh()
    for i, (stamp, kwh) in enumerate(cumulative):
        boundary = sim.now().replace(hour=0, minute=0, second=0) - timedelta(days=1)
        boundary += timedelta(minutes=30 * i)
        assert stamp == _naive(boundary)
        assert kwh == sim.energy_kwh(boundary)
    slots = day.slot_energy_kwh()
    assert len(slots) == 47
    first_start, first_kwh = slots[0]
    assert first_kwh == cumulative[1][1] - cumulative[0][1]  # type: ignore[operator]
    # The demand history is the slot's energy as a 30-minute average (kW = 2 x kWh),
    # within one register step of rounding.
    demand = dict(day.demand_kw())
    for start, kwh in slots:
        end_kw = demand[start + timedelta(minutes=30)]
        assert kwh is not None
        assert end_kw is not None
        assert abs(end_kw - 2 * kwh) <= 2 * sim.kw_per_raw
    for start, pf in day.power_factors():
        assert pf == pytest.approx(
            sim.slot_power_factor((start + timedelta(minutes=30)).replace(tzinfo=sim.now().tzinfo)),
            abs=1e-12,
        )
    assert first_start == cumulative[0][0]


async def test_history_today_has_no_data_after_now(udp: UdpHarness) -> None:
    meter, sim, _ = await _meter(udp)
    day = await meter.read_history_day(0, today=sim.now().date())
    done = sim.now().hour * 2 + sim.now().minute // 30 + 1
    assert all(v is not None for v in day.energy[:done])
    assert all(v is None for v in day.energy[done:])


async def test_history_beyond_retention_is_refused(udp: UdpHarness) -> None:
    meter, _, _ = await _meter(udp, retention_days=10)
    with pytest.raises(PropertyNotAvailableError):
        await meter.read_history_day(11)


async def test_energy_wrap_is_a_slot_delta_not_a_drop(udp: UdpHarness) -> None:
    # Six digits starting just below the wrap: the register passes 999,999 yesterday.
    meter, sim, _ = await _meter(udp, energy_digits=6, initial_energy_raw=0)
    modulus = 10**6
    start_raw = sim.history_day(1)[0]
    assert start_raw is not None
    sim.config.initial_energy_raw = (modulus - start_raw - 200) % modulus
    day = await meter.read_history_day(1)
    values = [v for v in day.energy if v is not None]
    assert any(b < a for a, b in itertools.pairwise(values))  # it did wrap
    for _, kwh in day.slot_energy_kwh():
        assert kwh is not None
        assert 0 <= kwh < 200  # never a negative or a ten-million-step slot


async def test_hourly_series_for_statistics(udp: UdpHarness) -> None:
    meter, sim, _ = await _meter(udp)
    yesterday = await meter.read_history_day(2)
    today = await meter.read_history_day(1)
    hours = yesterday.hourly_energy_kwh(next_day=today)
    assert len(hours) == 24
    midnight = sim.now().replace(hour=0, minute=0, second=0) - timedelta(days=2)
    for hour, (start, kwh) in enumerate(hours):
        begin = midnight + timedelta(hours=hour)
        assert start == _naive(begin)
        assert kwh == sim.energy_kwh(begin + timedelta(hours=1)) - sim.energy_kwh(begin)  # type: ignore[operator]
    assert yesterday.hourly_energy_kwh()[23][1] is None  # needs the next day's 00:00
    demand = yesterday.hourly_demand_kw(next_day=today)
    for hour, (start, mean, peak) in enumerate(demand):
        begin = midnight + timedelta(hours=hour)
        first = sim.demand_kw(begin + timedelta(minutes=30))
        second = sim.demand_kw(begin + timedelta(hours=1))
        assert first is not None
        assert second is not None
        assert start == _naive(begin)
        assert mean == (first + second) / 2
        assert peak == max(first, second)
    assert yesterday.hourly_demand_kw()[23][1:] == (None, None)


async def test_power_factor_primed_from_history(udp: UdpHarness) -> None:
    meter, sim, server = await _meter(udp)
    assert (await meter.read()).power_factor is None
    before = server.requests
    pf = await meter.prime_power_factor()
    assert server.requests - before == 2  # select the day, read it
    assert pf is not None
    assert pf.slot_end == _naive(sim.latest_boundary())
    assert pf.power_factor == pytest.approx(sim.slot_power_factor(sim.latest_boundary()), abs=1e-12)
    assert (await meter.read()).power_factor == pf
    before = server.requests
    assert await meter.prime_power_factor() == pf  # known: no more frames
    assert server.requests == before


async def test_power_factor_not_primed_in_the_first_slot(udp: UdpHarness) -> None:
    meter, sim, _ = await _meter(udp)
    udp.clock.set(sim.now().replace(hour=0, minute=10))
    await meter.read()
    assert await meter.prime_power_factor() is None


async def test_history_day_without_reactive_energy(udp: UdpHarness) -> None:
    """A meter without CA-CE: the day has active energy only, no reactive slots."""
    meter, sim, _ = await _meter(udp, reactive=False)
    day = await meter.read_history_day(1)
    assert day.reactive is None
    assert day.slot_reactive_kvarh() == []
    slots = day.slot_energy_kwh()
    start, kwh = slots[0]
    begin = start.replace(tzinfo=JST)
    assert kwh == sim.energy_kwh(begin + timedelta(minutes=30)) - sim.energy_kwh(begin)  # type: ignore[operator]
