"""ROHM J11 UART frames: encoding, strict decoding and a resynchronising splitter.

A J11 frame is a 12-byte header and a data part (big-endian throughout)::

    0  unique code   4  0xD0EA83FC host→module, 0xD0F9EE5D module→host
    4  command code  2  a response is the request's code | 0x2000
    6  message len   2  4 + len(data): the two checksums plus the data
    8  header sum    2  sum of bytes 0-7, modulo 0x10000
    10 data sum      2  sum of the data bytes, modulo 0x10000
    12 data          message len - 4

See docs/j11.md for the commands and where each layout is confirmed. This module is
pure: no I/O, no logging, nothing about credentials (callers decide what to log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

REQUEST_UNIQUE: Final = 0xD0EA83FC
RESPONSE_UNIQUE: Final = 0xD0F9EE5D
HEADER_SIZE: Final = 12
#: The largest data part we accept: a 0x6018 with the longest UDP payload (1232 bytes)
#: is 1259 bytes; anything much larger is a corrupted length field.
MAX_DATA: Final = 2048

# Request codes.
CMD_GET_STATUS: Final = 0x0001
CMD_OPEN_UDP_PORT: Final = 0x0005
CMD_CLOSE_UDP_PORT: Final = 0x0006
CMD_TRANSMIT_DATA: Final = 0x0008
CMD_ACTIVE_SCAN: Final = 0x0051
CMD_START_ROUTE_B: Final = 0x0053
CMD_SET_ROUTE_B_AUTH: Final = 0x0054
CMD_START_PANA: Final = 0x0056
CMD_END_PANA: Final = 0x0057
CMD_END_ROUTE_B: Final = 0x0058
CMD_INITIAL_SETTINGS: Final = 0x005F
CMD_GET_VERSION: Final = 0x006B
CMD_REDO_PANA: Final = 0x00D2
CMD_RESET: Final = 0x00D9

RESPONSE_FLAG: Final = 0x2000
#: What the module answers when it could not read a request's header or its command
#: code (reported by one source only, see docs/j11.md).
RESPONSE_BAD_HEADER: Final = 0x2FFF
RESPONSE_BAD_COMMAND: Final = 0xFFFF

# Notification codes.
NOTIFY_SCAN_RESULT: Final = 0x4051
NOTIFY_RECEIVED: Final = 0x6018
NOTIFY_BOOTED: Final = 0x6019
NOTIFY_CONNECTION: Final = 0x601A
NOTIFY_PANA_RESULT: Final = 0x6028

RESULT_OK: Final = 0x01
RESULT_ALREADY_OPEN: Final = 0x0A

#: Table of response results (ROHM 63TR008E Table 34, as quoted by two sources).
RESULT_TEXT: Final[dict[int, str]] = {
    0x01: "success",
    0x02: "address not in the device list",
    0x03: "invalid command code",
    0x04: "invalid parameter",
    0x06: "invalid destination",
    0x0A: "port already open",
    0x0B: "port not open",
    0x0E: "MAC connection failed",
    0x10: "route B or HAN not started",
    0x11: "parameter length out of range",
    0x13: "request timed out inside the module (1 s)",
    0x34: "route B already operating",
    0x35: "route B authenticating",
    0x3D: "another request is in progress",
    0x51: "PANA not possible: settings missing",
    0x52: "PANA sequence in progress",
    0xF0: "header checksum error",
    0xF1: "data checksum error",
    0xF2: "message shorter than the header says",
    0xF3: "message longer than the maximum",
}

# 0x6028 results.
PANA_SUCCESS: Final = 0x01
PANA_FAILED: Final = 0x02
PANA_NO_ANSWER: Final = 0x03

# 0x601A states.
CONNECTION_MAC_UP: Final = 0x01
CONNECTION_PANA_UP: Final = 0x02
CONNECTION_MAC_DOWN: Final = 0x03
CONNECTION_PANA_DOWN: Final = 0x04


class J11FrameError(ValueError):
    """Bytes that are not one valid J11 frame (or a data part of the wrong shape)."""


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The 16-bit sum of ``data`` (both J11 checksums are this sum)."""
    return sum(data) & 0xFFFF


@dataclass(frozen=True, slots=True)
class J11Frame:
    """One frame; ``unique`` tells the direction."""

    code: int
    data: bytes = b""
    unique: int = RESPONSE_UNIQUE

    @property
    def is_response(self) -> bool:
        """Whether this answers a request (0x2000-0x2FFF, and the 0xFFFF error)."""
        return 0x2000 <= self.code <= 0x2FFF or self.code == RESPONSE_BAD_COMMAND

    @property
    def request_code(self) -> int:
        """The request a response answers."""
        return self.code & ~RESPONSE_FLAG & 0xFFFF

    @property
    def result(self) -> int | None:
        """A response's result byte (None for notifications and empty responses)."""
        if not self.is_response or not self.data:
            return None
        return self.data[0]

    def encode(self) -> bytes:
        """The frame's bytes, both checksums computed."""
        return encode_frame(self.code, self.data, unique=self.unique)


def encode_frame(code: int, data: bytes = b"", *, unique: int = REQUEST_UNIQUE) -> bytes:
    """Build a frame: header (with both sums) + data."""
    if not 0 <= code <= 0xFFFF:
        raise J11FrameError("a command code is 16 bits")
    if len(data) > MAX_DATA:
        raise J11FrameError(f"data part longer than {MAX_DATA} bytes")
    head = unique.to_bytes(4, "big") + code.to_bytes(2, "big") + (len(data) + 4).to_bytes(2, "big")
    return head + checksum(head).to_bytes(2, "big") + checksum(data).to_bytes(2, "big") + data


def encode_request(code: int, data: bytes = b"") -> bytes:
    """A host→module request."""
    return encode_frame(code, data, unique=REQUEST_UNIQUE)


def decode_frame(raw: bytes, *, unique: int = RESPONSE_UNIQUE) -> J11Frame:
    """Decode exactly one frame; J11FrameError on any mismatch (code, length, sums)."""
    if len(raw) < HEADER_SIZE:
        raise J11FrameError("shorter than a header")
    if int.from_bytes(raw[0:4], "big") != unique:
        raise J11FrameError("wrong unique code")
    length = int.from_bytes(raw[6:8], "big")
    if length < 4 or length - 4 > MAX_DATA:
        raise J11FrameError("message length out of range")
    if checksum(raw[0:8]) != int.from_bytes(raw[8:10], "big"):
        raise J11FrameError("header checksum mismatch")
    if len(raw) != HEADER_SIZE + length - 4:
        raise J11FrameError("length does not match the header")
    data = bytes(raw[HEADER_SIZE:])
    if checksum(data) != int.from_bytes(raw[10:12], "big"):
        raise J11FrameError("data checksum mismatch")
    return J11Frame(int.from_bytes(raw[4:6], "big"), data, unique)


@dataclass(slots=True)
class SplitterStats:
    """What the splitter threw away (for diagnostics)."""

    frames: int = 0
    junk_bytes: int = 0
    bad_header: int = 0
    bad_data: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict for diagnostics."""
        return {
            "frames": self.frames,
            "junk_bytes": self.junk_bytes,
            "bad_header": self.bad_header,
            "bad_data": self.bad_data,
        }


class FrameSplitter:
    """Cuts a byte stream into valid frames; junk and broken frames are skipped.

    Bytes before a unique code are junk. A header whose sum or length is wrong, or a
    data part whose sum is wrong, costs one byte: the search restarts just after the
    false start, so a real frame hidden inside it is still found. A frame cut short by
    a lost byte would make us wait for data that never comes; when a complete, valid
    frame already sits further on in the buffer, the incomplete one is given up.
    """

    def __init__(self, *, unique: int = RESPONSE_UNIQUE, max_data: int = MAX_DATA) -> None:
        """Split frames starting with ``unique`` (the module's by default)."""
        self._prefix = unique.to_bytes(4, "big")
        self._unique = unique
        self._max_data = max_data
        self._buf = bytearray()
        self.stats = SplitterStats()

    @property
    def buffered(self) -> int:
        """Bytes held back (an incomplete frame, or a possible start of one)."""
        return len(self._buf)

    def clear(self) -> None:
        """Forget buffered bytes (e.g. after the module reset)."""
        self.stats.junk_bytes += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes) -> list[J11Frame]:
        """Add bytes; return every frame completed by them, in order."""
        self._buf += data
        frames: list[J11Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _drop(self, count: int) -> None:
        self.stats.junk_bytes += count
        del self._buf[:count]

    def _next(self) -> J11Frame | None:
        buf = self._buf
        while True:
            start = buf.find(self._prefix)
            if start < 0:
                # Keep a tail that may be the first bytes of the next unique code.
                keep = _partial_prefix(buf, self._prefix)
                self._drop(len(buf) - keep)
                return None
            if start:
                self._drop(start)
            verdict, size = self._check(0)
            if verdict == "bad_header":
                self.stats.bad_header += 1
                self._drop(1)
                continue
            if verdict == "bad_data":
                self.stats.bad_data += 1
                self._drop(1)
                continue
            if verdict == "incomplete":
                later = self._complete_frame_after(1)
                if later is None:
                    return None
                self._drop(later)
                continue
            raw = bytes(buf[:size])
            del buf[:size]
            self.stats.frames += 1
            return J11Frame(int.from_bytes(raw[4:6], "big"), raw[HEADER_SIZE:], self._unique)

    def _check(self, at: int) -> tuple[str, int]:
        """Judge the frame starting at ``at``: ok/incomplete/bad_header/bad_data."""
        buf = self._buf
        if len(buf) - at < HEADER_SIZE:
            return "incomplete", 0
        length = int.from_bytes(buf[at + 6 : at + 8], "big")
        header_sum = int.from_bytes(buf[at + 8 : at + 10], "big")
        if (
            length < 4
            or length - 4 > self._max_data
            or checksum(memoryview(buf)[at : at + 8]) != header_sum
        ):
            return "bad_header", 0
        size = HEADER_SIZE + length - 4
        if len(buf) - at < size:
            return "incomplete", size
        data_sum = int.from_bytes(buf[at + 10 : at + 12], "big")
        if checksum(memoryview(buf)[at + HEADER_SIZE : at + size]) != data_sum:
            return "bad_data", size
        return "ok", size

    def _complete_frame_after(self, offset: int) -> int | None:
        """Offset of the first complete valid frame at or after ``offset``, if any."""
        buf = self._buf
        while True:
            at = buf.find(self._prefix, offset)
            if at < 0:
                return None
            if self._check(at)[0] == "ok":
                return at
            offset = at + 1


def _partial_prefix(buf: bytearray, prefix: bytes) -> int:
    """How many bytes at the end of ``buf`` match the start of ``prefix``."""
    for keep in range(min(len(prefix) - 1, len(buf)), 0, -1):
        if buf.endswith(prefix[:keep]):
            return keep
    return 0


# --- data parts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Beacon:
    """One PAN that answered an active scan (0x4051) or route-B start (0x2053)."""

    channel: int  # J11 numbering: 4-17
    pan_id: int
    mac: bytes
    rssi: int  # dBm


@dataclass(frozen=True, slots=True)
class Received:
    """A UDP datagram reported by 0x6018."""

    sender: bytes  # 16-byte IPv6 address
    source_port: int
    dest_port: int
    pan_id: int
    multicast: bool
    encrypted: bool
    rssi: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Version:
    """A 0x206B answer."""

    firmware_id: int
    major: int
    minor: int
    revision: int

    def __str__(self) -> str:
        """``major.minor.revision`` as the vendor tools print it."""
        return f"{self.major}.{self.minor}.{self.revision:08X}"


def _signed(byte: int) -> int:
    return byte - 0x100 if byte >= 0x80 else byte


def initial_settings_data(channel: int, *, mode: int = 0x05, power: int = 0x00) -> bytes:
    """0x005F: mode (0x05 = dual stack, the one B-route needs), HAN sleep off, channel, power."""
    if not 4 <= channel <= 17:
        raise J11FrameError("J11 channels are 4-17")
    return bytes([mode, 0x00, channel, power])


def route_b_auth_data(rbid: str, password: str) -> bytes:
    """0x0054: the 32-character B-route ID then the 12-character password, ASCII."""
    rbid_b = rbid.encode("ascii")
    password_b = password.encode("ascii")
    if len(rbid_b) != 32 or len(password_b) != 12:
        # Lengths only: the values never go into a message.
        raise J11FrameError("the B-route ID is 32 characters and the password 12")
    return rbid_b + password_b


#: Channels 4-17, the whole 920 MHz band the J11 firmware can use.
ALL_CHANNELS: Final = 0x0003FFF0


def active_scan_data(duration: int, pair_id: str | None, *, mask: int = ALL_CHANNELS) -> bytes:
    """0x0051: duration, channel mask (bit n = channel n), pairing-ID flag and ID."""
    if not 1 <= duration <= 14:
        raise J11FrameError("scan duration is 1-14")
    if pair_id is None:
        return bytes([duration]) + mask.to_bytes(4, "big") + b"\x00"
    pid = pair_id.encode("ascii")
    if len(pid) != 8:
        raise J11FrameError("a pairing ID is 8 characters")
    return bytes([duration]) + mask.to_bytes(4, "big") + b"\x01" + pid


def transmit_data(
    dest: bytes, payload: bytes, *, source_port: int = 3610, dest_port: int = 3610
) -> bytes:
    """0x0008: destination IPv6, source port, destination port, length, payload."""
    if len(dest) != 16:
        raise J11FrameError("an IPv6 address is 16 bytes")
    if not 1 <= len(payload) <= 1232:
        raise J11FrameError("a UDP payload is 1-1232 bytes")
    return (
        dest
        + source_port.to_bytes(2, "big")
        + dest_port.to_bytes(2, "big")
        + len(payload).to_bytes(2, "big")
        + payload
    )


def parse_scan_result(data: bytes) -> tuple[int, list[Beacon]]:
    """0x4051: (channel, beacons); result 0x00 carries beacons, 0x01 none."""
    if len(data) < 2:
        raise J11FrameError("scan result too short")
    result, channel = data[0], data[1]
    if result == 0x01:
        return channel, []
    if result != 0x00 or len(data) < 3:
        raise J11FrameError("unknown scan result")
    count = data[2]
    if len(data) != 3 + 11 * count:
        raise J11FrameError("scan result length does not match its count")
    beacons = [
        Beacon(
            channel,
            int.from_bytes(data[at + 8 : at + 10], "big"),
            bytes(data[at : at + 8]),
            _signed(data[at + 10]),
        )
        for at in range(3, len(data), 11)
    ]
    return channel, beacons


def parse_route_b_started(data: bytes) -> Beacon:
    """0x2053 success: result, channel, PAN ID, MAC, RSSI (note: PAN before MAC here)."""
    if len(data) != 13 or data[0] != RESULT_OK:
        raise J11FrameError("not a successful route-B start")
    return Beacon(data[1], int.from_bytes(data[2:4], "big"), bytes(data[4:12]), _signed(data[12]))


def parse_received(data: bytes) -> Received:
    """0x6018: sender, ports, PAN ID, address type, security, RSSI, length, payload."""
    if len(data) < 27:
        raise J11FrameError("reception notice too short")
    size = int.from_bytes(data[25:27], "big")
    if len(data) != 27 + size:
        raise J11FrameError("reception notice length does not match")
    return Received(
        bytes(data[0:16]),
        int.from_bytes(data[16:18], "big"),
        int.from_bytes(data[18:20], "big"),
        int.from_bytes(data[20:22], "big"),
        data[22] == 0x01,
        data[23] == 0x02,
        _signed(data[24]),
        bytes(data[27:]),
    )


def parse_version(data: bytes) -> Version:
    """0x206B: result, firmware ID (2), major, minor, revision (4)."""
    if len(data) != 9 or data[0] != RESULT_OK:
        raise J11FrameError("not a version answer")
    return Version(
        int.from_bytes(data[1:3], "big"), data[3], data[4], int.from_bytes(data[5:9], "big")
    )


def parse_pana_result(data: bytes) -> tuple[int, bytes]:
    """0x6028: (result, MAC)."""
    if len(data) != 9:
        raise J11FrameError("PANA result has 9 bytes")
    return data[0], bytes(data[1:9])


def parse_connection(data: bytes) -> tuple[int, bytes, int]:
    """0x601A: (state, MAC, RSSI)."""
    if len(data) != 10:
        raise J11FrameError("connection notice has 10 bytes")
    return data[0], bytes(data[1:9]), _signed(data[9])


def transmit_result(data: bytes) -> tuple[int, int | None]:
    """0x2008: (result, transmission result or None when the module left it out)."""
    if not data:
        raise J11FrameError("empty transmit answer")
    return data[0], (data[1] if len(data) > 1 else None)


__all__ = [
    "ALL_CHANNELS",
    "HEADER_SIZE",
    "MAX_DATA",
    "REQUEST_UNIQUE",
    "RESPONSE_UNIQUE",
    "Beacon",
    "FrameSplitter",
    "J11Frame",
    "J11FrameError",
    "Received",
    "SplitterStats",
    "Version",
    "checksum",
    "decode_frame",
    "encode_frame",
    "encode_request",
]
