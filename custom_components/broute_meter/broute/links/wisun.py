"""What every Wi-SUN dongle link shares, whatever the dongle's firmware speaks.

A Wi-SUN link finds the meter (an active scan for the PAN whose pairing ID is the last
eight characters of the B-route ID, or the cached :class:`PanDescriptor`), joins it with
PANA and keeps that session alive. The firmware-specific part (SKSTACK-IP text, ROHM J11
binary) is a :class:`WiSunDriver`; the scan/join/repair logic is written once above it.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import re
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from collections.abc import Callable

_MAC_RE = re.compile(r"^[0-9A-Fa-f]{16}$")

#: The UDP port of ECHONET Lite, on Wi-SUN as on IP.
ECHONET_PORT = 3610


def mac_to_ipv6(mac: str) -> str:
    """Link-local IPv6 of a 64-bit MAC: FE80::/64 + EUI-64 with the U/L bit flipped.

    Written out in full, upper case, the only form SKJOIN/SKSENDTO accept.
    """
    if not _MAC_RE.match(mac):
        raise ValueError("a MAC address is 16 hex digits")
    value = int(mac, 16) ^ (0x02 << 56)
    iid = f"{value:016X}"
    return "FE80:0000:0000:0000:" + ":".join(iid[i : i + 4] for i in range(0, 16, 4))


def lqi_to_rssi(lqi: int) -> float:
    """Approximate RSSI in dBm of a scan's LQI (0.275 × LQI − 104.27)."""
    return round(0.275 * lqi - 104.27, 1)


@dataclass(frozen=True, slots=True)
class PanDescriptor:
    """Where the meter is: channel, PAN ID and MAC (what a scan finds; worth caching)."""

    channel: int
    pan_id: int
    mac: str
    lqi: int | None = None
    pair_id: str | None = None

    def __post_init__(self) -> None:
        """Validate and normalise (the MAC is kept upper-case)."""
        if not 0x21 <= self.channel <= 0x3C:
            raise ValueError(f"channel {self.channel} is outside 33-60")
        if not 0 <= self.pan_id <= 0xFFFF:
            raise ValueError("PAN ID is 16 bits")
        if not _MAC_RE.match(self.mac):
            raise ValueError("MAC must be 16 hex digits")
        object.__setattr__(self, "mac", self.mac.upper())

    @property
    def ipv6(self) -> str:
        """The meter's link-local address in the dongle's expanded form."""
        return mac_to_ipv6(self.mac)

    @property
    def rssi(self) -> float | None:
        """Approximate signal strength (dBm) from the LQI of the last scan."""
        return None if self.lqi is None else lqi_to_rssi(self.lqi)

    def same_meter(self, other: PanDescriptor) -> bool:
        """Whether both describe the same PAN (ignoring LQI)."""
        return (self.channel, self.pan_id, self.mac) == (other.channel, other.pan_id, other.mac)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for config-entry storage)."""
        return {
            "channel": self.channel,
            "pan_id": self.pan_id,
            "mac": self.mac,
            "lqi": self.lqi,
            "pair_id": self.pair_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of :meth:`as_dict`; ValueError when fields are missing or wrong."""
        try:
            return cls(
                channel=int(data["channel"]),
                pan_id=int(data["pan_id"]),
                mac=str(data["mac"]),
                lqi=None if data.get("lqi") is None else int(data["lqi"]),
                pair_id=None if data.get("pair_id") is None else str(data["pair_id"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a PAN descriptor: {exc}") from None


class JoinOutcome(enum.Enum):
    """How one PANA attempt ended."""

    JOINED = enum.auto()
    REJECTED = enum.auto()  # the meter refused the credentials (a lone one may be a fluke)
    NO_ANSWER = enum.auto()


class DriverEvent(enum.Enum):
    """What a dongle reports on its own, between commands."""

    SESSION_EXPIRED = enum.auto()  # PANA lifetime over; the dongle may re-authenticate
    REAUTHENTICATED = enum.auto()  # PANA completed again by itself
    SESSION_LOST = enum.auto()  # the meter ended the session, or re-authentication failed
    TERMINATED = enum.auto()  # our own session ended (e.g. after a terminate)
    DONGLE_RESET = enum.auto()  # the dongle restarted (power glitch, watchdog)
    TX_LIMIT = enum.auto()  # the ARIB transmit-time budget is spent; sends paused
    TX_LIMIT_RELEASED = enum.auto()


class WiSunDriver(Protocol):
    """One open Wi-SUN dongle, as the Wi-SUN link's scan/join/repair logic uses it.

    A driver owns the port's reader; it calls ``on_event`` with :class:`DriverEvent`,
    ``on_datagram(sender_ipv6, payload)`` with ECHONET Lite payloads received on UDP port
    3610, and ``on_lost(exc)`` once when the port goes away. Commands raise the library's
    errors (DongleNotRespondingError when the dongle stays silent, CommandError, transport
    errors); no credential ever reaches a log line or an exception, including the
    dongle's echo and binary frames.
    """

    on_event: Callable[[DriverEvent], None] | None
    on_datagram: Callable[[str, bytes], None] | None
    on_lost: Callable[[BaseException], None] | None

    @property
    def firmware(self) -> str | None:
        """The dongle's firmware version, once read."""

    def diagnostics(self) -> dict[str, Any]:
        """Redacted facts about the dongle (dialect, firmware, payload form)."""

    async def initialise(self, rbid: str, password: str) -> None:
        """Reset the dongle to a known state and give it the credentials (no flash write)."""

    async def scan(self, duration: int, pair_id: str) -> list[PanDescriptor]:
        """One active scan; every PAN that answered (the caller picks by ``pair_id``)."""

    async def join(self, pan: PanDescriptor) -> JoinOutcome:
        """Point the dongle at ``pan`` and run PANA; return how it ended."""

    async def send(self, meter_ipv6: str, payload: bytes) -> bool:
        """One UDP datagram to port 3610; False when the dongle could not send it."""

    async def check(self) -> None:
        """A local command (no air time) that proves the dongle still answers."""

    async def terminate(self) -> None:
        """End the PANA session politely (best effort, bounded in time)."""

    async def stop(self) -> None:
        """Stop reading and release the port."""


__all__ = [
    "ECHONET_PORT",
    "DriverEvent",
    "JoinOutcome",
    "PanDescriptor",
    "WiSunDriver",
    "lqi_to_rssi",
    "mac_to_ipv6",
]
