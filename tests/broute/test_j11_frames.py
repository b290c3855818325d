"""J11 frame codec: public byte vectors, field layouts and a splitter that survives junk.

The vectors are other people's bytes, not ours: the frame samples of ROHM's B-route
application note for the J11 firmware (63AN028E, as transcribed in the
home-assistant-broute-j11 fixtures) and the parser/serialiser tests of Tosainu's
bp35c0-j11 crate. Each one is decoded and re-encoded byte for byte, so both checksums,
the length field and the unique codes are checked against independent implementations.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings, strategies as st
import pytest

from custom_components.broute_meter.broute.links.j11_frames import (
    REQUEST_UNIQUE,
    RESPONSE_UNIQUE,
    Beacon,
    FrameSplitter,
    J11Frame,
    J11FrameError,
    active_scan_data,
    checksum,
    decode_frame,
    encode_frame,
    encode_request,
    initial_settings_data,
    parse_connection,
    parse_pana_result,
    parse_received,
    parse_route_b_started,
    parse_scan_result,
    parse_version,
    route_b_auth_data,
    transmit_data,
    transmit_result,
)


def unhex(text: str) -> bytes:
    return bytes.fromhex(text)


# ROHM 63AN028E samples (row labels F1…F22 are the note's).
ROHM_REQUESTS = {
    "F1 reset": "D0EA83FC 00D9 0004 0416 0000",
    "F3 initial settings ch4": "D0EA83FC 005F 0008 03A0 0009 05000400",
    "F5 credentials": (
        "D0EA83FC 0054 0030 03BD 09D4"
        " 30303131323233333434353536363737 38383939414142424343444445454646"
        " 303132333435363738394142"
    ),
    "F7 active scan": "D0EA83FC 0051 0012 039C 041D 06 0003FFF0 01 4343444445454646",
    "F10 initial settings ch12": "D0EA83FC 005F 0008 03A0 0011 05000C00",
    "F12 start route B": "D0EA83FC 0053 0004 0390 0000",
    "F14 open UDP": "D0EA83FC 0005 0006 0344 0028 0E1A",
    "F16 start PANA": "D0EA83FC 0056 0004 0393 0000",
    "F20 transmit": (
        "D0EA83FC 0008 002A 036B 0A75"
        " FE80000000000000 0250C2FFFEDC2822 0E1A 0E1A 0010"
        " 1081 0006 05FF01 028801 62 02 EA00 EB00"
    ),
}
ROHM_RESPONSES = {
    "F2 booted": "D0F9EE5D 6019 0004 0391 0000",
    "F4 initial settings": "D0F9EE5D 205F 0005 0398 0001 01",
    "F6 credentials": "D0F9EE5D 2054 0005 038D 0001 01",
    "F8 no beacon": "D0F9EE5D 4051 0006 03AB 0005 0104",
    "F8 beacon": "D0F9EE5D 4051 0012 03B7 06BA 000C01 0050C2FFFEDC2822 BCDE DE",
    "F9 active scan": "D0F9EE5D 2051 0005 038A 0001 01",
    "F13 route B started": "D0F9EE5D 2053 0011 0398 06BA 01 0C BCDE 0050C2FFFEDC2822 DE",
    "F15 open UDP": "D0F9EE5D 2005 0005 033E 0001 01",
    "F17 start PANA": "D0F9EE5D 2056 0005 038F 0001 01",
    "F18 PANA result": "D0F9EE5D 6028 000D 03A9 0436 01 0050C2FFFEDC2822",
    "F19 EA notification": (
        "D0F9EE5D 6018 0038 03C4 0E1C FE800000000000000250C2FFFEDC2822"
        " 0E1A 0E1A BCDE 00 02 DE 0019"
        " 1081000102880105FF017301EA0B07DF081F151E0000000DAC"
    ),
    "F21 transmit": "D0F9EE5D 2008 000B 0347 009D 01 00 1081000605",
    "F22 received": (
        "D0F9EE5D 6018 0045 03D1 108D FE800000000000000250C2FFFEDC2822"
        " 0E1A 0E1A 22A9 00 02 CB 0026"
        " 1081000602880105FF017202EA0B07E20A020E1E00000373AF"
        " EB0B07E20A020E1E0000016A72"
    ),
}
# Tosainu/bp35c0-j11: command.rs serialiser tests (requests).
TOSAINU_REQUESTS = [
    "D0EA83FC 0001 0004 033E 0000",
    "D0EA83FC 0007 0004 0344 0000",
    "D0EA83FC 0009 0004 0346 0000",
    "D0EA83FC 000E 0004 034B 0000",
    "D0EA83FC 0011 0004 034E 0000",
    "D0EA83FC 0100 0004 033E 0000",
    "D0EA83FC 0102 0004 0340 0000",
    "D0EA83FC 0107 0004 0345 0000",
    "D0EA83FC 010B 0004 0349 0000",
    "D0EA83FC 005F 0008 03A0 000A 05000500",
    "D0EA83FC 0101 0005 0340 0001 01",
    "D0EA83FC 0005 0006 0344 0046 1234",
    "D0EA83FC 0006 0006 0345 0046 1234",
    "D0EA83FC 0008 001E 035F 0D6A 123456789ABCDEF0123456789ABCDEF0 ABCD 1234 0004 DEADBEEF",
    "D0EA83FC 0051 000A 0394 0116 02 12345678 00",
    "D0EA83FC 0051 0012 039C 054F 02 12345678 01 123456789ABCDEF0",
    "D0EA83FC 006B 0004 03A8 0000",
    "D0EA83FC 0053 0004 0390 0000",
    "D0EA83FC 0056 0004 0393 0000",
    "D0EA83FC 0057 0004 0394 0000",
    "D0EA83FC 0058 0004 0395 0000",
    "D0EA83FC 00D2 0004 040F 0000",
]
# Tosainu/bp35c0-j11: response.rs parser test (module → host), in its order.
TOSAINU_RESPONSES = [
    "D0F9EE5D 2001 0008 033D 0007 01020103",
    "D0F9EE5D 205F 0005 0398 0001 01",
    "D0F9EE5D 2101 0005 033B 0001 01",
    "D0F9EE5D 210A 0005 0344 0001 01",
    "D0F9EE5D 2005 0005 033E 0001 01",
    "D0F9EE5D 2006 0005 033F 0001 01",
    "D0F9EE5D 2008 0005 0341 0002 02",
    "D0F9EE5D 2008 0009 0345 027A 01 12 ABCDEF",
    "D0F9EE5D 2051 0005 038A 0001 01",
    "D0F9EE5D 4051 0006 03AB 0008 0107",
    "D0F9EE5D 4051 001D 03C2 051E 000C02 0001020304050607ABCDDE 0010203040506070 1234 98",
    "D0F9EE5D 206B 000D 03AC 00A8 01 0400 01 03 0000158A",
    "D0F9EE5D 6018 0023 03AF 06DE FE800001020304050607 08090A0B0C0D"
    " ABCD 1234 5678 01 02 DE 0004 98765432",
    "D0F9EE5D 6019 0004 0391 0000",
    "D0F9EE5D 601A 000E 039C 00FB 01 0001020304050607 DE",
    "D0F9EE5D 6028 000D 03A9 001D 01 0001020304050607",
    "D0F9EE5D 2059 0015 03A2 0079 01 000102030405060708090A0B0C0D0E0F",
    "D0F9EE5D 205E 0007 0399 0006 01 0203",
    "D0F9EE5D 2054 0005 038D 0001 01",
    "D0F9EE5D 2053 0005 038C 0002 02",
    "D0F9EE5D 2053 0011 0398 027B 01 08 ABCD 0001020304050607 DE",
    "D0F9EE5D 2056 0005 038F 0001 01",
    "D0F9EE5D 2057 0005 0390 0001 01",
    "D0F9EE5D 2058 0005 0391 0001 01",
    "D0F9EE5D 20D2 0005 040B 0001 01",
]

ROHM_MAC = unhex("0050C2FFFEDC2822")


def _vec(text: str) -> bytes:
    return unhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("raw", "unique"),
    [(_vec(v), REQUEST_UNIQUE) for v in [*ROHM_REQUESTS.values(), *TOSAINU_REQUESTS]]
    + [(_vec(v), RESPONSE_UNIQUE) for v in [*ROHM_RESPONSES.values(), *TOSAINU_RESPONSES]],
)
def test_public_vectors_round_trip_byte_for_byte(raw: bytes, unique: int) -> None:
    frame = decode_frame(raw, unique=unique)
    assert frame.unique == unique
    assert frame.encode() == raw
    assert encode_frame(frame.code, frame.data, unique=unique) == raw


def test_requests_we_build_equal_rohms_samples() -> None:
    assert encode_request(0x00D9) == _vec(ROHM_REQUESTS["F1 reset"])
    assert encode_request(0x005F, initial_settings_data(4)) == _vec(
        ROHM_REQUESTS["F3 initial settings ch4"]
    )
    assert encode_request(0x005F, initial_settings_data(12)) == _vec(
        ROHM_REQUESTS["F10 initial settings ch12"]
    )
    auth = route_b_auth_data("00112233445566778899AABBCCDDEEFF", "0123456789AB")
    assert encode_request(0x0054, auth) == _vec(ROHM_REQUESTS["F5 credentials"])
    assert encode_request(0x0051, active_scan_data(6, "CCDDEEFF")) == _vec(
        ROHM_REQUESTS["F7 active scan"]
    )
    assert encode_request(0x0005, (3610).to_bytes(2, "big")) == _vec(ROHM_REQUESTS["F14 open UDP"])
    dest = unhex("FE800000000000000250C2FFFEDC2822")
    payload = unhex("1081000605FF010288016202EA00EB00")
    assert encode_request(0x0008, transmit_data(dest, payload)) == _vec(
        ROHM_REQUESTS["F20 transmit"]
    )
    # Tosainu's scan without a pairing ID ends with the 0x00 flag and nothing after it.
    assert encode_request(0x0051, active_scan_data(2, None, mask=0x12345678)) == _vec(
        TOSAINU_REQUESTS[14]
    )


def test_layouts_of_rohms_notifications() -> None:
    channel, beacons = parse_scan_result(decode_frame(_vec(ROHM_RESPONSES["F8 beacon"])).data)
    assert channel == 12
    assert beacons == [Beacon(12, 0xBCDE, ROHM_MAC, -34)]
    assert parse_scan_result(decode_frame(_vec(ROHM_RESPONSES["F8 no beacon"])).data) == (4, [])
    started = parse_route_b_started(decode_frame(_vec(ROHM_RESPONSES["F13 route B started"])).data)
    assert started == Beacon(12, 0xBCDE, ROHM_MAC, -34)
    assert parse_pana_result(decode_frame(_vec(ROHM_RESPONSES["F18 PANA result"])).data) == (
        1,
        ROHM_MAC,
    )
    received = parse_received(decode_frame(_vec(ROHM_RESPONSES["F22 received"])).data)
    assert received.sender == unhex("FE800000000000000250C2FFFEDC2822")
    assert (received.source_port, received.dest_port, received.pan_id) == (3610, 3610, 0x22A9)
    assert (received.multicast, received.encrypted, received.rssi) == (False, True, -53)
    assert received.payload[:4] == unhex("10810006")
    assert len(received.payload) == 0x26
    sent = decode_frame(_vec(ROHM_RESPONSES["F21 transmit"]))
    assert sent.is_response
    assert sent.request_code == 0x0008
    assert transmit_result(sent.data) == (1, 0)


def test_layouts_of_tosainus_vectors() -> None:
    frames = [decode_frame(_vec(v)) for v in TOSAINU_RESPONSES]
    channel, beacons = parse_scan_result(frames[10].data)
    assert channel == 0x0C
    assert [(b.mac.hex(), b.pan_id, b.rssi) for b in beacons] == [
        ("0001020304050607", 0xABCD, -34),
        ("0010203040506070", 0x1234, -104),
    ]
    version = parse_version(frames[11].data)
    assert (version.firmware_id, version.major, version.minor, version.revision) == (
        0x0400,
        1,
        3,
        0x158A,
    )
    received = parse_received(frames[12].data)
    assert (received.source_port, received.dest_port, received.pan_id) == (0xABCD, 0x1234, 0x5678)
    assert received.multicast
    assert received.encrypted
    assert received.payload == unhex("98765432")
    assert frames[13].code == 0x6019
    assert frames[13].data == b""
    assert parse_connection(frames[14].data) == (1, unhex("0001020304050607"), -34)
    assert frames[19].result == 0x02  # a failed route-B start carries only its result
    with pytest.raises(J11FrameError):
        parse_route_b_started(frames[19].data)
    assert parse_route_b_started(frames[20].data) == Beacon(
        8, 0xABCD, unhex("0001020304050607"), -34
    )
    assert transmit_result(frames[6].data) == (2, None)
    assert transmit_result(frames[7].data) == (1, 0x12)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # one data byte short
        lambda b: b + b"\x00",  # one too many
        lambda b: b[:8] + bytes([b[8] ^ 1]) + b[9:],  # header sum
        lambda b: b[:11] + bytes([b[11] ^ 1]) + b[12:],  # data sum
        lambda b: b[:12] + bytes([b[12] ^ 0x10]) + b[13:],  # data byte
        lambda b: b"\x00" + b[1:],  # unique code
        lambda b: b[:6] + b"\x00\x03" + b[8:],  # length below 4
    ],
)
def test_strict_decode_rejects_every_corruption(mutate: object) -> None:
    raw = _vec(ROHM_RESPONSES["F18 PANA result"])
    assert callable(mutate)
    with pytest.raises(J11FrameError):
        decode_frame(mutate(raw))


def test_encoders_reject_bad_shapes_without_echoing_secrets() -> None:
    with pytest.raises(J11FrameError) as caught:
        route_b_auth_data("SHORTSECRETID", "PW")
    assert "SHORTSECRETID" not in str(caught.value)
    with pytest.raises(J11FrameError):
        initial_settings_data(3)
    with pytest.raises(J11FrameError):
        active_scan_data(15, "CCDDEEFF")
    with pytest.raises(J11FrameError):
        active_scan_data(6, "CCDDEE")
    with pytest.raises(J11FrameError):
        transmit_data(bytes(16), b"")


def test_checksum_is_a_16_bit_sum() -> None:
    assert checksum(b"") == 0
    assert checksum(bytes([0xFF]) * 0x102) == (0xFF * 0x102) & 0xFFFF


# --- the splitter -------------------------------------------------------------------------

ALL_RESPONSES = [_vec(v) for v in [*ROHM_RESPONSES.values(), *TOSAINU_RESPONSES]]


def _split(chunks: list[bytes]) -> tuple[list[J11Frame], FrameSplitter]:
    splitter = FrameSplitter()
    out: list[J11Frame] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out, splitter


def test_splitter_concatenated_and_byte_by_byte() -> None:
    stream = b"".join(ALL_RESPONSES)
    whole, _ = _split([stream])
    single, _ = _split([bytes([b]) for b in stream])
    assert [f.encode() for f in whole] == ALL_RESPONSES
    assert [f.encode() for f in single] == ALL_RESPONSES


def test_splitter_skips_junk_and_broken_frames() -> None:
    good = _vec(ROHM_RESPONSES["F18 PANA result"])
    bad_header = good[:8] + b"\x00\x00" + good[10:]
    bad_data = good[:12] + b"\xff" + good[13:]
    text = b"EVENT 21 FE80:0000:0000:0000:0000:0000:0000:0001 00\r\n"
    frames, splitter = _split([b"\xd0\xf9\xee", text, bad_header, bad_data, b"\xd0\xf9", good])
    assert [f.encode() for f in frames] == [good]
    assert splitter.stats.bad_header == 1
    assert splitter.stats.bad_data == 1
    assert splitter.buffered == 0


def test_a_frame_cut_short_does_not_hold_back_the_next() -> None:
    """A lost byte in a long frame must not stall the answer behind it."""
    received = _vec(ROHM_RESPONSES["F22 received"])
    answer = _vec(ROHM_RESPONSES["F17 start PANA"])
    frames, splitter = _split([received[:40], answer])
    assert [f.code for f in frames] == [0x2056]
    assert splitter.buffered == 0


def test_splitter_keeps_a_split_unique_code() -> None:
    good = _vec(ROHM_RESPONSES["F2 booted"])
    frames, _ = _split([b"junk" + good[:2], good[2:]])
    assert [f.code for f in frames] == [0x6019]


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=30))
@example(b"\xd0\xf9\xee\x5d\x60\x18\xff\xff" + bytes(8), [3])
def test_arbitrary_bytes_never_raise_and_only_valid_frames_come_out(
    junk: bytes, cuts: list[int]
) -> None:
    splitter = FrameSplitter()
    chunks, rest = [], junk
    for cut in cuts:
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    for chunk in chunks:
        for frame in splitter.feed(chunk):
            # Whatever comes out decodes strictly: both sums and the length held.
            assert decode_frame(frame.encode()) == frame
    assert splitter.buffered <= len(junk)


_JUNK = st.binary(max_size=80).map(lambda b: b.replace(b"\xd0", b"\x00"))


@SETTINGS
@given(
    st.lists(st.tuples(_JUNK, st.sampled_from(ALL_RESPONSES)), min_size=1, max_size=8),
    _JUNK,
    st.integers(1, 50),
)
def test_frames_between_junk_all_come_out_in_order(
    parts: list[tuple[bytes, bytes]], tail: bytes, step: int
) -> None:
    stream = b"".join(junk + frame for junk, frame in parts) + tail
    chunks = [stream[i : i + step] for i in range(0, len(stream), step)]
    frames, _ = _split(chunks)
    assert [f.encode() for f in frames] == [frame for _, frame in parts]


@pytest.mark.parametrize(
    ("parse", "data"),
    [
        (parse_scan_result, b"\x00"),  # no channel byte
        (parse_scan_result, b"\x02\x05\x00"),  # a result code the layout does not have
        (parse_scan_result, b"\x00\x05"),  # beacons announced, no count
        (parse_scan_result, b"\x00\x05\x01" + bytes(10)),  # one beacon is 11 bytes
        (parse_received, bytes(25) + b"\x00\x05" + b"abcd"),  # 5 announced, 4 present
        (parse_version, b"\x02" + bytes(8)),  # result not OK (0x01)
        (parse_version, b"\x01" + bytes(7)),  # one byte short
        (transmit_result, b""),
    ],
)
def test_parsers_reject_malformed_module_answers(parse: object, data: bytes) -> None:
    with pytest.raises(J11FrameError):
        parse(data)  # type: ignore[operator]


def test_parsers_of_short_but_valid_answers() -> None:
    assert parse_scan_result(b"\x01\x07") == (7, [])  # scanned, nobody there
    assert transmit_result(b"\x01") == (1, None)  # the module left the detail out
    notification = J11Frame(0x6019, b"\x02", unique=RESPONSE_UNIQUE)
    assert notification.result is None  # only responses carry a result
    assert J11Frame(0x2001, b"", unique=RESPONSE_UNIQUE).result is None


def test_frame_encoders_and_decoder_reject_impossible_shapes() -> None:
    with pytest.raises(J11FrameError):
        encode_frame(0x10000)
    with pytest.raises(J11FrameError):
        encode_frame(0x0008, bytes(2049))  # larger than any frame the module sends
    with pytest.raises(J11FrameError):
        decode_frame(encode_frame(0x2001, unique=RESPONSE_UNIQUE)[:11])
    with pytest.raises(J11FrameError):
        transmit_data(bytes(15), b"payload")  # an IPv6 address is 16 bytes


def test_splitter_clear_drops_a_partial_frame_as_junk() -> None:
    good = _vec(ROHM_RESPONSES["F18 PANA result"])
    splitter = FrameSplitter()
    assert splitter.feed(good[:7]) == []
    assert splitter.buffered == 7
    splitter.clear()
    assert splitter.buffered == 0
    assert splitter.stats.junk_bytes == 7
    assert [f.encode() for f in splitter.feed(good)] == [good]
