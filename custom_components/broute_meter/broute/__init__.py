"""B-route client: SKSTACK-IP Wi-SUN dongles and ECHONET Lite smart meters.

asyncio only and free of Home Assistant imports, so it can be used (and published)
on its own.
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
