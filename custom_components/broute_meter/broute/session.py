"""MeterSession: one B-route link from the dongle to the meter, kept alive by itself.

``connect()`` opens the port, initialises the dongle, finds the meter (cached PAN or
active scan) and joins it with PANA. After that ``get()``/``set()`` exchange ECHONET Lite
frames, one request at a time. Session-lifetime expiry, a meter-side termination, a
dongle reset and a lost port are all repaired in the background; the caller only sees
errors for requests that could not be served meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import enum
import functools
import logging
import re
from typing import TYPE_CHECKING, Any, Self

from .echonet import (
    EOJ,
    ESV,
    LV_METER_EOJ,
    Frame,
    build_get,
    build_infc_res,
    build_setc,
    chunk_epcs,
    decode_frame,
)
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
    PropertyNotAvailableError,
    SessionUnavailableError,
    TransmitLimitError,
    TransportError,
    TransportLostError,
)
from .links.wisun import PanDescriptor, lqi_to_rssi, mac_to_ipv6
from .skstack import (
    ECHONET_PORT,
    EVENT_PANA_FAILED,
    EVENT_PANA_OK,
    EVENT_PEER_TERMINATED,
    EVENT_SESSION_EXPIRED,
    EVENT_TERMINATE_TIMEOUT,
    EVENT_TERMINATED,
    EVENT_TX_LIMIT,
    EVENT_TX_LIMIT_RELEASED,
    Dialect,
    Event,
    SkStack,
    UdpPacket,
)
from .transport import (
    PortWriter,
    close_port,
    describe_port,
    open_port,
    protect_secrets,
    release_secrets,
)

if TYPE_CHECKING:
    from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

_IPV6_RE = re.compile(r"^[0-9A-F]{4}(?::[0-9A-F]{4}){7}$")
_SCAN_CHANNELS = 28


@dataclass(frozen=True, slots=True)
class SessionTiming:
    """Every timeout and delay of a session (seconds). ``fast()`` shrinks them for tests.

    ``request_timeout``: the ECHONET AIF specification lets a meter take up to timer 1
    (≥ 20 s) to answer a one-property request, but field logs show answers within about
    a second and losses that never answer (radio drops). Ten seconds per attempt with
    two retries still waits well over 20 s in total before giving up, and a lost frame
    is re-sent sooner than after a single 20 s wait. A late answer to an earlier attempt
    of the same request is accepted.
    """

    open_timeout: float = 15.0
    command_timeout: float = 5.0
    reset_timeout: float = 5.0
    scan_durations: tuple[int, ...] = (6, 7, 8)
    #: Per-channel dwell unit of SKSCAN (dwell = unit × (2^duration + 1)).
    scan_dwell_unit: float = 0.0096
    scan_margin: float = 10.0
    join_timeout: float = 60.0
    #: Pause before a join is retried to confirm an EVENT 24 (rejection).
    join_confirm_delay: float = 5.0
    request_timeout: float = 10.0
    retries: int = 2
    retry_backoff: float = 1.0
    #: How long after EVENT 29 the dongle may re-authenticate by itself (EVENT 25).
    reauth_grace: float = 15.0
    reconnect_backoff: float = 1.0
    reconnect_backoff_max: float = 60.0
    #: A background rejoin that keeps failing falls back to a scan after this many tries.
    rescan_after_failures: int = 3
    #: Requests that fail in a row before the session is re-joined: a meter that
    #: rebooted has forgotten the PANA session while the dongle still believes in it.
    rejoin_after_timeouts: int = 2
    #: How long a request waits for EVENT 33 after EVENT 32 (ARIB transmit budget).
    transmit_limit_wait: float = 60.0
    #: How long a request waits for a session under repair before giving up.
    recovery_wait: float = 30.0
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
            request_timeout=0.5,
            retries=2,
            retry_backoff=0.02,
            reauth_grace=0.3,
            reconnect_backoff=0.05,
            reconnect_backoff_max=0.4,
            rescan_after_failures=3,
            transmit_limit_wait=2.0,
            recovery_wait=5.0,
            keepalive_interval=None,
            term_timeout=0.5,
            close_timeout=1.0,
        )

    def scan_timeout(self, duration: int) -> float:
        """How long an SKSCAN of all 28 channels may take before EVENT 22."""
        dwell = self.scan_dwell_unit * float((1 << duration) + 1)
        return _SCAN_CHANNELS * dwell + self.scan_margin

    @property
    def request_budget(self) -> float:
        """Total time one request may take with all its retries."""
        attempts = self.retries + 1
        backoffs = sum(self.retry_backoff * i for i in range(1, attempts))
        return attempts * (self.request_timeout + self.command_timeout) + backoffs


class SessionState(enum.StrEnum):
    """Where the session is in its life."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    SCANNING = "scanning"
    JOINING = "joining"
    CONNECTED = "connected"
    REAUTHENTICATING = "reauthenticating"
    RECOVERING = "recovering"
    CLOSED = "closed"


class _Repair(enum.IntEnum):
    """How much of the stack a background recovery rebuilds (escalates upwards)."""

    REJOIN = 1
    REINIT = 2
    REOPEN = 3


class _JoinOutcome(enum.Enum):
    JOINED = enum.auto()
    REJECTED = enum.auto()
    NO_ANSWER = enum.auto()


@dataclass(slots=True)
class SessionStats:
    """Counters for diagnostics."""

    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    rejoins: int = 0
    reconnects: int = 0
    scans: int = 0
    notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict for diagnostics."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "timeouts": self.timeouts,
            "rejoins": self.rejoins,
            "reconnects": self.reconnects,
            "scans": self.scans,
            "notifications": self.notifications,
        }


@dataclass(slots=True)
class _Waiter:
    deoj: EOJ
    esvs: frozenset[int]
    future: asyncio.Future[Frame]
    tids: set[int] = field(default_factory=set)


class MeterSession:
    """A self-healing B-route session with one low-voltage smart meter."""

    def __init__(
        self,
        port: str,
        rbid: str,
        password: str,
        *,
        pan: PanDescriptor | None = None,
        on_notification: Callable[[Frame], None] | None = None,
        on_state_change: Callable[[SessionState], None] | None = None,
        timing: SessionTiming | None = None,
    ) -> None:
        """Prepare a session; nothing is opened before :meth:`connect`."""
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
        self.pan = pan
        self.on_notification = on_notification
        self.on_state_change = on_state_change
        self.timing = timing or SessionTiming()
        self.stats = SessionStats()
        self.dongle_version: str | None = None
        self._state = SessionState.DISCONNECTED
        self._stack: SkStack | None = None
        self._writer: PortWriter | None = None
        self._dialect: Dialect | None = None
        self._binary_payload: bool | None = None
        self._meter_ip: str | None = None
        self._ready = asyncio.Event()
        self._tx_allowed = asyncio.Event()
        self._tx_allowed.set()
        self._request_lock = asyncio.Lock()  # one frame in flight
        self._call_lock = asyncio.Lock()  # one get()/set() call at a time
        self._waiter: _Waiter | None = None
        self._tid = 0
        self._failed_requests = 0
        self._joining = False
        self._joined = False
        self._established = False
        self._closing = False
        self._connect_task: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._repair = _Repair.REJOIN
        self._reauth_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_error: BRouteError | None = None

    def __repr__(self) -> str:
        """Never shows the credentials."""
        return f"<MeterSession {describe_port(self._port)} {self._state}>"

    # --- public properties -------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """Current state."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether requests can be sent right now."""
        return self._state is SessionState.CONNECTED

    @property
    def dialect(self) -> Dialect | None:
        """SKSTACK-IP dialect of the dongle, once known."""
        if self._stack is not None and self._stack.dialect is not None:
            return self._stack.dialect
        return self._dialect

    @property
    def binary_payload(self) -> bool | None:
        """True if the dongle shows ERXUDP data as raw bytes, False for hex text."""
        return self._binary_payload

    @property
    def lqi(self) -> int | None:
        """Link quality of the meter's beacon in the last scan."""
        return None if self.pan is None else self.pan.lqi

    @property
    def port(self) -> str:
        """The port URL."""
        return self._port

    def _set_state(self, state: SessionState) -> None:
        if state is self._state:
            return
        _LOGGER.debug("Session state %s -> %s", self._state, state)
        self._state = state
        if self.on_state_change is not None:
            try:
                self.on_state_change(state)
            except Exception:
                _LOGGER.exception("on_state_change callback failed")

    # --- connect / close -----------------------------------------------------------------

    async def connect(self) -> None:
        """Open the port, initialise the dongle, find and join the meter.

        Raises the transport errors, DongleNotRespondingError, MeterNotFoundError,
        AuthenticationError or JoinError; the port is released on failure.
        """
        if self._state is SessionState.CONNECTED:
            return
        if self._established and not self._closing:
            # Already set up and repairing itself: wait for that instead of a second open.
            try:
                async with asyncio.timeout(self.timing.recovery_wait):
                    await self._ready.wait()
            except TimeoutError:
                raise self._unavailable() from None
            return
        if self._connect_task is not None:
            raise RuntimeError("connect() is already running")
        self._closing = False
        task = asyncio.get_running_loop().create_task(self._establish(), name="broute connect")
        self._connect_task = task
        try:
            await task
        except asyncio.CancelledError:
            await self._teardown()
            if self._state is not SessionState.CLOSED:
                self._set_state(SessionState.DISCONNECTED)
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise SessionUnavailableError("the session was closed while connecting") from None
            raise
        except BaseException:
            await _cancel_and_wait([task])
            await self._teardown()
            if self._state is not SessionState.CLOSED:
                self._set_state(SessionState.DISCONNECTED)
            raise
        finally:
            self._connect_task = None

    async def _establish(self) -> None:
        self._set_state(SessionState.CONNECTING)
        await self._open()
        await self._init_dongle()
        await self._find_and_join()
        self._established = True
        self.last_error = None
        self._on_joined()
        if self.timing.keepalive_interval:
            self._spawn(self._keepalive(self.timing.keepalive_interval))

    async def close(self) -> None:
        """Terminate the PANA session (SKTERM) and release the port. Idempotent."""
        if self._state is SessionState.CLOSED and self._stack is None:
            return
        self._closing = True
        self._ready.clear()
        self._cancel_reauth_timer()
        tasks: list[asyncio.Task[Any]] = [*self._tasks]
        if self._recovery is not None:
            tasks.append(self._recovery)
        if self._connect_task is not None:
            tasks.append(self._connect_task)
        await _cancel_and_wait(tasks)
        self._recovery = None
        stack = self._stack
        if stack is not None and self._joined and stack.lost is None:
            with stack.subscribe() as sub:
                try:
                    await stack.command("SKTERM", time_limit=self.timing.term_timeout)
                    await sub.wait_event(
                        (EVENT_TERMINATED, EVENT_TERMINATE_TIMEOUT), self.timing.term_timeout
                    )
                except (BRouteError, TimeoutError) as exc:
                    _LOGGER.debug("SKTERM: %s", exc)
        self._joined = False
        await self._teardown()
        self._fail_waiter(SessionUnavailableError("the session was closed"))
        self._established = False
        self._set_state(SessionState.CLOSED)

    async def __aenter__(self) -> Self:
        """``async with MeterSession(...) as session:`` connects…"""
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """…and closes."""
        await self.close()

    # --- building blocks -------------------------------------------------------------------

    async def _open(self) -> None:
        reader, writer = await open_port(self._port, open_timeout=self.timing.open_timeout)
        protect_secrets(self._rbid, self._password)
        self._writer = writer
        stack = SkStack(
            reader,
            writer,
            secrets=(self._rbid, self._password),
            on_event=self._on_event,
            on_udp=self._on_udp,
            on_lost=self._on_lost,
            on_reset=self._on_reset,
            command_timeout=self.timing.command_timeout,
            dialect=self._dialect,
        )
        self._stack = stack
        stack.start()

    async def _teardown(self) -> None:
        """Stop reading and release the port."""
        self._ready.clear()
        self._joined = False
        stack, self._stack = self._stack, None
        writer, self._writer = self._writer, None
        if stack is not None:
            if stack.dialect is not None:
                self._dialect = stack.dialect
            await stack.stop()
        if writer is not None:
            await close_port(writer, close_timeout=self.timing.close_timeout)
            release_secrets(self._rbid, self._password)

    def _require_stack(self) -> SkStack:
        if self._stack is None:
            raise TransportLostError("the port is not open")
        return self._stack

    async def _init_dongle(self) -> None:
        """Reset the dongle to a known state and give it the credentials."""
        stack = self._require_stack()
        self._joined = False
        stack.echo = None  # SKRESET switches echo back on; not a sign of a surprise reset
        # A bare line end first: leftover input would otherwise make SKRESET fail.
        await stack.write_raw(b"\r\n")
        for attempt in range(2):
            try:
                await stack.command("SKRESET", time_limit=self.timing.reset_timeout)
                break
            except (CommandError, DongleNotRespondingError) as exc:
                if attempt:
                    raise DongleNotRespondingError(
                        f"the dongle on {describe_port(self._port)} does not answer "
                        "SKSTACK-IP commands"
                    ) from exc
                await stack.write_raw(b"\r\n")
        await stack.command("SKSREG", "SFE", "0")
        stack.echo = False
        try:
            ver = await stack.command("SKVER")
            for line in ver.lines:
                if line.startswith("EVER"):
                    self.dongle_version = line.partition(" ")[2].strip() or None
        except CommandError:
            _LOGGER.debug("SKVER not supported")
        self._binary_payload = await stack.read_payload_mode()
        await stack.command("SKSETPWD", f"{len(self._password):X}", self._password)
        await stack.command("SKSETRBID", self._rbid)

    async def _find_and_join(self) -> None:
        cached = self.pan
        if cached is not None:
            outcome = await self._join(cached)
            if outcome is _JoinOutcome.JOINED:
                return
            _LOGGER.debug("Join with the cached PAN failed (%s); scanning once", outcome.name)
            found = await self._scan()
            rejected_before = outcome is _JoinOutcome.REJECTED and found.same_meter(cached)
            await self._join_confirmed(found, rejected_before=rejected_before)
            return
        await self._join_confirmed(await self._scan(), rejected_before=False)

    async def _join_confirmed(self, pan: PanDescriptor, *, rejected_before: bool) -> None:
        """Join; a rejection counts only once it repeats (a lone EVENT 24 can be a fluke)."""
        outcome = await self._join(pan)
        if outcome is _JoinOutcome.REJECTED and not rejected_before:
            await asyncio.sleep(self.timing.join_confirm_delay)
            outcome = await self._join(pan)
        if outcome is _JoinOutcome.JOINED:
            return
        if outcome is _JoinOutcome.REJECTED:
            raise AuthenticationError(
                "the meter rejected the B-route ID or password (PANA authentication failed)"
            )
        raise JoinError("the meter did not complete PANA authentication in time")

    async def _scan(self) -> PanDescriptor:
        """Active scans with growing duration until the meter with our pairing ID answers."""
        stack = self._require_stack()
        self._set_state(SessionState.SCANNING)
        pair_id = self._rbid[-8:]
        tries = 0
        for duration in self.timing.scan_durations:
            tries += 1
            self.stats.scans += 1
            found = await stack.scan(duration, time_limit=self.timing.scan_timeout(duration))
            mine = [d for d in found if d.pair_id is not None and d.pair_id.upper() == pair_id]
            if len(found) > len(mine):
                _LOGGER.debug("Ignoring %d PAN(s) of other meters", len(found) - len(mine))
            if mine:
                best = max(mine, key=lambda d: d.lqi or 0)
                return PanDescriptor(best.channel, best.pan_id, best.addr, best.lqi, best.pair_id)
            known = self.pan
            if known is not None and any(
                d.addr == known.mac and d.pair_id is not None for d in found
            ):
                # Our meter answers for another B-route ID: the utility reissued it.
                raise AuthenticationError("the meter now answers for another B-route ID")
        raise MeterNotFoundError(f"no meter with this B-route ID answered {tries} scan(s)")

    async def _join(self, pan: PanDescriptor) -> _JoinOutcome:
        """Point the dongle at ``pan`` and run PANA (SKJOIN); wait for EVENT 25 or 24."""
        stack = self._require_stack()
        self._set_state(SessionState.JOINING)
        self._ready.clear()
        self._joined = False
        await stack.command("SKSREG", "S2", f"{pan.channel:02X}")
        await stack.command("SKSREG", "S3", f"{pan.pan_id:04X}")
        ipv6 = pan.ipv6
        try:
            answer = await stack.command("SKLL64", pan.mac, bare_line=True)
            if answer.lines and _IPV6_RE.match(answer.lines[0]):
                if answer.lines[0] != ipv6:
                    _LOGGER.debug("SKLL64 disagrees with the computed address; using SKLL64's")
                ipv6 = answer.lines[0]
        except DongleError as exc:
            _LOGGER.debug("SKLL64 failed (%s); using the computed address", exc)
        self._joining = True
        try:
            with stack.subscribe() as sub:
                await stack.command("SKJOIN", ipv6)
                try:
                    event = await sub.wait_event(
                        (EVENT_PANA_OK, EVENT_PANA_FAILED), self.timing.join_timeout
                    )
                except TimeoutError:
                    return _JoinOutcome.NO_ANSWER
        finally:
            self._joining = False
        if event.num == EVENT_PANA_FAILED:
            return _JoinOutcome.REJECTED
        self._meter_ip = ipv6
        self.pan = pan
        self._joined = True
        return _JoinOutcome.JOINED

    def _on_joined(self) -> None:
        self._tx_allowed.set()
        self._set_state(SessionState.CONNECTED)
        self._ready.set()

    # --- events from the dongle ------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        num = event.num
        if num == EVENT_TX_LIMIT:
            _LOGGER.warning("The dongle reached its radio transmit-time limit; sends paused")
            self._tx_allowed.clear()
        elif num == EVENT_TX_LIMIT_RELEASED:
            _LOGGER.info("The dongle's transmit-time limit was released")
            self._tx_allowed.set()
        if self._joining or self._closing or not self._established:
            return
        if num == EVENT_SESSION_EXPIRED and self._state is SessionState.CONNECTED:
            # The dongle may re-authenticate by itself (S17); pause sends meanwhile.
            self._ready.clear()
            self._set_state(SessionState.REAUTHENTICATING)
            self._cancel_reauth_timer()
            self._reauth_timer = asyncio.get_running_loop().call_later(
                self.timing.reauth_grace, self._reauth_expired
            )
        elif num == EVENT_PANA_OK and self._state is SessionState.REAUTHENTICATING:
            self._cancel_reauth_timer()
            self._on_joined()
        elif num in (EVENT_PEER_TERMINATED, EVENT_PANA_FAILED) and self._recovery is None:
            self._joined = False
            self._start_recovery(_Repair.REJOIN, f"event {num:02X}")
        elif num in (EVENT_TERMINATED, EVENT_TERMINATE_TIMEOUT) and self._recovery is None:
            self._joined = False
            self._start_recovery(_Repair.REJOIN, "session terminated")

    def _reauth_expired(self) -> None:
        self._reauth_timer = None
        if self._state is SessionState.REAUTHENTICATING and not self._closing:
            self._joined = False
            self._start_recovery(_Repair.REJOIN, "session expired without re-authentication")

    def _cancel_reauth_timer(self) -> None:
        if self._reauth_timer is not None:
            self._reauth_timer.cancel()
            self._reauth_timer = None

    def _on_lost(self, exc: BaseException) -> None:
        if self._established and not self._closing:
            self._start_recovery(_Repair.REOPEN, str(exc))

    def _on_reset(self) -> None:
        if self._established and not self._closing and not self._joining:
            self._start_recovery(_Repair.REINIT, "the dongle was reset")

    def _on_udp(self, packet: UdpPacket) -> None:
        if ECHONET_PORT not in (packet.rport, packet.lport):
            return
        try:
            frame = decode_frame(packet.data)
        except EchonetDecodeError as exc:
            _LOGGER.debug("Ignoring an undecodable ECHONET Lite frame: %s", exc)
            return
        waiter = self._waiter
        if (
            waiter is not None
            and frame.tid in waiter.tids
            and frame.esv in waiter.esvs
            and frame.seoj == waiter.deoj
            and (self._meter_ip is None or packet.sender == self._meter_ip)
            and not waiter.future.done()
        ):
            waiter.future.set_result(frame)
            return
        if frame.is_notification():
            self.stats.notifications += 1
            if frame.esv == ESV.INFC and self._meter_ip is not None:
                self._spawn(self._answer_infc(frame))
            if self.on_notification is not None:
                try:
                    self.on_notification(frame)
                except Exception:
                    _LOGGER.exception("on_notification callback failed")
            return
        _LOGGER.debug("Ignoring a stray frame (TID %04X, ESV %02X)", frame.tid, frame.esv)

    async def _answer_infc(self, frame: Frame) -> None:
        stack, ip = self._stack, self._meter_ip
        if stack is None or ip is None or not self._ready.is_set():
            return  # never send while a join is under way (the meter re-sends an INFC)
        try:
            await stack.sendto(ip, build_infc_res(frame))
        except BRouteError as exc:
            _LOGGER.debug("Could not acknowledge an INFC: %s", exc)

    async def _keepalive(self, interval: float) -> None:
        """Check the dongle between requests (SKINFO answers locally, within milliseconds)."""
        while not self._closing:
            await asyncio.sleep(interval)
            stack = self._stack
            if (
                stack is None
                or self._state is not SessionState.CONNECTED
                or self._request_lock.locked()
            ):
                continue  # busy or already under repair: that path notices problems itself
            async with self._request_lock:
                try:
                    await stack.command("SKINFO", time_limit=self.timing.command_timeout)
                except DongleNotRespondingError:
                    self._start_recovery(_Repair.REINIT, "the dongle stopped answering")
                except BRouteError as exc:
                    _LOGGER.debug("Dongle check failed: %s", exc)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- background recovery -----------------------------------------------------------------

    def _start_recovery(self, repair: _Repair, reason: str) -> None:
        self._repair = max(self._repair, repair) if self._recovery is not None else repair
        self._ready.clear()
        self._cancel_reauth_timer()
        if self._recovery is not None or self._closing:
            return
        _LOGGER.info("B-route session interrupted (%s); recovering", reason)
        self._set_state(SessionState.RECOVERING)
        self._recovery = asyncio.get_running_loop().create_task(
            self._recover(), name="broute session recovery"
        )

    async def _recover(self) -> None:
        delay = self.timing.reconnect_backoff
        failures = 0
        rejections = 0
        try:
            while not self._closing:
                repair = self._repair
                try:
                    if repair >= _Repair.REOPEN:
                        await self._teardown()
                        await self._open()
                        self.stats.reconnects += 1
                    if repair >= _Repair.REINIT:
                        await self._init_dongle()
                    self._repair = _Repair.REJOIN
                    pan = self.pan
                    if pan is None or failures >= self.timing.rescan_after_failures:
                        pan = await self._scan()
                        failures = 0
                    self.stats.rejoins += 1
                    outcome = await self._join(pan)
                    if outcome is _JoinOutcome.JOINED:
                        self.last_error = None
                        self._on_joined()
                        _LOGGER.info("B-route session restored")
                        return
                    failures += 1
                    if outcome is _JoinOutcome.REJECTED:
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
                except TransportError as exc:
                    self.last_error = exc
                    self._repair = _Repair.REOPEN
                except DongleError as exc:
                    self.last_error = exc
                    self._repair = max(self._repair, _Repair(min(repair + 1, _Repair.REOPEN)))
                except BRouteError as exc:  # e.g. MeterNotFoundError from a rescan
                    self.last_error = exc
                _LOGGER.debug("Recovery attempt failed: %s; next in %.1f s", self.last_error, delay)
                self._set_state(SessionState.RECOVERING)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.timing.reconnect_backoff_max)
        finally:
            if asyncio.current_task() is self._recovery:
                self._recovery = None

    # --- requests -----------------------------------------------------------------------------

    def _next_tid(self) -> int:
        self._tid = self._tid % 0xFFFF + 1
        return self._tid

    def _unavailable(self) -> BRouteError:
        if isinstance(self.last_error, AuthenticationError):
            return AuthenticationError(str(self.last_error))
        if self._established or self._recovery is not None:
            why = f": {self.last_error}" if self.last_error is not None else ""
            return SessionUnavailableError(f"the B-route session is recovering{why}")
        return SessionUnavailableError("the session is not connected")

    async def _wait_ready(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._closing or self._state is SessionState.CLOSED:
                raise SessionUnavailableError("the session is closed")
            if not self._established and self._recovery is None:
                raise SessionUnavailableError("the session is not connected")
            if not self._ready.is_set():
                try:
                    async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                        await self._ready.wait()
                except TimeoutError:
                    raise self._unavailable() from None
                continue
            if not self._tx_allowed.is_set():
                try:
                    async with asyncio.timeout(
                        min(max(deadline - loop.time(), 0.0), self.timing.transmit_limit_wait)
                    ):
                        await self._tx_allowed.wait()
                except TimeoutError:
                    raise TransmitLimitError(
                        "the dongle's radio transmit-time budget is exhausted"
                    ) from None
                continue
            return

    async def _request(
        self, build: Callable[[int], bytes], deoj: EOJ, esvs: frozenset[int]
    ) -> Frame:
        """Send one request (with retries) and return the matching response frame."""
        loop = asyncio.get_running_loop()
        timing = self.timing
        async with self._request_lock:
            # A request may also wait for a session under repair, within its own budget.
            deadline = loop.time() + timing.request_budget + timing.recovery_wait
            waiter = _Waiter(deoj, esvs, loop.create_future())
            self._waiter = waiter
            self.stats.requests += 1
            try:
                for attempt in range(timing.retries + 1):
                    if attempt:
                        self.stats.retries += 1
                        await asyncio.sleep(timing.retry_backoff * attempt)
                    if waiter.future.done():  # a late answer to an earlier attempt
                        return waiter.future.result()
                    await self._wait_ready(deadline)
                    stack, ip = self._stack, self._meter_ip
                    if stack is None or ip is None:
                        continue
                    tid = self._next_tid()
                    waiter.tids.add(tid)
                    try:
                        sent = await stack.sendto(ip, build(tid))
                    except TransportLostError:
                        continue  # the reader noticed too and started a reconnect
                    except DongleNotRespondingError:
                        self._start_recovery(_Repair.REINIT, "the dongle stopped answering")
                        continue
                    except CommandError as exc:
                        self._start_recovery(_Repair.REJOIN, f"SKSENDTO failed with {exc.code}")
                        continue
                    if not sent:
                        _LOGGER.debug("The dongle could not send the request (EVENT 21 01)")
                        continue
                    try:
                        async with asyncio.timeout(
                            min(timing.request_timeout, max(deadline - loop.time(), 0.0))
                        ):
                            frame = await asyncio.shield(waiter.future)
                        self._failed_requests = 0
                        return frame
                    except TimeoutError:
                        self.stats.timeouts += 1
                        _LOGGER.debug("No answer to TID %04X", tid)
                if waiter.future.done():
                    return waiter.future.result()
                self._failed_requests += 1
                if self._failed_requests >= timing.rejoin_after_timeouts:
                    self._failed_requests = 0
                    self._start_recovery(_Repair.REJOIN, "the meter stopped answering")
                raise MeterTimeoutError("the meter did not answer the request")
            finally:
                self._waiter = None
                if not waiter.future.done():
                    waiter.future.cancel()

    def _fail_waiter(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.future.done():
            waiter.future.set_exception(exc)

    async def get(self, *epcs: int, eoj: EOJ = LV_METER_EOJ) -> dict[int, bytes]:
        """Read properties; returns EDT by EPC for those the meter returned.

        Long lists are split into requests of at most six EPCs (what meters promise to
        handle). A Get_SNA still yields the properties that did come back.
        """
        if not epcs:
            return {}
        result: dict[int, bytes] = {}
        esvs = frozenset({ESV.GET_RES, ESV.GET_SNA})
        # The frames of one call go out back to back: another caller's request (e.g. the
        # history job's) waits for the whole call instead of splitting it.
        async with self._call_lock:
            for chunk in chunk_epcs(epcs):
                frame = await self._request(functools.partial(_build_get, chunk, eoj), eoj, esvs)
                result.update(frame.values())
        return result

    async def set(self, epc: int, edt: bytes, eoj: EOJ = LV_METER_EOJ) -> None:
        """Write one property with SetC; PropertyNotAvailableError if the meter refuses."""
        esvs = frozenset({ESV.SET_RES, ESV.SETC_SNA})
        async with self._call_lock:
            frame = await self._request(lambda tid: build_setc(tid, [(epc, edt)], eoj), eoj, esvs)
        if frame.esv == ESV.SETC_SNA:
            raise PropertyNotAvailableError(f"the meter refused to set EPC 0x{epc:02X}")


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


def _build_get(epcs: tuple[int, ...], eoj: EOJ, tid: int) -> bytes:
    return build_get(tid, epcs, eoj)


__all__ = [
    "MeterSession",
    "PanDescriptor",
    "SessionState",
    "SessionStats",
    "SessionTiming",
    "lqi_to_rssi",
    "mac_to_ipv6",
]
