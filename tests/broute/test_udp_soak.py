"""Fault soak over the UDP link: polls through a seeded sequence of faults.

After each fault ends, the link must be UP again within one repair round and the next
poll must return the ground truth: recovery within one poll.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute.echonet import (
    EPC,
    LV_METER_EOJ,
    decode_cumulative,
)
from custom_components.broute_meter.broute.errors import BRouteError
from custom_components.broute_meter.broute.link import LinkState
from custom_components.broute_meter.broute.links.udp import UdpTiming
from custom_components.broute_meter.broute.meters.high_voltage import HighVoltageMeter
from simulator import SimulatedHvMeter, SimulatedMeter, echonet as sim_echonet

from .udp_harness import UdpHarness, hosts, wait_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from simulator import UdpMeterServer

ROUNDS = 12
# One repair round: probe the last address, then search; plus one pause between rounds.
_T = UdpTiming.fast()
RECOVERY_LIMIT = _T.probe_timeout + _T.discovery_timeout + _T.repair_interval + 0.5


#: Faults during which the poll that meets them must fail.
DISRUPTIVE = frozenset({"silent", "reboot", "move"})


async def _fault(server: UdpMeterServer, kind: str, family: str, rng: random.Random) -> None:
    """Start a fault (it lasts through the next poll; ``_end`` ends it)."""
    match kind:
        case "junk":
            for _ in range(3):
                server.send_junk(repeat=2)
                await asyncio.sleep(0.01)
        case "silent":
            server.silent = True
        case "reboot":
            server.reboot(1.5)  # longer than one request with its retry
        case "move":
            await server.move("127.0.0.3" if server.host == "127.0.0.2" else "127.0.0.2")
        case "intruder":
            fam = socket.AF_INET if family == "ipv4" else socket.AF_INET6
            with socket.socket(fam, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.4" if family == "ipv4" else "::1", 0))
                assert server.controller is not None
                forged = sim_echonet.Frame(
                    rng.randrange(1, 50),
                    sim_echonet.METER_EOJ,
                    sim_echonet.CONTROLLER_EOJ,
                    sim_echonet.GET_RES,
                    [(0xE0, (1).to_bytes(4, "big"))],
                )
                sock.sendto(forged.encode(), server.controller[:2])


async def _end(server: UdpMeterServer, kind: str) -> None:
    if kind == "silent":
        server.silent = False
    elif kind == "reboot":
        await wait_for(lambda: not server.silent)


async def _poll_through(kind: str, poll: Callable[[], Awaitable[object]]) -> None:
    """The poll that meets the fault: it must fail for a disruptive one."""
    try:
        await poll()
    except BRouteError:
        return
    assert kind not in DISRUPTIVE, f"a poll went through a {kind} fault"


@pytest.mark.parametrize(
    ("family", "kinds"),
    [
        ("ipv4", ["junk", "silent", "reboot", "move", "intruder"]),
        ("ipv6", ["junk", "silent", "reboot", "intruder"]),
    ],
)
async def test_high_voltage_soak(
    udp: UdpHarness, family: str, kinds: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    server = await udp.hv_server(hosts(family)[1])
    link = udp.link(server, family)
    meter = HighVoltageMeter(await udp.client(link))
    sim = server.meter
    assert isinstance(sim, SimulatedHvMeter)
    await meter.read_identity()
    rng = random.Random(12)
    caplog.set_level(logging.WARNING)
    for index in range(ROUNDS):
        kind = kinds[index % len(kinds)] if index < len(kinds) else rng.choice(kinds)
        await _fault(server, kind, family, rng)
        await _poll_through(kind, meter.read)
        await _end(server, kind)
        await wait_for(lambda: link.status.state is LinkState.UP, RECOVERY_LIMIT)
        reading = await meter.read()  # recovered within one poll
        assert reading.energy is not None
        assert reading.energy.value == sim.energy_kwh(), kind
        assert reading.demand is not None
        assert reading.demand.value == sim.demand_kw(), kind
        udp.clock.advance(rng.choice([60, 600, 1800]))
    assert link.address.host in ("127.0.0.2", "127.0.0.3", "::1")
    # Junk and strangers never reach the log beyond one report per minute.
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and "Dropped" in r.msg]
    assert len(noisy) <= 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_low_voltage_soak_ipv6(udp: UdpHarness) -> None:
    server = await udp.lv_server("::1")
    link = udp.link(server, "ipv6")
    client = await udp.client(link)
    sim = server.meter
    assert isinstance(sim, SimulatedMeter)
    rng = random.Random(3)
    for _ in range(ROUNDS):
        kind = rng.choice(["junk", "silent", "reboot", "intruder"])
        await _fault(server, kind, "ipv6", rng)
        await _poll_through(kind, lambda: client.get(LV_METER_EOJ, [EPC.FORWARD_ENERGY]))
        await _end(server, kind)
        await wait_for(lambda: link.status.state is LinkState.UP, RECOVERY_LIMIT)
        values = await client.get(LV_METER_EOJ, [EPC.FORWARD_ENERGY])
        assert decode_cumulative(values[EPC.FORWARD_ENERGY]) == sim.forward_raw()
        udp.clock.advance(rng.choice([60, 600]))
