"""ECHONET Lite over UDP: meters on the network.

Two kinds of meter are reached this way, with no dongle and no PANA:

* 2nd-generation low-voltage meters (class 0x0288) on their Wi-Fi B-route: IPv6
  link-local on the home Wi-Fi, multicast group ff02::1;
* high-voltage meters (class 0x028A) behind the utility's B-route terminal, wired to
  the customer's network by Ethernet; IPv4 multicast group 224.0.23.0 (or IPv6).

ECHONET Lite uses UDP port 3610 on both sides: many nodes answer to port 3610 of the
requester rather than to the source port, so the link listens on 3610 by default and
sends from the same socket. Everything is configurable (meter address and port, local
address and port, discovery target) so tests run on loopback.

The module offers :class:`UdpLink` (one meter), :func:`discover` (who is on the
segment) and :func:`probe` (is this address a meter) for a config flow.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import errno
import ipaddress
import logging
import socket
import struct
import time
from typing import TYPE_CHECKING, Any, Self

from ..echonet import (
    EPC,
    ESV,
    HV_METER_EOJ,
    LV_METER_EOJ,
    NODE_PROFILE_EOJ,
    Frame,
    build_get,
    decode_frame,
    decode_instance_list,
    decode_maker_code,
)
from ..errors import (
    EchonetDecodeError,
    InvalidAddressError,
    NetworkMeterError,
    NetworkPortBusyError,
    NetworkUnreachableError,
    NoAnswerError,
    NotAMeterError,
)
from ..link import Link, LinkState

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..echonet import EOJ

_LOGGER = logging.getLogger(__name__)

#: ECHONET Lite's UDP port (ECHONET Lite specification part 2, ch. on UDP/IP).
ECHONET_PORT = 3610
#: ECHONET Lite's IPv4 multicast group.
IPV4_MULTICAST = "224.0.23.0"
#: IPv6 all-nodes link-local multicast, which ECHONET Lite uses on IPv6.
IPV6_MULTICAST = "ff02::1"

#: Classes this integration reads (class group, class code).
METER_CLASSES: dict[tuple[int, int], str] = {
    LV_METER_EOJ[:2]: "low_voltage",
    HV_METER_EOJ[:2]: "high_voltage",
}

# The node profile properties asked for when looking for nodes: identification number
# (to recognise a meter whose address changed), self-node instance list, maker.
_NODE_EPCS = (EPC.IDENTIFICATION_NUMBER, EPC.SELF_NODE_INSTANCE_LIST, EPC.MAKER_CODE)
_GET_ANSWERS = frozenset({ESV.GET_RES, ESV.GET_SNA})
# TIDs of the link's own node-profile queries, apart from the client's (which count up
# from 1): a late answer to one can never be taken for a client's response.
_QUERY_TID_BASE = 0xC000
# Binding to all addresses is what a real controller does (to hear multicast INF).
_ANY_IPV4 = "0.0.0.0"  # noqa: S104


# --- addresses ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """Where an ECHONET Lite node is: an IP address, a UDP port and, for IPv6, a scope.

    ``host`` is normalised (``ipaddress`` form, no scope); ``scope`` is the interface
    (name or number) of a link-local IPv6 address. ``str()`` gives the form users type
    (``fe80::1%wlan0``, ``[fe80::1%wlan0]:3611``, ``192.0.2.7``) and
    :func:`parse_address` reads it back.
    """

    host: str
    port: int = ECHONET_PORT
    scope: str | None = None

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address without its scope."""
        return ipaddress.ip_address(self.host)

    @property
    def family(self) -> socket.AddressFamily:
        """AF_INET or AF_INET6."""
        return socket.AF_INET if self.ip.version == 4 else socket.AF_INET6

    @property
    def is_multicast(self) -> bool:
        """Whether this is a group address."""
        return self.ip.is_multicast

    def scope_id(self) -> int:
        """Interface index of the scope (0 without one); NetworkUnreachableError if unknown."""
        return _interface_index(self.scope)

    def sockaddr(self) -> tuple[str, int] | tuple[str, int, int, int]:
        """The address tuple ``sendto`` takes."""
        if self.family is socket.AF_INET:
            return (self.host, self.port)
        return (self.host, self.port, 0, self.scope_id())

    def same_node(self, other: NodeAddress) -> bool:
        """Same IP address (the port and the spelling of the scope do not matter)."""
        return self.ip == other.ip

    def with_port(self, port: int) -> NodeAddress:
        """The same host on another port."""
        return NodeAddress(self.host, port, self.scope)

    def redacted(self) -> str:
        """A form for logs and diagnostics that does not give the address away."""
        ip = self.ip
        if ip.is_loopback:
            return str(self)  # nothing to hide, and tests read it
        kind = "IPv4" if ip.version == 4 else "IPv6 link-local" if ip.is_link_local else "IPv6"
        scope = f"%{self.scope}" if self.scope else ""
        return f"<{kind} address{scope}>"

    def __str__(self) -> str:
        """``host``, ``host%scope``, or with a port other than 3610 ``[host%scope]:port``."""
        text = f"{self.host}%{self.scope}" if self.scope else self.host
        if self.port == ECHONET_PORT:
            return text
        return f"[{text}]:{self.port}" if self.family is socket.AF_INET6 else f"{text}:{self.port}"


def parse_address(text: str, *, port: int = ECHONET_PORT, scope: str | None = None) -> NodeAddress:
    """Read an address as a user types it: ``192.0.2.7``, ``192.0.2.7:3610``,
    ``fe80::1%wlan0``, ``[fe80::1%wlan0]:3610``.

    ``scope`` is used for a link-local IPv6 address typed without one (the interface
    chosen in the flow). Raises :class:`InvalidAddressError`.
    """
    value = text.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise InvalidAddressError("unbalanced [ in the address")
        rest = value[end + 1 :]
        value = value[1:end]
        if rest:
            if not rest.startswith(":"):
                raise InvalidAddressError("unexpected text after ]")
            port = _parse_port(rest[1:])
    elif value.count(":") == 1:  # IPv4 with a port; a bare IPv6 has at least two colons
        value, port_text = value.split(":")
        port = _parse_port(port_text)
    host, _, typed_scope = value.partition("%")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidAddressError("not an IPv4 or IPv6 address") from None
    if typed_scope and ip.version == 4:
        raise InvalidAddressError("an IPv4 address has no %scope")
    chosen_scope = typed_scope or None
    if ip.version == 6 and (ip.is_link_local or ip.is_multicast) and chosen_scope is None:
        chosen_scope = scope
    if ip.version == 6 and not (ip.is_link_local or ip.is_multicast):
        chosen_scope = typed_scope or None
    return NodeAddress(str(ip), port, chosen_scope)


def _parse_port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 0xFFFF:
        raise InvalidAddressError("the port must be 1-65535")
    return int(text)


def _interface_index(scope: str | None) -> int:
    if not scope:
        return 0
    if scope.isdigit():
        return int(scope)
    try:
        return socket.if_nametoindex(scope)
    except OSError:
        raise NetworkUnreachableError("no network interface of that name") from None


def _as_address(value: NodeAddress | str, scope: str | None = None) -> NodeAddress:
    return value if isinstance(value, NodeAddress) else parse_address(value, scope=scope)


def _source_address(addr: tuple[Any, ...]) -> NodeAddress | None:
    """The sender of a datagram as a NodeAddress (None for something unparsable)."""
    host, port = str(addr[0]), int(addr[1])
    host, _, scope = host.partition("%")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not scope and len(addr) >= 4 and addr[3]:
        scope = str(addr[3])
    return NodeAddress(str(ip), port, scope or None)


# --- what a node says about itself ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscoveredNode:
    """An ECHONET Lite node that answered, with what its node profile told."""

    address: NodeAddress
    instances: tuple[EOJ, ...]
    #: Node profile 0x83 in hex (17 bytes: 0xFE, maker code, 13 bytes of the maker's
    #: own unique number). Stable across address changes: the unique ID of a config entry.
    identification: str | None
    maker_code: int | None

    @property
    def meter_eoj(self) -> EOJ | None:
        """The first smart electric energy meter object (0x0288 or 0x028A) of the node."""
        for eoj in self.instances:
            if eoj[:2] in METER_CLASSES:
                return eoj
        return None

    @property
    def meter_class(self) -> str | None:
        """``"low_voltage"`` (0x0288), ``"high_voltage"`` (0x028A) or None."""
        eoj = self.meter_eoj
        return None if eoj is None else METER_CLASSES[eoj[:2]]

    @property
    def is_meter(self) -> bool:
        """Whether the node holds a meter this library reads."""
        return self.meter_eoj is not None


def decode_identification(edt: bytes) -> str:
    """0x83: identification number, as upper-case hex (1-17 bytes accepted).

    The specification's layout is 0xFE + 3-byte maker code + 13 bytes the maker assigns;
    other lengths are kept as they are rather than refused.
    """
    if not 1 <= len(edt) <= 17:
        raise EchonetDecodeError(f"identification number: {len(edt)} bytes")
    return edt.hex().upper()


def _node_from_frame(address: NodeAddress, frame: Frame) -> DiscoveredNode:
    values = frame.values()
    instances: tuple[EOJ, ...] = ()
    identification: str | None = None
    maker: int | None = None
    with contextlib.suppress(EchonetDecodeError):
        edt = values.get(EPC.SELF_NODE_INSTANCE_LIST) or values.get(EPC.INSTANCE_LIST_NOTIFICATION)
        if edt is not None:
            instances = decode_instance_list(edt)
    with contextlib.suppress(EchonetDecodeError):
        if (edt := values.get(EPC.IDENTIFICATION_NUMBER)) is not None:
            identification = decode_identification(edt)
    with contextlib.suppress(EchonetDecodeError):
        if (edt := values.get(EPC.MAKER_CODE)) is not None:
            maker = decode_maker_code(edt)
    if maker is None and identification is not None and identification.startswith("FE"):
        maker = int(identification[2:8], 16) if len(identification) >= 8 else None
    return DiscoveredNode(address, instances, identification, maker)


# --- bad datagrams ------------------------------------------------------------------------


class _RateLimitedLog:
    """Counts dropped datagrams and says so at most once per ``interval`` seconds."""

    def __init__(self, what: str, interval: float, level: int) -> None:
        self.what = what
        self.interval = interval
        self.level = level
        self.total = 0
        self._pending = 0
        self._last: float | None = None

    def note(self, why: str) -> None:
        self.total += 1
        self._pending += 1
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        _LOGGER.log(
            self.level,
            "Dropped %d %s since the last report (latest: %s); reported at most once a minute",
            self._pending,
            self.what,
            why,
        )
        self._pending = 0


def _check_datagram(data: bytes) -> Frame:
    """Decode a datagram; EchonetDecodeError for anything that is not a sane frame."""
    frame = decode_frame(data)
    if not isinstance(frame.esv, ESV):
        raise EchonetDecodeError(f"unknown ESV 0x{frame.esv:02X}")
    return frame


# Requests are legitimate traffic on a shared segment (other controllers, and our own
# multicast looped back) but never meant for us: ignored without a report.
_REQUESTS = frozenset({ESV.GET, ESV.SETC, ESV.SETI, ESV.SETGET, ESV.INF_REQ})
# What a send that can never arrive fails with (as opposed to a lost datagram).
_UNREACHABLE = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EINVAL, errno.EAFNOSUPPORT}
)


# --- the socket ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Query:
    tid: int
    future: asyncio.Future[None]
    answers: dict[str, tuple[NodeAddress, Frame]]
    stop: Callable[[DiscoveredNode], bool] | None
    only: NodeAddress | None
    #: D5 announcements heard during a group query (nodes that did not answer it).
    announced: dict[str, tuple[NodeAddress, Frame]] = field(default_factory=dict)


class _Routes:
    """What every socket of the process shares: open queries and the links' meters.

    Several sockets may be bound to port 3610 at once (two meters, or a config flow's
    discovery while a meter is polled); the kernel hands a datagram to one of them, not
    necessarily the one that asked. Routing by query TID and by the meter's address,
    whichever socket received it, keeps every answer with its owner.
    """

    def __init__(self) -> None:
        self.queries: dict[int, _Query] = {}
        self.links: list[UdpLink] = []
        self._tid = 0

    def next_tid(self) -> int:
        for _ in range(0x3FFF):
            self._tid = (self._tid + 1) % 0x3FFF
            tid = _QUERY_TID_BASE + self._tid
            if tid not in self.queries:
                return tid
        raise NetworkUnreachableError("too many node-profile queries at once")

    def link_for(self, source: NodeAddress) -> UdpLink | None:
        for link in self.links:
            if link.address.same_node(source):
                return link
        return None


_ROUTES = _Routes()


class _NodeSocket(asyncio.DatagramProtocol):
    """One UDP socket: node-profile queries of our own, everything else to ``on_frame``."""

    def __init__(self, log_interval: float) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.on_frame: Callable[[bytes, Frame, NodeAddress], None] | None = None
        self._send_error: OSError | None = None
        self._queries: set[int] = set()  # TIDs of this socket's open queries
        self.junk = _RateLimitedLog(
            "malformed ECHONET Lite datagrams", log_interval, logging.WARNING
        )

    # --- life -------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        family: socket.AddressFamily,
        *,
        local_host: str | None,
        local_port: int,
        interface: str | None,
        log_interval: float = 60.0,
        fallback_port: bool = False,
    ) -> Self:
        """Bind the socket; NetworkPortBusyError / NetworkUnreachableError on failure."""
        loop = asyncio.get_running_loop()
        try:
            sock = _make_socket(family, local_host, local_port, interface)
        except OSError as err:
            if err.errno == errno.EADDRINUSE and fallback_port and local_port:
                _LOGGER.debug("UDP port %d is taken; using an ephemeral port", local_port)
                try:
                    sock = _make_socket(family, local_host, 0, interface)
                except OSError as err2:
                    raise _bind_error(err2) from None
            else:
                raise _bind_error(err) from None
        self = cls(log_interval)
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        return self

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        for tid in self._queries:
            query = _ROUTES.queries.pop(tid, None)
            if query is not None and not query.future.done():
                query.future.set_result(None)
        self._queries.clear()

    @property
    def local(self) -> NodeAddress | None:
        """Where the socket is bound (its port matters to tests using port 0)."""
        if self.transport is None:
            return None
        name = self.transport.get_extra_info("sockname")
        return None if name is None else _source_address(name)

    # --- asyncio.DatagramProtocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def error_received(self, exc: Exception) -> None:
        # asyncio reports a failed sendto here, not to the caller. ICMP port/host
        # unreachable from an earlier send lands here too: the next timeout tells.
        _LOGGER.debug("UDP socket error: %s", exc)
        if isinstance(exc, OSError):
            self._send_error = exc

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        source = _source_address(addr)
        if source is None:
            return
        try:
            frame = _check_datagram(data)
        except EchonetDecodeError as exc:
            self.junk.note(str(exc))
            return
        if frame.esv in _REQUESTS:
            return
        query = _ROUTES.queries.get(frame.tid)
        if (
            query is not None
            and frame.esv in _GET_ANSWERS | {ESV.INF}
            and frame.seoj[:2] == NODE_PROFILE_EOJ[:2]
            and (query.only is None or query.only.same_node(source))
        ):
            query.answers[source.host] = (source, frame)
            done = query.only is not None or (
                query.stop is not None and query.stop(_node_from_frame(source, frame))
            )
            if done and not query.future.done():
                query.future.set_result(None)
            return
        if frame.esv == ESV.INF and frame.seoj[:2] == NODE_PROFILE_EOJ[:2]:
            # An instance list announcement (a node that just started, maybe a moved
            # meter): every repairing link may look now, every group search notes it.
            for each in _ROUTES.links:
                each._hint.set()
            if frame.property(EPC.INSTANCE_LIST_NOTIFICATION):
                for open_query in _ROUTES.queries.values():
                    if open_query.only is None:
                        open_query.announced.setdefault(source.host, (source, frame))
        link = _ROUTES.link_for(source)
        if link is not None:
            link._on_frame(data, frame, source)
        elif self.on_frame is not None:
            self.on_frame(data, frame, source)  # the owner counts a stranger

    # --- sending ---------------------------------------------------------------------------

    def _take_send_error(self) -> OSError | None:
        err, self._send_error = self._send_error, None
        return err

    def sendto(self, payload: bytes, address: NodeAddress) -> bool:
        """Send one datagram; False if the operating system refused it."""
        if self.transport is None:
            return False
        self._take_send_error()
        try:
            self.transport.sendto(payload, address.sockaddr())
        except (OSError, NetworkMeterError) as err:
            _LOGGER.debug("Could not send to %s: %s", address.redacted(), err)
            return False
        failed = self._take_send_error()
        if failed is not None and failed.errno in _UNREACHABLE:
            _LOGGER.debug("Could not send to %s: %s", address.redacted(), failed)
            return False
        return True

    async def query(
        self,
        target: NodeAddress,
        wait: float,
        *,
        stop: Callable[[DiscoveredNode], bool] | None = None,
    ) -> list[DiscoveredNode]:
        """Nodes that answered (see :meth:`query_announced`)."""
        nodes, _ = await self.query_announced(target, wait, stop=stop)
        return nodes

    async def query_announced(
        self,
        target: NodeAddress,
        wait: float,
        *,
        stop: Callable[[DiscoveredNode], bool] | None = None,
        epcs: tuple[int, ...] = _NODE_EPCS,
    ) -> tuple[list[DiscoveredNode], list[NodeAddress]]:
        """Get node-profile properties from ``target`` (a node or a group).

        A unicast query returns at the first answer; a group query collects answers for
        ``wait`` seconds, or until ``stop`` accepts one. Also returns the addresses of
        nodes that announced themselves (D5) meanwhile without answering. Raises
        NetworkUnreachableError if the datagram could not be sent at all.
        """
        loop = asyncio.get_running_loop()
        tid = _ROUTES.next_tid()
        only = None if target.is_multicast else target
        query = _Query(tid, loop.create_future(), {}, stop, only)
        _ROUTES.queries[tid] = query
        self._queries.add(tid)
        try:
            if self.transport is None:
                raise NetworkUnreachableError("the socket is closed")
            self._take_send_error()  # forget an ICMP error of an earlier send
            try:
                self.transport.sendto(build_get(tid, epcs, NODE_PROFILE_EOJ), target.sockaddr())
            except OSError as err:
                raise NetworkUnreachableError(f"cannot send: {err.strerror or err}") from None
            failed = self._take_send_error()
            if failed is not None and failed.errno in _UNREACHABLE:
                raise NetworkUnreachableError(f"cannot send: {failed.strerror or failed}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await query.future
        finally:
            _ROUTES.queries.pop(tid, None)
            self._queries.discard(tid)
        nodes = [_node_from_frame(source, frame) for source, frame in query.answers.values()]
        announced = [src for host, (src, _) in query.announced.items() if host not in query.answers]
        return nodes, announced


def _bind_error(err: OSError) -> NetworkMeterError:
    if err.errno == errno.EADDRINUSE:
        return NetworkPortBusyError("another program holds the UDP port")
    return NetworkUnreachableError(f"cannot open the UDP socket: {err.strerror or err}")


def _make_socket(
    family: socket.AddressFamily, local_host: str | None, local_port: int, interface: str | None
) -> socket.socket:
    """A non-blocking UDP socket bound for ECHONET Lite, multicast kept on one link.

    Multicast leaves through ``interface`` (its name or index; for IPv4 also one of its
    addresses) or through the interface of ``local_host``, with a hop limit of 1:
    ECHONET Lite discovery never crosses a router.
    """
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
            host, _, scope = (local_host or "::").partition("%")
            index = _interface_index(interface or scope or None)
            if index:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            sock.bind(
                (host, local_port, 0, index if ipaddress.ip_address(host).is_link_local else 0)
            )
            if index and not local_host_is_specific(host):
                group = socket.inet_pton(socket.AF_INET6, IPV6_MULTICAST)
                with contextlib.suppress(OSError):  # no multicast on this interface
                    sock.setsockopt(
                        socket.IPPROTO_IPV6,
                        socket.IPV6_JOIN_GROUP,
                        group + struct.pack("@I", index),
                    )
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            host = local_host or _ANY_IPV4
            # The interface by one of its addresses or by name (ip_mreqn with its index).
            if_addr, if_index = _ipv4_interface(
                interface or (host if local_host_is_specific(host) else None)
            )
            mreqn = struct.pack("=4s4si", bytes(4), socket.inet_aton(if_addr), if_index)
            if if_index or if_addr != _ANY_IPV4:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            sock.bind((host, local_port))
            if not local_host_is_specific(host):
                # Bound to all addresses: also hear the meters' multicast INF.
                group = socket.inet_aton(IPV4_MULTICAST)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group + mreqn[4:])
    except BaseException:
        sock.close()
        raise
    return sock


def _ipv4_interface(interface: str | None) -> tuple[str, int]:
    """(address, index) naming an IPv4 interface for multicast; one of them is set."""
    if not interface:
        return _ANY_IPV4, 0
    try:
        ipaddress.IPv4Address(interface)
    except ValueError:
        return _ANY_IPV4, _interface_index(interface)
    return interface, 0


def local_host_is_specific(host: str) -> bool:
    """Whether ``host`` names one address (not the wildcard ``0.0.0.0`` / ``::``)."""
    return ipaddress.ip_address(host.partition("%")[0]).packed.strip(b"\x00") != b""


def _default_target(family: socket.AddressFamily, interface: str | None) -> NodeAddress:
    if family == socket.AF_INET6:
        return NodeAddress(IPV6_MULTICAST, ECHONET_PORT, interface)
    return NodeAddress(IPV4_MULTICAST, ECHONET_PORT)


def _family_of(local_host: str | None, target: NodeAddress | None) -> socket.AddressFamily:
    if target is not None:
        return target.family
    if local_host:
        return parse_address(local_host).family
    return socket.AF_INET6


# --- discovery and probe for a config flow --------------------------------------------------


async def discover(
    *,
    target: NodeAddress | str | None = None,
    local_host: str | None = None,
    local_port: int = ECHONET_PORT,
    interface: str | None = None,
    family: str | None = None,
    wait: float = 3.0,
) -> list[DiscoveredNode]:
    """Find ECHONET Lite nodes: a Get of the node profile's D6/83/8A to ``target``.

    Nodes that do not answer it but announce themselves (INF of D5) during the wait are
    asked again by unicast.

    ``target`` defaults to the ECHONET Lite group of ``family`` ("ipv4": 224.0.23.0,
    "ipv6": ff02::1 on ``interface``; by default the family of ``local_host``, else
    IPv6); a unicast address asks one node. Answers are collected for ``wait`` seconds
    (at most 3 s is sensible in a config flow). Returns every node that answered,
    meters or not, sorted by address; use ``node.is_meter``. The local port is shared
    with running links of this process; if another program holds it exclusively, an
    ephemeral port is used (nodes answering to the source port still reach it).

    Raises NetworkUnreachableError / NetworkPortBusyError / InvalidAddressError.
    """
    goal = None if target is None else _as_address(target, interface)
    if family is None:
        address_family = _family_of(local_host, goal)
    elif family in ("ipv4", "ipv6"):
        address_family = socket.AF_INET if family == "ipv4" else socket.AF_INET6
    else:
        raise InvalidAddressError("family is 'ipv4' or 'ipv6'")
    goal = goal or _default_target(address_family, interface)
    sock = await _NodeSocket.open(
        address_family,
        local_host=local_host,
        local_port=local_port,
        interface=interface,
        fallback_port=True,
    )
    try:
        nodes, announced = await sock.query_announced(goal, wait)
        # Nodes heard only by their D5 announcement: ask each one for 0x83/8A.
        known = {node.address.host for node in nodes}
        for address in announced:
            if address.host not in known:
                nodes += await sock.query(address, min(wait, 0.5))
    finally:
        sock.close()
    return sorted(nodes, key=lambda node: (node.address.ip.version, int(node.address.ip)))


async def probe(
    address: NodeAddress | str,
    *,
    local_host: str | None = None,
    local_port: int = ECHONET_PORT,
    interface: str | None = None,
    wait: float = 3.0,
) -> DiscoveredNode:
    """Ask one address whether it is a meter (an address typed by hand, a reconfigure).

    Returns the node when it holds a 0x0288 or 0x028A object. Raises
    InvalidAddressError, NetworkUnreachableError, NetworkPortBusyError, NoAnswerError
    (nothing answered) or NotAMeterError (an ECHONET Lite node without a meter).
    """
    node_address = _as_address(address, interface)
    if node_address.is_multicast:
        raise InvalidAddressError("a group address is not one meter")
    nodes = await discover(
        target=node_address,
        local_host=local_host,
        local_port=local_port,
        interface=interface,
        wait=wait,
    )
    if not nodes:
        raise NoAnswerError("nothing answered ECHONET Lite at the address")
    node = nodes[0]
    if not node.is_meter:
        raise NotAMeterError("the node holds no smart electric energy meter")
    return node


# --- the link -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UdpTiming:
    """Timeouts of the link's own node-profile queries (seconds); ``fast()`` for tests."""

    #: One unicast Get of the node profile (a LAN answers in milliseconds).
    probe_timeout: float = 2.0
    #: How long a search by identification number listens for answers to the group.
    discovery_timeout: float = 3.0
    #: While the meter is lost, pause between two probes of its last address: one
    #: unicast datagram on the LAN (no air time), so a meter that answers again is
    #: back within this and a round trip.
    repair_interval: float = 2.0
    #: ...and how often at most the group is searched for it by identification number
    #: (every node on the segment answers that one).
    search_interval: float = 10.0
    #: Bad datagrams are reported at most this often.
    log_interval: float = 60.0

    @classmethod
    def fast(cls) -> Self:
        """Short timings for loopback tests."""
        # Loopback answers in microseconds; the margin is for a loaded test machine.
        return cls(
            probe_timeout=0.5, discovery_timeout=0.5, repair_interval=0.1, search_interval=0.5
        )


class UdpLink(Link):
    """ECHONET Lite to one meter over UDP (IPv4 or IPv6, link-local with a scope).

    ``open()`` binds the socket and asks the node profile at ``address`` for its
    identification number (0x83): the link goes UP only after that exchange, so a
    wrong address fails at set-up, not at the first poll. Datagrams from any other
    address are ignored; malformed ones are dropped and reported at most once a minute.

    When the client reports the meter unresponsive, the link goes REPAIRING and looks
    for it again: first at the last address, then (when the identification number is
    known) by asking the discovery target (the group by default) for 0x83 and taking
    the node that matches. ``address`` then holds the new address and
    ``on_address_change`` is called with it, for the owner to persist.
    """

    kind = "udp"
    # Looking for the meter again costs a unicast probe on the LAN, not a rejoin: one
    # request that failed all its attempts is enough to call it lost.
    unresponsive_after = 1

    def __init__(
        self,
        address: NodeAddress | str,
        *,
        identification: str | None = None,
        local_host: str | None = None,
        local_port: int = ECHONET_PORT,
        interface: str | None = None,
        discovery_target: NodeAddress | str | None = None,
        timing: UdpTiming | None = None,
    ) -> None:
        """Configure; nothing is opened before :meth:`open`."""
        super().__init__()
        self._address = _as_address(address, interface)
        self._identification = identification.upper() if identification else None
        self._local_host = local_host
        self._local_port = local_port
        self._interface = interface
        if discovery_target is not None:
            self._target = _as_address(discovery_target, interface)
        else:
            # The group on the meter's port (3610 but for tests on loopback).
            self._target = _default_target(
                self._address.family, interface or self._address.scope
            ).with_port(self._address.port)
        if self._target.family != self._address.family:
            raise InvalidAddressError("the discovery target and the meter differ in IP version")
        self.timing = timing or UdpTiming()
        self.on_address_change: Callable[[NodeAddress], None] | None = None
        self._socket: _NodeSocket | None = None
        self._repair_task: asyncio.Task[None] | None = None
        self._hint = asyncio.Event()
        self._others = _RateLimitedLog(
            "datagrams from other senders", self.timing.log_interval, logging.DEBUG
        )
        self.address_changes = 0
        self.repairs = 0

    # --- what the owner sees ------------------------------------------------------------------

    @property
    def address(self) -> NodeAddress:
        """The meter's current address (changes when a repair found it elsewhere)."""
        return self._address

    @property
    def identification(self) -> str | None:
        """The meter's identification number (0x83), learnt at ``open()`` if not given."""
        return self._identification

    @property
    def local_address(self) -> NodeAddress | None:
        """Where the link's socket is bound (None while closed)."""
        return None if self._socket is None else self._socket.local

    @property
    def dropped(self) -> dict[str, int]:
        """Datagrams dropped so far: malformed ones and those from other senders."""
        junk = self._socket.junk.total if self._socket is not None else 0
        return {"malformed": junk, "other_sender": self._others.total}

    async def open(self) -> None:
        """Bind, then find the meter (at its address, else by identification number)."""
        if self._socket is not None:
            return
        self._set_status(LinkState.CONNECTING, "opening the UDP socket")
        try:
            sock = await _NodeSocket.open(
                self._address.family,
                local_host=self._local_host,
                local_port=self._local_port,
                # A link-local meter's scope names the interface for multicast too.
                interface=self._interface or self._address.scope,
                log_interval=self.timing.log_interval,
            )
        except NetworkMeterError as err:
            self._set_status(LinkState.DOWN, "cannot open the UDP socket", error=err)
            raise
        sock.on_frame = self._on_frame
        self._socket = sock
        _ROUTES.links.append(self)
        try:
            found = await self._locate()
        except NetworkMeterError as err:
            await self._close_socket()
            self._set_status(LinkState.DOWN, "the meter cannot be reached", error=err)
            raise
        if found is None:
            no_answer = NoAnswerError("the meter did not answer at its address")
            await self._close_socket()
            self._set_status(LinkState.DOWN, "the meter did not answer", error=no_answer)
            raise no_answer
        self._set_status(LinkState.UP)

    async def close(self) -> None:
        """Stop any repair and release the socket. Idempotent."""
        task, self._repair_task = self._repair_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_socket()
        self._set_status(LinkState.DOWN)

    def report_unresponsive(self) -> None:
        """The meter stopped answering: look for it again in the background."""
        if self._socket is None or self._repair_task is not None:
            return
        if self._status.state is not LinkState.UP:
            return
        # No error object: requests meanwhile fail with SessionUnavailableError, the
        # "recovering" error every link raises.
        self._set_status(LinkState.REPAIRING, "the meter stopped answering; looking for it")
        self._repair_task = asyncio.get_running_loop().create_task(self._repair())

    def diagnostics(self) -> dict[str, Any]:
        """Redacted link facts: no address, no identification number."""
        return {
            **super().diagnostics(),
            "family": "ipv4" if self._address.family == socket.AF_INET else "ipv6",
            "link_local": bool(self._address.ip.is_link_local),
            "address_changes": self.address_changes,
            "repairs": self.repairs,
            "dropped": self.dropped,
        }

    # --- for the Link base ---------------------------------------------------------------------

    async def _send(self, payload: bytes) -> bool:
        sock = self._socket
        if sock is None:
            return False
        return sock.sendto(payload, self._address)

    # --- internals ----------------------------------------------------------------------------

    def _on_frame(self, data: bytes, frame: Frame, source: NodeAddress) -> None:
        if not source.same_node(self._address):
            _LOGGER.debug("Ignoring a frame from %s", source.redacted())
            self._others.note("not the meter's address")
            return
        self._deliver(data)

    def _matches(self, node: DiscoveredNode) -> bool:
        return self._identification is None or node.identification == self._identification

    async def _locate(self, *, search: bool = True) -> NodeAddress | None:
        """Where the meter answers now (its last address first; then, with ``search``,
        the group by identification number), or None."""
        sock = self._socket
        if sock is None:
            return None
        timing = self.timing
        nodes = await sock.query(self._address, timing.probe_timeout)
        for node in nodes:
            # At its own address a node that does not tell its number is taken on trust.
            if node.identification is None or self._matches(node):
                if self._identification is None:
                    self._identification = node.identification
                return self._address
        if self._identification is None or not search:
            return None  # nothing to recognise the meter by elsewhere, or not now
        nodes = await sock.query(self._target, timing.discovery_timeout, stop=self._matches)
        for node in nodes:
            if self._matches(node):
                scope = node.address.scope or self._address.scope
                new = NodeAddress(node.address.host, self._address.port, scope)
                self._moved(new)
                return new
        return None

    def _moved(self, new: NodeAddress) -> None:
        if new == self._address:
            return
        _LOGGER.info("The meter answered at a new address; using it")
        _LOGGER.debug("Meter address %s -> %s", self._address.redacted(), new.redacted())
        self._address = new
        self.address_changes += 1
        if self.on_address_change is not None:
            try:
                self.on_address_change(new)
            except Exception:
                _LOGGER.exception("Address change listener failed")

    async def _repair(self) -> None:
        loop = asyncio.get_running_loop()
        next_search = loop.time()
        announced = False
        try:
            while True:
                self._hint.clear()
                # A node's announcement (D5) may be the meter at a new address: search.
                search = announced or loop.time() >= next_search
                try:
                    found = await self._locate(search=search)
                except NetworkMeterError as err:
                    _LOGGER.debug("Looking for the meter failed: %s", err)
                    found = None
                if search:
                    next_search = loop.time() + self.timing.search_interval
                if found is not None:
                    self.repairs += 1
                    self._set_status(LinkState.UP, "the meter answers again")
                    return
                announced = False
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.timing.repair_interval):
                        await self._hint.wait()
                        announced = True
        finally:
            if asyncio.current_task() is self._repair_task:
                self._repair_task = None

    async def _close_socket(self) -> None:
        if self in _ROUTES.links:
            _ROUTES.links.remove(self)
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()
            await asyncio.sleep(0)  # let the transport finish closing


__all__ = [
    "ECHONET_PORT",
    "IPV4_MULTICAST",
    "IPV6_MULTICAST",
    "METER_CLASSES",
    "DiscoveredNode",
    "NodeAddress",
    "UdpLink",
    "UdpTiming",
    "decode_identification",
    "discover",
    "parse_address",
    "probe",
]
