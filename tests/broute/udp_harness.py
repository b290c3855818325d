"""Simulated meters on UDP loopback and UDP links to them, torn down after each test.

IPv4 runs the meters on 127.0.0.2/127.0.0.3 and the client on 127.0.0.1, with real
multicast to 224.0.23.0 on the loopback interface. Linux's loopback has no IPv6
multicast, so IPv6 runs everything on ::1 and the link's discovery target is ::1.
Ports are ephemeral: other test runs may share the machine.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from custom_components.broute_meter.broute.client import ClientTiming, EchonetClient
from custom_components.broute_meter.broute.link import LinkState
from custom_components.broute_meter.broute.links.udp import UdpLink, UdpTiming
from simulator import (
    JST,
    HvMeterConfig,
    ManualClock,
    MeterConfig,
    SimulatedHvMeter,
    SimulatedMeter,
    UdpMeterServer,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# A weekday afternoon: the office load is on, and the clock stands still unless moved.
START = datetime(2026, 11, 18, 14, 10, 5, tzinfo=JST)
FAMILIES = ["ipv4", "ipv6"]

#: One failed request (two attempts, about a second) is enough to start the repair, so
#: "within one poll" is testable. Faults that must make a poll fail last longer.
TIMING = ClientTiming(
    request_timeout=0.5, retries=1, retry_backoff=0.01, hold_wait=1.0, unresponsive_after=1
)


def hosts(family: str) -> tuple[str, str, str]:
    """(client, meter, second meter) loopback addresses of a family."""
    return ("127.0.0.1", "127.0.0.2", "127.0.0.3") if family == "ipv4" else ("::1",) * 3


@dataclass
class UdpHarness:
    """Servers, links and clients of one test."""

    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    servers: list[UdpMeterServer] = field(default_factory=list)
    links: list[UdpLink] = field(default_factory=list)
    clients: list[EchonetClient] = field(default_factory=list)

    async def lv_server(self, host: str, port: int = 0, **config: Any) -> UdpMeterServer:
        meter = SimulatedMeter(MeterConfig(**config), self.clock)
        return await self._start(UdpMeterServer(meter, host=host, port=port))

    async def hv_server(self, host: str, port: int = 0, **config: Any) -> UdpMeterServer:
        meter = SimulatedHvMeter(HvMeterConfig(**config), self.clock)
        return await self._start(UdpMeterServer(meter, host=host, port=port))

    async def _start(self, server: UdpMeterServer) -> UdpMeterServer:
        await server.start()
        self.servers.append(server)
        return server

    def link(self, server: UdpMeterServer, family: str, **kwargs: Any) -> UdpLink:
        client_host = hosts(family)[0]
        kwargs.setdefault("local_host", client_host)
        kwargs.setdefault("local_port", 0)
        kwargs.setdefault("timing", UdpTiming.fast())
        if family == "ipv4":
            kwargs.setdefault("discovery_target", f"224.0.23.0:{server.port}")
        else:
            kwargs.setdefault("discovery_target", f"[::1]:{server.port}")
        link = UdpLink(server.address, **kwargs)
        self.links.append(link)
        return link

    async def client(self, link: UdpLink, **kwargs: Any) -> EchonetClient:
        if link.status.state is LinkState.DOWN:
            await link.open()
        kwargs.setdefault("timing", TIMING)
        client = EchonetClient(link, **kwargs)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        for link in self.links:
            await link.close()
        for server in self.servers:
            await server.stop()


async def wait_for(predicate: Callable[[], bool], limit: float = 5.0) -> float:
    """Wait until ``predicate()`` holds; returns the seconds it took (fails after limit)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > limit:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return loop.time() - start
