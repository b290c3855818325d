"""The simulated network meters from the outside: plain sockets and the simulator's codec.

No client library here: these tests check the simulator's own promises (ground truth
coherent with what it sends, loopback only, the faults) so the library tests can rely
on it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
import socket
from typing import TYPE_CHECKING

import pytest

from simulator import HvMeterConfig, ManualClock, SimulatedHvMeter, UdpMeterServer
from simulator.echonet import (
    CONTROLLER_EOJ,
    GET,
    GET_RES,
    NODE_PROFILE_EOJ,
    SET_RES,
    SETC,
    SETC_SNA,
    Frame,
)
from simulator.hv_meter import HV_METER_EOJ
from simulator.udp import JUNK

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
def hv(clock: ManualClock) -> SimulatedHvMeter:
    return SimulatedHvMeter(HvMeterConfig(), clock)


@pytest.fixture
async def server(hv: SimulatedHvMeter, socket_enabled: None) -> AsyncIterator[UdpMeterServer]:
    async with UdpMeterServer(hv, host="127.0.0.2") as srv:
        yield srv


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.frames: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.frames.put_nowait((data, addr))


async def _exchange(
    server: UdpMeterServer, request: Frame, *, to: tuple[str, int] | None = None
) -> tuple[Frame, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        _Client, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    try:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        transport.sendto(request.encode(), to or ("127.0.0.2", server.port))
        async with asyncio.timeout(2):
            data, addr = await proto.frames.get()
    finally:
        transport.close()
    return Frame.decode(data), addr


def test_only_loopback(hv: SimulatedHvMeter) -> None:
    with pytest.raises(ValueError, match="loopback"):
        UdpMeterServer(hv, host="192.0.2.1")


def test_scales_must_be_whole_watt_seconds(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="whole"):
        SimulatedHvMeter(HvMeterConfig(coefficient=1, multiplier_code=3, energy_unit_code=4), clock)


def test_ground_truth_is_coherent(hv: SimulatedHvMeter) -> None:
    boundary = hv.latest_boundary()
    previous = boundary - timedelta(minutes=30)
    e0, e1 = hv.energy_raw(previous), hv.energy_raw(boundary)
    assert e0 is not None
    assert e1 is not None
    demand = hv.demand_kw(boundary)
    assert demand is not None
    # The slot's energy as an average over half an hour, within one step of rounding.
    assert abs(demand - 2 * (e1 - e0) * hv.kwh_per_raw) <= 2 * hv.kw_per_raw
    monthly = hv.monthly_max_demand_kw()
    assert monthly is not None
    assert monthly >= demand
    pf = hv.slot_power_factor(boundary)
    assert pf is not None
    assert 0.8 < pf < 1.0
    assert hv.energy_kwh() == hv.energy_raw() * Decimal("0.04")  # type: ignore[operator]


async def test_unicast_and_multicast_get(server: UdpMeterServer) -> None:
    request = Frame(7, CONTROLLER_EOJ, NODE_PROFILE_EOJ, GET, [(0xD6, b""), (0x83, b"")])
    for to in (None, ("224.0.23.0", server.port)):
        answer, addr = await _exchange(server, request, to=to)
        assert addr[0] == "127.0.0.2"  # answered from the unicast address either way
        assert answer.esv == GET_RES
        assert answer.tid == 7
        assert dict(answer.props)[0xD6] == b"\x01" + HV_METER_EOJ


async def test_history_day_selection(server: UdpMeterServer, hv: SimulatedHvMeter) -> None:
    answer, _ = await _exchange(
        server, Frame(1, CONTROLLER_EOJ, HV_METER_EOJ, SETC, [(0xE1, b"\x02")])
    )
    assert answer.esv == SET_RES
    answer, _ = await _exchange(server, Frame(2, CONTROLLER_EOJ, HV_METER_EOJ, GET, [(0xE7, b"")]))
    edt = dict(answer.props)[0xE7]
    assert int.from_bytes(edt[:2], "big") == 2
    values = [int.from_bytes(edt[i : i + 4], "big") for i in range(2, len(edt), 4)]
    assert values == hv.history_day(2)
    answer, _ = await _exchange(
        server, Frame(3, CONTROLLER_EOJ, HV_METER_EOJ, SETC, [(0xE1, b"\x63")])
    )
    assert answer.esv == SETC_SNA  # beyond the retention


async def test_silent_and_reboot(server: UdpMeterServer, hv: SimulatedHvMeter) -> None:
    hv.history_day_selected = 5
    server.reboot(0.2)
    assert hv.history_day_selected == 0  # volatile state lost
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await _exchange(server, Frame(1, CONTROLLER_EOJ, HV_METER_EOJ, GET, [(0xE5, b"")]))
    await asyncio.sleep(0.2)
    answer, _ = await _exchange(server, Frame(1, CONTROLLER_EOJ, HV_METER_EOJ, GET, [(0xE5, b"")]))
    assert answer.props == [(0xE5, b"\x08")]


async def test_move_keeps_port_and_group(server: UdpMeterServer) -> None:
    await server.move("127.0.0.3")
    request = Frame(9, CONTROLLER_EOJ, NODE_PROFILE_EOJ, GET, [(0x83, b"")])
    _, addr = await _exchange(server, request, to=("224.0.23.0", server.port))
    assert addr == ("127.0.0.3", server.port)


def test_junk_is_not_a_frame_a_client_may_accept() -> None:
    from custom_components.broute_meter.broute.echonet import ESV, decode_frame
    from custom_components.broute_meter.broute.errors import EchonetDecodeError

    for data in JUNK:
        try:
            frame = decode_frame(data)
        except EchonetDecodeError:
            continue
        assert not isinstance(frame.esv, ESV)  # the only kind that decodes: an unknown ESV


def test_command_line_builds_loopback_servers() -> None:
    from simulator.meter import SimulatedMeter
    from simulator.udp import build_server

    server = build_server(["--meter", "lv", "--host", "::1", "--port", "0"])
    assert isinstance(server.meter, SimulatedMeter)
    assert server.meter.config.release == "R"
    assert server.group is None  # no IPv6 multicast on lo
    hv_server = build_server(["--seed", "3"])
    assert isinstance(hv_server.meter, SimulatedHvMeter)
    assert hv_server.port == 3610
    with pytest.raises(ValueError, match="loopback"):
        build_server(["--host", "192.0.2.1"])
