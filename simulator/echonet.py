"""ECHONET Lite frame codec used by the simulated meter.

Written independently of the client library on purpose: a test that passes checks
both sides against the protocol reference, not one implementation against itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
