"""Exceptions of the B-route protocol library.

Every failure a user can act on has its own class, so callers (the Home Assistant
integration, the probe command) can tell "move the dongle closer" from "re-enter the
password" from "another program holds the port" without parsing messages.

Messages never contain the B-route ID or password.
"""

from __future__ import annotations


class BRouteError(Exception):
    """Base class of every error raised by the library."""


# --- the port -----------------------------------------------------------------------


class TransportError(BRouteError):
    """The serial port (or its network stand-in) cannot be used."""


class PortNotFoundError(TransportError):
    """The device path does not exist (dongle unplugged, wrong path)."""


class PortPermissionError(TransportError):
    """The process may not open the device (e.g. not in the dialout group)."""


class PortBusyError(TransportError):
    """Another program holds the port (exclusive lock or busy device)."""


class PortConnectError(TransportError):
    """A network port (socket://, rfc2217://) refused or timed out."""


class PortNotReadyError(TransportError):
    """The port's provider is not up yet (e.g. the ESPHome serial proxy); retry later."""


class TransportLostError(TransportError):
    """An open port went away (unplugged, peer closed the connection)."""


# --- the dongle ---------------------------------------------------------------------


class DongleError(BRouteError):
    """The Wi-SUN dongle misbehaved."""


class DongleNotRespondingError(DongleError):
    """The port opened but nothing answers SKSTACK-IP commands."""


class CommandError(DongleError):
    """A command was answered with ``FAIL ERxx``."""

    def __init__(self, command: str, code: str) -> None:
        """Keep only the command name: arguments may hold credentials."""
        super().__init__(f"{command} failed with {code}")
        self.command = command
        self.code = code


# --- the radio link and the meter -----------------------------------------------------


class MeterNotFoundError(BRouteError):
    """Active scans found no meter whose pairing ID matches the B-route ID."""


class AuthenticationError(BRouteError):
    """PANA authentication was rejected (EVENT 24): wrong B-route ID or password."""


class JoinError(BRouteError):
    """PANA join did not complete (no answer) although the meter is known."""


class MeterTimeoutError(BRouteError):
    """The meter did not answer an ECHONET Lite request in time."""


class SessionUnavailableError(BRouteError):
    """The session is recovering (rejoin or reconnect under way or backing off)."""


class TransmitLimitError(BRouteError):
    """The dongle's ARIB STD-T108 transmit-time budget is exhausted (EVENT 32)."""


class PropertyNotAvailableError(BRouteError):
    """The meter refused a property (SNA) or does not offer it."""


# --- data ---------------------------------------------------------------------------


class EchonetDecodeError(BRouteError):
    """An ECHONET Lite frame or property value is malformed."""


# --- meters on the network (ECHONET Lite over UDP) ---------------------------------


class NetworkMeterError(BRouteError):
    """A meter on the network (Wi-Fi B-route, high-voltage terminal) cannot be used."""

    translation_key = "network_error"


class InvalidAddressError(NetworkMeterError):
    """The address is not an IPv4 or IPv6 address (with an optional ``%scope``)."""

    translation_key = "network_invalid_address"


class NetworkUnreachableError(NetworkMeterError):
    """The operating system cannot send to the address (no route, no such interface)."""

    translation_key = "network_unreachable"


class NoAnswerError(NetworkMeterError):
    """Nothing answered ECHONET Lite at the address (or on the segment) in time."""

    translation_key = "network_no_answer"


class NotAMeterError(NetworkMeterError):
    """An ECHONET Lite node answered, but it holds no smart electric energy meter."""

    translation_key = "network_not_a_meter"


class NetworkPortBusyError(NetworkMeterError):
    """The local UDP port (3610 by default) is held by another program."""

    translation_key = "network_port_busy"
