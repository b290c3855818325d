"""A tiny independent SKSTACK reader used to look at the simulator from the host side."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import serialx

from simulator import TEST_PASSWORD, TEST_RBID

A1_FIELDS = 6  # SENDER DEST RPORT LPORT SENDERLLA SECURED, then DATALEN
DSE_FIELDS = 7  # ... SECURED SIDE, then DATALEN


@dataclass
class Rx:
    """One ERXUDP as the host sees it."""

    fields: list[str]
    data: bytes

    @property
    def sender(self) -> str:
        return self.fields[0]

    @property
    def dest(self) -> str:
        return self.fields[1]

    @property
    def rport(self) -> int:
        return int(self.fields[2], 16)


class Host:
    """Raw byte-level host: writes commands, reads lines and ERXUDP by length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.fields_before_len = DSE_FIELDS
        self.hex_mode = False
        self.transcript: list[bytes | Rx] = []

    @classmethod
    async def open(cls, url: str, *, dse: bool = True) -> Host:
        reader, writer = await serialx.open_serial_connection(url, baudrate=115200)
        host = cls(reader, writer)
        host.fields_before_len = DSE_FIELDS if dse else A1_FIELDS
        return host

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def cmd(self, line: str, end: bytes = b"\r\n") -> None:
        await self.write(line.encode() + end)

    async def _fill(self, within: float) -> None:
        chunk = await asyncio.wait_for(self.reader.read(4096), within)
        if not chunk:
            raise EOFError("port closed")
        self.buf += chunk

    async def raw_until(self, marker: bytes, within: float = 3.0, *, strip: bool = True) -> bytes:
        """Raw bytes up to and including ``marker`` (used for CR-only replies)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            while strip and bytes(self.buf[:1]) in (b"\r", b"\n"):
                del self.buf[0]
            if marker in self.buf:
                break
            await self._fill(max(0.01, deadline - loop.time()))
        end = self.buf.index(marker) + len(marker)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    async def next(self, within: float = 3.0) -> bytes | Rx:
        """Next non-empty line (bytes, no terminator) or a parsed ERXUDP."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            while self.buf[:1] in (b"\r", b"\n"):
                del self.buf[0]
            item = self._try_parse()
            if item is not None:
                self.transcript.append(item)
                return item
            await self._fill(max(0.01, deadline - loop.time()))

    def _try_parse(self) -> bytes | Rx | None:
        buf = self.buf
        if not buf:
            return None
        if buf.startswith(b"ERXUDP "):
            parts: list[bytes] = []
            pos = 7
            while len(parts) < self.fields_before_len + 1:
                space = buf.find(b" ", pos)
                if space < 0:
                    return None
                parts.append(bytes(buf[pos:space]))
                pos = space + 1
            length = int(parts[-1], 16)
            size = length * 2 if self.hex_mode else length
            if len(buf) < pos + size + 2:
                return None
            body = bytes(buf[pos : pos + size])
            assert buf[pos + size : pos + size + 2] == b"\r\n"
            del buf[: pos + size + 2]
            data = bytes.fromhex(body.decode()) if self.hex_mode else body
            return Rx([p.decode() for p in parts], data)
        cut = [i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0]
        if not cut:
            return None
        end = min(cut)
        line = bytes(buf[:end])
        del buf[: end + 1]
        return line

    async def line(self, within: float = 3.0) -> bytes:
        """Next text line, skipping ERXUDPs."""
        while True:
            item = await self.next(within)
            if isinstance(item, bytes):
                return item

    async def expect(self, prefix: bytes, within: float = 3.0) -> list[bytes | Rx]:
        """Read until a line starting with ``prefix``; returns everything read."""
        seen: list[bytes | Rx] = []
        while True:
            item = await self.next(within)
            seen.append(item)
            if isinstance(item, bytes) and item.startswith(prefix):
                return seen

    async def rx(self, port: int = 0x0E1A, within: float = 3.0) -> Rx:
        while True:
            item = await self.next(within)
            if isinstance(item, Rx) and item.rport == port:
                return item

    async def quiet(self, seconds: float = 0.1) -> list[bytes | Rx]:
        """Everything that arrives within ``seconds``."""
        out: list[bytes | Rx] = []
        try:
            while True:
                out.append(await self.next(seconds))
        except TimeoutError:
            return out


METER_IP = "FE80:0000:0000:0000:021D:1290:1234:5678"
DONGLE_IP = "FE80:0000:0000:0000:021D:1290:0000:0001"


async def connect_and_join(url: str, *, dse: bool, hex_mode: bool = False) -> Host:
    """The reference §A.6 flow, from reset to the D5 notification."""
    host = await Host.open(url, dse=dse)
    host.hex_mode = hex_mode
    side = " 0" if dse else ""
    await host.cmd("SKRESET")
    await host.expect(b"OK")
    await host.cmd("SKSREG SFE 0")
    await host.expect(b"OK")
    await host.cmd(f"SKSETPWD C {TEST_PASSWORD}")
    await host.expect(b"OK")
    await host.cmd(f"SKSETRBID {TEST_RBID}")
    await host.expect(b"OK")
    await host.cmd(f"SKSCAN 2 FFFFFFFF 6{side}")
    await host.expect(b"EVENT 22")
    await host.cmd("SKSREG S2 21")
    await host.expect(b"OK")
    await host.cmd("SKSREG S3 8888")
    await host.expect(b"OK")
    await host.cmd(f"SKJOIN {METER_IP}")
    await host.expect(b"EVENT 25")
    d5 = await host.rx()
    assert d5.data[10:13] == bytes.fromhex("7301D5")
    return host


def sendto_bytes(payload: bytes, *, dse: bool, sec: int = 1) -> bytes:
    side = " 0" if dse else ""
    return f"SKSENDTO 1 {METER_IP} 0E1A {sec}{side} {len(payload):04X} ".encode() + payload


async def request(host: Host, payload: bytes, *, dse: bool) -> Rx:
    """Send one frame and return the meter's answer (skipping unrelated frames)."""
    await host.write(sendto_bytes(payload, dse=dse))
    while True:
        rx = await host.rx()
        if rx.data[2:4] == payload[2:4] and rx.data[4:7] != bytes.fromhex("05FF01"):
            return rx
