"""Release R meters: the poll reads the 1-minute registers (D0) in place of E0/E3.

Ground truth is the simulator's (``sim.meter.minute_registers``, ``forward_raw``) and
what the simulated meter was asked (its ``read_meter`` calls), never the model's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from custom_components.broute_meter.broute.echonet import EPC
from custom_components.broute_meter.broute.meters import low_voltage
from custom_components.broute_meter.broute.meters.low_voltage import (
    Direction,
    LowVoltageMeter,
    MeterIdentity,
    MinuteRegisters,
)
from simulator import JST

if TYPE_CHECKING:
    import pytest

    from simulator import Simulator

    from .conftest import Harness

D0 = 0xD0
E0, E3 = 0xE0, 0xE3


def _record(sim: Simulator, *, refuse: frozenset[int] = frozenset()) -> list[int]:
    """Every EPC the simulated meter is asked to read, in order; ``refuse``: Get_SNA."""
    asked: list[int] = []
    original = sim.meter.read_meter

    def read_meter(epc: int) -> bytes | None:
        asked.append(epc)
        if epc in refuse:
            return None
        return original(epc)

    sim.meter.read_meter = read_meter  # type: ignore[method-assign]
    return asked


async def _setup(
    harness: Harness, **meter: Any
) -> tuple[Simulator, LowVoltageMeter, MeterIdentity]:
    sim, url = await harness.sim(**meter)
    conn = harness.session(url)
    await conn.connect()
    identity = await conn.meter.read_identity()
    identity = identity.completed_by(await conn.meter.read_live(identity))
    return sim, conn.meter, identity


async def test_release_r_poll_reads_d0_in_one_frame(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    assert identity.one_minute
    clock = sim.meter.clock
    for _ in range(3):
        clock.advance(70)  # type: ignore[attr-defined]
        asked = _record(sim)
        before = sim.stats.frames_to_meter
        reading = await meter.read_live(identity, identity.fixed_time_directions)
        assert sim.stats.frames_to_meter - before == 1
        assert D0 in asked
        assert E0 not in asked
        assert E3 not in asked
        assert len(asked) <= 6
        minute, forward, reverse = sim.meter.minute_registers()
        assert reading.registers_at is not None
        assert reading.registers_at.replace(tzinfo=JST) == minute
        assert reading.registers[Direction.FORWARD] == forward
        assert reading.registers[Direction.REVERSE] == reverse
        # The minute's registers, not this second's (the load moves within a minute).
        assert reading.registers_at.second == 0
        sim.meter.read_meter = type(sim.meter).read_meter.__get__(sim.meter)  # type: ignore[method-assign]


async def test_release_j_poll_is_unchanged(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness)
    assert not identity.one_minute
    asked = _record(sim)
    reading = await meter.read_live(identity)
    assert asked == [0xE7, 0xE8, E0, E3, 0x88]
    assert reading.registers_at is None
    assert reading.registers[Direction.FORWARD] == sim.meter.forward_raw()


async def test_unusable_d0_falls_back_to_e0_e3(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    asked = _record(sim, refuse=frozenset({D0}))
    before = sim.stats.frames_to_meter
    failed = await meter.read_live(identity)
    assert sim.stats.frames_to_meter - before == 1
    assert failed.one_minute_failed
    assert failed.registers == {}
    assert failed.power_w == sim.meter.power_w()
    asked.clear()
    fallback = await meter.read_live(identity)
    assert D0 not in asked
    assert {E0, E3} <= set(asked)
    assert fallback.registers_at is None
    assert fallback.registers[Direction.FORWARD] == sim.meter.forward_raw()


async def test_d0_is_tried_again_after_the_retry_time(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(low_voltage, "ONE_MINUTE_RETRY_SECONDS", 0.0)
    sim, meter, identity = await _setup(harness, release="R")
    _record(sim, refuse=frozenset({D0}))
    assert (await meter.read_live(identity)).one_minute_failed
    sim.meter.read_meter = type(sim.meter).read_meter.__get__(sim.meter)  # type: ignore[method-assign]
    asked = _record(sim)
    again = await meter.read_live(identity)
    assert D0 in asked
    assert again.registers_at is not None
    assert again.registers[Direction.FORWARD] == sim.meter.minute_registers()[1]


def test_live_epcs_with_d0_in_the_map() -> None:
    full = {
        0xE7, 0xE8, E0, E3, 0x88, 0x82, D0,
        EPC.FIXED_TIME_FORWARD_ENERGY, EPC.FIXED_TIME_REVERSE_ENERGY,
    }  # fmt: skip
    identity = MeterIdentity(get_map=frozenset(full), reverse_metering=True, complete=True)
    steady = LowVoltageMeter.live_epcs(identity, [Direction.FORWARD, Direction.REVERSE])
    assert steady == (0xE7, 0xE8, D0, 0x88, 0xEA, 0xEB)
    assert LowVoltageMeter.live_epcs(identity, one_minute=False) == (0xE7, 0xE8, E0, E3, 0x88)


async def test_minutes_read_back_after_a_gap(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    assert identity.minute_history
    sim.meter.clock.advance(5 * 60 + 20)  # type: ignore[attr-defined]
    newest = sim.meter.latest_minute()
    before = sim.stats.frames_to_meter
    minutes = await meter.read_minutes(newest, 5)
    assert sim.stats.frames_to_meter - before == 2  # SetC EF, Get EE
    assert minutes is not None
    truth = list(reversed(sim.meter.minute_history(newest, 5)))
    assert [m.minute.replace(tzinfo=JST) for m in minutes] == [t[0] for t in truth]
    assert [m.registers[Direction.FORWARD] for m in minutes] == [t[1] for t in truth]
    assert [m.registers[Direction.REVERSE] for m in minutes] == [t[2] for t in truth]
    # Older than the meter keeps: refused, not an error.
    retention = sim.config.minute_retention
    old = newest - timedelta(minutes=retention + 5)
    assert await meter.read_minutes(old, 1) is None


async def test_release_j_has_no_minute_history(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness)
    assert not identity.minute_history
    assert await meter.read_minutes(sim.meter.latest_minute(), 3) is None


async def test_route_b_id_is_read_as_a_digest_only(harness: Harness) -> None:
    serial = "SIMC0TEST123"
    sim, meter, identity = await _setup(harness, release="R", serial=serial)
    before = sim.stats.frames_to_meter
    ident = await meter.read_route_b_id(identity)
    assert sim.stats.frames_to_meter - before == 1
    assert ident is not None
    value = sim.meter.route_b_id()
    assert ident.size == len(value) == 16
    assert ident.maker_code == sim.config.maker_code
    assert ident.matches(value.hex())
    assert not ident.matches(bytes(16).hex())
    # Neither the bytes nor their hex nor the serial inside show in its repr.
    text = repr(ident)
    assert value.hex() not in text.lower()
    assert serial not in text
    key = b"k" * 32
    other_sim, other_meter, other_identity = await _setup(
        harness, release="R", serial="OTHERMETER01"
    )
    other = await other_meter.read_route_b_id(other_identity)
    assert other is not None
    assert other.fingerprint(key) != ident.fingerprint(key)
    assert other_sim.meter.route_b_id() != value


async def test_release_j_has_no_route_b_id(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness)
    before = sim.stats.frames_to_meter
    assert await meter.read_route_b_id(identity) is None
    assert sim.stats.frames_to_meter == before  # not even asked


def _at_minute(sim: Simulator) -> MinuteRegisters:
    minute, forward, reverse = sim.meter.minute_registers()
    return MinuteRegisters(
        minute.replace(tzinfo=None), {Direction.FORWARD: forward, Direction.REVERSE: reverse}
    )


async def _poll_minute(
    sim: Simulator, meter: LowVoltageMeter, identity: MeterIdentity
) -> MinuteRegisters:
    reading = await meter.read_live(identity)
    assert reading.registers_at is not None
    return MinuteRegisters(reading.registers_at, dict(reading.registers))


async def test_a_five_minute_outage_across_the_hour_is_closed_exactly(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    clock = sim.meter.clock
    now = sim.meter.now()
    clock.advance((now.replace(minute=57, second=20) - now).total_seconds())  # type: ignore[attr-defined]
    before_outage = await _poll_minute(sim, meter, identity)
    clock.advance(5 * 60 + 10)  # type: ignore[attr-defined]  # link down 12:57:20 -> 13:02:30
    latest = await _poll_minute(sim, meter, identity)
    assert latest == _at_minute(sim)
    frames = sim.stats.frames_to_meter
    ends = await meter.read_hour_ends(before_outage.minute, latest)
    assert sim.stats.frames_to_meter - frames == 2
    boundary = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    _, forward, reverse = sim.meter.minute_registers(boundary)
    assert [(e.minute.replace(tzinfo=JST), e.registers) for e in ends] == [
        (boundary, {Direction.FORWARD: forward, Direction.REVERSE: reverse})
    ]


async def test_no_read_back_within_an_hour_or_beyond_ten_minutes(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    clock = sim.meter.clock
    first = await _poll_minute(sim, meter, identity)  # 12:10
    clock.advance(4 * 60)  # type: ignore[attr-defined]
    second = await _poll_minute(sim, meter, identity)
    frames = sim.stats.frames_to_meter
    assert await meter.read_hour_ends(first.minute, second) == []
    clock.advance(55 * 60)  # type: ignore[attr-defined]  # past 13:00, a 55-minute gap
    third = await _poll_minute(sim, meter, identity)
    assert await meter.read_hour_ends(second.minute, third) == []
    assert sim.stats.frames_to_meter - frames == 1  # only the poll


async def test_a_d0_stamped_off_the_expected_time_falls_back_to_e0_e3(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    expected = sim.meter.now().replace(tzinfo=None)
    sim.config.d0_stamp_skew = -6 * 60.0  # six minutes behind the meter's own clock
    refused = await meter.read_live(identity, meter_now=expected)
    assert refused.one_minute_failed
    assert refused.registers == {}
    assert refused.registers_at is None
    asked = _record(sim)
    fallback = await meter.read_live(identity, meter_now=expected)
    assert D0 not in asked
    assert fallback.registers[Direction.FORWARD] == sim.meter.forward_raw()
    # Within the window (4 minutes behind): taken; without an estimate: not judged.
    sim.config.d0_stamp_skew = -4 * 60.0
    meter.retry_one_minute()
    taken = await meter.read_live(identity, meter_now=expected)
    assert taken.registers_at is not None
    assert taken.registers[Direction.FORWARD] == sim.meter.minute_registers()[1]
    sim.config.d0_stamp_skew = 3600.0
    assert (await meter.read_live(identity)).registers_at is not None


async def _across_the_hour(
    sim: Simulator, meter: LowVoltageMeter, identity: MeterIdentity
) -> tuple[MinuteRegisters, MinuteRegisters]:
    """Polls at 12:57 and 13:02: one hour boundary inside a 5-minute gap."""
    clock = sim.meter.clock
    now = sim.meter.now()
    clock.advance((now.replace(minute=57, second=20) - now).total_seconds())  # type: ignore[attr-defined]
    before = await _poll_minute(sim, meter, identity)
    clock.advance(5 * 60 + 10)  # type: ignore[attr-defined]
    return before, await _poll_minute(sim, meter, identity)


async def test_no_hour_ends_for_the_same_minute(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    latest = await _poll_minute(sim, meter, identity)
    frames = sim.stats.frames_to_meter
    assert await meter.read_hour_ends(latest.minute, latest) == []
    assert sim.stats.frames_to_meter == frames


async def test_no_hour_ends_when_the_meter_refuses_ee(harness: Harness) -> None:
    sim, meter, identity = await _setup(harness, release="R")
    before, latest = await _across_the_hour(sim, meter, identity)
    asked = _record(sim, refuse=frozenset({EPC.HISTORY3}))
    assert await meter.read_hour_ends(before.minute, latest) == []
    assert EPC.HISTORY3 in asked


async def test_no_hour_ends_when_ee_disagrees_with_the_poll(harness: Harness) -> None:
    """The newest EE pair must equal the poll's registers: the same register read twice."""
    sim, meter, identity = await _setup(harness, release="R")
    before, latest = await _across_the_hour(sim, meter, identity)
    forward = latest.registers[Direction.FORWARD]
    assert forward is not None
    disagreeing = MinuteRegisters(
        latest.minute, {**latest.registers, Direction.FORWARD: forward + 1}
    )
    frames = sim.stats.frames_to_meter
    assert await meter.read_hour_ends(before.minute, disagreeing) == []
    assert sim.stats.frames_to_meter - frames == 2  # EE was read, then not trusted


async def test_route_b_id_refused_by_the_meter_is_none(harness: Harness) -> None:
    """C0 in the Get map but refused (Get_SNA): no identification, no failure."""
    sim, meter, identity = await _setup(harness, release="R")
    asked = _record(sim, refuse=frozenset({EPC.ROUTE_B_ID}))
    assert await meter.read_route_b_id(identity) is None
    assert asked == [EPC.ROUTE_B_ID]


async def test_clock_refused_in_whole_or_in_part_is_none(harness: Harness) -> None:
    sim, meter, _ = await _setup(harness, release="R")
    _record(sim, refuse=frozenset({EPC.CURRENT_DATE, EPC.CURRENT_TIME}))
    assert await meter.read_clock() is None
    sim, meter, _ = await _setup(harness, release="R")
    asked = _record(sim, refuse=frozenset({EPC.CURRENT_TIME}))
    assert await meter.read_clock() is None  # a date without a time is no clock
    assert asked == [EPC.CURRENT_DATE, EPC.CURRENT_TIME]
