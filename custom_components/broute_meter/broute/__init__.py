"""B-route client: SKSTACK-IP Wi-SUN dongles and ECHONET Lite smart meters.

asyncio only and free of Home Assistant imports, so it can be used (and published)
on its own. Typical use::

    session = MeterSession("/dev/serial/by-id/usb-...", rbid, password, pan=cached_pan)
    await session.connect()          # scan (no cached PAN) + PANA join
    cached_pan = session.pan         # persist it: the next connect skips the scan
    values = await session.get(0xE7, 0xE8)   # EDT bytes by EPC; decode with .echonet
    await session.close()

The session repairs itself (re-authentication, rejoin, dongle re-init, port reopen);
requests made meanwhile wait for it within their own time budget. From a shell:
``python -m custom_components.broute_meter.broute probe --port URL``.
"""

from .errors import (
    AuthenticationError,
    BRouteError,
    CommandError,
    DongleError,
    DongleNotRespondingError,
    EchonetDecodeError,
    JoinError,
    MeterNotFoundError,
    MeterTimeoutError,
    PortBusyError,
    PortConnectError,
    PortNotFoundError,
    PortNotReadyError,
    PortPermissionError,
    PropertyNotAvailableError,
    SessionUnavailableError,
    TransmitLimitError,
    TransportError,
    TransportLostError,
)
from .session import (
    MeterSession,
    PanDescriptor,
    SessionState,
    SessionStats,
    SessionTiming,
    lqi_to_rssi,
    mac_to_ipv6,
)
from .skstack import Dialect, Event, PanDescription, SkStack, UdpPacket
from .transport import open_port

__all__ = [
    "AuthenticationError",
    "BRouteError",
    "CommandError",
    "Dialect",
    "DongleError",
    "DongleNotRespondingError",
    "EchonetDecodeError",
    "Event",
    "JoinError",
    "MeterNotFoundError",
    "MeterSession",
    "MeterTimeoutError",
    "PanDescription",
    "PanDescriptor",
    "PortBusyError",
    "PortConnectError",
    "PortNotFoundError",
    "PortNotReadyError",
    "PortPermissionError",
    "PropertyNotAvailableError",
    "SessionState",
    "SessionStats",
    "SessionTiming",
    "SessionUnavailableError",
    "SkStack",
    "TransmitLimitError",
    "TransportError",
    "TransportLostError",
    "UdpPacket",
    "lqi_to_rssi",
    "mac_to_ipv6",
    "open_port",
]
