"""Release R properties of class 0x0288: D0, EE/EF and C0.

Every vector is written out by hand from the layout in docs/release-r.md (Release R
machine-readable data), byte by byte, not produced by the code under test.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from custom_components.broute_meter.broute.echonet import (
    decode_history3,
    decode_history3_day,
    decode_one_minute,
    decode_route_b_id,
    encode_history3_day,
)
from custom_components.broute_meter.broute.errors import EchonetDecodeError


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- D0 ----------------------------------------------------------------------------------


def test_one_minute_layout_date4_time3_forward_reverse() -> None:
    # 2026-12-01 09:41:00, forward 99,999,999 (the top of the range), reverse 258.
    reading = decode_one_minute(h("07EA 0C 01  09 29 00  05F5E0FF  00000102"))
    assert reading.timestamp == datetime(2026, 12, 1, 9, 41, 0)
    assert reading.forward == 99_999_999
    assert reading.reverse == 258


def test_one_minute_no_data_and_out_of_range() -> None:
    # 0xFFFFFFFE is "no data"; 0x05F5E100 (100,000,000) exceeds eight digits.
    reading = decode_one_minute(h("07EA 0C 01  09 29 00  FFFFFFFE  05F5E100"))
    assert reading.forward is None
    assert reading.reverse is None


def test_one_minute_keeps_seconds() -> None:
    # One public emulator stamps D0 with the current second, not the boundary.
    assert decode_one_minute(h("07EA0C01 092917 00000001 00000000")).timestamp.second == 23


@pytest.mark.parametrize(
    "edt",
    [
        "07EA 0D 01 09 29 00 00000001 00000000",  # month 13
        "07EA 0C 01 18 29 00 00000001 00000000",  # hour 24
        "07EA 0C 01 09 3C 00 00000001 00000000",  # minute 60
        "07EA 0C 01 09 29 00 00000001 000000",  # 14 bytes
    ],
)
def test_one_minute_rejects_bad_fields(edt: str) -> None:
    with pytest.raises(EchonetDecodeError):
        decode_one_minute(h(edt))


# --- EE / EF -----------------------------------------------------------------------------


def test_history3_newest_first_across_midnight() -> None:
    # Window ending 2026-12-02 00:01, 3 pairs: 00:01, 00:00, then 23:59 of the day before.
    history = decode_history3(
        h("07EA 0C 02 00 01 03  00000064 0000000A  00000063 0000000A  00000061 00000009")
    )
    assert list(history.slots()) == [
        (datetime(2026, 12, 2, 0, 1), 100, 10),
        (datetime(2026, 12, 2, 0, 0), 99, 10),
        (datetime(2026, 12, 1, 23, 59), 97, 9),
    ]


def test_history3_full_window_is_87_bytes() -> None:
    edt = h("07EA 0C 01 0C 00 0A") + h("00000001 FFFFFFFE") * 10
    assert len(edt) == 87
    history = decode_history3(edt)
    assert history.values == ((1, None),) * 10
    minutes = [stamp.minute for stamp, _, _ in history.slots()]
    assert minutes == [0, 59, 58, 57, 56, 55, 54, 53, 52, 51]


def test_history3_unset_window() -> None:
    history = decode_history3(h("FFFF FF FF FF FF 01  FFFFFFFE FFFFFFFE"))
    assert history.start is None
    assert history.values == ((None, None),)
    assert list(history.slots()) == []


@pytest.mark.parametrize(
    "edt",
    [
        "07EA 0C 01 0C 3C 01 00000001 00000001",  # minute 60
        "07EA 0C 01 0C 00 0B" + "00000001 00000001" * 11,  # 11 pairs
        "07EA 0C 01 0C 00 02 00000001 00000001",  # 2 announced, 1 present
        "FFFF FF FF FF FF 02 00000001 00000001",  # unset, still counted
        "07EA 0C 01 0C",  # truncated header
    ],
)
def test_history3_rejects_bad_layouts(edt: str) -> None:
    with pytest.raises(EchonetDecodeError):
        decode_history3(h(edt))


def test_history3_setting_encodes_minute_and_count() -> None:
    # Seconds are not part of EF; 23:59 → 0x17 0x3B; 10 pairs → 0x0A.
    assert encode_history3_day(datetime(2026, 12, 1, 23, 59, 42), 10) == h("07EA 0C 01 17 3B 0A")
    assert encode_history3_day(datetime(2026, 1, 9, 0, 7), 1) == h("07EA 01 09 00 07 01")
    for count in (0, 11):
        with pytest.raises(ValueError, match="count"):
            encode_history3_day(datetime(2026, 12, 1, 23, 59), count)


def test_history3_setting_decodes_and_unset() -> None:
    assert decode_history3_day(h("07EA 0C 01 17 3B 05")) == (datetime(2026, 12, 1, 23, 59), 5)
    assert decode_history3_day(h("FFFF FF FF FF FF 0A")) == (None, 10)
    with pytest.raises(EchonetDecodeError):
        decode_history3_day(h("07EA 0C 01 17 3C 05"))  # minute 60


# --- C0 ----------------------------------------------------------------------------------

# 0x00, maker code 0x000016, 12 maker-defined bytes.
C0_HEX = "00 000016 4142434445464748494A4B4C".replace(" ", "")


def test_route_b_id_16_bytes_maker_code() -> None:
    ident = decode_route_b_id(h(C0_HEX))
    assert ident.maker_code == 0x16
    assert ident.size == 16
    assert ident.matches(C0_HEX.lower())
    assert ident.matches(f"  {C0_HEX}  ")
    assert not ident.matches(C0_HEX[:-1] + "D")
    assert not ident.matches(C0_HEX[:-2])  # wrong length
    assert not ident.matches("Z" * 32)  # not hex


def test_route_b_id_8_byte_emulator_form() -> None:
    ident = decode_route_b_id(b"EMULATOR")
    assert ident.maker_code is None
    assert ident.size == 8
    assert ident.matches(b"EMULATOR".hex())


@pytest.mark.parametrize("size", [0, 7, 9, 12, 15, 17])
def test_route_b_id_other_sizes_rejected(size: int) -> None:
    with pytest.raises(EchonetDecodeError):
        decode_route_b_id(bytes(size))


def test_route_b_id_is_never_exposed() -> None:
    ident = decode_route_b_id(h(C0_HEX))
    shown = [repr(ident), str(ident), ident.digest.hex(), ident.fingerprint(b"k")]
    for text in shown:
        assert "4142434445" not in text.upper()
        assert "ABCDE" not in text.upper()


def test_route_b_id_fingerprint_and_same_meter() -> None:
    one = decode_route_b_id(h(C0_HEX))
    again = decode_route_b_id(h(C0_HEX))
    other = decode_route_b_id(h(C0_HEX[:-2] + "4D"))
    assert one.same_meter(again)
    assert not one.same_meter(other)
    assert one.fingerprint(b"entry-1") == again.fingerprint(b"entry-1")
    assert one.fingerprint(b"entry-1") != one.fingerprint(b"entry-2")  # keyed
    assert one.fingerprint(b"entry-1") != other.fingerprint(b"entry-1")
    assert len(one.fingerprint(b"entry-1")) == 32
