"""Which firmware a Wi-SUN dongle speaks: SKSTACK-IP text or ROHM J11 binary.

The probe asks both questions at once and takes the first answer that only one kind
of firmware can give:

1. a J11 "get firmware version" request (0x006B). A J11 module answers with a binary
   0x206B frame. A SKSTACK dongle sees a line of junk without an end (the frame has no
   CR or LF byte) and waits;
2. ``\\r\\nSKVER\\r\\n``. The leading CRLF ends the junk line on a SKSTACK dongle (it
   answers ``FAIL ER04``), then ``SKVER`` gets ``EVER …`` and ``OK``. A J11 module
   hunts for its 4-byte unique code and never finds it in this text.

Both are read-only: nothing is written to the dongle's flash, no setting changes and
no radio frame is sent. The whole exchange is bounded (3 s by default); a port that
answers neither way, or not in time, is reported as unknown.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re

from ..transport import close_port, describe_port, open_port
from . import j11_frames as jf

_LOGGER = logging.getLogger(__name__)

#: Lines only SKSTACK-IP firmware prints (an echo of our SKVER counts too).
_SKSTACK_LINE = re.compile(rb"^(EVER \S+|OK|FAIL ER[0-9A-F]{2}|SKVER)$")
_SKVER = b"\r\nSKVER\r\n"


class Firmware(enum.StrEnum):
    """What a dongle's firmware speaks."""

    SKSTACK = "skstack"
    J11 = "j11"
    UNKNOWN = "unknown"


class _Classifier:
    """Feeds the dongle's bytes to both readers; the first conclusive one wins."""

    def __init__(self) -> None:
        self._splitter = jf.FrameSplitter()
        self._text = bytearray()

    def feed(self, data: bytes) -> Firmware | None:
        # A valid J11 frame has a 4-byte unique code and two checksums: no text
        # dongle prints one by chance.
        if self._splitter.feed(data):
            return Firmware.J11
        self._text += data
        *lines, rest = re.split(rb"\r\n|\r|\n", bytes(self._text))
        self._text = bytearray(rest[-256:])
        for line in lines:
            if _SKSTACK_LINE.match(line.strip()):
                return Firmware.SKSTACK
        return None


async def detect_firmware(
    url: str, *, time_limit: float = 3.0, open_timeout: float | None = None
) -> Firmware:
    """Open ``url``, find out which firmware answers, close it again.

    Raises the transport's errors when the port cannot be opened (so the caller can
    tell "unplugged" from "unknown dongle"); otherwise returns within about
    ``time_limit`` seconds after the port opened.
    """
    reader, writer = await open_port(url, open_timeout=open_timeout or time_limit + 12.0)
    classifier = _Classifier()
    try:
        writer.write(jf.encode_request(jf.CMD_GET_VERSION))
        writer.write(_SKVER)
        await writer.drain()
        async with asyncio.timeout(time_limit):
            while True:
                chunk = await reader.read(1024)
                if not chunk:
                    break
                found = classifier.feed(chunk)
                if found is not None:
                    _LOGGER.debug("%s speaks %s", describe_port(url), found)
                    return found
    except TimeoutError:
        pass
    except (OSError, ConnectionError) as exc:
        _LOGGER.debug("Probing %s failed: %s", describe_port(url), type(exc).__name__)
    finally:
        await close_port(writer)
    _LOGGER.debug("%s answered neither SKSTACK-IP nor J11", describe_port(url))
    return Firmware.UNKNOWN


__all__ = ["Firmware", "detect_firmware"]
