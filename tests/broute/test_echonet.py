"""ECHONET Lite codec against the worked frames and real captures of the protocol reference.

Every expected value below was worked out by hand from the byte layouts (ECHONET Lite
format 1, class 0x0288 Release F and later), not taken from the code under test.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute.echonet import (
    CONTROLLER_EOJ,
    EPC,
    ESV,
    HV_METER_EOJ,
    LV_METER_EOJ,
    MAX_EPCS_PER_REQUEST,
    NODE_PROFILE_EOJ,
    EnergyScale,
    Frame,
    Property,
    build_get,
    build_inf_req,
    build_infc_res,
    build_setc,
    chunk_epcs,
    decode_coefficient,
    decode_coefficient_multiplier,
    decode_cumulative,
    decode_date,
    decode_digits,
    decode_fault,
    decode_fixed_time,
    decode_frame,
    decode_history1,
    decode_history2,
    decode_history2_day,
    decode_history3,
    decode_history3_day,
    decode_instance_list,
    decode_instantaneous_current,
    decode_instantaneous_power,
    decode_maker_code,
    decode_one_minute,
    decode_operation_status,
    decode_property_map,
    decode_release,
    decode_route_b_id,
    decode_serial,
    decode_time,
    decode_unit,
    encode_frame,
    encode_history1_day,
    encode_history2_day,
    encode_history3_day,
    encode_property_map,
    encode_unit,
)
from custom_components.broute_meter.broute.errors import EchonetDecodeError
from custom_components.broute_meter.broute.makers import MAKER_CODES, maker_name

if TYPE_CHECKING:
    from collections.abc import Callable


def h(text: str) -> bytes:
    """Hex with optional spaces, as printed in the reference."""
    return bytes.fromhex(text.replace(" ", ""))


# --- worked frames (reference §B.5) ----------------------------------------------------


def test_build_get_e7_e8_e0_e3() -> None:
    frame = build_get(1, [0xE7, 0xE8, 0xE0, 0xE3])
    assert frame == h("10 81 00 01 05 FF 01 02 88 01 62 04 E7 00 E8 00 E0 00 E3 00")
    assert len(frame) == 0x14


def test_get_res_e7_e8_e0_e3() -> None:
    data = h(
        "10 81 00 01 02 88 01 05 FF 01 72 04 E7 04 00 00 02 78 E8 04 00 1E 00 32"
        " E0 04 00 00 FE 73 E3 04 00 00 01 2C"
    )
    assert len(data) == 0x24
    frame = decode_frame(data)
    assert frame.tid == 1
    assert frame.seoj == (0x02, 0x88, 0x01)
    assert frame.deoj == (0x05, 0xFF, 0x01)
    assert frame.esv == ESV.GET_RES
    assert frame.is_response()
    assert not frame.is_sna()
    assert not frame.is_notification()
    assert [p.epc for p in frame.properties] == [0xE7, 0xE8, 0xE0, 0xE3]
    values = frame.values()
    assert decode_instantaneous_power(values[0xE7]) == 632  # 0x278
    assert decode_instantaneous_current(values[0xE8]) == (3.0, 5.0)  # 0x1E, 0x32 deci-amps
    assert decode_cumulative(values[0xE0]) == 65139  # 0xFE73
    assert decode_cumulative(values[0xE3]) == 300  # 0x12C
    assert encode_frame(frame) == data


def test_get_sna_keeps_the_values_that_came_back() -> None:
    data = h(
        "10 81 00 01 02 88 01 05 FF 01 52 04 E7 04 00 00 02 78 E8 04 00 1E 00 32"
        " E0 04 00 00 FE 73 E3 00"
    )
    frame = decode_frame(data)
    assert frame.esv == ESV.GET_SNA
    assert frame.is_sna()
    assert frame.is_response()
    assert set(frame.values()) == {0xE7, 0xE8, 0xE0}
    assert frame.property(0xE3) == b""  # present, PDC 0: refused
    assert frame.property(0xEA) is None  # not in the frame at all
    assert frame.property(0xE7) == h("00 00 02 78")


def test_get_ea_and_its_response() -> None:
    assert build_get(2, [EPC.FIXED_TIME_FORWARD]) == h("10 81 00 02 05 FF 01 02 88 01 62 01 EA 00")
    data = h("10 81 00 02 02 88 01 05 FF 01 72 01 EA 0B 07 E9 0B 0F 0C 1E 00 00 01 03 A2")
    assert len(data) == 0x19
    frame = decode_frame(data)
    reading = decode_fixed_time(frame.values()[0xEA])
    assert reading.timestamp == datetime(2025, 11, 15, 12, 30, 0)
    assert reading.raw == 66466
    scale = EnergyScale(coefficient=1, unit=decode_unit(b"\x01"), digits=6)
    assert scale.to_kwh(66466) == Decimal("6646.6")


def test_setc_e5_and_set_res() -> None:
    request = build_setc(3, [(EPC.HISTORY1_DAY, encode_history1_day(1))])
    assert request == h("10 81 00 03 05 FF 01 02 88 01 61 01 E5 01 01")
    reply = decode_frame(h("10 81 00 03 02 88 01 05 FF 01 71 01 E5 00"))
    assert reply.esv == ESV.SET_RES
    assert reply.is_response()
    assert reply.properties == (Property(0xE5),)
    assert reply.values() == {}


def test_get_e2() -> None:
    assert build_get(4, [0xE2]) == h("10 81 00 04 05 FF 01 02 88 01 62 01 E2 00")


def test_setc_ed_two_segments() -> None:
    edt = encode_history2_day(datetime(2025, 11, 15, 12, 0), 2)
    assert build_setc(6, [(0xED, edt)]) == h(
        "10 81 00 06 05 FF 01 02 88 01 61 01 ED 07 07 E9 0B 0F 0C 00 02"
    )
    assert decode_history2_day(edt) == (datetime(2025, 11, 15, 12, 0), 2)


def test_ec_response_two_segments_newest_first() -> None:
    data = h(
        "10 81 00 07 02 88 01 05 FF 01 72 01 EC 17 07 E9 0B 0F 0C 00 02"
        " 00 01 03 A2 00 00 00 10 00 01 03 9D 00 00 00 10"
    )
    assert len(data) == 37
    history = decode_history2(decode_frame(data).values()[0xEC])
    assert history.start == datetime(2025, 11, 15, 12, 0)
    assert history.values == ((66466, 16), (66461, 16))
    assert list(history.slots()) == [
        (datetime(2025, 11, 15, 12, 0), 66466, 16),
        (datetime(2025, 11, 15, 11, 30), 66461, 16),
    ]


def test_inf_req_d5() -> None:
    assert build_inf_req(5, [EPC.INSTANCE_LIST_NOTIFICATION]) == h(
        "10 81 00 05 05 FF 01 0E F0 01 63 01 D5 00"
    )


def test_d5_instance_list_notification() -> None:
    frame = decode_frame(h("10 81 00 00 0E F0 01 0E F0 01 73 01 D5 04 01 02 88 01"))
    assert frame.seoj == NODE_PROFILE_EOJ
    assert frame.deoj == NODE_PROFILE_EOJ
    assert frame.esv == ESV.INF
    assert frame.is_notification()
    assert not frame.is_response()
    assert decode_instance_list(frame.values()[0xD5]) == (LV_METER_EOJ,)


# --- real captures (reference §B.4, §B.5, §C.1) ---------------------------------------


def test_capture_rs_wsuha_e7_228_watts() -> None:
    frame = decode_frame(h("1081525302880105FF017201E704000000E4"))
    assert frame.tid == 0x5253
    assert decode_instantaneous_power(frame.values()[0xE7]) == 228


def test_capture_ea_get_res() -> None:
    frame = decode_frame(h("1081000102880105FF01") + h("7201EA0B07EA05140E00000000FE68"))
    reading = decode_fixed_time(frame.values()[0xEA])
    assert reading.timestamp == datetime(2026, 5, 20, 14, 0, 0)
    assert reading.raw == 0xFE68


def test_capture_periodic_inf_ea_eb() -> None:
    # Unsolicited 30-minute INF: EA and EB in one frame, addressed to the controller.
    data = h("1081000102880105FF01") + h("7302EA0B07E70C13001E000000458EEB0B07E70C13001E0000000015")
    frame = decode_frame(data)
    assert frame.esv == ESV.INF
    assert frame.deoj == CONTROLLER_EOJ
    forward = decode_fixed_time(frame.values()[0xEA])
    reverse = decode_fixed_time(frame.values()[0xEB])
    assert forward.timestamp == datetime(2023, 12, 19, 0, 30)
    assert forward.raw == 0x458E
    assert reverse.timestamp == forward.timestamp
    assert reverse.raw == 0x15


def test_capture_second_periodic_inf_ea() -> None:
    edt = h("07E606150F1E0000016CA7")
    reading = decode_fixed_time(edt)
    assert reading.timestamp == datetime(2022, 6, 21, 15, 30)
    assert reading.raw == 0x16CA7


def test_capture_super_class_values() -> None:
    assert decode_digits(h("06")) == 6  # D7 0106
    assert decode_release(h("00004600")) == "F"  # 82 00004600
    assert decode_operation_status(h("30")) is True  # 800130
    assert decode_fault(h("42")) is False  # 880142
    assert decode_time(h("0E1A")) == time(14, 26)  # 97020E1A
    assert decode_date(h("07EA0514")) == date(2026, 5, 20)  # 980407EA0514


# The 25 EPCs listed next to the Release F Get-property-map capture.
REAL_GET_MAP = h("19 41 41 41 60 40 40 00 62 43 00 41 40 40 43 02 02")
REAL_GET_MAP_EPCS = frozenset(
    h("80 81 82 88 8A 8D 97 98 9D 9E 9F D3 D7 E0 E1 E2 E3 E4 E5 E7 E8 EA EB EC ED")
)


def test_capture_get_property_map_bitmap() -> None:
    assert len(REAL_GET_MAP_EPCS) == 25
    assert decode_property_map(REAL_GET_MAP) == REAL_GET_MAP_EPCS
    assert encode_property_map(REAL_GET_MAP_EPCS) == REAL_GET_MAP


def test_capture_set_and_announce_maps_list_form() -> None:
    assert decode_property_map(h("03 81 E5 ED")) == {0x81, 0xE5, 0xED}
    assert decode_property_map(h("03 80 81 88")) == {0x80, 0x81, 0x88}
    assert encode_property_map([0xED, 0x81, 0xE5]) == h("03 81 E5 ED")


def test_property_map_bitmap_bit_positions() -> None:
    # Byte i bit b stands for ((8 + b) << 4) | i: 0x80 is byte 0 bit 0, 0xFF byte 15 bit 7.
    epcs = set(range(0x80, 0x8F))  # 15: still list form
    assert encode_property_map(epcs)[0] == 15
    assert len(encode_property_map(epcs)) == 16
    bitmap = encode_property_map({*range(0x80, 0x8F), 0xFF})
    assert bitmap[0] == 16
    assert len(bitmap) == 17
    assert bitmap[1] == 0x01  # 0x80
    assert bitmap[15] == 0x01  # 0x8E: byte 14 bit 0
    assert bitmap[16] == 0x80  # 0xFF: byte 15 bit 7 (0x8F is not in the set)
    assert decode_property_map(bitmap) == {*range(0x80, 0x8F), 0xFF}


# --- property decoders ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edt", "watts"),
    [
        ("00000278", 632),
        ("FFFFFF9C", -100),  # export
        ("80000001", -2_147_483_647),  # lowest valid
        ("7FFFFFFD", 2_147_483_645),  # highest valid
        ("7FFFFFFE", None),  # no data
        ("7FFFFFFF", None),  # overflow
        ("80000000", None),  # underflow
    ],
)
def test_instantaneous_power(edt: str, watts: int | None) -> None:
    assert decode_instantaneous_power(h(edt)) == watts


@pytest.mark.parametrize(
    ("edt", "amps"),
    [
        ("001E0032", (3.0, 5.0)),
        ("001E7FFE", (3.0, None)),  # single-phase two-wire: T has no data
        ("FFEC0000", (-2.0, 0.0)),  # signed
        ("7FFF8000", (None, None)),  # overflow, underflow
        ("80017FFD", (-3276.7, 3276.5)),  # range limits
    ],
)
def test_instantaneous_current(edt: str, amps: tuple[float | None, float | None]) -> None:
    assert decode_instantaneous_current(h(edt)) == amps


@pytest.mark.parametrize(
    ("edt", "raw"),
    [
        ("00000000", 0),
        ("05F5E0FF", 99_999_999),
        ("05F5E100", None),  # 100,000,000 does not fit eight digits
        ("FFFFFFFE", None),  # no data
        ("FFFFFFFF", None),
    ],
)
def test_cumulative(edt: str, raw: int | None) -> None:
    assert decode_cumulative(h(edt)) == raw


@pytest.mark.parametrize(
    ("code", "unit"),
    [
        (0x00, "1"),
        (0x01, "0.1"),
        (0x02, "0.01"),
        (0x03, "0.001"),
        (0x04, "0.0001"),
        (0x0A, "10"),
        (0x0B, "100"),
        (0x0C, "1000"),
        (0x0D, "10000"),
    ],
)
def test_unit_table(code: int, unit: str) -> None:
    assert decode_unit(bytes((code,))) == Decimal(unit)
    assert encode_unit(Decimal(unit)) == bytes((code,))


@pytest.mark.parametrize("code", [0x05, 0x09, 0x0E, 0xFF])
def test_unknown_unit_code(code: int) -> None:
    with pytest.raises(EchonetDecodeError):
        decode_unit(bytes((code,)))


def test_coefficient_and_digits() -> None:
    assert decode_coefficient(h("00000001")) == 1
    assert decode_coefficient(h("000F423F")) == 999_999
    for bad in ("00000000", "000F4240"):
        with pytest.raises(EchonetDecodeError):
            decode_coefficient(h(bad))
    assert decode_digits(h("08")) == 8
    for bad in ("00", "09"):
        with pytest.raises(EchonetDecodeError):
            decode_digits(h(bad))
    assert decode_coefficient_multiplier(h("02")) == Decimal("0.01")
    with pytest.raises(EchonetDecodeError):
        decode_coefficient_multiplier(h("04"))


def test_history1() -> None:
    slots = [0x0103A2 + i for i in range(48)]
    slots[47] = 0xFFFFFFFE  # not measured yet
    edt = (1).to_bytes(2, "big") + b"".join(v.to_bytes(4, "big") for v in slots)
    assert len(edt) == 194
    history = decode_history1(edt)
    assert history.day == 1
    assert len(history.values) == 48
    assert history.values[0] == 66466
    assert history.values[46] == 66466 + 46
    assert history.values[47] is None
    assert history.slot_time(0) == time(0, 0)
    assert history.slot_time(1) == time(0, 30)
    assert history.slot_time(47) == time(23, 30)


def test_history1_default_day_marker() -> None:
    edt = h("00FF") + h("FFFFFFFE") * 48
    history = decode_history1(edt)
    assert history.day == 0xFF
    assert history.values == (None,) * 48


def test_history2_no_data_pairs() -> None:
    edt = h("07E9 0B 0F 00 00 01 FFFFFFFE 00000000")
    history = decode_history2(edt)
    assert history.start == datetime(2025, 11, 15, 0, 0)
    assert history.values == ((None, 0),)


def test_history2_count_and_length_checked() -> None:
    with pytest.raises(EchonetDecodeError):  # 13 pairs announced
        decode_history2(h("07E90B0F0C000D") + bytes(8 * 13))
    with pytest.raises(EchonetDecodeError):  # 2 announced, 1 present
        decode_history2(h("07E90B0F0C0002") + bytes(8))
    with pytest.raises(EchonetDecodeError):  # month 13
        decode_history2(h("07E90D0F0C0001") + bytes(8))


def test_history3_one_minute_pairs() -> None:
    edt = h("07E9 0B 0F 0C 1F 02 000103A3 00000010 000103A2 00000010")
    history = decode_history3(edt)
    assert [stamp for stamp, _, _ in history.slots()] == [
        datetime(2025, 11, 15, 12, 31),
        datetime(2025, 11, 15, 12, 30),
    ]
    assert history.values == ((66467, 16), (66466, 16))
    with pytest.raises(EchonetDecodeError):  # 11 pairs: EE holds at most 10
        decode_history3(h("07E90B0F0C1F0B") + bytes(8 * 11))


def test_history3_setting() -> None:
    edt = encode_history3_day(datetime(2025, 11, 15, 12, 31), 10)
    assert edt == h("07E9 0B 0F 0C 1F 0A")
    assert decode_history3_day(edt) == (datetime(2025, 11, 15, 12, 31), 10)
    with pytest.raises(ValueError, match="count"):
        encode_history3_day(datetime(2025, 11, 15, 12, 31), 11)


def test_history2_setting_validation() -> None:
    with pytest.raises(ValueError, match="minute"):
        encode_history2_day(datetime(2025, 11, 15, 12, 15), 1)
    for count in (0, 13):
        with pytest.raises(ValueError, match="count"):
            encode_history2_day(datetime(2025, 11, 15, 12, 30), count)
    assert encode_history2_day(datetime(2025, 11, 15, 23, 30), 12) == h("07E90B0F171E0C")


def test_history1_day_setting_validation() -> None:
    assert encode_history1_day(99) == b"\x63"
    with pytest.raises(ValueError, match="0-99"):
        encode_history1_day(100)


def test_one_minute_reading() -> None:
    edt = h("07E9 0B 0F 0C 1F 00 000103A3 FFFFFFFE")
    reading = decode_one_minute(edt)
    assert reading.timestamp == datetime(2025, 11, 15, 12, 31)
    assert reading.forward == 66467
    assert reading.reverse is None


def test_route_b_id_never_shown() -> None:
    edt = h("00112233445566778899AABBCCDD1234")
    ident = decode_route_b_id(edt)
    assert ident.maker_code == 0x112233
    assert ident.matches("00112233445566778899aabbccdd1234")
    assert not ident.matches("00112233445566778899AABBCCDD1235")
    for shown in (repr(ident), str(ident), ident.digest.hex()):
        assert "ccdd1234" not in shown.lower()
        assert "445566" not in shown


def test_maker_code_and_name() -> None:
    assert decode_maker_code(h("000016")) == 0x16
    assert maker_name(0x000016) == "Toshiba"
    assert maker_name(0x000006) == "Mitsubishi Electric"
    assert maker_name(0xFFFFFF) is None
    assert all(0 < code < 0xFFFFFE for code in MAKER_CODES)


@pytest.mark.parametrize(
    ("edt", "serial"),
    [
        (b"ABC123" + b"\x00" * 6, "ABC123"),  # NUL padding
        (b"  XYZ 0001  ", "XYZ 0001"),  # space padding, inner space kept
        (b"\x00" * 12, ""),
        (b"AB\xff\x01" + b"\x00" * 8, "AB\\xff\\x01"),  # not ASCII: visible, not dropped
    ],
)
def test_serial(edt: bytes, serial: str) -> None:
    assert decode_serial(edt) == serial


def test_release_without_letter() -> None:
    assert decode_release(h("00004A00")) == "J"
    assert decode_release(h("01010000")) is None
    assert decode_release(h("00006600")) is None  # lower case is not a release letter


def test_instance_list() -> None:
    assert decode_instance_list(h("00")) == ()
    assert decode_instance_list(h("02 028801 028A01")) == (LV_METER_EOJ, HV_METER_EOJ)
    with pytest.raises(EchonetDecodeError):
        decode_instance_list(h("02 028801"))  # count says 2, one present
    with pytest.raises(EchonetDecodeError):
        decode_instance_list(bytes((85,)) + bytes(3 * 85))  # more than 84


def test_status_codes_outside_table() -> None:
    with pytest.raises(EchonetDecodeError):
        decode_operation_status(h("32"))
    with pytest.raises(EchonetDecodeError):
        decode_fault(h("40"))
    assert decode_fault(h("41")) is True
    assert decode_operation_status(h("31")) is False


@pytest.mark.parametrize(
    "bad",
    [
        "07E90B000C0000",  # day 0
        "07E9021F0C0000",  # 31 February
        "07E90D0F0C0000",  # month 13
        "07E90B0F180000",  # hour 24
        "07E90B0F0C3C00",  # minute 60
        "07E90B0F0C003C",  # second 60
    ],
)
def test_fixed_time_invalid_timestamp(bad: str) -> None:
    with pytest.raises(EchonetDecodeError):
        decode_fixed_time(h(bad) + h("00000001"))


def test_invalid_date_and_time() -> None:
    with pytest.raises(EchonetDecodeError):
        decode_date(h("07E90230"))
    with pytest.raises(EchonetDecodeError):
        decode_time(h("1800"))


# Every decoder with the one EDT length it accepts.
FIXED_LENGTH_DECODERS: list[tuple[Callable[[bytes], object], int]] = [
    (decode_instantaneous_power, 4),
    (decode_instantaneous_current, 4),
    (decode_cumulative, 4),
    (decode_unit, 1),
    (decode_coefficient, 4),
    (decode_coefficient_multiplier, 1),
    (decode_digits, 1),
    (decode_fixed_time, 11),
    (decode_history1, 194),
    (decode_history2_day, 7),
    (decode_history3_day, 7),
    (decode_one_minute, 15),
    (decode_route_b_id, 16),
    (decode_maker_code, 3),
    (decode_serial, 12),
    (decode_release, 4),
    (decode_date, 4),
    (decode_time, 2),
    (decode_operation_status, 1),
    (decode_fault, 1),
]


@pytest.mark.parametrize(
    ("decoder", "size"), FIXED_LENGTH_DECODERS, ids=[d.__name__ for d, _ in FIXED_LENGTH_DECODERS]
)
def test_wrong_length_rejected(decoder: Callable[[bytes], object], size: int) -> None:
    for length in (0, size - 1, size + 1):
        with pytest.raises(EchonetDecodeError):
            decoder(b"\x01" * length)


@pytest.mark.parametrize(
    "decoder", [decode_history2, decode_history3, decode_property_map, decode_instance_list]
)
def test_variable_length_decoders_reject_empty_and_bad_lengths(
    decoder: Callable[[bytes], object],
) -> None:
    with pytest.raises(EchonetDecodeError):
        decoder(b"")
    with pytest.raises(EchonetDecodeError):
        decoder(h("07E90B0F0C0001") + bytes(9))  # one byte too many for any of them


def test_property_map_lengths() -> None:
    with pytest.raises(EchonetDecodeError):
        decode_property_map(h("03 80 81"))  # list too short
    with pytest.raises(EchonetDecodeError):
        decode_property_map(REAL_GET_MAP[:-1])  # bitmap too short
    with pytest.raises(EchonetDecodeError):
        decode_property_map(REAL_GET_MAP + b"\x00")


# --- frames: errors, unknown codes, builders ----------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "",
        "1081000102880105FF0172",  # 11 bytes: no OPC
        "1181000102880105FF017200",  # EHD1
        "1082000102880105FF017200",  # format 2 is not used on the B-route
        "1081000102880105FF017201",  # OPC 1, nothing follows
        "1081000102880105FF017201E7",  # EPC without PDC
        "1081000102880105FF017201E704000002",  # PDC 4, 3 bytes
        "1081000102880105FF017201E70400000278FF",  # trailing byte
        "1081000102880105FF017200E700",  # OPC 0 but a property follows
    ],
)
def test_malformed_frames(data: str) -> None:
    with pytest.raises(EchonetDecodeError):
        decode_frame(h(data))


def test_unknown_esv_kept_as_int() -> None:
    frame = decode_frame(h("1081000102880105FF019901E700"))
    assert frame.esv == 0x99
    assert not isinstance(frame.esv, ESV)
    assert not frame.is_response()
    assert encode_frame(frame) == h("1081000102880105FF019901E700")


def test_known_esv_becomes_enum() -> None:
    frame = decode_frame(h("1081000102880105FF017E00"))
    assert frame.esv is ESV.SETGET_RES
    assert frame.properties == ()


def test_infc_res_mirrors_the_request() -> None:
    infc = decode_frame(
        h("10 81 12 34 02 88 01 05 FF 01 74 01 EA 0B 07 E9 0B 0F 0C 1E 00 00 01 03 A2")
    )
    assert build_infc_res(infc) == h("10 81 12 34 05 FF 01 02 88 01 7A 01 EA 00")
    with pytest.raises(ValueError, match="INFC"):
        build_infc_res(decode_frame(h("10 81 00 00 0E F0 01 0E F0 01 73 01 D5 04 01 02 88 01")))


def test_request_size_limits() -> None:
    assert MAX_EPCS_PER_REQUEST == 6
    with pytest.raises(ValueError, match="chunk_epcs"):
        build_get(1, range(0xE0, 0xE7))
    with pytest.raises(ValueError, match="at least one"):
        build_get(1, [])
    assert chunk_epcs([0xE7, 0xE8, 0xE0, 0xE3, 0xE1, 0xD3, 0xD7, 0xE7, 0x80]) == [
        (0xE7, 0xE8, 0xE0, 0xE3, 0xE1, 0xD3),
        (0xD7, 0x80),
    ]


def test_encode_rejects_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="TID"):
        encode_frame(Frame(0x10000, CONTROLLER_EOJ, LV_METER_EOJ, ESV.GET, ()))
    with pytest.raises(ValueError, match="EOJ"):
        encode_frame(Frame(1, (0x05, 0xFF, 0x100), LV_METER_EOJ, ESV.GET, ()))
    with pytest.raises(ValueError, match="255"):
        encode_frame(
            Frame(1, CONTROLLER_EOJ, LV_METER_EOJ, ESV.SETC, (Property(0xE5, bytes(256)),))
        )
    with pytest.raises(ValueError, match="0x80-0xFF"):
        encode_property_map([0x7F])
    with pytest.raises(ValueError, match="ESV"):
        encode_frame(Frame(1, CONTROLLER_EOJ, LV_METER_EOJ, 0x100, ()))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too many properties"):
        encode_frame(Frame(1, CONTROLLER_EOJ, LV_METER_EOJ, ESV.GET, (Property(0xE7, b""),) * 256))
    with pytest.raises(ValueError, match="EPC"):
        encode_frame(Frame(1, CONTROLLER_EOJ, LV_METER_EOJ, ESV.GET, (Property(0x100, b""),)))
    with pytest.raises(ValueError, match="no unit code"):
        encode_unit(Decimal("0.5"))  # the unit table (E1) has no 0.5 kWh


def test_builders_target_other_objects() -> None:
    assert build_get(9, [0xE2], deoj=HV_METER_EOJ) == h("10 81 00 09 05 FF 01 02 8A 01 62 01 E2 00")
    assert build_inf_req(0xABCD, [0xD6], deoj=LV_METER_EOJ)[2:4] == h("AB CD")


def test_epc_aliases_are_the_same_members() -> None:
    # Looked up by name: the integration's short names must be the very same members.
    assert EPC["FORWARD_ENERGY"] is EPC["CUMULATIVE_FORWARD"]
    assert EPC["FIXED_TIME_REVERSE_ENERGY"] is EPC["FIXED_TIME_REVERSE"]
    assert int(EPC.SERIAL_NUMBER) == 0x8D
    assert int(EPC.INSTANTANEOUS_POWER) == 0xE7


# --- energy scale -------------------------------------------------------------------------


def test_wrap_delta() -> None:
    scale = EnergyScale(digits=6)
    assert scale.modulus == 1_000_000
    assert scale.delta(999_998, 3) == 5  # wrapped, not a drop
    assert scale.delta(100, 150) == 50
    assert scale.delta(150, 150) == 0
    assert scale.to_kwh(scale.delta(999_998, 3)) == Decimal("0.5")


def test_plausible_step() -> None:
    scale = EnergyScale(digits=6)
    assert scale.is_plausible_step(999_998, 3, max_step=10)
    assert not scale.is_plausible_step(150, 149, max_step=10)  # a glitch, not a full lap
    assert not scale.is_plausible_step(100, 200, max_step=10)
    assert not scale.is_plausible_step(100, 1_000_000, max_step=10)  # beyond six digits


def test_scale_with_coefficient() -> None:
    scale = EnergyScale(coefficient=40, unit=Decimal("0.01"), digits=8)
    assert scale.to_kwh(12345) == Decimal("4938.00")
    assert scale.modulus == 100_000_000


def test_scale_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="coefficient"):
        EnergyScale(coefficient=0)
    with pytest.raises(ValueError, match="unit"):
        EnergyScale(unit=Decimal(0))
    with pytest.raises(ValueError, match="digits"):
        EnergyScale(digits=9)
