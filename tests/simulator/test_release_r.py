"""Release R option of the simulated meter: C0, D0, EE/EF against its own ground truth.

Wire bytes are unpacked here with struct, following the layout in docs/release-r.md,
and compared with registers integrated from the load model or read with
``forward_raw``/``reverse_raw`` at the minute boundary, never with the code that
encodes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import struct

import pytest

from simulator import JST, ManualClock, MeterConfig, SimulatedMeter
from simulator.echonet import (
    GET,
    GET_RES,
    GET_SNA,
    SET_RES,
    SETC,
    SETC_SNA,
    Frame,
    decode_property_map,
)

from .conftest import START

CONTROLLER = bytes.fromhex("05FF01")
METER = bytes.fromhex("028801")
NO_DATA = 0xFFFFFFFE
RELEASE_R_EPCS = {0xC0, 0xD0, 0xEE, 0xEF}
# The Release F meter's Get map from the reference (§C.1), 25 EPCs.
RELEASE_F_GETS = {
    *(0x80, 0x81, 0x82, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xD3, 0xD7),
    *(0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA, 0xEB, 0xEC, 0xED),
}


def _meter(**kwargs: object) -> tuple[SimulatedMeter, ManualClock]:
    clock = ManualClock(START)
    config = MeterConfig(retention_days=3, **kwargs)  # type: ignore[arg-type]
    return SimulatedMeter(config, clock), clock


def _ask(meter: SimulatedMeter, esv: int, *props: tuple[int, bytes]) -> Frame:
    replies = meter.handle(Frame(0x0101, CONTROLLER, METER, esv, list(props)))
    assert len(replies) == 1
    return replies[0][0]


def _get(meter: SimulatedMeter, epc: int) -> bytes:
    reply = _ask(meter, GET, (epc, b""))
    assert reply.esv == GET_RES
    return reply.props[0][1]


def _set_ef(meter: SimulatedMeter, newest: datetime, count: int) -> int:
    edt = struct.pack(
        ">HBBBBB", newest.year, newest.month, newest.day, newest.hour, newest.minute, count
    )
    return _ask(meter, SETC, (0xEF, edt)).esv


def _integrated_raw(meter: SimulatedMeter, until: datetime) -> tuple[int, int]:
    """Registers from the reported power, integrated minute by minute (0.1 kWh, D3=1)."""
    t = meter.history_start
    imp = exp = 0
    while t < until:
        p = meter.model_power_w(t)
        imp, exp = imp + max(p, 0) * 60, exp + max(-p, 0) * 60
        t += timedelta(minutes=1)
    return (12_345 + imp // 360_000) % 10**6, (678 + exp // 360_000) % 10**6


def _unpack_d0(edt: bytes) -> tuple[datetime, int, int]:
    assert len(edt) == 15
    year, month, day, hour, minute, second, fwd, rev = struct.unpack(">HBBBBBII", edt)
    return datetime(year, month, day, hour, minute, second, tzinfo=JST), fwd, rev


def _unpack_ee(edt: bytes) -> tuple[datetime, list[tuple[int, int]]]:
    year, month, day, hour, minute, count = struct.unpack(">HBBBBB", edt[:7])
    assert len(edt) == 7 + 8 * count
    pairs = [struct.unpack(">II", edt[7 + 8 * i : 15 + 8 * i]) for i in range(count)]
    return datetime(year, month, day, hour, minute, tzinfo=JST), pairs


# --- maps: Release J is unchanged -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [{}, {"release": "F"}, {"release": "R", "release_r_properties": False}]
)
def test_without_release_r_the_meter_is_as_before(kwargs: dict[str, object]) -> None:
    meter, _ = _meter(**kwargs)
    assert decode_property_map(_get(meter, 0x9F)) == RELEASE_F_GETS
    assert decode_property_map(_get(meter, 0x9E)) == {0x81, 0xE5, 0xED}
    for epc in sorted(RELEASE_R_EPCS):
        reply = _ask(meter, GET, (epc, b""))
        assert (reply.esv, reply.props) == (GET_SNA, [(epc, b"")])
    assert _set_ef(meter, START - timedelta(minutes=1), 1) == SETC_SNA


@pytest.mark.parametrize(
    "kwargs", [{"release": "R"}, {"release": "S"}, {"release_r_properties": True}]
)
def test_release_r_maps(kwargs: dict[str, object]) -> None:
    meter, _ = _meter(**kwargs)
    assert decode_property_map(_get(meter, 0x9F)) == RELEASE_F_GETS | RELEASE_R_EPCS
    assert decode_property_map(_get(meter, 0x9E)) == {0x81, 0xE5, 0xED, 0xEF}


# --- D0 ---------------------------------------------------------------------------------


def test_d0_is_the_register_at_the_latest_minute_boundary() -> None:
    meter, clock = _meter(release="R")
    clock.advance(37)  # 13:10:37
    stamp, fwd, rev = _unpack_d0(_get(meter, 0xD0))
    boundary = datetime(2025, 11, 15, 13, 10, tzinfo=JST)
    assert stamp == boundary
    assert (fwd, rev) == _integrated_raw(meter, boundary)
    assert meter.minute_registers() == (boundary, fwd, rev)
    clock.advance(60 * 47)  # 13:57:37: the boundary and the values move on
    stamp, fwd2, rev2 = _unpack_d0(_get(meter, 0xD0))
    assert stamp == datetime(2025, 11, 15, 13, 57, tzinfo=JST)
    assert (fwd2, rev2) == (meter.forward_raw(stamp), meter.reverse_raw(stamp))
    assert (fwd2, rev2) != (fwd, rev)  # 47 minutes of load or solar export


def test_d0_equals_e0_e3_exactly_at_the_boundary_and_lags_between() -> None:
    meter, clock = _meter(release="R", unit_code=0x03)  # 0.001 kWh: moves every few seconds
    _, fwd, rev = _unpack_d0(_get(meter, 0xD0))
    assert fwd == struct.unpack(">I", _get(meter, 0xE0))[0]
    assert rev == struct.unpack(">I", _get(meter, 0xE3))[0]
    clock.advance(59)
    _, fwd_later, rev_later = _unpack_d0(_get(meter, 0xD0))
    assert (fwd_later, rev_later) == (fwd, rev)  # still the 13:10 boundary
    live = struct.unpack(">I", _get(meter, 0xE3))[0]
    assert live == meter.reverse_raw()
    assert meter.model_power_w() < -100  # exporting: 59 s move the 0.001 kWh register
    assert live > rev


def test_d0_uses_meter_time_and_no_data_without_reverse_metering() -> None:
    meter, _ = _meter(release="R", reverse_metering=False, clock_skew=-90.0)
    stamp, fwd, rev = _unpack_d0(_get(meter, 0xD0))
    assert stamp == datetime(2025, 11, 15, 13, 8, tzinfo=JST)  # 13:08:30 meter time
    assert fwd == meter.forward_raw(stamp)
    assert rev == NO_DATA


def test_d0_fits_one_six_property_get() -> None:
    meter, _ = _meter(release="R")
    epcs = [0xD0, 0xE0, 0xE3, 0xE7, 0xE8, 0xEA]
    reply = _ask(meter, GET, *((epc, b"") for epc in epcs))
    assert reply.esv == GET_RES
    assert [epc for epc, _ in reply.props] == epcs
    assert all(edt for _, edt in reply.props)


# --- EE / EF ----------------------------------------------------------------------------


def test_ee_default_window_is_the_last_ten_minutes_newest_first() -> None:
    meter, clock = _meter(release="R")
    clock.advance(12)
    newest, pairs = _unpack_ee(_get(meter, 0xEE))
    assert newest == datetime(2025, 11, 15, 13, 10, tzinfo=JST)
    assert len(pairs) == 10
    for i, (fwd, rev) in enumerate(pairs):
        minute = newest - timedelta(minutes=i)
        assert (fwd, rev) == (meter.forward_raw(minute), meter.reverse_raw(minute))
    assert _get(meter, 0xEF) == bytes.fromhex("07E9 0B 0F 0D 0A 0A")


def test_ef_selects_the_window_and_deltas_sum_to_the_register_change() -> None:
    meter, clock = _meter(release="R")
    last_known = meter.minute_registers()  # 13:10
    clock.advance(5 * 60 + 20)  # a 5-minute gap: 13:15:20
    assert _set_ef(meter, datetime(2025, 11, 15, 13, 15, tzinfo=JST), 5) == SET_RES
    assert _get(meter, 0xEF) == bytes.fromhex("07E9 0B 0F 0D 0F 05")
    newest, pairs = _unpack_ee(_get(meter, 0xEE))
    assert newest == datetime(2025, 11, 15, 13, 15, tzinfo=JST)
    chain = [last_known[1], *(fwd for fwd, _ in reversed(pairs))]  # 13:10 … 13:15
    for i in range(5):
        minute = datetime(2025, 11, 15, 13, 11 + i, tzinfo=JST)
        imp_from, _ = _integrated_raw(meter, minute - timedelta(minutes=1))
        imp_to, _ = _integrated_raw(meter, minute)
        assert chain[i + 1] - chain[i] == imp_to - imp_from
    assert meter.minute_history(newest, 5)[0] == (newest, *pairs[0])


@pytest.mark.parametrize(
    ("newest", "count"),
    [
        (datetime(2025, 11, 15, 13, 11, tzinfo=JST), 1),  # the future
        (datetime(2025, 11, 15, 13, 0, tzinfo=JST), 1),  # 13:10 keeps 13:01-13:10 only
        (datetime(2025, 11, 15, 13, 5, tzinfo=JST), 0),
        (datetime(2025, 11, 15, 13, 5, tzinfo=JST), 11),
    ],
)
def test_ef_outside_retention_or_range_is_refused(newest: datetime, count: int) -> None:
    meter, _ = _meter(release="R")
    assert _set_ef(meter, newest, count) == SETC_SNA
    assert _get(meter, 0xEF) == bytes.fromhex("07E9 0B 0F 0D 0A 0A")  # unchanged default


def test_ef_malformed_is_refused() -> None:
    meter, _ = _meter(release="R")
    for edt in (bytes.fromhex("07E90B0F0D05"), bytes.fromhex("07E90B0F0D3C01")):
        assert _ask(meter, SETC, (0xEF, edt)).esv == SETC_SNA


def test_ee_minutes_beyond_retention_are_no_data() -> None:
    meter, clock = _meter(release="R", minute_retention=4)
    assert _set_ef(meter, datetime(2025, 11, 15, 13, 9, tzinfo=JST), 6) == SET_RES
    _, pairs = _unpack_ee(_get(meter, 0xEE))
    # 13:09, 13:08, 13:07 kept; 13:06 and older are gone at 13:10 with a 4-minute store.
    assert [fwd == NO_DATA for fwd, _ in pairs] == [False, False, False, True, True, True]
    clock.advance(10 * 60)  # the selected window ages out entirely
    _, pairs = _unpack_ee(_get(meter, 0xEE))
    assert all(pair == (NO_DATA, NO_DATA) for pair in pairs)


def test_reboot_forgets_the_ef_window() -> None:
    meter, _ = _meter(release="R")
    assert _set_ef(meter, datetime(2025, 11, 15, 13, 5, tzinfo=JST), 2) == SET_RES
    meter.reset_state()
    assert _get(meter, 0xEF) == bytes.fromhex("07E9 0B 0F 0D 0A 0A")


# --- C0 ---------------------------------------------------------------------------------


def test_c0_default_and_configured() -> None:
    meter, _ = _meter(release="R", maker_code=0x000016, serial="SIM00000001")
    edt = _get(meter, 0xC0)
    assert edt == bytes.fromhex("00 000016") + b"SIM00000001\x00"
    assert len(edt) == 16
    chosen = bytes.fromhex("00000008") + bytes(range(12))
    meter, _ = _meter(release="R", route_b_id=chosen)
    assert _get(meter, 0xC0) == chosen
    meter, _ = _meter(release="R", route_b_id=b"EMULATOR")  # the 8-byte emulator form
    assert _get(meter, 0xC0) == b"EMULATOR"


# --- fault knobs ------------------------------------------------------------------------


def test_slot_delay_files_the_boundary_reading_late_but_not_d0() -> None:
    meter, clock = _meter(release="R", slot_delay=300.0)
    clock.advance(50 * 60 + 120)  # 14:02: the 14:00 reading is not filed yet
    boundary = datetime(2025, 11, 15, 14, 0, tzinfo=JST)
    assert meter.slot_raw("forward", boundary) is None
    e2 = _get(meter, 0xE2)
    slot_14 = 28  # 14:00 is slot 28 of today
    assert struct.unpack(">I", e2[2 + 4 * slot_14 : 6 + 4 * slot_14])[0] == NO_DATA
    assert meter.slot_raw("forward", boundary - timedelta(minutes=30)) is not None
    # The 1-minute register at the boundary is there at once.
    newest = meter.latest_minute()
    assert _set_ef(meter, newest, 3) == SET_RES
    _, pairs = _unpack_ee(_get(meter, 0xEE))
    assert pairs[2] == (meter.forward_raw(boundary), meter.reverse_raw(boundary))
    clock.advance(200)  # 14:05:20: filed now
    assert meter.slot_raw("forward", boundary) == meter.forward_raw(boundary)


def test_d0_stamp_skew_moves_the_stamp_only() -> None:
    meter, clock = _meter(release="R", d0_stamp_skew=-600.0)
    clock.advance(37)
    stamp, fwd, rev = _unpack_d0(_get(meter, 0xD0))
    assert stamp == datetime(2025, 11, 15, 13, 0, tzinfo=JST)
    minute = datetime(2025, 11, 15, 13, 10, tzinfo=JST)
    assert (fwd, rev) == (meter.forward_raw(minute), meter.reverse_raw(minute))
