"""SKSTACK-IP line protocol against byte-level vectors from the protocol reference.

The dongle side is an in-memory stream we feed by hand, so every byte sequence
(split points, CR-only lines, CR/LF inside binary payloads) is under the test's control.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from custom_components.broute_meter.broute.errors import (
    CommandError,
    DongleNotRespondingError,
    TransportLostError,
)
from custom_components.broute_meter.broute.links.skstack import (
    Dialect,
    Event,
    PanDescription,
    SkStack,
    UdpPacket,
    parse_erxudp_line,
    parse_event,
)
from simulator import TEST_PASSWORD, TEST_RBID

METER_IP = "FE80:0000:0000:0000:021D:1290:1234:5678"
OWN_IP = "FE80:0000:0000:0000:021D:1290:0000:0001"
MULTICAST = "FF02:0000:0000:0000:0000:0000:0000:0001"
MAC = "001D129012345678"
# Reference §B.5: Get_Res of E7, E8, E0, E3 (36 bytes).
GET_RES = bytes.fromhex("1081000102880105FF017204E70400000278E804001E0032E0040000FE73E3040000012C")
# Reference §B.3: the instance-list INF a meter multicasts after PANA succeeds.
D5_INF = bytes.fromhex("108100000EF0010EF0017301D50401028801")


class FakeWriter:
    """Collects what the client writes; stands in for serialx's stream writer."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.written = asyncio.Event()
        self.fail: BaseException | None = None

    def write(self, data: bytes) -> None:
        if self.fail is not None:
            raise self.fail
        self.data += data
        self.written.set()

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None

    async def wait_for(self, needle: bytes, limit: float = 1.0) -> None:
        async with asyncio.timeout(limit):
            while needle not in self.data:
                self.written.clear()
                await self.written.wait()


@pytest.fixture
async def dongle():
    reader = asyncio.StreamReader()
    writer = FakeWriter()
    events: list[Event] = []
    packets: list[UdpPacket] = []
    lost: list[BaseException] = []
    resets: list[bool] = []
    stack = SkStack(
        reader,
        writer,  # type: ignore[arg-type]
        secrets=(TEST_RBID, TEST_PASSWORD),
        on_event=events.append,
        on_udp=packets.append,
        on_lost=lost.append,
        on_reset=lambda: resets.append(True),
        command_timeout=0.3,
    )
    stack.start()
    yield stack, reader, writer, events, packets, lost, resets
    await stack.stop()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# --- pure parsers ---------------------------------------------------------------------


def test_erxudp_a1_hex_line() -> None:
    line = f"ERXUDP {METER_IP} {OWN_IP} 0E1A 0E1A {MAC} 1 0024 {GET_RES.hex().upper()}"
    packet = parse_erxudp_line(line)
    assert packet == UdpPacket(METER_IP, OWN_IP, 3610, 3610, MAC, True, None, None, GET_RES)


def test_erxudp_dse_hex_line_and_rssi_variant() -> None:
    line = f"ERXUDP {METER_IP} {MULTICAST} 0E1A 0E1A {MAC} 1 0 0012 {D5_INF.hex().upper()}"
    packet = parse_erxudp_line(line)
    assert (packet.side, packet.secured, packet.rssi, packet.data) == (0, True, None, D5_INF)
    with_rssi = f"ERXUDP {METER_IP} {MULTICAST} 0E1A 0E1A {MAC} 45 1 0 0012 {D5_INF.hex()}"
    packet = parse_erxudp_line(with_rssi)
    assert (packet.rssi, packet.side, packet.data) == (0x45, 0, D5_INF)


def test_erxudp_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="length"):
        parse_erxudp_line(f"ERXUDP {METER_IP} {OWN_IP} 0E1A 0E1A {MAC} 1 0025 {GET_RES.hex()}")


@pytest.mark.parametrize(
    ("line", "expected", "learnt"),
    [
        (f"EVENT 21 {METER_IP} 00", Event(0x21, METER_IP, None, 0), Dialect.A1),
        (f"EVENT 21 {METER_IP} 0 02", Event(0x21, METER_IP, 0, 2), Dialect.DSE),
        (f"EVENT 25 {METER_IP}", Event(0x25, METER_IP, None, None), Dialect.A1),
        (f"EVENT 25 {METER_IP} 0", Event(0x25, METER_IP, 0, None), Dialect.DSE),
        (f"EVENT 22 {OWN_IP} 0", Event(0x22, OWN_IP, 0, None), Dialect.DSE),
        (f"EVENT 32 {METER_IP}", Event(0x32, METER_IP, None, None), None),
    ],
)
def test_event_forms(line: str, expected: Event, learnt: Dialect | None) -> None:
    assert parse_event(line, None) == (expected, learnt)


def test_event_with_known_dialect() -> None:
    event, _ = parse_event(f"EVENT 33 {METER_IP} 0", Dialect.DSE)
    assert event == Event(0x33, METER_IP, 0, None)


# --- the reader ---------------------------------------------------------------------------


async def test_binary_erxudp_with_crlf_inside_fed_byte_by_byte(dongle) -> None:
    stack, reader, _, _, packets, _, _ = dongle
    stack.binary_payload = True
    payload = bytes.fromhex("1081000102880105FF017201E7040D0A0D0A")  # E7 = 0x0D0A0D0A W
    header = f"ERXUDP {METER_IP} {OWN_IP} 0E1A 0E1A {MAC} 1 {len(payload):04X} ".encode()
    for byte in header + payload + b"\r\n":
        reader.feed_data(bytes([byte]))
        await asyncio.sleep(0)
    await settle()
    assert [p.data for p in packets] == [payload]
    assert packets[0].side is None


async def test_binary_erxudp_dse_in_one_chunk_followed_by_event(dongle) -> None:
    stack, reader, _, events, packets, _, _ = dongle
    stack.binary_payload = True
    header = f"ERXUDP {METER_IP} {OWN_IP} 0E1A 0E1A {MAC} 1 0 {len(GET_RES):04X} ".encode()
    reader.feed_data(header + GET_RES + f"\r\nEVENT 21 {METER_IP} 0 00\r\n".encode())
    await settle()
    assert [(p.data, p.side) for p in packets] == [(GET_RES, 0)]
    assert events == [Event(0x21, METER_IP, 0, 0)]
    assert stack.dialect is Dialect.DSE


async def test_binary_erxudp_with_rssi_field(dongle) -> None:
    stack, reader, _, _, packets, _, _ = dongle
    stack.binary_payload = True
    header = f"ERXUDP {METER_IP} {OWN_IP} 0E1A 0E1A {MAC} E1 1 0 {len(GET_RES):04X} ".encode()
    reader.feed_data(header + GET_RES + b"\r\n")
    await settle()
    assert [(p.rssi, p.secured, p.side, p.data) for p in packets] == [(0xE1, True, 0, GET_RES)]


async def test_endless_junk_is_bounded(dongle) -> None:
    stack, reader, writer, _, _, lost, _ = dongle
    reader.feed_data(b"X" * 10000)
    await settle()
    task = asyncio.create_task(stack.command("SKVER"))
    await writer.wait_for(b"SKVER\r\n")
    reader.feed_data(b"\r\nEVER 1.2.10\r\nOK\r\n")
    assert (await task).lines == ["EVER 1.2.10"]
    assert not lost


async def test_payload_mode_guessed_when_unknown(dongle) -> None:
    stack, reader, _, _, packets, _, _ = dongle
    assert stack.binary_payload is None
    hex_line = f"ERXUDP {METER_IP} {MULTICAST} 0E1A 0E1A {MAC} 1 0012 {D5_INF.hex().upper()}\r\n"
    binary = f"ERXUDP {METER_IP} {OWN_IP} 0E1A 0E1A {MAC} 1 0024 ".encode() + GET_RES + b"\r\n"
    reader.feed_data(hex_line.encode() + binary)
    await settle()
    assert [p.data for p in packets] == [D5_INF, GET_RES]


async def test_pana_packets_are_not_delivered(dongle) -> None:
    _, reader, _, _, packets, _, _ = dongle
    pana = "00000000" * 10
    reader.feed_data(f"ERXUDP {METER_IP} {OWN_IP} 02CC 02CC {MAC} 0 0028 {pana}\r\n".encode())
    inf = f"ERXUDP {METER_IP} {MULTICAST} 0E1A 0E1A {MAC} 1 0012 {D5_INF.hex()}\r\n"
    reader.feed_data(inf.encode())
    await settle()
    assert [p.data for p in packets] == [D5_INF]


async def test_garbage_and_non_ascii_lines_are_dropped(dongle) -> None:
    stack, reader, writer, events, _, lost, _ = dongle
    reader.feed_data(b"\xff\xfe\x80garbage\r\nEVENT zz\r\nERXUDP short\r\n  Channel:21\r\n")
    reader.feed_data(f"EVENT 02 {METER_IP}\r\n".encode())
    await settle()
    assert events == [Event(0x02, METER_IP)]
    task = asyncio.create_task(stack.command("SKVER"))
    await writer.wait_for(b"SKVER\r\n")
    reader.feed_data(b"EVER 1.2.10\r\nOK\r\n")
    assert (await task).lines == ["EVER 1.2.10"]
    assert not lost


async def test_epandesc_blocks_a1_and_dse(dongle) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    a1 = (
        f"EVENT 20 {OWN_IP}\r\nEPANDESC\r\n  Channel:21\r\n  Channel Page:09\r\n"
        f"  Pan ID:8888\r\n  Addr:{MAC}\r\n  LQI:E1\r\n  PairID:CCDD1234\r\n"
        f"EVENT 20 {OWN_IP}\r\nEPANDESC\r\n  Channel:3C\r\n  Channel Page:09\r\n"
        "  Pan ID:1234\r\n  Addr:001D1290AAAAAAAA\r\n  LQI:40\r\n  PairID:FFFFFFFF\r\n"
        f"EVENT 22 {OWN_IP}\r\n"
    )
    task = asyncio.create_task(stack.scan(6, time_limit=1.0))
    await writer.wait_for(b"SKSCAN 2 FFFFFFFF 6 0\r\n")
    reader.feed_data(b"FAIL ER05\r\n")  # an A1 dongle refuses the DSE argument count
    await writer.wait_for(b"SKSCAN 2 FFFFFFFF 6\r\n")
    reader.feed_data(b"OK\r\n" + a1.encode())
    found = await task
    assert found == [
        PanDescription(0x21, 0x8888, MAC, 0xE1, 9, None, "CCDD1234"),
        PanDescription(0x3C, 0x1234, "001D1290AAAAAAAA", 0x40, 9, None, "FFFFFFFF"),
    ]
    assert stack.dialect is Dialect.A1

    # DSE: the Side line precedes PairID; dialect now remembered as A1 → A1 form first.
    stack.dialect = None
    dse = (
        f"OK\r\nEVENT 20 {OWN_IP} 0\r\nEPANDESC\r\n  Channel:21\r\n  Channel Page:09\r\n"
        f"  Pan ID:8888\r\n  Addr:{MAC}\r\n  LQI:E1\r\n  Side:0\r\n  PairID:CCDD1234\r\n"
        f"EVENT 22 {OWN_IP} 0\r\n"
    )
    writer.data.clear()
    task = asyncio.create_task(stack.scan(7, time_limit=1.0))
    await writer.wait_for(b"SKSCAN 2 FFFFFFFF 7 0\r\n")
    reader.feed_data(dse.encode())
    assert await task == [PanDescription(0x21, 0x8888, MAC, 0xE1, 9, 0, "CCDD1234")]
    assert stack.dialect is Dialect.DSE


# --- commands -----------------------------------------------------------------------------


async def test_ok_fail_and_silence(dongle) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    task = asyncio.create_task(stack.command("SKSREG", "SFE", "0"))
    await writer.wait_for(b"SKSREG SFE 0\r\n")
    reader.feed_data(b"SKSREG SFE 0\r\nOK\r\n")  # echo still on for this one command
    assert (await task).value is None
    task = asyncio.create_task(stack.command("SKTERM"))
    await writer.wait_for(b"SKTERM\r\n")
    reader.feed_data(b"FAIL ER10\r\n")
    with pytest.raises(CommandError) as err:
        await task
    assert (err.value.command, err.value.code) == ("SKTERM", "ER10")
    with pytest.raises(DongleNotRespondingError):
        await stack.command("SKINFO")


async def test_ropt_cr_only_answer_and_er04(dongle) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    task = asyncio.create_task(stack.read_payload_mode())
    await writer.wait_for(b"ROPT\r\n")
    reader.feed_data(b"OK 01\r")  # CR only, per the reference
    assert await task is False
    assert stack.binary_payload is False
    task = asyncio.create_task(stack.read_payload_mode())
    await writer.wait_for(b"ROPT\r\nROPT\r\n")
    reader.feed_data(b"OK 00\r")
    assert await task is True
    writer.data.clear()
    task = asyncio.create_task(stack.read_payload_mode())
    await writer.wait_for(b"ROPT\r\n")
    reader.feed_data(b"FAIL ER04\r\n")  # RL7023 Stick-D/IPS: no ROPT, hex only
    assert await task is False
    assert b"WOPT" not in writer.data


async def test_skll64_bare_line(dongle) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    task = asyncio.create_task(stack.command("SKLL64", MAC, bare_line=True))
    await writer.wait_for(f"SKLL64 {MAC}\r\n".encode())
    reader.feed_data(f"{METER_IP}\r\n".encode())
    assert (await task).lines == [METER_IP]


async def test_unsolicited_lines_inside_a_command(dongle) -> None:
    stack, reader, writer, events, packets, _, _ = dongle
    task = asyncio.create_task(stack.command("SKINFO"))
    await writer.wait_for(b"SKINFO\r\n")
    reader.feed_data(
        f"EVENT 29 {METER_IP}\r\nEINFO {OWN_IP} 001D129000000001 21 8888 FFFE\r\n".encode()
        + f"ERXUDP {METER_IP} {MULTICAST} 0E1A 0E1A {MAC} 1 0012 {D5_INF.hex()}\r\nOK\r\n".encode()
    )
    response = await task
    assert response.lines == [f"EINFO {OWN_IP} 001D129000000001 21 8888 FFFE"]
    assert [e.num for e in events] == [0x29]
    assert [p.data for p in packets] == [D5_INF]


@pytest.mark.parametrize("order", ["event_first", "ok_first"])
async def test_sendto_waits_for_event21_and_ok(dongle, order: str) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    stack.dialect = Dialect.A1
    frame = bytes.fromhex("1081000105FF010288016204E700E800E000E300")  # reference §A.6
    task = asyncio.create_task(stack.sendto(METER_IP, frame))
    header = f"SKSENDTO 1 {METER_IP} 0E1A 1 0014 ".encode()
    await writer.wait_for(header + frame)
    assert bytes(writer.data) == header + frame  # raw payload, no CRLF after it
    reader.feed_data(f"EVENT 21 {METER_IP} 02\r\n".encode())  # NS sent: not final
    if order == "ok_first":
        reader.feed_data(b"OK\r\n")
    await settle()
    assert not task.done()
    reader.feed_data(f"EVENT 21 {METER_IP} 00\r\n".encode())
    if order == "event_first":
        await settle()
        assert not task.done()
        reader.feed_data(b"OK\r\n")
    assert await task is True


async def test_sendto_failure_and_dialect_fallback(dongle) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    frame = bytes.fromhex("10810002 05FF01 028801 6201EA00".replace(" ", ""))
    task = asyncio.create_task(stack.sendto(METER_IP, frame))
    await writer.wait_for(f"SKSENDTO 1 {METER_IP} 0E1A 1 0 000E ".encode() + frame)
    reader.feed_data(b"FAIL ER05\r\n")
    await writer.wait_for(f"SKSENDTO 1 {METER_IP} 0E1A 1 000E ".encode() + frame)
    reader.feed_data(f"EVENT 21 {METER_IP} 01\r\nOK\r\n".encode())
    assert await task is False  # EVENT 21 01: the dongle could not send
    assert stack.dialect is Dialect.A1


async def test_traffic_log_is_redacted(dongle, caplog: pytest.LogCaptureFixture) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    caplog.set_level(logging.DEBUG)
    for args, echo in (
        (("SKSETPWD", "C", TEST_PASSWORD), f"SKSETPWD C {TEST_PASSWORD}"),
        (("SKSETRBID", TEST_RBID), f"SKSETRBID {TEST_RBID}"),
    ):
        task = asyncio.create_task(stack.command(*args))
        await writer.wait_for(echo.encode())
        reader.feed_data(f"{echo}\r\nOK\r\n".encode())
        await task
    # Any line carrying the credentials (here lower-case) is redacted too.
    reader.feed_data(f"junk {TEST_RBID.lower()} {TEST_PASSWORD}\r\n".encode())
    await settle()
    assert "SKSETPWD C" in caplog.text  # the traffic log is really there
    text = caplog.text.upper()
    assert TEST_RBID not in text
    assert TEST_PASSWORD not in text
    assert TEST_RBID[-8:] not in text


async def test_end_of_stream_fails_the_command_and_reports(dongle) -> None:
    stack, reader, writer, _, _, lost, _ = dongle
    task = asyncio.create_task(stack.command("SKVER"))
    await writer.wait_for(b"SKVER\r\n")
    reader.feed_eof()
    with pytest.raises(TransportLostError):
        await task
    await settle()
    assert len(lost) == 1
    assert isinstance(lost[0], TransportLostError)
    with pytest.raises(TransportLostError):
        await stack.command("SKVER")


async def test_echo_coming_back_reports_a_reset(dongle) -> None:
    stack, reader, writer, _, _, _, resets = dongle
    stack.echo = False
    task = asyncio.create_task(stack.command("SKVER"))
    await writer.wait_for(b"SKVER\r\n")
    reader.feed_data(b"SKVER\r\nEVER 1.2.10\r\nOK\r\n")
    await task
    assert resets == [True]


async def test_scan_learns_the_dialect_from_event_shapes(dongle) -> None:
    stack, reader, writer, _, _, _, _ = dongle
    task = asyncio.create_task(stack.scan(6, time_limit=1.0))
    await writer.wait_for(b"SKSCAN 2 FFFFFFFF 6 0\r\n")
    # A lenient A1 firmware accepts the extra argument but prints A1-shaped events.
    reader.feed_data(f"OK\r\nEVENT 22 {OWN_IP}\r\n".encode())
    assert await task == []
    assert stack.dialect is Dialect.A1
