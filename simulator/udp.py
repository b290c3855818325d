"""Simulated meters on the network: an ECHONET Lite node on a UDP socket.

``UdpMeterServer`` puts any simulated meter object with ``handle(Frame)`` and
``reset_state()`` (the 0x0288 ``SimulatedMeter`` for a Wi-Fi B-route meter, the 0x028A
``SimulatedHvMeter`` behind a high-voltage terminal) on a loopback address::

    server = UdpMeterServer(SimulatedHvMeter(HvMeterConfig(), clock), host="127.0.0.2")
    await server.start()             # unicast 127.0.0.2:PORT, group 224.0.23.0:PORT on lo
    ...
    await server.stop()

Multicast is only ever joined on the loopback interface. IPv6 multicast does not work
on Linux's loopback (it has no MULTICAST flag), so an IPv6 server (``host="::1"``)
serves unicast only and clients aim their "multicast" at ``::1`` instead.

Faults: ``silent`` (no answers), ``reboot(seconds)`` (state lost, silent, then the D5
announcement), ``move(host)`` (the address changes, like a new DHCP lease),
``send_junk(to)`` (malformed datagrams from the meter's address).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import socket
from typing import TYPE_CHECKING, Any, Protocol

from .echonet import Frame, FrameError
from .hv_meter import HvMeterConfig, SimulatedHvMeter
from .meter import MeterConfig, SimulatedMeter
from .timing import RealClock

if TYPE_CHECKING:
    from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

ECHONET_PORT = 3610
IPV4_GROUP = "224.0.23.0"
LOOPBACK_IF = "127.0.0.1"

#: Datagrams that are not ECHONET Lite frames a client must drop.
JUNK: tuple[bytes, ...] = (
    b"",
    b"\x10\x81\x00",  # truncated header
    bytes.fromhex("1081000102880105ff0172"),  # header without OPC
    bytes.fromhex("2081000102880105ff017201e70400000000"),  # wrong EHD1
    bytes.fromhex("1082000102880105ff017201e70400000000"),  # format 2
    bytes.fromhex("1081000102880105ff01ff01e70400000000"),  # unknown ESV
    bytes.fromhex("1081000102880105ff017201e708000000"),  # PDC beyond the end
    bytes.fromhex("1081000102880105ff017201e7040000000000"),  # trailing byte
    bytes(range(256)),
)


class MeterObject(Protocol):
    """What the server needs of a simulated meter."""

    def handle(self, request: Frame) -> list[tuple[Frame, bool]]: ...

    def reset_state(self) -> None: ...

    def instance_list_inf(self) -> Frame: ...


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[Any, ...]], None]) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        _LOGGER.debug("simulated meter socket: %s", exc)


class UdpMeterServer:
    """One simulated ECHONET Lite node on loopback (unicast, and the IPv4 group on lo)."""

    def __init__(
        self,
        meter: MeterObject,
        *,
        host: str = "127.0.0.2",
        port: int = 0,
        group: str | None = IPV4_GROUP,
        reply_port: int | None = None,
        share_port: bool = False,
    ) -> None:
        """``port=0`` picks a free port (read ``port`` after ``start()``).

        ``reply_port`` sends every answer to that port instead of the request's source
        port (some nodes always answer to 3610). ``group`` is ignored for IPv6.
        ``share_port`` sets SO_REUSEADDR on the unicast socket, so that a client on the
        same machine can still bind the wildcard address on the same port (Home
        Assistant's link binds ``0.0.0.0:3610``; the demo's meters answer on 3610 of
        127.0.0.x): the kernel hands datagrams to 127.0.0.x to the more specific socket.
        """
        ip = ipaddress.ip_address(host)
        if not ip.is_loopback:
            raise ValueError("the simulator only binds loopback addresses")
        self.meter = meter
        self.host = host
        self.port = port
        self.group = group if ip.version == 4 else None
        self.reply_port = reply_port
        self.share_port = share_port
        self.silent = False
        #: Requests still to be ignored (``drop_replies``).
        self.drop_next = 0
        self.requests = 0
        self.answers = 0
        self.ignored = 0
        self.controller: tuple[Any, ...] | None = None
        self._unicast: _Endpoint | None = None
        self._multicast: _Endpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET if ipaddress.ip_address(self.host).version == 4 else socket.AF_INET6

    @property
    def address(self) -> str:
        """``host:port`` / ``[host]:port`` as the client's ``parse_address`` reads it."""
        if self.family == socket.AF_INET6:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(self.family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setblocking(False)
            if self.share_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self._on_datagram), sock=sock
        )
        protocol = transport.get_protocol()
        assert isinstance(protocol, _Endpoint)
        self._unicast = protocol
        self.port = transport.get_extra_info("sockname")[1]
        if self.group is not None and self._multicast is None:
            self._multicast = await self._join_group()

    async def _join_group(self) -> _Endpoint:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        assert self.group is not None
        sock.bind((self.group, self.port))  # only datagrams sent to the group
        mreq = socket.inet_aton(self.group) + socket.inet_aton(LOOPBACK_IF)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self._on_datagram), sock=sock
        )
        return protocol

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for endpoint in (self._unicast, self._multicast):
            if endpoint is not None and endpoint.transport is not None:
                endpoint.transport.close()
        self._unicast = self._multicast = None
        await asyncio.sleep(0)

    async def __aenter__(self) -> UdpMeterServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- serving ---------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.requests += 1
        if self.silent:
            self.ignored += 1
            return
        if self.drop_next > 0:
            self.drop_next -= 1
            self.ignored += 1
            return
        try:
            request = Frame.decode(data)
        except FrameError:
            self.ignored += 1
            return
        self.controller = addr
        for frame, multicast in self.meter.handle(request):
            self.answers += 1
            if multicast and self.group is not None:
                self.send(frame.encode(), (self.group, self.port))
            else:
                self.send(frame.encode(), self._reply_to(addr))

    def _reply_to(self, addr: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.reply_port is None:
            return addr
        return (addr[0], self.reply_port, *addr[2:])

    def send(self, data: bytes, to: tuple[Any, ...]) -> None:
        """Send raw bytes from the meter's unicast address."""
        endpoint = self._unicast
        if endpoint is None or endpoint.transport is None:
            return
        if self.group is not None and to[0] == self.group:
            sock = endpoint.transport.get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK_IF)
                )
        endpoint.transport.sendto(data, to)

    def notify(self, frame: Frame, to: tuple[Any, ...] | None = None) -> None:
        """Send an INF (e.g. the half-hourly one) to ``to`` or the last controller."""
        target = to or self.controller
        if target is not None:
            self.send(frame.encode(), self._reply_to(target))

    def announce(self) -> None:
        """The D5 instance-list INF a node sends when it starts (to the group, or the
        last controller over IPv6)."""
        frame = self.meter.instance_list_inf()
        if self.group is not None:
            self.send(frame.encode(), (self.group, self.port))
        elif self.controller is not None:
            self.send(frame.encode(), self.controller)

    # --- faults -------------------------------------------------------------------------------

    def send_junk(self, to: tuple[Any, ...] | None = None, *, repeat: int = 1) -> int:
        """Send every kind of malformed datagram ``repeat`` times; returns how many."""
        target = to or self.controller
        if target is None:
            return 0
        count = 0
        for _ in range(repeat):
            for data in JUNK:
                self.send(data, target)
                count += 1
        return count

    def drop_replies(self, n: int = 1) -> None:
        """Ignore the next ``n`` requests (lost datagrams)."""
        self.drop_next += n

    def reboot(self, seconds: float) -> None:
        """Lose the ECHONET state, stay silent for ``seconds``, then announce D5."""
        self.meter.reset_state()
        self.silent = True

        async def wake() -> None:
            await asyncio.sleep(seconds)
            self.silent = False
            self.announce()

        task = asyncio.get_running_loop().create_task(wake())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def move(self, host: str) -> None:
        """Answer from another loopback address from now on (same port and group)."""
        if ipaddress.ip_address(host).version != ipaddress.ip_address(self.host).version:
            raise ValueError("move within one IP version")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the simulator only binds loopback addresses")
        endpoint = self._unicast
        if endpoint is not None and endpoint.transport is not None:
            endpoint.transport.close()
        self._unicast = None
        await asyncio.sleep(0)
        self.host = host
        await self.start()


# --- standalone -------------------------------------------------------------------------------


def build_server(argv: list[str] | None = None) -> UdpMeterServer:
    """The server ``python -m simulator.net`` runs (wall clock), from its arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.net", description="A simulated meter on the network."
    )
    parser.add_argument("--meter", choices=["lv", "hv"], default="hv", help="0x0288 or 0x028A")
    parser.add_argument("--host", default="127.0.0.2", help="a loopback address (or ::1)")
    parser.add_argument("--port", type=int, default=ECHONET_PORT)
    parser.add_argument("--release", default=None, help="Appendix release letter")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    clock = RealClock()
    meter: MeterObject
    if args.meter == "lv":
        lv = MeterConfig(release=args.release or "R")
        if args.seed is not None:
            lv.seed = args.seed
        meter = SimulatedMeter(lv, clock)
    else:
        hv = HvMeterConfig(release=args.release or "M")
        if args.seed is not None:
            hv.seed = args.seed
        meter = SimulatedHvMeter(hv, clock)
    # Shared: Home Assistant on this machine binds 0.0.0.0 on the same port.
    return UdpMeterServer(meter, host=args.host, port=args.port, share_port=True)


async def _serve(server: UdpMeterServer) -> None:
    await server.start()
    print(f"ECHONET Lite node at {server.address}; Ctrl-C stops it")
    server.announce()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Run one simulated network meter until Ctrl-C (``python -m simulator.net``)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(build_server(argv)))
