"""Property-based checks of the J11 driver's reader: junk in, the reader keeps going.

The driver reads an in-memory stream fed in random chunks: random bytes, and frames
with valid checksums but any code and any data (the worst junk: it passes the frame
layer and reaches the notification parsers). Whatever arrives, the reader must not
die, and a real datagram after the junk must still come out intact. The frames are
built here from the layout in docs/j11.md, not with the code under test.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, example, given, settings, strategies as st

from custom_components.broute_meter.broute.links.j11 import J11Driver

METER = bytes.fromhex("FE80000000000000021D129012345678")
METER_TEXT = "FE80:0000:0000:0000:021D:1290:1234:5678"
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def frame(code: int, data: bytes) -> bytes:
    head = bytes.fromhex("D0F9EE5D") + code.to_bytes(2, "big") + (len(data) + 4).to_bytes(2, "big")
    sums = (sum(head) & 0xFFFF).to_bytes(2, "big") + (sum(data) & 0xFFFF).to_bytes(2, "big")
    return head + sums + data


def received(payload: bytes, *, port: int = 3610, encrypted: bool = True) -> bytes:
    body = METER + (3610).to_bytes(2, "big") + port.to_bytes(2, "big") + b"\x88\x88"
    body += bytes([0x00, 0x02 if encrypted else 0x01, 0xC0]) + len(payload).to_bytes(2, "big")
    return frame(0x6018, body + payload)


class _Writer:
    def write(self, data: bytes) -> None:
        return None

    async def drain(self) -> None:
        return None

    def is_closing(self) -> bool:
        return True


_CODES = st.sampled_from([0x4051, 0x6018, 0x6019, 0x601A, 0x6028, 0x2053, 0x206B, 0x7FFF])
_VALID_LOOKING = st.builds(frame, _CODES, st.binary(max_size=60))
_JUNK = st.lists(st.one_of(st.binary(max_size=40), _VALID_LOOKING), max_size=12).map(b"".join)
GOOD = bytes.fromhex("1081000102880105FF017201E70400000123")


async def _run(junk: bytes, step: int) -> tuple[list[tuple[str, bytes]], list[BaseException]]:
    reader = asyncio.StreamReader()
    driver = J11Driver(reader, _Writer())  # type: ignore[arg-type]
    got: list[tuple[str, bytes]] = []
    lost: list[BaseException] = []
    driver.on_datagram = lambda sender, data: got.append((sender, data))
    driver.on_lost = lost.append
    driver.on_event = lambda event: None
    driver.start()
    stream = junk + received(GOOD, port=716) + received(GOOD, encrypted=False) + received(GOOD)
    for at in range(0, len(stream), step):
        reader.feed_data(stream[at : at + step])
        await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    await driver.stop()
    return got, lost


@SETTINGS
@given(_JUNK, st.integers(1, 64))
@example(frame(0x6018, b"\x00" * 26), 7)  # shorter than a reception header
@example(frame(0x4051, bytes([0x00, 0x04, 0x05])), 3)  # claims five beacons, has none
@example(frame(0x6019, b""), 1)  # a restart notice with no driver state behind it
def test_the_reader_survives_and_still_delivers(junk: bytes, step: int) -> None:
    got, lost = asyncio.run(_run(junk, step))
    assert lost == []
    # Only the encrypted datagram on 3610 reaches the link, whole; junk frames may add
    # datagrams of their own only if they were well-formed 0x6018s themselves.
    assert got[-1] == (METER_TEXT, GOOD)
    assert all(sender.count(":") == 7 for sender, _ in got)
