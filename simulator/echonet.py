"""ECHONET Lite frame codec used by the simulated meter.

Written independently of the client library on purpose: a test that passes checks
both sides against the protocol reference, not one implementation against itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

EHD1 = 0x10
EHD2_FORMAT1 = 0x81

CONTROLLER_EOJ = bytes.fromhex("05FF01")
METER_EOJ = bytes.fromhex("028801")
NODE_PROFILE_EOJ = bytes.fromhex("0EF001")

# ESV codes (reference §B.2)
SETI = 0x60
SETC = 0x61
GET = 0x62
INF_REQ = 0x63
SETGET = 0x6E
SET_RES = 0x71
GET_RES = 0x72
INF = 0x73
INFC = 0x74
INFC_RES = 0x7A
SETI_SNA = 0x50
SETC_SNA = 0x51
GET_SNA = 0x52
INF_SNA = 0x53

NO_DATA_U32 = 0xFFFFFFFE
NO_DATA_S32 = 0x7FFFFFFE
NO_DATA_S16 = 0x7FFE


class FrameError(ValueError):
    """Bytes that are not a well-formed format-1 ECHONET Lite frame."""


@dataclass(slots=True)
class Frame:
    """One format-1 frame; ``props`` keeps request order (EPC, EDT)."""

    tid: int
    seoj: bytes
    deoj: bytes
    esv: int
    props: list[tuple[int, bytes]] = field(default_factory=list)

    def encode(self) -> bytes:
        out = bytearray((EHD1, EHD2_FORMAT1))
        out += self.tid.to_bytes(2, "big")
        out += self.seoj + self.deoj
        out += bytes((self.esv, len(self.props)))
        for epc, edt in self.props:
            out += bytes((epc, len(edt))) + edt
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Frame:
        if len(data) < 12:
            raise FrameError("frame shorter than its header")
        if data[0] != EHD1 or data[1] != EHD2_FORMAT1:
            raise FrameError("not an ECHONET Lite format-1 frame")
        tid = int.from_bytes(data[2:4], "big")
        opc = data[11]
        props: list[tuple[int, bytes]] = []
        pos = 12
        for _ in range(opc):
            if pos + 2 > len(data):
                raise FrameError("truncated property header")
            epc, pdc = data[pos], data[pos + 1]
            pos += 2
            if pos + pdc > len(data):
                raise FrameError("truncated property data")
            props.append((epc, bytes(data[pos : pos + pdc])))
            pos += pdc
        if pos != len(data):
            raise FrameError("trailing bytes after the last property")
        return cls(tid, bytes(data[4:7]), bytes(data[7:10]), data[10], props)


def property_map(epcs: list[int] | set[int]) -> bytes:
    """Encode a property map: list form below 16 entries, bitmap form from 16 on."""
    codes = sorted(set(epcs))
    if len(codes) < 16:
        return bytes([len(codes), *codes])
    bitmap = bytearray(16)
    for epc in codes:
        bitmap[epc & 0x0F] |= 1 << ((epc >> 4) - 8)
    return bytes([len(codes)]) + bytes(bitmap)


def decode_property_map(edt: bytes) -> set[int]:
    """Inverse of :func:`property_map` (used by the simulator's own tests)."""
    count = edt[0]
    if count < 16:
        return set(edt[1 : 1 + count])
    out: set[int] = set()
    for i in range(16):
        for bit in range(8):
            if edt[1 + i] & (1 << bit):
                out.add(((0x8 + bit) << 4) | i)
    return out


def node_profile(
    epc: int, *, release: int, identification: bytes, maker: int, eoj: bytes
) -> bytes | None:
    """One property of the node profile 0x0EF001 of a node holding the one object ``eoj``.

    ``release`` is the ECHONET Lite release byte of 0x82 (0x0D for 'D', ...),
    ``identification`` the 17 bytes of 0x83, ``maker`` the 3-byte maker code (8A).
    """
    instances = bytes([1]) + eoj
    maker_code = maker.to_bytes(3, "big")
    table: dict[int, bytes] = {
        0x80: b"\x30",
        0x82: bytes([0x01, release, 0x01, 0x00]),
        0x83: identification,
        0x8A: maker_code,
        0xD3: (1).to_bytes(3, "big"),
        0xD4: (2).to_bytes(2, "big"),
        0xD5: instances,
        0xD6: instances,
        0xD7: bytes([1, eoj[0], eoj[1]]),
    }
    if epc == 0x9D:
        return property_map([0x80, 0xD5])
    if epc == 0x9E:
        return property_map([])
    if epc == 0x9F:
        return property_map([*table, 0x9D, 0x9E, 0x9F])
    return table.get(epc)


class MeterIdentityConfig(Protocol):
    """What a simulated meter's configuration says of its identity and health."""

    fault: bool
    maker_code: int
    serial: str


def superclass_property(
    epc: int, config: MeterIdentityConfig, now: datetime, get_epcs: list[int], set_epcs: list[int]
) -> bytes | None:
    """A device superclass property every simulated meter answers alike; None for others.

    0x80 operation status (on), 0x88 fault status, 0x8A maker code, 0x8D serial number,
    0x97/0x98 current time and date, 0x9D/0x9E/0x9F the announce, Set and Get maps.
    """
    match epc:
        case 0x80:
            return b"\x30"
        case 0x88:
            return b"\x41" if config.fault else b"\x42"
        case 0x8A:
            return config.maker_code.to_bytes(3, "big")
        case 0x8D:
            return config.serial.encode("ascii")[:12].ljust(12, b"\x00")
        case 0x97:
            return bytes([now.hour, now.minute])
        case 0x98:
            return now.year.to_bytes(2, "big") + bytes([now.month, now.day])
        case 0x9D:
            return property_map([0x80, 0x81, 0x88])
        case 0x9E:
            return property_map(set_epcs)
        case 0x9F:
            return property_map(get_epcs)
    return None


def refuse(epc: int, edt: bytes) -> bool:
    """The write side of an object nothing may be set on."""
    return False


def serve(
    request: Frame,
    obj: bytes,
    read: Callable[[int], bytes | None],
    write: Callable[[int, bytes], bool],
    *,
    max_get: int | None = None,
) -> list[tuple[Frame, bool]]:
    """Answer one request to the object ``obj``: a list of (frame, multicast?).

    ``read`` gives a property's EDT (None: not offered), ``write`` applies a Set (False:
    refused). A Get answers the first ``max_get`` properties at most (None: all), the
    rest with PDC 0 in a Get_SNA. SetI that succeeds and INFC_Res get no answer; an
    INF_REQ answers with a multicast INF.
    """
    esv = request.esv

    def reply(esv: int, props: list[tuple[int, bytes]]) -> Frame:
        return Frame(request.tid, obj, request.seoj, esv, props)

    if esv in (GET, INF_REQ):
        props: list[tuple[int, bytes]] = []
        for index, (epc, _) in enumerate(request.props):
            edt = read(epc) if esv == INF_REQ or max_get is None or index < max_get else None
            props.append((epc, edt or b""))
        ok = all(edt for _, edt in props)
        if esv == GET:
            return [(reply(GET_RES if ok else GET_SNA, props), False)]
        return [(reply(INF, props), True)] if ok else [(reply(INF_SNA, props), False)]
    if esv in (SETC, SETI):
        props = []
        ok = True
        for epc, edt in request.props:
            if write(epc, edt):
                props.append((epc, b""))
            else:
                ok = False
                props.append((epc, edt))
        if esv == SETI and ok:
            return []
        return [(reply(SET_RES if ok else SETC_SNA if esv == SETC else SETI_SNA, props), False)]
    if esv == INFC:
        return [(reply(INFC_RES, [(epc, b"") for epc, _ in request.props]), False)]
    # INFC_Res and anything else: accepted silently.
    return []
