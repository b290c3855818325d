"""Ground truth of the simulated meter: load model, registers and property encodings."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from simulator import JST, ManualClock, MeterConfig, SimulatedMeter
from simulator.echonet import Frame, decode_property_map

from .conftest import START

CONTROLLER = bytes.fromhex("05FF01")
METER = bytes.fromhex("028801")


def _meter(**kwargs: object) -> tuple[SimulatedMeter, ManualClock]:
    clock = ManualClock(START)
    return SimulatedMeter(MeterConfig(**kwargs), clock), clock  # type: ignore[arg-type]


def _ask(meter: SimulatedMeter, esv: int, *props: tuple[int, bytes]) -> Frame:
    replies = meter.handle(Frame(0x1234, CONTROLLER, METER, esv, list(props)))
    assert len(replies) == 1
    return replies[0][0]


def _integrate_ws(meter: SimulatedMeter, until: datetime) -> tuple[int, int]:
    """Integrate the reported power second-exactly (it is constant within each minute)."""
    t = meter.history_start
    imp = exp = 0
    while t < until:
        step = min(60, int((until - t).total_seconds()))
        p = meter.model_power_w(t)
        if p > 0:
            imp += p * step
        else:
            exp += -p * step
        t += timedelta(seconds=step)
    return imp, exp


@pytest.mark.parametrize(("coefficient", "unit_code"), [(1, 0x01), (10, 0x02), (None, 0x03)])
def test_registers_are_the_integral_of_power(coefficient: int | None, unit_code: int) -> None:
    meter, _ = _meter(coefficient=coefficient, unit_code=unit_code, retention_days=3)
    ws_per_raw = {0x01: 360_000, 0x02: 36_000, 0x03: 3_600}[unit_code] * (coefficient or 1)
    for when in (
        datetime(2025, 11, 15, 0, 0, tzinfo=JST),
        datetime(2025, 11, 15, 12, 30, tzinfo=JST),
        datetime(2025, 11, 15, 13, 7, 17, tzinfo=JST),
    ):
        imp, exp = _integrate_ws(meter, when)
        assert meter.forward_raw(when) == (12_345 + imp // ws_per_raw) % 10**6
        assert meter.reverse_raw(when) == (678 + exp // ws_per_raw) % 10**6
    raw = meter.forward_raw()
    assert raw is not None
    assert meter.forward_kwh() == raw * meter.kwh_per_raw
    assert meter.kwh_per_raw == {
        0x01: Decimal("0.1"),
        0x02: Decimal("0.01"),
        0x03: Decimal("0.001"),
    }[unit_code] * (coefficient or 1)


def test_register_wraps_at_digits() -> None:
    meter, _ = _meter(
        initial_forward_raw=99_990,
        digits=5,
        history_start=datetime(2025, 11, 14, tzinfo=JST),
    )
    values = meter.history_day(1)
    assert all(v is not None and 0 <= v < 10**5 for v in values)
    first, last = values[0], values[-1]
    assert first == 99_990
    assert last is not None
    # A whole day of household load is far more than 10 × 0.1 kWh: the register wrapped.
    assert last < first
    imp, _ = _integrate_ws(meter, datetime(2025, 11, 14, 23, 30, tzinfo=JST))
    assert last == (99_990 + imp // 360_000) % 10**5


def test_daytime_export_and_night_import() -> None:
    meter, _ = _meter(seed=3)
    noon = datetime(2025, 11, 14, 12, 0, tzinfo=JST)
    night = datetime(2025, 11, 14, 2, 0, tzinfo=JST)
    day_powers = [meter.power_w(noon + timedelta(minutes=m)) for m in range(-60, 60)]
    assert min(day_powers) < 0
    assert meter.power_w(night) > 0
    assert (meter.reverse_raw(noon + timedelta(hours=2)) or 0) > (meter.reverse_raw(noon) or 0)
    no_solar, _ = _meter(seed=3, reverse_metering=False)
    assert min(no_solar.power_w(noon + timedelta(minutes=m)) for m in range(-60, 60)) > 0
    assert no_solar.reverse_raw() is None
    gets = decode_property_map(no_solar.read_meter(0x9F) or b"")
    assert {0xE3, 0xE4, 0xEB}.isdisjoint(gets)
    assert 0xE0 in gets


def test_same_seed_same_truth_other_seed_differs() -> None:
    a, _ = _meter(seed=7)
    b, _ = _meter(seed=7)
    c, _ = _meter(seed=8)
    assert a.history_day(2) == b.history_day(2)
    assert a.history_day(2) != c.history_day(2)


def test_history_day_marks_future_and_pre_service_slots_as_no_data() -> None:
    service = datetime(2025, 11, 14, 9, 0, tzinfo=JST)
    meter, _ = _meter(service_start=service)
    today = meter.history_day(0)
    # 13:10 now → slots up to 13:00 (index 26) exist, later ones do not.
    assert today[26] is not None
    assert today[27:] == [None] * 21
    yesterday = meter.history_day(1)
    assert yesterday[:18] == [None] * 18
    assert yesterday[18] == 12_345  # the register starts at its initial value
    edt = _ask(meter, 0x62, (0xE2, b"")).props[0][1]
    assert edt[2 + 27 * 4 : 2 + 28 * 4] == bytes.fromhex("FFFFFFFE")


def test_e7_e8_encodings_and_single_phase() -> None:
    meter, _ = _meter(single_phase=True, load_override_w=-1234)
    reply = _ask(meter, 0x62, (0xE7, b""), (0xE8, b""))
    assert reply.esv == 0x72
    assert reply.props[0] == (0xE7, (-1234).to_bytes(4, "big", signed=True))
    r = (-123).to_bytes(2, "big", signed=True)  # -12.3 A on one 100 V leg
    assert reply.props[1] == (0xE8, r + bytes.fromhex("7FFE"))
    assert meter.currents_a() == (-12.3, None)


def test_get_sna_rules_and_epc_limit() -> None:
    meter, _ = _meter(coefficient=None)
    epcs = [0xE0, 0xE1, 0xD7, 0xE7, 0xE8, 0x80, 0x88]
    reply = _ask(meter, 0x62, *[(e, b"") for e in epcs])
    assert reply.esv == 0x52
    assert [len(edt) for _, edt in reply.props] == [4, 1, 1, 4, 4, 1, 0]
    reply = _ask(meter, 0x62, (0xD3, b""), (0xE0, b""))
    assert reply.esv == 0x52
    assert reply.props[0] == (0xD3, b"")
    assert len(reply.props[1][1]) == 4


def test_setc_rules_for_e5_and_ed() -> None:
    meter, _ = _meter(retention_days=44)
    ok = _ask(meter, 0x61, (0xE5, b"\x2c"))
    assert (ok.esv, ok.props) == (0x71, [(0xE5, b"")])
    refused = _ask(meter, 0x61, (0xE5, b"\x2d"))
    assert (refused.esv, refused.props) == (0x51, [(0xE5, b"\x2d")])
    bad_minute = bytes.fromhex("07E90B0F0C0F02")  # 12:15 is not a boundary
    assert _ask(meter, 0x61, (0xED, bad_minute)).esv == 0x51
    future = bytes.fromhex("07E90B0F0E0002")  # 14:00, after now
    assert _ask(meter, 0x61, (0xED, future)).esv == 0x51
    assert _ask(meter, 0x61, (0xE7, b"\x00\x00\x00\x00")).esv == 0x51


def test_meter_clock_and_skew() -> None:
    meter, clock = _meter(clock_skew=-3600.0)
    reply = _ask(meter, 0x62, (0x97, b""), (0x98, b""), (0x8D, b""), (0x82, b""), (0xD7, b""))
    assert reply.props[0] == (0x97, bytes([12, 10]))
    assert reply.props[1] == (0x98, bytes.fromhex("07E90B0F"))
    assert reply.props[2] == (0x8D, b"SIM00000001\x00")
    assert reply.props[3] == (0x82, b"\x00\x00J\x00")
    assert reply.props[4] == (0xD7, b"\x06")
    clock.advance(3600)
    assert _ask(meter, 0x62, (0x97, b"")).props[0] == (0x97, bytes([13, 10]))


def test_unknown_object_is_ignored_and_node_profile_answers() -> None:
    meter, _ = _meter()
    assert meter.handle(Frame(1, CONTROLLER, bytes.fromhex("013001"), 0x62, [(0x80, b"")])) == []
    replies = meter.handle(
        Frame(2, CONTROLLER, bytes.fromhex("0EF001"), 0x62, [(0xD6, b""), (0xD7, b"")])
    )
    frame = replies[0][0]
    assert frame.props == [(0xD6, bytes.fromhex("01028801")), (0xD7, bytes.fromhex("010288"))]
