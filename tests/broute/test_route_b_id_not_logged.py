"""C0, the meter's B-route identification number, never reaches the DEBUG traffic logs.

A Release R meter with a recognisable C0 is read over every SKSTACK dialect and over
J11 with DEBUG on; the answer frame passes the traffic logger, which must show C0's
length, never its bytes (as hex in either case, or as text).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute.echonet import loggable_payload
from simulator import DongleModel

if TYPE_CHECKING:
    from .conftest import Harness

TAIL = b"C0SECRET0042"  # the 12-byte "free area", readable as text
ROUTE_B_ID = b"\x00\x00\x00\x16" + TAIL
LIBRARY = "custom_components.broute_meter"


def _leaks(text: str) -> list[str]:
    folded = text.casefold()
    needles = [ROUTE_B_ID.hex(), TAIL.hex(), TAIL.decode("ascii")]
    return [n for n in needles if n.casefold() in folded]


@pytest.mark.parametrize("model", list(DongleModel))
async def test_c0_is_masked_in_the_traffic_log(
    harness: Harness, caplog: pytest.LogCaptureFixture, model: DongleModel
) -> None:
    caplog.set_level(logging.DEBUG, logger=LIBRARY)
    caplog.set_level(logging.DEBUG, logger="serialx")  # the port layer's log too
    _, url = await harness.sim(model=model, release="R", route_b_id=ROUTE_B_ID)
    conn = harness.session(url, firmware="j11" if model.j11 else "skstack")
    await conn.connect()
    identity = await conn.meter.read_identity()
    route_b_id = await conn.meter.read_route_b_id(identity)
    assert route_b_id is not None
    assert route_b_id.matches(ROUTE_B_ID.hex())  # the real value went over the air
    traffic = "j11.traffic" if model.j11 else "skstack.traffic"
    records = caplog.records
    found = [f"{r.name}: {n}" for r in records for n in _leaks(r.getMessage() + repr(r.args))]
    assert found == []
    # The answer did pass the traffic log, masked.
    assert any(r.name.endswith(traffic) and "<16 bytes>" in r.getMessage() for r in records)


def test_loggable_payload_masks_c0_only() -> None:
    head = bytes.fromhex("1081000102880105FF0172")  # Get_Res from the meter
    frame = head + bytes([3, 0xE7, 4, 0, 0, 1, 0x2C, 0xC0, 16, *ROUTE_B_ID, 0x88, 1, 0x42])
    text = loggable_payload(frame)
    assert _leaks(text) == []
    assert text == head.hex().upper() + "03E7040000012CC010<16 bytes>880142"
    # A request for C0 (no value) and a frame cut short inside C0's value.
    request = bytes.fromhex("1081000105FF010288016201C000")
    assert loggable_payload(request) == request.hex().upper()
    cut = head + bytes([1, 0xC0, 16, *ROUTE_B_ID[:9]])
    assert _leaks(loggable_payload(cut)) == []
    assert loggable_payload(b"\x01\x02") == "0102"
    # Two properties announced, the second cut after its EPC: logged as sent.
    claims_more = head + bytes([2, 0xE7, 4, 0, 0, 1, 0x2C, 0xC0])
    assert loggable_payload(claims_more) == claims_more.hex().upper()
