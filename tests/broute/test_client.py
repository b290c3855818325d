"""The ECHONET Lite client over a link: TIDs, chunking, SNA, retries, notifications.

The link here is an in-process wire to the simulator's meter (its own frame codec), so
the client is exercised against an independent ECHONET Lite implementation; the real
links (SKSTACK, J11, UDP) have tests of their own through real bytes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from custom_components.broute_meter.broute.client import ClientTiming, EchonetClient
from custom_components.broute_meter.broute.echonet import ESV, LV_METER_EOJ, Frame
from custom_components.broute_meter.broute.errors import (
    MeterTimeoutError,
    PropertyNotAvailableError,
    SessionUnavailableError,
)
from custom_components.broute_meter.broute.link import HoldReason, Link, LinkState
from simulator import ManualClock, MeterConfig, SimulatedMeter, echonet as sim_echonet


class WireLink(Link):
    """Hands each datagram to a simulated meter; ``drop`` swallows the next N answers."""

    kind = "wire"

    def __init__(self, meter: SimulatedMeter) -> None:
        super().__init__()
        self.meter = meter
        self.drop = 0
        self.sent: list[bytes] = []
        self.unresponsive = 0

    async def open(self) -> None:
        self._set_status(LinkState.UP)

    async def close(self) -> None:
        self._set_status(LinkState.DOWN)

    async def _send(self, payload: bytes) -> bool:
        self.sent.append(payload)
        request = sim_echonet.Frame.decode(payload)
        for frame, _multicast in self.meter.handle(request):
            if self.drop:
                self.drop -= 1
                continue
            asyncio.get_running_loop().call_soon(self._deliver, frame.encode())
        return True

    def report_unresponsive(self) -> None:
        self.unresponsive += 1

    def push(self, data: bytes) -> None:
        self._deliver(data)

    def hold(self) -> None:
        self._set_status(LinkState.HELD, "test", hold=HoldReason.REAUTHENTICATING)

    def lose(self) -> None:
        self._set_status(LinkState.REPAIRING, "test")

    def restore(self) -> None:
        self._set_status(LinkState.UP)


@pytest.fixture
def meter() -> SimulatedMeter:
    return SimulatedMeter(MeterConfig(), ManualClock(datetime(2026, 11, 2, 3, 4, tzinfo=UTC)))


@pytest.fixture
async def link(meter: SimulatedMeter) -> WireLink:
    link = WireLink(meter)
    await link.open()
    return link


def _fast() -> ClientTiming:
    return ClientTiming(request_timeout=0.05, retries=2, retry_backoff=0.0, hold_wait=0.3)


async def test_get_returns_the_meters_values(link: WireLink, meter: SimulatedMeter) -> None:
    client = EchonetClient(link, timing=_fast())
    values = await client.get(LV_METER_EOJ, [0xE7, 0xE0])
    assert int.from_bytes(values[0xE7], "big", signed=True) == meter.power_w()
    assert int.from_bytes(values[0xE0], "big") == meter.forward_raw()


async def test_long_lists_go_out_in_frames_of_six(link: WireLink) -> None:
    client = EchonetClient(link, timing=_fast())
    epcs = [0x80, 0x81, 0x82, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0xD3, 0xE1]
    values = await client.get(LV_METER_EOJ, epcs)
    assert [len(sim_echonet.Frame.decode(p).props) for p in link.sent] == [6, 4]
    assert set(values) == set(epcs)


async def test_sna_keeps_what_came_back(link: WireLink) -> None:
    client = EchonetClient(link, timing=_fast())
    values = await client.get(LV_METER_EOJ, [0xE7, 0xFA])  # FA: no such property
    assert set(values) == {0xE7}


async def test_a_dropped_answer_is_retried_with_a_new_tid(link: WireLink) -> None:
    client = EchonetClient(link, timing=_fast())
    link.drop = 1
    await client.get(LV_METER_EOJ, [0xE7])
    tids = [sim_echonet.Frame.decode(p).tid for p in link.sent]
    assert len(tids) == 2
    assert tids[0] != tids[1]
    assert client.stats.retries == 1
    assert client.stats.timeouts == 1


async def test_repeated_silence_tells_the_link(link: WireLink) -> None:
    client = EchonetClient(link, timing=_fast())
    link.drop = 100
    for _ in range(2):
        with pytest.raises(MeterTimeoutError):
            await client.get(LV_METER_EOJ, [0xE7])
    assert link.unresponsive == 1
    assert len(link.sent) == 6  # three attempts each


async def test_a_lost_link_fails_requests_at_once(link: WireLink) -> None:
    client = EchonetClient(link, timing=ClientTiming(hold_wait=30.0))
    link.lose()
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(SessionUnavailableError):
        await client.get(LV_METER_EOJ, [0xE7])
    assert loop.time() - start < 0.1
    assert link.sent == []


async def test_a_held_link_is_waited_for(link: WireLink) -> None:
    client = EchonetClient(link, timing=_fast())
    link.hold()
    asyncio.get_running_loop().call_later(0.05, link.restore)
    values = await client.get(LV_METER_EOJ, [0xE7])
    assert 0xE7 in values


async def test_a_hold_that_lasts_fails_the_request(link: WireLink) -> None:
    client = EchonetClient(link, timing=_fast())
    link.hold()
    with pytest.raises(SessionUnavailableError):
        await client.get(LV_METER_EOJ, [0xE7])


async def test_set_refused_raises(link: WireLink) -> None:
    client = EchonetClient(link, timing=_fast())
    with pytest.raises(PropertyNotAvailableError):
        await client.set(LV_METER_EOJ, 0xE7, b"\x00\x00\x00\x00")


async def test_notifications_reach_the_handler_and_infc_is_answered(
    link: WireLink, meter: SimulatedMeter
) -> None:
    got: list[Frame] = []
    client = EchonetClient(link, timing=_fast(), on_notification=got.append)
    infc = meter.fixed_time_inf()
    infc.esv = sim_echonet.INFC
    link.push(infc.encode())
    await asyncio.sleep(0.01)
    assert [frame.esv for frame in got] == [ESV.INFC]
    assert sim_echonet.Frame.decode(link.sent[-1]).esv == sim_echonet.INFC_RES
    assert client.stats.notifications == 1


async def test_junk_is_ignored(link: WireLink) -> None:
    got: list[Frame] = []
    client = EchonetClient(link, timing=_fast(), on_notification=got.append)
    for junk in (b"", b"\x10", b"\x10\x81\x00", bytes(range(40))):
        link.push(junk)
    assert got == []
    assert 0xE7 in await client.get(LV_METER_EOJ, [0xE7])
