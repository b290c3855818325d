"""Property-based checks of the SKSTACK-IP reader: junk in, the reader keeps going.

The reader runs on an in-memory stream, fed in random chunk sizes. Whatever arrives,
it must never die (the session would then wait on a dead port forever), and a valid
line or packet after the junk must still come out intact. Frames are built here from
the protocol reference's field layout, not by the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import itertools

from hypothesis import HealthCheck, example, given, settings, strategies as st

from custom_components.broute_meter.broute.errors import BRouteError
from custom_components.broute_meter.broute.links.skstack import (
    Event,
    SkStack,
    UdpPacket,
    parse_erxudp_line,
    parse_event,
    parse_pandesc,
)

METER_IP = "FE80:0000:0000:0000:021D:1290:1234:5678"
OWN_IP = "FE80:0000:0000:0000:021D:1290:0000:0001"
MAC = "001D129012345678"
#: Longest ERXUDP payload a dongle sends; junk can make the reader wait for this much.
MAX_DATALEN = 0x04D0
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class _Writer:
    def write(self, data: bytes) -> None:
        return None

    async def drain(self) -> None:
        return None


@dataclass
class Run:
    """What the reader delivered."""

    events: list[Event]
    packets: list[UdpPacket]
    lost: list[BaseException]
    task_error: BaseException | None


async def _read(chunks: list[bytes], binary: bool | None) -> Run:
    reader = asyncio.StreamReader()
    events: list[Event] = []
    packets: list[UdpPacket] = []
    lost: list[BaseException] = []
    stack = SkStack(
        reader,
        _Writer(),  # type: ignore[arg-type]
        on_event=events.append,
        on_udp=packets.append,
        on_lost=lost.append,
    )
    stack.binary_payload = binary
    stack.start()
    task = stack._task
    assert task is not None
    for chunk in chunks:
        reader.feed_data(chunk)
        await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    error = task.exception() if task.done() and not task.cancelled() else None
    await stack.stop()
    return Run(events, packets, lost, error)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def erxudp(data: bytes, *, binary: bool, dse: bool = True, port: int = 0x0E1A) -> bytes:
    """An ERXUDP as the reference lays it out (A1: 8 fields; DSE: SIDE after SECURED)."""
    fields = [METER_IP, OWN_IP, f"{port:04X}", f"{port:04X}", MAC, "1"]
    if dse:
        fields.append("0")
    fields.append(f"{len(data):04X}")
    body = data if binary else data.hex().upper().encode()
    return b"ERXUDP " + " ".join(fields).encode() + b" " + body + b"\r\n"


def event_line(num: int) -> bytes:
    return f"EVENT {num:02X} {METER_IP} 0\r\n".encode()


# Junk that is a single line: any bytes but the line ends.
junk_line = st.binary(min_size=1, max_size=60).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"") or b"?"
)
# Junk shaped like the protocol: near-miss ERXUDP/EVENT/EPANDESC lines.
token = st.sampled_from(
    [
        "ERXUDP",
        "EVENT",
        "EPANDESC",
        "OK",
        "FAIL",
        "ER04",
        METER_IP,
        OWN_IP,
        "0E1A",
        "02CC",
        MAC,
        "0",
        "1",
        "G",
        "-1",
        "FF",
        "0002",
        "04D0",
        "FFFF",
        "zz",
        "  Channel:21",
        "  Pan ID:XYZ",
        "\xff",
    ]
)
protocol_junk = st.lists(token, min_size=1, max_size=12).map(lambda t: " ".join(t).encode())
# An ERXUDP header with the address fields right and the rest drawn from near-misses.
header_junk = st.tuples(
    st.lists(st.sampled_from([METER_IP, OWN_IP, "0E1A", "02CC", MAC, "x"]), min_size=5, max_size=5),
    st.lists(st.sampled_from(["0", "1", "2", "G", "-", "-1", "45", "zz", "\xff"]), max_size=4),
    st.sampled_from(["0002", "0000", "04D0", "04D1", "FFFF", "00G0", "12"]),
    st.binary(max_size=24),
).map(lambda t: ("ERXUDP " + " ".join([*t[0], *t[1], t[2]]) + " ").encode() + t[3])
any_junk = st.one_of(junk_line, protocol_junk)
# Stuff that must never kill the reader, including partial binary frames with CR/LF.
raw_junk = st.one_of(
    st.binary(max_size=200),
    protocol_junk.map(lambda b: b + b" "),
    header_junk,
    st.tuples(protocol_junk, st.binary(max_size=40)).map(lambda t: t[0] + b" " + t[1]),
    st.binary(max_size=40).map(lambda d: erxudp(d, binary=True)[: len(d) // 2 + 60]),
)
payloads = st.binary(min_size=1, max_size=80).map(lambda b: b + b"\r\n\r" if len(b) % 3 else b)
#: ERXUDP data mode: unknown (guessed per packet), binary, hex text.
MODES = [None, True, False]
cut_points = st.lists(st.integers(min_value=0, max_value=10_000), max_size=8)


@SETTINGS
@given(junk=st.lists(raw_junk, max_size=4), cuts=cut_points, mode=st.sampled_from(MODES))
# A one-character SIDE that is not a hex digit once killed the reader task.
@example(
    junk=[f"ERXUDP {METER_IP} {OWN_IP} 0E1A 0E1A {MAC} 1 G 0002 ab".encode()], cuts=[], mode=None
)
async def test_reader_survives_junk_and_resyncs(
    junk: list[bytes], cuts: list[int], mode: bool | None
) -> None:
    """Any junk, then enough line ends to fill the longest frame: the next lines parse."""
    valid_payload = bytes.fromhex("1081000102880105FF017201E704000001F4")  # Get_Res E7=500 W
    tail = (
        b"\r\n" * (MAX_DATALEN // 2 + 2)
        + event_line(0x25)
        + erxudp(valid_payload, binary=mode is not False)
    )
    stream = b"".join(junk) + tail
    run = await _read(_split(stream, cuts), mode)
    assert run.task_error is None, repr(run.task_error)
    assert run.lost == []
    assert any(e.num == 0x25 and e.sender == METER_IP for e in run.events)
    assert run.packets
    assert run.packets[-1].data == valid_payload
    assert run.packets[-1].sender == METER_IP


@SETTINGS
@given(
    items=st.lists(
        st.one_of(
            st.tuples(st.just("udp"), payloads, st.booleans()),
            st.tuples(st.just("junk"), any_junk, st.just(False)),
        ),
        max_size=10,
    ),
    cuts=cut_points,
    binary=st.booleans(),
)
async def test_packets_interleaved_with_junk_lines(
    items: list[tuple[str, bytes, bool]], cuts: list[int], binary: bool
) -> None:
    """Every valid ERXUDP between junk lines arrives once, byte for byte, in order.

    Junk lines that start like an ERXUDP header are left out here: a binary header
    legitimately swallows its declared length (the case above covers them).
    """
    stream = bytearray()
    expected: list[bytes] = []
    for kind, data, dse in items:
        if kind == "udp":
            stream += erxudp(data, binary=binary, dse=dse)
            expected.append(data)
        elif not data.startswith(b"ERXUDP"):
            stream += data + b"\r\n"
    run = await _read(_split(bytes(stream), cuts), binary)
    assert run.task_error is None, repr(run.task_error)
    assert run.lost == []
    got = [p.data for p in run.packets if p.sender == METER_IP and p.sender_mac == MAC]
    assert got == expected


@SETTINGS
@given(
    data=st.binary(min_size=1, max_size=64),
    declared=st.integers(min_value=0, max_value=0xFFFF),
    binary=st.sampled_from([None, True, False]),
)
async def test_wrong_length_frame_then_valid_frame(
    data: bytes, declared: int, binary: bool | None
) -> None:
    """A frame whose DATALEN lies is dropped or cut short; the reader carries on."""
    head = " ".join([METER_IP, OWN_IP, "0E1A", "0E1A", MAC, "1", "0", f"{declared:04X}"])
    body = data if binary is not False else data.hex().upper().encode()
    bad = b"ERXUDP " + head.encode() + b" " + body + b"\r\n"
    good = bytes.fromhex("1081000102880105FF017201E704000001F4")
    stream = bad + b"\r\n" * (MAX_DATALEN // 2 + 2) + erxudp(good, binary=binary is not False)
    run = await _read([stream], binary)
    assert run.task_error is None, repr(run.task_error)
    assert run.lost == []
    assert run.packets
    assert run.packets[-1].data == good


@settings(max_examples=300, deadline=None)
@given(line=st.one_of(protocol_junk, st.binary(max_size=80)).map(lambda b: b.decode("latin-1")))
def test_line_parsers_raise_only_value_error(line: str) -> None:
    """The per-line parsers report bad input as ValueError (the reader drops the line)."""
    for parse in (
        lambda: parse_erxudp_line(line),
        lambda: parse_event(line, None),
        lambda: parse_pandesc(line.split(" ")),
    ):
        with contextlib.suppress(ValueError, BRouteError):
            parse()
