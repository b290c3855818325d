"""What every Wi-SUN dongle link shares, whatever the dongle's firmware speaks.

A Wi-SUN link finds the meter (an active scan for the PAN whose pairing ID is the last
eight characters of the B-route ID, or the cached :class:`PanDescriptor`), joins it with
PANA and keeps that session alive. The firmware-specific part (SKSTACK-IP text, ROHM J11
binary) is a :class:`WiSunDriver`; the scan/join/repair logic is written once above it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import enum
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from ..errors import (
    AuthenticationError,
    BRouteError,
    CommandError,
    DongleError,
    DongleNotRespondingError,
    JoinError,
    MeterNotFoundError,
    SessionUnavailableError,
    TransportError,
    TransportLostError,
)
from ..link import HoldReason, Link, LinkState
from ..transport import describe_port, open_port

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..transport import PortWriter

_LOGGER = logging.getLogger(__name__)

_MAC_RE = re.compile(r"^[0-9A-Fa-f]{16}$")
_SCAN_CHANNELS = 28

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


class DriverFactory(Protocol):
    """Makes the driver of a freshly opened port (once per open, reopen included).

    A factory may remember what the previous driver learnt (e.g. the SKSTACK dialect).
    """

    def __call__(
        self, reader: asyncio.StreamReader, writer: PortWriter, *, port: str, timing: WiSunTiming
    ) -> WiSunDriver:
        """Wrap the open port; the driver starts reading at once."""


@dataclass(frozen=True, slots=True)
class WiSunTiming:
    """Every timeout and delay of a Wi-SUN link (seconds). ``fast()`` shrinks them for tests."""

    open_timeout: float = 15.0
    command_timeout: float = 5.0
    reset_timeout: float = 5.0
    scan_durations: tuple[int, ...] = (6, 7, 8)
    #: Per-channel dwell unit of an active scan (dwell = unit x (2^duration + 1)).
    scan_dwell_unit: float = 0.0096
    scan_margin: float = 10.0
    join_timeout: float = 60.0
    #: Pause before a join is retried to confirm a rejection (a lone one may be a fluke).
    join_confirm_delay: float = 5.0
    #: How long after a session expiry (EVENT 29) the dongle may re-authenticate by
    #: itself before the session counts as lost and is re-joined. A re-authentication is
    #: one PANA exchange, no longer than a join's (about 3 s), plus one retransmitted
    #: message (PANA retries after about 1 s); a failed one says so (EVENT 24).
    reauth_grace: float = 5.0
    #: Backoff of the repair steps that cost air time (scans, joins the meter refuses).
    reconnect_backoff: float = 1.0
    reconnect_backoff_max: float = 60.0
    #: After the meter stopped answering requests (it is most likely restarting), a
    #: join it refuses or leaves unanswered is tried again this long after it ended,
    #: with no escalation (no rescan, no refusal counted against the credentials) ...
    meter_return_interval: float = 2.0
    #: ... for this long after the loss; then the backoff and escalation above apply.
    #: A join to a silent meter ends after its own PANA retries (about 6 s with the
    #: simulator's model), so this is one join every ~8 s, at most ~15 in the window.
    meter_return_window: float = 120.0
    #: While the port is gone (unplugged dongle, lost socket), how often it is tried
    #: again: a stat of a device path or a TCP connect, no radio time, so no backoff.
    port_poll_interval: float = 2.0
    #: A background rejoin that keeps failing falls back to a scan after this many tries;
    #: the try before the scan resets the dongle first (re-PANA, reset, rescan).
    rescan_after_failures: int = 3
    #: Between requests, how often the dongle itself (not the meter: no air time) is
    #: asked whether it is still there; None turns the check off. A dongle that
    #: restarted silently is then repaired before the next poll instead of by it.
    keepalive_interval: float | None = 10.0
    term_timeout: float = 5.0
    close_timeout: float = 5.0

    @classmethod
    def fast(cls) -> Self:
        """Short timings for tests against a time-compressed simulator."""
        return cls(
            open_timeout=5.0,
            command_timeout=1.0,
            reset_timeout=1.0,
            scan_dwell_unit=0.0096 * 0.01,
            scan_margin=2.0,
            join_timeout=2.0,
            join_confirm_delay=0.05,
            reauth_grace=0.3,
            reconnect_backoff=0.05,
            reconnect_backoff_max=0.4,
            meter_return_interval=0.05,
            meter_return_window=2.0,
            port_poll_interval=0.1,
            rescan_after_failures=3,
            keepalive_interval=None,
            term_timeout=0.5,
            close_timeout=1.0,
        )

    def scan_timeout(self, duration: int) -> float:
        """How long an active scan of all 28 channels may take."""
        dwell = self.scan_dwell_unit * float((1 << duration) + 1)
        return _SCAN_CHANNELS * dwell + self.scan_margin


@dataclass(slots=True)
class WiSunStats:
    """Counters for diagnostics."""

    rejoins: int = 0
    reconnects: int = 0
    scans: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict for diagnostics."""
        return {"rejoins": self.rejoins, "reconnects": self.reconnects, "scans": self.scans}


class _Repair(enum.IntEnum):
    """How much of the stack a background repair rebuilds (escalates upwards)."""

    REJOIN = 1
    REINIT = 2
    REOPEN = 3


class WiSunLink(Link):
    """One meter over a Wi-SUN dongle: find it, join it, keep the session alive.

    The scan/join/repair ladder is written once here over any :class:`WiSunDriver`:
    a lost PANA session is re-joined, a dongle that restarted is re-initialised, a lost
    port is re-opened; a rejoin that keeps failing rescans; a join rejection counts only
    once it repeats; a session expiry is a hold while the dongle re-authenticates.
    """

    kind: ClassVar[str] = "wisun"
    #: One request unanswered after all its retries (three attempts, 30 s with the
    #: shipped timings) is a rebooted meter until proven otherwise: a dropped frame is
    #: absorbed by a retry, and a rejoin by mistake costs one join of air time while the
    #: poll has already failed (see docs/reliability.md).
    unresponsive_after: ClassVar[int | None] = 1

    def __init__(
        self,
        port: str,
        rbid: str,
        password: str,
        *,
        driver_factory: DriverFactory,
        pan: PanDescriptor | None = None,
        timing: WiSunTiming | None = None,
    ) -> None:
        """Prepare the link; nothing is opened before :meth:`open`."""
        super().__init__()
        rbid = rbid.strip()
        password = password.strip()
        # ASCII only (str.isalnum() also accepts full-width digits), and no blank or
        # control character: a CR/LF would end the dongle command and start another.
        if len(rbid) != 32 or not (rbid.isascii() and rbid.isalnum()):
            raise ValueError("the B-route ID must be 32 letters or digits")
        if not 1 <= len(password) <= 32 or not all("!" <= char <= "~" for char in password):
            raise ValueError("the B-route password must be 1-32 printable characters")
        self._port = port
        self._rbid = rbid.upper()
        self._password = password
        self._factory = driver_factory
        self.pan = pan
        self.timing = timing or WiSunTiming()
        self.stats = WiSunStats()
        #: Whether the client has a request in flight (the keepalive then stays quiet).
        self.is_busy: Callable[[], bool] = lambda: False
        self.last_error: BRouteError | None = None
        self._driver: WiSunDriver | None = None
        self._meter_ip: str | None = None
        self._joining = False
        self._joined = False
        self._established = False
        self._closing = False
        self._tx_limited = False
        self._connect_task: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._repair = _Repair.REJOIN
        #: Loop time at which the meter stopped answering requests (None otherwise):
        #: joins are then retried at a short interval while it restarts.
        self._meter_silent_since: float | None = None
        self._reauth_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        """Never shows the credentials."""
        return f"<{type(self).__name__} {describe_port(self._port)} {self.status.state}>"

    @property
    def port(self) -> str:
        """The port URL."""
        return self._port

    @property
    def driver(self) -> WiSunDriver | None:
        """The open dongle, if any."""
        return self._driver

    @property
    def rssi(self) -> float | None:
        """Approximate signal strength of the meter in the last scan (dBm)."""
        return None if self.pan is None else self.pan.rssi

    # --- open / close ------------------------------------------------------------------

    async def open(self) -> None:
        """Open the port, initialise the dongle, find and join the meter.

        Raises the transport errors, DongleNotRespondingError, MeterNotFoundError,
        AuthenticationError or JoinError; the port is released on failure.
        """
        if self._established and not self._closing:
            return  # up, or repairing itself in the background
        if self._connect_task is not None:
            raise RuntimeError("open() is already running")
        self._closing = False
        task = asyncio.get_running_loop().create_task(self._establish(), name="broute connect")
        self._connect_task = task
        try:
            await task
        except asyncio.CancelledError:
            await self._teardown()
            self._set_status(LinkState.DOWN, "cancelled while connecting")
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise SessionUnavailableError("the link was closed while connecting") from None
            raise
        except BaseException as exc:
            await _cancel_and_wait([task])
            await self._teardown()
            error = exc if isinstance(exc, BRouteError) else None
            self._set_status(LinkState.DOWN, "connecting failed", error=error)
            raise
        finally:
            self._connect_task = None

    async def _establish(self) -> None:
        self._set_status(LinkState.CONNECTING)
        await self._open_driver()
        await self._require_driver().initialise(self._rbid, self._password)
        await self._find_and_join()
        self._established = True
        self.last_error = None
        self._on_joined()
        if self.timing.keepalive_interval:
            self._spawn(self._keepalive(self.timing.keepalive_interval))

    async def close(self) -> None:
        """End the PANA session politely and release the port. Idempotent."""
        if self.status.state is LinkState.DOWN and self._driver is None:
            return
        self._closing = True
        self._cancel_reauth_timer()
        tasks: list[asyncio.Task[Any]] = [*self._tasks]
        if self._recovery is not None:
            tasks.append(self._recovery)
        if self._connect_task is not None:
            tasks.append(self._connect_task)
        await _cancel_and_wait(tasks)
        self._recovery = None
        driver = self._driver
        if driver is not None and self._joined:
            await driver.terminate()
        await self._teardown()
        self._established = False
        self._set_status(LinkState.DOWN, "closed")

    # --- building blocks -----------------------------------------------------------------

    async def _open_driver(self) -> None:
        reader, writer = await open_port(self._port, open_timeout=self.timing.open_timeout)
        driver = self._factory(reader, writer, port=self._port, timing=self.timing)
        driver.on_event = self._on_event
        driver.on_datagram = self._on_datagram
        driver.on_lost = self._on_lost
        self._driver = driver

    async def _teardown(self) -> None:
        """Stop reading and release the port."""
        self._joined = False
        driver, self._driver = self._driver, None
        if driver is not None:
            await driver.stop()

    def _require_driver(self) -> WiSunDriver:
        if self._driver is None:
            raise TransportLostError("the port is not open")
        return self._driver

    async def _find_and_join(self) -> None:
        cached = self.pan
        if cached is not None:
            outcome = await self._join(cached)
            if outcome is JoinOutcome.JOINED:
                return
            _LOGGER.debug("Join with the cached PAN failed (%s); scanning once", outcome.name)
            found = await self._scan()
            rejected_before = outcome is JoinOutcome.REJECTED and found.same_meter(cached)
            await self._join_confirmed(found, rejected_before=rejected_before)
            return
        await self._join_confirmed(await self._scan(), rejected_before=False)

    async def _join_confirmed(self, pan: PanDescriptor, *, rejected_before: bool) -> None:
        """Join; a rejection counts only once it repeats (a lone one can be a fluke)."""
        outcome = await self._join(pan)
        if outcome is JoinOutcome.REJECTED and not rejected_before:
            await asyncio.sleep(self.timing.join_confirm_delay)
            outcome = await self._join(pan)
        if outcome is JoinOutcome.JOINED:
            return
        if outcome is JoinOutcome.REJECTED:
            raise AuthenticationError(
                "the meter rejected the B-route ID or password (PANA authentication failed)"
            )
        raise JoinError("the meter did not complete PANA authentication in time")

    async def _scan(self) -> PanDescriptor:
        """Active scans with growing duration until the meter with our pairing ID answers."""
        driver = self._require_driver()
        pair_id = self._rbid[-8:]
        tries = 0
        for duration in self.timing.scan_durations:
            tries += 1
            self.stats.scans += 1
            found = await driver.scan(duration, pair_id)
            mine = [d for d in found if d.pair_id is not None and d.pair_id.upper() == pair_id]
            if len(found) > len(mine):
                _LOGGER.debug("Ignoring %d PAN(s) of other meters", len(found) - len(mine))
            if mine:
                return max(mine, key=lambda d: d.lqi or 0)
            known = self.pan
            if known is not None and any(
                d.mac == known.mac and d.pair_id is not None for d in found
            ):
                # Our meter answers for another B-route ID: the utility reissued it.
                raise AuthenticationError("the meter now answers for another B-route ID")
        raise MeterNotFoundError(f"no meter with this B-route ID answered {tries} scan(s)")

    async def _join(self, pan: PanDescriptor) -> JoinOutcome:
        driver = self._require_driver()
        self._joined = False
        self._joining = True
        try:
            outcome = await driver.join(pan)
        finally:
            self._joining = False
        if outcome is JoinOutcome.JOINED:
            self._meter_ip = pan.ipv6
            self.pan = pan
            self._joined = True
        return outcome

    def _on_joined(self) -> None:
        if self._tx_limited:
            self._set_status(LinkState.HELD, "transmit-time limit", hold=HoldReason.TRANSMIT_LIMIT)
        else:
            self._set_status(LinkState.UP)

    # --- what the dongle reports ---------------------------------------------------------

    def _on_event(self, event: DriverEvent) -> None:
        status = self.status
        if event is DriverEvent.TX_LIMIT:
            _LOGGER.warning("The dongle reached its radio transmit-time limit; sends paused")
            self._tx_limited = True
            if status.state is LinkState.UP:
                self._set_status(
                    LinkState.HELD, "transmit-time limit", hold=HoldReason.TRANSMIT_LIMIT
                )
            return
        if event is DriverEvent.TX_LIMIT_RELEASED:
            _LOGGER.info("The dongle's transmit-time limit was released")
            self._tx_limited = False
            if status.hold is HoldReason.TRANSMIT_LIMIT:
                self._set_status(LinkState.UP)
            return
        if self._joining or self._closing or not self._established:
            return
        if event is DriverEvent.SESSION_EXPIRED and status.state in (
            LinkState.UP,
            LinkState.HELD,
        ):
            if status.hold is HoldReason.REAUTHENTICATING:
                return
            # The dongle may re-authenticate by itself; sends wait for it meanwhile.
            self._set_status(LinkState.HELD, "re-authenticating", hold=HoldReason.REAUTHENTICATING)
            self._cancel_reauth_timer()
            self._reauth_timer = asyncio.get_running_loop().call_later(
                self.timing.reauth_grace, self._reauth_expired
            )
        elif event is DriverEvent.REAUTHENTICATED and status.hold is HoldReason.REAUTHENTICATING:
            self._cancel_reauth_timer()
            self._on_joined()
        elif event is DriverEvent.SESSION_LOST and self._recovery is None:
            self._joined = False
            self._start_recovery(_Repair.REJOIN, "the PANA session was lost")
        elif event is DriverEvent.TERMINATED and self._recovery is None:
            self._joined = False
            self._start_recovery(_Repair.REJOIN, "session terminated")
        elif event is DriverEvent.DONGLE_RESET:  # never during a join (checked above)
            self._start_recovery(_Repair.REINIT, "the dongle was reset")

    def _reauth_expired(self) -> None:
        self._reauth_timer = None
        if self.status.hold is HoldReason.REAUTHENTICATING and not self._closing:
            self._joined = False
            self._start_recovery(_Repair.REJOIN, "session expired without re-authentication")

    def _cancel_reauth_timer(self) -> None:
        if self._reauth_timer is not None:
            self._reauth_timer.cancel()
            self._reauth_timer = None

    def _on_lost(self, exc: BaseException) -> None:
        if self._established and not self._closing:
            self._start_recovery(_Repair.REOPEN, str(exc))

    def _on_datagram(self, sender: str, payload: bytes) -> None:
        if self._meter_ip is None or sender.upper() != self._meter_ip:
            _LOGGER.debug("Ignoring a datagram from another node")
            return
        self._deliver(payload)

    # --- sending -------------------------------------------------------------------------

    async def _send(self, payload: bytes) -> bool:
        driver, ip = self._driver, self._meter_ip
        if driver is None or ip is None:
            return False
        try:
            return await driver.send(ip, payload)
        except TransportLostError:
            return False  # the reader noticed too and starts a reopen
        except DongleNotRespondingError:
            # A send can miss its deadline on a starved machine; a dongle that still
            # answers a local command is alive, and the request is simply retried.
            try:
                await driver.check()
            except DongleNotRespondingError:
                self._start_recovery(_Repair.REINIT, "the dongle stopped answering")
            except BRouteError as exc:
                _LOGGER.debug("Dongle check after a failed send: %s", exc)
            return False
        except CommandError as exc:
            self._start_recovery(_Repair.REJOIN, f"sending failed with {exc.code}")
            return False

    def report_unresponsive(self) -> None:
        """A meter that rebooted has forgotten the session the dongle still believes in."""
        self._start_recovery(_Repair.REJOIN, "the meter stopped answering", meter_silent=True)

    def _meter_restarting(self) -> bool:
        """Whether a failed join is still likely a meter that is restarting."""
        since = self._meter_silent_since
        return (
            since is not None
            and asyncio.get_running_loop().time() - since < self.timing.meter_return_window
        )

    def unavailable_error(self) -> BRouteError:
        """What a request meets while the link is not up.

        A rejected join is the user's to fix (AuthenticationError); anything else the
        repair may still get over, so it stays a SessionUnavailableError.
        """
        if isinstance(self.last_error, AuthenticationError):
            return AuthenticationError(str(self.last_error))
        status = self.status
        if status.state is LinkState.HELD:
            return SessionUnavailableError(f"the B-route link is held: {status.reason}")
        if self._established or self._recovery is not None:
            why = f": {self.last_error}" if self.last_error is not None else ""
            return SessionUnavailableError(f"the B-route link is repairing{why}")
        return SessionUnavailableError("the B-route link is not connected")

    async def _keepalive(self, interval: float) -> None:
        """Check the dongle between requests (a local command, answered within ms)."""
        while not self._closing:
            await asyncio.sleep(interval)
            driver = self._driver
            if driver is None or not self.status.up or self.is_busy():
                continue  # busy or already under repair: that path notices problems itself
            try:
                await driver.check()
            except DongleNotRespondingError:
                self._start_recovery(_Repair.REINIT, "the dongle stopped answering")
            except BRouteError as exc:
                _LOGGER.debug("Dongle check failed: %s", exc)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- background repair ---------------------------------------------------------------

    def _start_recovery(self, repair: _Repair, reason: str, *, meter_silent: bool = False) -> None:
        if not self._established or self._closing:
            return
        self._repair = max(self._repair, repair) if self._recovery is not None else repair
        self._cancel_reauth_timer()
        if self._recovery is not None:
            return
        self._meter_silent_since = asyncio.get_running_loop().time() if meter_silent else None
        _LOGGER.info("B-route link interrupted (%s); repairing", reason)
        self._set_status(LinkState.REPAIRING, reason, error=self.last_error)
        self._recovery = asyncio.get_running_loop().create_task(
            self._recover(), name="broute link repair"
        )

    async def _recover(self) -> None:
        delay = self.timing.reconnect_backoff
        failures = 0
        rejections = 0
        reinitialised = False
        try:
            while not self._closing:
                repair = self._repair
                port_gone = False
                try:
                    if repair >= _Repair.REOPEN:
                        await self._teardown()
                        await self._open_driver()
                        self.stats.reconnects += 1
                    if repair >= _Repair.REINIT:
                        await self._require_driver().initialise(self._rbid, self._password)
                    self._repair = _Repair.REJOIN
                    pan = self.pan
                    if pan is None or failures >= self.timing.rescan_after_failures:
                        pan = await self._scan()
                        failures = 0
                    self.stats.rejoins += 1
                    outcome = await self._join(pan)
                    if outcome is JoinOutcome.JOINED:
                        self.last_error = None
                        self._meter_silent_since = None
                        self._on_joined()
                        _LOGGER.info("B-route link restored")
                        return
                    if self._meter_restarting() and self._repair is _Repair.REJOIN:
                        # A restarting meter refuses or ignores PANA (SKSTACK says
                        # EVENT 24 either way) until it is back: try the cached PAN
                        # again soon, without rescanning or blaming the credentials.
                        # Giving the dongle its credentials again once is local.
                        reinitialised = reinitialised or repair >= _Repair.REINIT
                        if outcome is JoinOutcome.REJECTED and not reinitialised:
                            self._repair = _Repair.REINIT
                        self.last_error = JoinError(
                            "the meter does not complete PANA (it may be restarting)"
                        )
                        _LOGGER.debug(
                            "Join failed (%s) while the meter may be restarting; next in %.1f s",
                            outcome.name,
                            self.timing.meter_return_interval,
                        )
                        self._set_status(
                            LinkState.REPAIRING, "repair attempt failed", error=self.last_error
                        )
                        await asyncio.sleep(self.timing.meter_return_interval)
                        continue
                    failures += 1
                    if outcome is JoinOutcome.REJECTED:
                        if repair < _Repair.REINIT:
                            # A dongle that restarted has forgotten the credentials too:
                            # give them again before blaming them.
                            self._repair = _Repair.REINIT
                        else:
                            rejections += 1
                        if rejections >= 2:
                            self.last_error = AuthenticationError(
                                "the meter rejects the B-route ID or password"
                            )
                    else:
                        rejections = 0
                        self.last_error = JoinError("the meter does not answer PANA")
                        if failures == max(1, self.timing.rescan_after_failures - 1):
                            # PANA can stay stuck in the dongle until it is reset (seen
                            # on J11 modules for days): reset it before rescanning.
                            self._repair = max(self._repair, _Repair.REINIT)
                except TransportError as exc:
                    self.last_error = exc
                    self._repair = _Repair.REOPEN
                    port_gone = True
                except DongleError as exc:
                    self.last_error = exc
                    self._repair = max(self._repair, _Repair(min(repair + 1, _Repair.REOPEN)))
                except BRouteError as exc:  # e.g. MeterNotFoundError from a rescan
                    self.last_error = exc
                _LOGGER.debug("Repair attempt failed: %s; next in %.1f s", self.last_error, delay)
                self._set_status(
                    LinkState.REPAIRING, "repair attempt failed", error=self.last_error
                )
                if port_gone:
                    # Notice a dongle that comes back within the poll interval however
                    # long it was gone; the air-time backoff is kept for later rungs.
                    await asyncio.sleep(min(delay, self.timing.port_poll_interval))
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.timing.reconnect_backoff_max)
        finally:
            if asyncio.current_task() is self._recovery:
                self._recovery = None

    def diagnostics(self) -> dict[str, Any]:
        """Redacted facts: state, dongle, where the meter is (no credential, no port)."""
        driver = self._driver
        return {
            **super().diagnostics(),
            "hold": None if self.status.hold is None else str(self.status.hold),
            "dongle": None if driver is None else driver.diagnostics(),
            "pan": None if self.pan is None else self.pan.as_dict(),
            "stats": self.stats.as_dict(),
            "last_error": repr(self.last_error) if self.last_error else None,
        }


async def _cancel_and_wait(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel tasks and wait for them, without swallowing our own cancellation."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: the failure was already handled or logged


__all__ = [
    "ECHONET_PORT",
    "DriverEvent",
    "DriverFactory",
    "JoinOutcome",
    "PanDescriptor",
    "WiSunDriver",
    "WiSunLink",
    "WiSunStats",
    "WiSunTiming",
    "lqi_to_rssi",
    "mac_to_ipv6",
]
