"""The low-voltage meter model: typed readings from the simulated meter, and what a poll asks.

Values come from the simulator's ground truth (``sim.meter``, ``sim.config``) and its
frame counter, never from the model under test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute.echonet import (
    EPC,
    LV_METER_EOJ,
    Frame,
    Property,
    encode_property_map,
)
from custom_components.broute_meter.broute.errors import EchonetDecodeError
from custom_components.broute_meter.broute.meters.low_voltage import (
    Direction,
    EnergyScale,
    LowVoltageMeter,
    MeterIdentity,
)

if TYPE_CHECKING:
    from .conftest import Harness

LIVE = (
    EPC.INSTANTANEOUS_POWER,
    EPC.INSTANTANEOUS_CURRENT,
    EPC.FORWARD_ENERGY,
    EPC.REVERSE_ENERGY,
    EPC.FAULT_STATUS,
)


async def _connected(harness: Harness, **meter: object) -> tuple[object, LowVoltageMeter]:
    sim, url = await harness.sim(**meter)
    conn = harness.session(url)
    await conn.connect()
    return sim, conn.meter


async def test_identity_and_first_reading_in_one_frame_each(harness: Harness) -> None:
    sim, meter = await _connected(harness, single_phase=True)
    cfg = sim.config
    before = sim.stats.frames_to_meter
    identity = await meter.read_identity()
    assert sim.stats.frames_to_meter - before == 1
    assert identity.maker_code == cfg.maker_code
    assert identity.serial_number == cfg.serial
    assert identity.get_map == frozenset(sim.meter.get_epcs())
    assert identity.reverse_metering is cfg.reverse_metering
    assert not identity.complete

    reading = await meter.read_live(identity)
    assert sim.stats.frames_to_meter - before == 2
    assert reading.power_w == sim.meter.power_w()
    assert reading.registers[Direction.FORWARD] == sim.meter.forward_raw()
    assert reading.release == cfg.release
    assert reading.single_phase
    completed = identity.completed_by(reading)
    assert completed.complete
    assert completed.single_phase
    assert completed.release == cfg.release


async def test_a_poll_with_the_fixed_time_registers(harness: Harness) -> None:
    _sim, meter = await _connected(harness)
    identity = (await meter.read_identity()).completed_by(
        await meter.read_live(await meter.read_identity())
    )
    assert identity.fixed_time_directions == (Direction.FORWARD, Direction.REVERSE)
    reading = await meter.read_live(identity, [Direction.FORWARD])
    assert set(reading.fixed_time) == {Direction.FORWARD}
    assert reading.fixed_time[Direction.FORWARD].raw is not None
    assert reading.release is None  # asked for once only


async def test_meter_without_reverse_metering(harness: Harness) -> None:
    _sim, meter = await _connected(harness, reverse_metering=False)
    identity = await meter.read_identity()
    assert not identity.reverse_metering
    assert EPC.REVERSE_ENERGY not in meter.live_epcs(identity)
    assert identity.fixed_time_directions == (Direction.FORWARD,)


async def test_clock_and_history_day(harness: Harness) -> None:
    sim, meter = await _connected(harness)
    clock = await meter.read_clock()
    assert clock is not None
    now = sim.meter.now()
    assert (clock.date(), clock.hour, clock.minute) == (now.date(), now.hour, now.minute)
    trips: list[int] = []
    day = await meter.read_history_day(
        1, [Direction.FORWARD, Direction.REVERSE], on_request=lambda: trips.append(1)
    )
    assert day is not None
    assert len(trips) == 2  # E5 set, then E2/E4 get
    assert len(day.slots[Direction.FORWARD]) == 48
    assert set(day.slots) == {Direction.FORWARD, Direction.REVERSE}


def _identity(get_map: set[int] | None, *, complete: bool = True) -> MeterIdentity:
    return MeterIdentity(
        get_map=None if get_map is None else frozenset(get_map),
        reverse_metering=get_map is not None and EPC.REVERSE_ENERGY in get_map,
        complete=complete,
    )


def test_a_poll_asks_for_six_epcs_at_most_in_steady_state() -> None:
    full = {*LIVE, EPC.RELEASE, EPC.FIXED_TIME_FORWARD_ENERGY, EPC.FIXED_TIME_REVERSE_ENERGY}
    first = LowVoltageMeter.live_epcs(_identity(full, complete=False), [Direction.FORWARD])
    assert first == (*LIVE, EPC.RELEASE)  # the 30-minute registers wait for the next poll
    steady = LowVoltageMeter.live_epcs(_identity(full), [Direction.FORWARD])
    assert steady == (*LIVE, EPC.FIXED_TIME_FORWARD_ENERGY)
    assert len(steady) <= 6
    # No Get map: the mandatory ones only (no reverse register).
    assert LowVoltageMeter.live_epcs(_identity(None)) == tuple(
        epc for epc in LIVE if epc != EPC.REVERSE_ENERGY
    )
    # Only what the map lists.
    assert LowVoltageMeter.live_epcs(_identity({EPC.INSTANTANEOUS_POWER})) == (
        EPC.INSTANTANEOUS_POWER,
    )


def test_decoding_errors_and_sentinels() -> None:
    with pytest.raises(EchonetDecodeError):
        LowVoltageMeter.decode_live({EPC.INSTANTANEOUS_POWER: b"\x00"})
    # A malformed 30-minute reading is left out; the live values still count.
    reading = LowVoltageMeter.decode_live(
        {EPC.INSTANTANEOUS_POWER: (500).to_bytes(4, "big"), EPC.FIXED_TIME_FORWARD_ENERGY: b"x"}
    )
    assert reading.power_w == 500
    assert reading.fixed_time == {}
    assert not reading.single_phase  # no E8 in the answer: nothing learnt
    identity = LowVoltageMeter.decode_identity(
        {
            EPC.MAKER_CODE: bytes([0, 0, 0x16]),
            EPC.GET_PROPERTY_MAP: encode_property_map([EPC.INSTANTANEOUS_POWER]),
        }
    )
    assert identity.manufacturer == "Toshiba"
    assert identity.scale == EnergyScale()  # the defaults when D3/E1/D7 are absent
    assert not identity.reverse_metering
    unknown = LowVoltageMeter.decode_identity({EPC.MAKER_CODE: bytes([0xAB, 0xCD, 0xEF])})
    assert unknown.manufacturer == "ECHONET maker 0xABCDEF"


def test_push_events() -> None:
    def frame(*props: Property) -> Frame:
        return Frame(1, LV_METER_EOJ, (0x05, 0xFF, 0x01), 0x73, props)

    stamp = bytes([0x07, 0xEA, 11, 20, 12, 0, 0])
    pushed = LowVoltageMeter.decode_push(
        frame(Property(EPC.FIXED_TIME_FORWARD_ENERGY, stamp + (1234).to_bytes(4, "big")))
    )
    assert pushed is not None
    assert pushed.readings[Direction.FORWARD].raw == 1234
    assert LowVoltageMeter.decode_push(frame(Property(0xD5, b"\x01\x02\x88\x01"))) is None
