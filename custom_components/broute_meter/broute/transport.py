"""Open the dongle's serial port (or its network stand-in) through serialx.

Every way an open can fail is mapped to one of the exceptions in :mod:`.errors`, so a
caller can tell "unplugged" from "another program holds it" from "ser2net is down"
without looking at ``errno`` values or serialx internals.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import socket
import urllib.parse

import serialx
from serialx import BaseSerialTransport, SerialStreamWriter

from .errors import (
    PortBusyError,
    PortConnectError,
    PortNotFoundError,
    PortNotReadyError,
    PortPermissionError,
    TransportError,
)

_LOGGER = logging.getLogger(__name__)

#: SKSTACK-IP dongles talk 115200 8N1 without flow control out of the factory.
DEFAULT_BAUDRATE = 115200
#: serialx gives network ports 10 s to connect; local devices open in milliseconds.
DEFAULT_OPEN_TIMEOUT = 15.0

_NETWORK_SCHEMES = frozenset({"socket", "tcp", "rfc2217", "esphome", "esphome-hass"})
_CONNECT_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
    }
)

type PortWriter = SerialStreamWriter[BaseSerialTransport]


class _SerialxRedactor(logging.Filter):
    """Scrubs registered secrets from serialx's own DEBUG log (it logs raw bytes).

    Our traffic log is redacted at its single logging point; serialx logs every write
    and read too, which would otherwise carry the dongle's SKSETPWD/SKSETRBID lines.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: dict[str, int] = {}

    def add(self, secrets: tuple[str, ...]) -> None:
        for secret in secrets:
            if secret:
                self._secrets[secret] = self._secrets.get(secret, 0) + 1

    def remove(self, secrets: tuple[str, ...]) -> None:
        for secret in secrets:
            count = self._secrets.get(secret, 0) - 1
            if count > 0:
                self._secrets[secret] = count
            else:
                self._secrets.pop(secret, None)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except TypeError, ValueError:
            return True
        folded = message.casefold()
        hit = False
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret.casefold() in folded:
                message = re.sub(re.escape(secret), "********", message, flags=re.IGNORECASE)
                folded = message.casefold()
                hit = True
        if hit:
            record.msg = message
            record.args = None
        return True


_REDACTOR = _SerialxRedactor()
_FILTERED_LOGGERS: set[str] = set()


def protect_secrets(*secrets: str) -> None:
    """Keep ``secrets`` out of serialx's log records until :func:`release_secrets`."""
    for name in [*logging.Logger.manager.loggerDict, "serialx"]:
        if (name == "serialx" or name.startswith("serialx.")) and name not in _FILTERED_LOGGERS:
            logging.getLogger(name).addFilter(_REDACTOR)
            _FILTERED_LOGGERS.add(name)
    _REDACTOR.add(secrets)


def release_secrets(*secrets: str) -> None:
    """Undo one :func:`protect_secrets` call."""
    _REDACTOR.remove(secrets)


def describe_port(url: str) -> str:
    """Return the port's name without query or credentials (ESPHome URLs carry keys)."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.scheme or len(parsed.scheme) == 1:  # plain path (or a Windows drive)
        return url
    host = parsed.hostname or ""
    if parsed.port is not None:
        host = f"{host}:{parsed.port}"
    return f"{parsed.scheme}://{host}{parsed.path}"


def is_network_port(url: str) -> bool:
    """Whether the URL names a network transport rather than a local device."""
    return urllib.parse.urlsplit(url).scheme.lower() in _NETWORK_SCHEMES


def _is_not_ready(exc: BaseException) -> bool:
    """Recognise Home Assistant's ConfigEntryNotReady without importing Home Assistant.

    Home Assistant's ``esphome-hass://`` stub raises it from inside serialx while the
    ESPHome integration is still loading; that is a "retry later", not a failure.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # it may arrive wrapped
        if any(
            cls.__name__ == "ConfigEntryNotReady" and cls.__module__.startswith("homeassistant")
            for cls in type(current).__mro__
        ):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _find_oserror(exc: BaseException) -> OSError | None:
    """Find the OSError behind an exception (serialx may wrap it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno is not None:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def map_open_error(exc: BaseException, url: str) -> TransportError:
    """Translate an exception raised while opening ``url`` into our error classes."""
    name = describe_port(url)
    network = is_network_port(url)
    if _is_not_ready(exc):
        return PortNotReadyError(f"{name} is not ready yet")
    if isinstance(exc, TimeoutError) and _find_oserror(exc) is None:
        if network:
            return PortConnectError(f"{name} did not answer in time")
        return TransportError(f"opening {name} timed out")
    if isinstance(exc, socket.gaierror):
        return PortConnectError(f"{name}: host name not resolved")
    oserr = _find_oserror(exc)
    if oserr is not None:
        code = oserr.errno
        if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) and not network:
            return PortNotFoundError(f"{name} does not exist")
        if code in (errno.EACCES, errno.EPERM):
            return PortPermissionError(f"no permission to open {name}")
        if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
            return PortBusyError(f"{name} is in use by another program")
        if code in _CONNECT_ERRNOS or network:
            return PortConnectError(f"cannot connect to {name}: {oserr.strerror}")
    if isinstance(exc, serialx.SerialException) and "No handler registered" in str(exc):
        return TransportError(f"{name}: unsupported port URL scheme")
    return TransportError(f"cannot open {name}: {type(exc).__name__}")


async def open_port(
    url: str,
    *,
    baudrate: int = DEFAULT_BAUDRATE,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
) -> tuple[asyncio.StreamReader, PortWriter]:
    """Open ``url`` at ``baudrate`` 8N1, exclusively, within ``open_timeout`` seconds.

    ``url`` is anything serialx understands: a device path, ``/dev/serial/by-id/…``,
    ``socket://host:port``, ``rfc2217://host:port`` or an ESPHome serial proxy URL.
    """
    _LOGGER.debug("Opening %s", describe_port(url))
    try:
        async with asyncio.timeout(open_timeout):
            reader, writer = await serialx.open_serial_connection(
                url,
                baudrate=baudrate,
                parity=serialx.Parity.NONE,
                stopbits=serialx.StopBits.ONE,
                xonxoff=False,
                rtscts=False,
                exclusive=True,
            )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise map_open_error(exc, url) from exc
    return reader, writer


async def close_port(writer: PortWriter, *, close_timeout: float = 5.0) -> None:
    """Close the port and wait (bounded) until serialx has released it."""
    writer.close()
    try:
        async with asyncio.timeout(close_timeout):
            await writer.wait_closed()
    except TimeoutError:
        _LOGGER.debug("Port did not close within %.1f s; aborting it", close_timeout)
        writer.transport.abort()
    except (OSError, serialx.SerialException) as exc:
        _LOGGER.debug("Error while closing the port: %s", exc)
