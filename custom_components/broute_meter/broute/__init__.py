"""B-route client: ECHONET Lite smart meters over Wi-SUN dongles, in layers.

asyncio only and free of Home Assistant imports, so it can be used (and published)
on its own. From the bottom up:

* a :class:`~.link.Link` carries ECHONET Lite datagrams to one meter and reports its
  state (``links/``: SKSTACK-IP Wi-SUN dongles today);
* one :class:`~.client.EchonetClient` handles requests over any link;
* meter models (``meters/``) turn properties into typed readings;
* :class:`MeterConnection` holds the three for one meter. Typical use::

    conn = MeterConnection("/dev/serial/by-id/usb-...", rbid, password, pan=cached_pan)
    await conn.connect()                     # scan (no cached PAN) + PANA join
    cached_pan = conn.pan                    # persist it: the next connect skips the scan
    identity = await conn.meter.read_identity()
    reading = await conn.meter.read_live(identity)   # power W, currents A, registers
    await conn.close()

The link repairs itself (re-authentication, rejoin, dongle re-init, port reopen);
a request made while it repairs fails at once with SessionUnavailableError, and the
link reports ``UP`` again when it is back. From a shell:
``python -m custom_components.broute_meter.broute probe --port URL``.
"""

from .client import ClientTiming, EchonetClient
from .connection import ConnectionTiming, MeterConnection
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
    error_translation_key,
)
from .link import HoldReason, Link, LinkState, LinkStatus
from .links.skstack import Dialect, Event, PanDescription, SkStack, SkStackLink, UdpPacket
from .links.wisun import PanDescriptor, WiSunLink, WiSunTiming, lqi_to_rssi, mac_to_ipv6
from .meters.low_voltage import LowVoltageMeter, MeterIdentity
from .transport import open_port

__all__ = [
    "AuthenticationError",
    "BRouteError",
    "ClientTiming",
    "CommandError",
    "ConnectionTiming",
    "Dialect",
    "DongleError",
    "DongleNotRespondingError",
    "EchonetClient",
    "EchonetDecodeError",
    "Event",
    "HoldReason",
    "JoinError",
    "Link",
    "LinkState",
    "LinkStatus",
    "LowVoltageMeter",
    "MeterConnection",
    "MeterIdentity",
    "MeterNotFoundError",
    "MeterTimeoutError",
    "PanDescription",
    "PanDescriptor",
    "PortBusyError",
    "PortConnectError",
    "PortNotFoundError",
    "PortNotReadyError",
    "PortPermissionError",
    "PropertyNotAvailableError",
    "SessionUnavailableError",
    "SkStack",
    "SkStackLink",
    "TransmitLimitError",
    "TransportError",
    "TransportLostError",
    "UdpPacket",
    "WiSunLink",
    "WiSunTiming",
    "error_translation_key",
    "lqi_to_rssi",
    "mac_to_ipv6",
    "open_port",
]
