"""The outage fill the meter model is to implement, run against the simulator.

This is a reference for the algorithm in docs/release-r.md ("Filling a short gap from
EE"), written with the integration's own codecs against the simulator's independent
encoder, and checked against the load model integrated second by second. It is test
code on purpose: the meter model (broute/meters/) owns the real implementation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import itertools

from custom_components.broute_meter.broute.echonet import (
    EnergyScale,
    decode_history3,
    decode_one_minute,
    decode_property_map,
    encode_history3_day,
)
from simulator import JST, ManualClock, MeterConfig, SimulatedMeter
from simulator.echonet import GET, GET_RES, SET_RES, SETC, Frame

from .conftest import START

CONTROLLER = bytes.fromhex("05FF01")
METER = bytes.fromhex("028801")
MINUTE = timedelta(minutes=1)
SCALE = EnergyScale(coefficient=1, digits=6)  # the simulator's defaults (D3 1, D7 6)


def _meter(**kwargs: object) -> tuple[SimulatedMeter, ManualClock]:
    clock = ManualClock(START)
    config = MeterConfig(retention_days=3, release="R", **kwargs)  # type: ignore[arg-type]
    return SimulatedMeter(config, clock), clock


def _request(meter: SimulatedMeter, esv: int, *props: tuple[int, bytes]) -> Frame:
    (reply, _), *_ = meter.handle(Frame(7, CONTROLLER, METER, esv, list(props)))
    return reply


def _get(meter: SimulatedMeter, epc: int) -> bytes | None:
    reply = _request(meter, GET, (epc, b""))
    return reply.props[0][1] if reply.esv == GET_RES else None


def _aware(naive: datetime) -> datetime:
    return naive.replace(tzinfo=JST)


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


type Last = tuple[datetime, int, int]  # minute, forward raw, reverse raw


def fill_gap(meter: SimulatedMeter, last: Last) -> tuple[Last, dict[datetime, tuple[int, int]]]:
    """One poll after a gap: D0 now, EE for the minutes in between, energy per hour.

    Returns the new last reading and {hour start: (import raw, export raw)} for the
    minutes after ``last``; the minute ending at m (interval m-1 → m) belongs to the
    hour of m - 1 minute.
    """
    d0_edt = _get(meter, 0xD0)
    assert d0_edt is not None
    d0 = decode_one_minute(d0_edt)
    assert d0.forward is not None
    assert d0.reverse is not None
    newest = _aware(d0.timestamp)
    gap = (newest - last[0]) // MINUTE
    chain: list[Last] = [last]
    if gap > 1:
        # EF = the D0 minute, one pair per missing minute (≤ 10); EE newest first.
        edt = encode_history3_day(d0.timestamp, min(gap, 10))
        assert _request(meter, SETC, (0xEF, edt)).esv == SET_RES
        ee_edt = _get(meter, 0xEE)
        assert ee_edt is not None
        history = decode_history3(ee_edt)
        for stamp, fwd, rev in reversed(list(history.slots())):
            if _aware(stamp) > last[0] and fwd is not None and rev is not None:
                chain.append((_aware(stamp), fwd, rev))
        # EE's newest pair is D0's minute: the same register read twice must agree.
        assert chain[-1] == (newest, d0.forward, d0.reverse)
    else:
        chain.append((newest, d0.forward, d0.reverse))
    per_hour: dict[datetime, tuple[int, int]] = {}
    for (_, f0, r0), (t1, f1, r1) in itertools.pairwise(chain):
        hour = _hour(t1 - MINUTE)  # a step over several minutes stays with its last minute
        imp, exp = per_hour.get(hour, (0, 0))
        per_hour[hour] = (imp + SCALE.delta(f0, f1), exp + SCALE.delta(r0, r1))
    return chain[-1], per_hour


def _registers(meter: SimulatedMeter, until: datetime, ws_per_raw: int) -> tuple[int, int]:
    """Unwrapped registers at ``until`` from the load model integrated second by second."""
    imp = exp = 0
    t = meter.history_start
    while t < until:
        p = meter.model_power_w(t)
        step = min(60, int((until - t).total_seconds()))
        imp, exp = imp + max(p, 0) * step, exp + max(-p, 0) * step
        t += timedelta(seconds=step)
    return 12_345 + imp // ws_per_raw, 678 + exp // ws_per_raw


def _steps(meter: SimulatedMeter, t0: datetime, t1: datetime, ws_per_raw: int) -> tuple[int, int]:
    (f0, r0), (f1, r1) = _registers(meter, t0, ws_per_raw), _registers(meter, t1, ws_per_raw)
    return f1 - f0, r1 - r0


def _first(meter: SimulatedMeter) -> Last:
    d0 = decode_one_minute(_get(meter, 0xD0) or b"")
    assert d0.forward is not None
    assert d0.reverse is not None
    return _aware(d0.timestamp), d0.forward, d0.reverse


def test_five_minute_outage_over_the_hour_leaves_no_energy_in_the_wrong_hour() -> None:
    meter, clock = _meter(unit_code=0x03)  # 0.001 kWh, so every minute moves the register
    assert {0xD0, 0xEE, 0xEF} <= decode_property_map(_get(meter, 0x9F) or b"")
    clock.set(datetime(2025, 11, 15, 13, 57, 20, tzinfo=JST))
    last = _first(meter)
    clock.advance(5 * 60 + 10)  # link down 13:57:20 → 14:02:30
    last, per_hour = fill_gap(meter, last)
    assert last[0] == datetime(2025, 11, 15, 14, 2, tzinfo=JST)
    h13, h14 = (datetime(2025, 11, 15, h, tzinfo=JST) for h in (13, 14))
    assert per_hour == {
        h13: _steps(meter, datetime(2025, 11, 15, 13, 57, tzinfo=JST), h14, 3_600),
        h14: _steps(meter, h14, last[0], 3_600),
    }
    # Not vacuous: putting it all into the reconnect hour would misfile this much.
    assert sum(per_hour[h13]) > 0


def test_regular_polls_need_no_ee_and_match_the_registers() -> None:
    meter, clock = _meter()
    last = _first(meter)
    total = [0, 0]
    for _ in range(6):  # 30-second polls for three minutes
        clock.advance(30)
        last, per_hour = fill_gap(meter, last)
        for imp, exp in per_hour.values():
            total[0] += imp
            total[1] += exp
    assert last[0] == datetime(2025, 11, 15, 13, 13, tzinfo=JST)
    assert (last[1], last[2]) == (meter.forward_raw(last[0]), meter.reverse_raw(last[0]))
    assert tuple(total) == _steps(meter, START, last[0], 360_000)


def test_gap_beyond_the_minute_store_is_refused_and_left_to_the_hourly_path() -> None:
    meter, clock = _meter(minute_retention=10)
    clock.advance(12 * 60)  # 13:22: 13:13 is the oldest minute kept
    for minute, accepted in ((12, False), (13, True)):
        edt = encode_history3_day(datetime(2025, 11, 15, 13, minute), 1)
        assert (_request(meter, SETC, (0xEF, edt)).esv == SET_RES) is accepted
