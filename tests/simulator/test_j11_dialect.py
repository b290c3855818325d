"""The simulator's J11 dongle answers ROHM's own sample frames with ROHM's own bytes.

The samples are those of ROHM's B-route application note for the J11 firmware
(63AN028E §5, rows F1…F21). The simulator is set up as the note's meter (MAC
0050C2FFFEDC2822, PAN BCDE on J11 channel 12, RSSI -34 dBm) with the note's
credentials, and the note's requests are written to its socket byte for byte; no codec
from the client library is involved.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from simulator import JST, DongleModel, ManualClock, MeterConfig, Simulator, TimingModel

ROHM_RBID = "00112233445566778899AABBCCDDEEFF"
ROHM_PASSWORD = "0123456789AB"


def frame(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


F1 = frame("D0EA83FC 00D9 0004 0416 0000")
F2 = frame("D0F9EE5D 6019 0004 0391 0000")
F3 = frame("D0EA83FC 005F 0008 03A0 0009 05000400")
F4 = frame("D0F9EE5D 205F 0005 0398 0001 01")
F5 = frame(
    "D0EA83FC 0054 0030 03BD 09D4"
    " 30303131323233333434353536363737 38383939414142424343444445454646"
    " 303132333435363738394142"
)
F6 = frame("D0F9EE5D 2054 0005 038D 0001 01")
F7 = frame("D0EA83FC 0051 0012 039C 041D 06 0003FFF0 01 4343444445454646")
F8_EMPTY_CH4 = frame("D0F9EE5D 4051 0006 03AB 0005 0104")
F8_BEACON = frame("D0F9EE5D 4051 0012 03B7 06BA 000C01 0050C2FFFEDC2822 BCDE DE")
F9 = frame("D0F9EE5D 2051 0005 038A 0001 01")
F10 = frame("D0EA83FC 005F 0008 03A0 0011 05000C00")
F12 = frame("D0EA83FC 0053 0004 0390 0000")
F13 = frame("D0F9EE5D 2053 0011 0398 06BA 01 0C BCDE 0050C2FFFEDC2822 DE")
F14 = frame("D0EA83FC 0005 0006 0344 0028 0E1A")
F15 = frame("D0F9EE5D 2005 0005 033E 0001 01")
F16 = frame("D0EA83FC 0056 0004 0393 0000")
F17 = frame("D0F9EE5D 2056 0005 038F 0001 01")
F18 = frame("D0F9EE5D 6028 000D 03A9 0436 01 0050C2FFFEDC2822")
F20 = frame(
    "D0EA83FC 0008 002A 036B 0A75 FE800000000000000250C2FFFEDC2822 0E1A 0E1A 0010"
    " 1081 0006 05FF01 028801 62 02 EA00 EB00"
)
F21 = frame("D0F9EE5D 2008 000B 0347 009D 01 00 1081000605")


class Port:
    """A raw client: writes bytes, reads whole frames by their length field."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def frame(self) -> bytes:
        async with asyncio.timeout(3):
            head = await self.reader.readexactly(12)
            return head + await self.reader.readexactly(int.from_bytes(head[6:8], "big") - 4)


@pytest.fixture
async def rohm(socket_enabled: None) -> object:
    sim = Simulator(
        model=DongleModel.BP35C2_J11,
        meter=MeterConfig(mac="0050C2FFFEDC2822", channel=12 + 29, pan_id=0xBCDE, lqi=255),
        rbid=ROHM_RBID,
        password=ROHM_PASSWORD,
        timing=TimingModel.fast(),
        clock=ManualClock(datetime(2026, 11, 15, 12, 10, tzinfo=JST)),
    )
    url = await sim.start_socket()
    host, port = url.removeprefix("socket://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    yield sim, Port(reader, writer)
    writer.close()
    await sim.stop()


async def test_rohms_session_byte_for_byte(rohm: object) -> None:
    assert isinstance(rohm, tuple)
    sim, port = rohm
    await port.send(F1)
    assert await port.frame() == F2
    for request, answer in ((F3, F4), (F5, F6)):
        await port.send(request)
        assert await port.frame() == answer

    await port.send(F7)
    notices = [await port.frame() for _ in range(14)]  # one per channel 4…17, in order
    assert notices[0] == F8_EMPTY_CH4
    assert notices[12 - 4] == F8_BEACON
    assert all(n[4:6] == b"\x40\x51" for n in notices)
    assert await port.frame() == F9

    await port.send(F10)
    assert await port.frame() == F4
    await port.send(F12)
    assert await port.frame() == F13
    await port.send(F14)
    assert await port.frame() == F15
    await port.send(F16)
    assert await port.frame() == F17
    assert await port.frame() == F18
    instance_list = await port.frame()
    assert instance_list[4:6] == b"\x60\x18"
    assert instance_list[12 + 22] == 0x01  # multicast

    await port.send(F20)
    assert await port.frame() == F21
    reply = await port.frame()
    data = reply[12:]
    # F22's layout: sender, ports, PAN, type, security, RSSI, length, Get_Res.
    assert data[0:16] == frame("FE800000000000000250C2FFFEDC2822")
    assert data[16:20] == frame("0E1A0E1A")
    assert data[20:22] == frame("BCDE")  # the note's F22 shows 22A9 (see docs/j11.md)
    assert data[22:25] == frame("0002DE")
    assert int.from_bytes(data[25:27], "big") == 0x26 == len(data) - 27
    assert data[27:39] == frame("1081 0006 028801 05FF01 72 02")
    assert sim.dongle.joined


async def test_corrupted_requests_are_refused_or_skipped(rohm: object) -> None:
    assert isinstance(rohm, tuple)
    sim, port = rohm
    bad_data = F3[:-1] + b"\x01"
    await port.send(b"junk" + bad_data)
    answer = await port.frame()
    assert answer[4:6] == b"\x20\x5f"
    assert answer[12] == 0xF1  # data checksum error (Table 34)
    bad_header = F3[:8] + b"\x00\x00" + F3[10:]
    await port.send(bad_header + F3)  # the broken one is skipped, the good one answered
    assert await port.frame() == F4
    head = frame("D0EA83FC 0123 0004")
    await port.send(head + (sum(head) & 0xFFFF).to_bytes(2, "big") + b"\x00\x00")
    unknown = await port.frame()
    assert unknown[4:6] == b"\x21\x23"
    assert unknown[12] == 0x03  # invalid command code
    assert sim.stats.commands["005F"] == 1  # only the intact request was executed


async def test_credentials_are_not_kept_in_the_command_log(rohm: object) -> None:
    assert isinstance(rohm, tuple)
    sim, port = rohm
    await port.send(F3 + F5)
    await port.frame()
    await port.frame()
    log = "\n".join(sim.dongle.last_commands)
    assert "0054 ********" in log
    assert ROHM_RBID.encode().hex().upper() not in log
    assert ROHM_PASSWORD.encode().hex().upper() not in log
