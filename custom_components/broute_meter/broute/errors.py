"""Exceptions of the B-route protocol library.

Every failure a user can act on has its own class, so callers (the Home Assistant
integration, the probe command) can tell "move the dongle closer" from "re-enter the
password" from "another program holds the port" without parsing messages.

Each class carries the ``translation_key`` of its user-facing message (Home
Assistant's ``translation_key``; the probe command prints it), so callers map errors
by key instead of by a ladder of classes.

Messages never contain the B-route ID or password.
"""

from __future__ import annotations

from typing import ClassVar


class BRouteError(Exception):
    """Base class of every error raised by the library."""

    #: Key of the user-facing message; subclasses a user can act on have their own.
    translation_key: ClassVar[str] = "communication_error"


def error_translation_key(err: BaseException) -> str:
    """The translation key of any exception (``communication_error`` for foreign ones)."""
    key = getattr(err, "translation_key", None)
    return key if isinstance(key, str) else "communication_error"


# --- the port -----------------------------------------------------------------------


class TransportError(BRouteError):
    """The serial port (or its network stand-in) cannot be used."""

    translation_key: ClassVar[str] = "port_error"


class PortNotFoundError(TransportError):
    """The device path does not exist (dongle unplugged, wrong path)."""

    translation_key: ClassVar[str] = "port_not_found"


class PortPermissionError(TransportError):
    """The process may not open the device (e.g. not in the dialout group)."""

    translation_key: ClassVar[str] = "port_permission"


class PortBusyError(TransportError):
    """Another program holds the port (exclusive lock or busy device)."""

    translation_key: ClassVar[str] = "port_busy"


class PortConnectError(TransportError):
    """A network port (socket://, rfc2217://) refused or timed out."""

    translation_key: ClassVar[str] = "cannot_connect"


class PortNotReadyError(TransportError):
    """The port's provider is not up yet (e.g. the ESPHome serial proxy); retry later."""

    translation_key: ClassVar[str] = "port_not_ready"


class TransportLostError(TransportError):
    """An open port went away (unplugged, peer closed the connection)."""

    translation_key: ClassVar[str] = "transport_lost"


# --- the dongle ---------------------------------------------------------------------


class DongleError(BRouteError):
    """The Wi-SUN dongle misbehaved."""

    translation_key: ClassVar[str] = "dongle_error"


class DongleNotRespondingError(DongleError):
    """The port opened but nothing answers SKSTACK-IP commands."""

    translation_key: ClassVar[str] = "dongle_not_responding"


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

    translation_key: ClassVar[str] = "meter_not_found"


class AuthenticationError(BRouteError):
    """PANA authentication was rejected (EVENT 24): wrong B-route ID or password."""

    translation_key: ClassVar[str] = "invalid_auth"


class JoinError(BRouteError):
    """PANA join did not complete (no answer) although the meter is known."""

    translation_key: ClassVar[str] = "join_failed"


class MeterTimeoutError(BRouteError):
    """The meter did not answer an ECHONET Lite request in time."""

    translation_key: ClassVar[str] = "meter_timeout"


class SessionUnavailableError(BRouteError):
    """The session is recovering (rejoin or reconnect under way or backing off)."""

    translation_key: ClassVar[str] = "session_unavailable"


class TransmitLimitError(BRouteError):
    """The dongle's ARIB STD-T108 transmit-time budget is exhausted (EVENT 32)."""

    translation_key: ClassVar[str] = "transmit_limit"


class PropertyNotAvailableError(BRouteError):
    """The meter refused a property (SNA) or does not offer it."""

    translation_key: ClassVar[str] = "property_not_available"


# --- data ---------------------------------------------------------------------------


class EchonetDecodeError(BRouteError):
    """An ECHONET Lite frame or property value is malformed."""

    translation_key: ClassVar[str] = "decode_error"


# --- meters on the network (ECHONET Lite over UDP) ---------------------------------


class NetworkMeterError(BRouteError):
    """A meter on the network (Wi-Fi B-route, high-voltage terminal) cannot be used."""

    translation_key: ClassVar[str] = "network_error"


class InvalidAddressError(NetworkMeterError):
    """The address is not an IPv4 or IPv6 address (with an optional ``%scope``)."""

    translation_key: ClassVar[str] = "network_invalid_address"


class NetworkUnreachableError(NetworkMeterError):
    """The operating system cannot send to the address (no route, no such interface)."""

    translation_key: ClassVar[str] = "network_unreachable"


class NoAnswerError(NetworkMeterError):
    """Nothing answered ECHONET Lite at the address (or on the segment) in time."""

    translation_key: ClassVar[str] = "network_no_answer"


class NotAMeterError(NetworkMeterError):
    """An ECHONET Lite node answered, but it holds no smart electric energy meter."""

    translation_key: ClassVar[str] = "network_not_a_meter"


class NetworkPortBusyError(NetworkMeterError):
    """The local UDP port (3610 by default) is held by another program."""

    translation_key: ClassVar[str] = "network_port_busy"
