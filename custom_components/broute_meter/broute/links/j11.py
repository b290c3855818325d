"""The Wi-SUN driver for dongles with ROHM's binary J11 firmware.

BP35C0-J11, BP35C2-J11-T01 and RATOC RS-WSUHA-J11 speak J11 UART frames (see
:mod:`.j11_frames` and docs/j11.md) instead of SKSTACK-IP text. :class:`J11Driver`
implements :class:`~.wisun.WiSunDriver`, so the Wi-SUN link's scan/join/repair logic
runs on it unchanged.

How the J11 steps map onto the driver interface:

* ``initialise``: hardware reset (0x00D9, answered by the 0x6019 boot notice), version
  (0x006B), initial settings (0x005F, dual-stack mode), credentials (0x0054). Nothing is
  written to flash. A later ``initialise`` is the repair ladder's module reset.
* ``scan``: active scan (0x0051) with the pairing ID; one 0x4051 per channel, then the
  0x2051 response closes the scan.
* ``join``: initial settings on the PAN's channel, route-B start (0x0053, the module
  finds the meter itself), the ECHONET Lite UDP port (0x0005), PANA (0x0056) and its
  result (0x6028). A re-join on the same PAN only re-runs PANA.
* the module re-authenticates by itself; 0x6028 then reports the outcome, 0x601A a
  lost PANA session.

Channels are kept in SKSTACK numbering (33-60) in :class:`~.wisun.PanDescriptor`, the
form the rest of the library and the config entry use; J11 numbers the same 922.5 MHz
channel 4, so the driver converts at its edge. J11 reports RSSI, the descriptor an LQI;
the driver stores the LQI that maps back to the same RSSI.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import ipaddress
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ..echonet import loggable_payload
from ..errors import (
    BRouteError,
    CommandError,
    DongleError,
    DongleNotRespondingError,
    TransportLostError,
)
from ..transport import (
    DEFAULT_OPEN_TIMEOUT,
    close_port,
    open_port,
    protect_secrets,
    release_secrets,
)
from . import j11_frames as jf
from .skstack import Redactor
from .wisun import (
    ECHONET_PORT,
    DriverEvent,
    JoinOutcome,
    PanDescriptor,
    WiSunLink,
    WiSunTiming,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..transport import PortWriter

_LOGGER = logging.getLogger(__name__)
#: The traffic log (redacted), separate so it can be enabled on its own.
TRAFFIC_LOGGER = logging.getLogger(f"{__name__}.traffic")

#: SKSTACK channel 33 (0x21) and J11 channel 4 are the same 922.5 MHz channel.
CHANNEL_OFFSET = 29
#: J11 dwell per channel is 9.64 ms × 2^duration (ROHM 63TR008E §3.2.3.4, as quoted).
_DWELL_UNIT = 0.00964


def j11_channel(channel: int) -> int | None:
    """The J11 number of a SKSTACK-numbered channel, None outside the J11 band."""
    value = channel - CHANNEL_OFFSET
    return value if 4 <= value <= 17 else None


def rssi_to_lqi(rssi: int) -> int:
    """The LQI whose :func:`~.wisun.lqi_to_rssi` is closest to ``rssi`` (dBm)."""
    return max(0, min(255, round((rssi + 104.27) / 0.275)))


def _ipv6_text(raw: bytes) -> str:
    """16 bytes in the dongle-style expanded, upper-case form."""
    hexed = raw.hex().upper()
    return ":".join(hexed[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True, slots=True)
class J11Timing:
    """How long the driver waits for the module (seconds)."""

    command: float = 5.0
    #: From the 0x00D9 reset to the 0x6019 boot notice.
    boot: float = 10.0
    #: 0x0053: the module looks for the meter before it answers.
    route_b: float = 30.0
    #: 0x0056 to the 0x6028 result (PANA retries inside the module take a while).
    pana: float = 60.0
    #: Added to the scan's own duration before the scan counts as unanswered.
    scan_margin: float = 10.0
    terminate: float = 3.0

    @classmethod
    def fast(cls) -> Self:
        """Short timings for tests against a time-compressed simulator."""
        return cls(command=1.0, boot=2.0, route_b=3.0, pana=5.0, scan_margin=3.0, terminate=1.0)


@dataclass(slots=True)
class _Pending:
    code: int
    future: asyncio.Future[jf.J11Frame]


class J11Driver:
    """One open J11 module (implements :class:`~.wisun.WiSunDriver`)."""

    dialect = "j11"

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: PortWriter,
        *,
        timing: J11Timing | None = None,
    ) -> None:
        """Wrap an open stream; :meth:`start` begins reading."""
        self._reader = reader
        self._writer = writer
        self.timing = timing or J11Timing()
        self.on_event: Callable[[DriverEvent], None] | None = None
        self.on_datagram: Callable[[str, bytes], None] | None = None
        self.on_lost: Callable[[BaseException], None] | None = None
        self._redact = Redactor()
        self._secrets: tuple[str, ...] = ()
        self._splitter = jf.FrameSplitter()
        self._lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._booting: asyncio.Future[None] | None = None
        self._scan: list[jf.Beacon] | None = None
        self._pana: asyncio.Future[JoinOutcome] | None = None
        self._version: jf.Version | None = None
        self._route_b: PanDescriptor | None = None
        self._port_open = False
        self._joined = False
        self._task: asyncio.Task[None] | None = None
        self._lost: BaseException | None = None
        self._closing = False
        self.resets_seen = 0

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
        timing: J11Timing | None = None,
    ) -> Self:
        """Open ``url`` (any serialx URL) and start reading."""
        reader, writer = await open_port(url, open_timeout=open_timeout)
        driver = cls(reader, writer, timing=timing)
        driver.start()
        return driver

    # --- what the Wi-SUN link reads -------------------------------------------------------

    @property
    def firmware(self) -> str | None:
        """Firmware version as ``major.minor.revision``, once read."""
        return None if self._version is None else str(self._version)

    @property
    def joined(self) -> bool:
        """Whether a PANA session is up as far as the module told us."""
        return self._joined

    def diagnostics(self) -> dict[str, Any]:
        """Redacted facts: no address, no credential."""
        version = self._version
        return {
            "dialect": self.dialect,
            "firmware": self.firmware,
            "firmware_id": None if version is None else f"{version.firmware_id:04X}",
            "route_b_started": self._route_b is not None,
            "joined": self._joined,
            "resets_seen": self.resets_seen,
            "reader": self._splitter.stats.as_dict(),
        }

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._read_loop(), name="broute j11 reader"
            )

    async def stop(self) -> None:
        """Stop reading and release the port. Idempotent."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_waiters(TransportLostError("port closed"))
        if not self._writer.is_closing():
            await close_port(self._writer)
        if self._secrets:
            release_secrets(*self._secrets)
            self._secrets = ()

    # --- the WiSunDriver commands ------------------------------------------------------------

    async def initialise(self, rbid: str, password: str) -> None:
        """Reset the module, read its version, set dual-stack mode and the credentials."""
        if len(rbid) != 32 or len(password) != 12:
            raise ValueError("the B-route ID is 32 characters and the password 12")
        if self._secrets != (rbid, password):
            # serialx logs raw reads and writes; the 0x0054 frame carries both in ASCII.
            # (New credentials after a reauthentication replace the old ones.)
            if self._secrets:
                release_secrets(*self._secrets)
            self._secrets = (rbid, password)
            protect_secrets(*self._secrets)
        self._redact.add(rbid, password, rbid.encode("ascii").hex(), password.encode("ascii").hex())
        await self._reset()
        frame = await self._expect_ok(jf.CMD_GET_VERSION)
        try:
            self._version = jf.parse_version(frame.data)
        except jf.J11FrameError:
            _LOGGER.debug("Unreadable version answer from the J11 module")
        # Channel 4 until a join names the meter's (ROHM's note sets it twice, too).
        await self._expect_ok(jf.CMD_INITIAL_SETTINGS, jf.initial_settings_data(4))
        await self._expect_ok(jf.CMD_SET_ROUTE_B_AUTH, jf.route_b_auth_data(rbid, password))

    async def scan(self, duration: int, pair_id: str) -> list[PanDescriptor]:
        """Active scan of channels 4-17 for meters with ``pair_id``; every PAN found."""
        duration = max(1, min(14, duration))
        limit = 14 * _DWELL_UNIT * (1 << duration) * 1.5 + self.timing.scan_margin
        beacons: list[jf.Beacon] = []
        self._scan = beacons  # filled by the 0x4051 notices until the 0x2051 response
        try:
            await self._expect_ok(
                jf.CMD_ACTIVE_SCAN, jf.active_scan_data(duration, pair_id), time_limit=limit
            )
        finally:
            self._scan = None
        found: list[PanDescriptor] = []
        for beacon in beacons:
            try:
                found.append(
                    PanDescriptor(
                        channel=beacon.channel + CHANNEL_OFFSET,
                        pan_id=beacon.pan_id,
                        mac=beacon.mac.hex().upper(),
                        lqi=rssi_to_lqi(beacon.rssi),
                        pair_id=pair_id,  # the module filtered by it
                    )
                )
            except ValueError:
                _LOGGER.debug("Ignoring a beacon on J11 channel %d", beacon.channel)
        return found

    async def join(self, pan: PanDescriptor) -> JoinOutcome:
        """Start route B on ``pan``'s channel (unless it runs there) and run PANA."""
        channel = j11_channel(pan.channel)
        if channel is None:
            _LOGGER.debug("Channel %d is outside the J11 band", pan.channel)
            return JoinOutcome.NO_ANSWER
        self._joined = False
        if self._route_b is not None and not self._route_b.same_meter(pan):
            await self._end_route_b()
        if self._route_b is None:
            outcome = await self._start_route_b(pan, channel)
            if outcome is not None:
                return outcome
        if not self._port_open:
            frame = await self._command(jf.CMD_OPEN_UDP_PORT, ECHONET_PORT.to_bytes(2, "big"))
            if frame.result not in (jf.RESULT_OK, jf.RESULT_ALREADY_OPEN):
                raise _command_error(jf.CMD_OPEN_UDP_PORT, frame)
            self._port_open = True
        return await self._run_pana()

    async def send(self, meter_ipv6: str, payload: bytes) -> bool:
        """One datagram to port 3610; False when the module did not transmit it."""
        dest = ipaddress.IPv6Address(meter_ipv6).packed
        frame = await self._command(jf.CMD_TRANSMIT_DATA, jf.transmit_data(dest, payload))
        try:
            result, sent = jf.transmit_result(frame.data)
        except jf.J11FrameError:
            return False
        if result != jf.RESULT_OK or sent is None or sent & 0x0F:
            # The low nibble is the transmission result (0 sent, 5 no acknowledgement).
            _LOGGER.debug(
                "The J11 module did not send (result %02X, transmission %s)",
                result,
                "-" if sent is None else f"{sent:02X}",
            )
            return False
        return True

    async def check(self) -> None:
        """Ask for the version: a local command, no air time."""
        await self._expect_ok(jf.CMD_GET_VERSION)

    async def terminate(self) -> None:
        """End PANA (0x0057), best effort and bounded."""
        if not self._joined:
            return
        self._joined = False
        with contextlib.suppress(BRouteError):
            await self._command(jf.CMD_END_PANA, time_limit=self.timing.terminate)

    # --- the steps ---------------------------------------------------------------------------

    async def _reset(self) -> None:
        """0x00D9 and wait for the 0x6019 boot notice (the reset has no response)."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._booting = loop.create_future()
            self._forget_session()
            try:
                await self._write(jf.encode_request(jf.CMD_RESET), jf.CMD_RESET, b"")
                try:
                    async with asyncio.timeout(self.timing.boot):
                        await asyncio.shield(self._booting)
                except TimeoutError:
                    raise DongleNotRespondingError("the J11 module did not restart") from None
            finally:
                booting, self._booting = self._booting, None
                if not booting.done():
                    booting.cancel()

    async def _start_route_b(self, pan: PanDescriptor, channel: int) -> JoinOutcome | None:
        """0x005F on the channel, then 0x0053; an outcome when the meter is not there."""
        frame = await self._command(jf.CMD_INITIAL_SETTINGS, jf.initial_settings_data(channel))
        if frame.result != jf.RESULT_OK:
            raise _command_error(jf.CMD_INITIAL_SETTINGS, frame)
        frame = await self._command(jf.CMD_START_ROUTE_B, time_limit=self.timing.route_b)
        if frame.result != jf.RESULT_OK:
            _LOGGER.debug("Route B did not start (result %02X)", frame.result or 0)
            return JoinOutcome.NO_ANSWER
        try:
            found = jf.parse_route_b_started(frame.data)
        except jf.J11FrameError:
            await self._end_route_b()
            return JoinOutcome.NO_ANSWER
        self._route_b = pan
        if found.mac.hex().upper() != pan.mac or found.pan_id != pan.pan_id:
            # The module found a meter with our pairing ID, but not the cached one: the
            # cached PAN is stale. No answer from *it*, so the link rescans.
            _LOGGER.debug("Route B found another PAN than the cached one")
            await self._end_route_b()
            return JoinOutcome.NO_ANSWER
        return None

    async def _end_route_b(self) -> None:
        self._route_b = None
        self._port_open = False
        self._joined = False
        with contextlib.suppress(BRouteError):
            await self._command(jf.CMD_END_ROUTE_B, time_limit=self.timing.terminate)

    async def _run_pana(self) -> JoinOutcome:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[JoinOutcome] = loop.create_future()
        self._pana = waiter
        try:
            frame = await self._command(jf.CMD_START_PANA)
            if frame.result in {jf.RESULT_OK, 0x52}:  # 0x52: already running
                try:
                    async with asyncio.timeout(self.timing.pana):
                        outcome = await asyncio.shield(waiter)
                except TimeoutError:
                    return JoinOutcome.NO_ANSWER
            else:
                _LOGGER.debug("PANA did not start (result %02X)", frame.result or 0)
                self._route_b = None  # e.g. 0x10: route B is not running after all
                self._port_open = False
                return JoinOutcome.NO_ANSWER
        finally:
            self._pana = None
            if not waiter.done():
                waiter.cancel()
        self._joined = outcome is JoinOutcome.JOINED
        return outcome

    # --- commands ------------------------------------------------------------------------------

    async def _command(
        self, code: int, data: bytes = b"", *, time_limit: float | None = None
    ) -> jf.J11Frame:
        """Send one request and return its response (whatever its result)."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            pending = _Pending(code, loop.create_future())
            self._pending = pending
            try:
                await self._write(jf.encode_request(code, data), code, data)
                try:
                    async with asyncio.timeout(time_limit or self.timing.command):
                        frame = await asyncio.shield(pending.future)
                except TimeoutError:
                    raise DongleNotRespondingError(
                        f"J11 command {code:04X} was not answered"
                    ) from None
            finally:
                self._pending = None
                if not pending.future.done():
                    pending.future.cancel()
        if frame.code == jf.RESPONSE_BAD_HEADER:
            raise CommandError(f"J11 {code:04X}", "header rejected")
        if frame.code == jf.RESPONSE_BAD_COMMAND:
            raise CommandError(f"J11 {code:04X}", "unknown command")
        return frame

    async def _expect_ok(
        self, code: int, data: bytes = b"", *, time_limit: float | None = None
    ) -> jf.J11Frame:
        frame = await self._command(code, data, time_limit=time_limit)
        if frame.result != jf.RESULT_OK:
            raise _command_error(code, frame)
        return frame

    async def _write(self, raw: bytes, code: int, data: bytes) -> None:
        if self._lost is not None:
            raise TransportLostError("the port is gone") from self._lost
        self._log(">", code, data)
        try:
            self._writer.write(raw)
            await self._writer.drain()
        except (OSError, RuntimeError, ConnectionError) as exc:
            raise TransportLostError(f"writing to the port failed: {type(exc).__name__}") from exc

    # --- reading --------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                chunk = await self._reader.read(4096)
                if not chunk:
                    raise TransportLostError("the port closed (end of stream)")
                for frame in self._splitter.feed(chunk):
                    self._dispatch(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of the stream ends the driver with it
            lost = (
                exc
                if isinstance(exc, TransportLostError)
                else TransportLostError(f"reading the port failed: {type(exc).__name__}")
            )
            if lost is not exc:
                lost.__cause__ = exc
            self._lost = lost
            self._fail_waiters(lost)
            if not self._closing:
                _LOGGER.debug("J11 stream ended: %s", lost)
                if self.on_lost is not None:
                    self.on_lost(lost)

    def _dispatch(self, frame: jf.J11Frame) -> None:
        self._log("<", frame.code, frame.data)
        pending = self._pending
        if frame.is_response:
            if (
                pending is not None
                and not pending.future.done()
                and (
                    frame.request_code == pending.code
                    or frame.code in (jf.RESPONSE_BAD_HEADER, jf.RESPONSE_BAD_COMMAND)
                )
            ):
                pending.future.set_result(frame)
            else:
                _LOGGER.debug("Ignoring a stray J11 response %04X", frame.code)
            return
        try:
            if frame.code == jf.NOTIFY_RECEIVED:
                self._received(jf.parse_received(frame.data))
            elif frame.code == jf.NOTIFY_SCAN_RESULT:
                if self._scan is not None:
                    self._scan.extend(jf.parse_scan_result(frame.data)[1])
            elif frame.code == jf.NOTIFY_BOOTED:
                self._booted()
            elif frame.code == jf.NOTIFY_PANA_RESULT:
                self._pana_result(jf.parse_pana_result(frame.data)[0])
            elif frame.code == jf.NOTIFY_CONNECTION:
                self._connection(jf.parse_connection(frame.data)[0])
            else:
                _LOGGER.debug("Ignoring J11 notification %04X", frame.code)
        except jf.J11FrameError as exc:
            _LOGGER.debug("Ignoring a malformed J11 notification %04X: %s", frame.code, exc)

    def _received(self, packet: jf.Received) -> None:
        if packet.dest_port != ECHONET_PORT:
            return  # PANA (716) and anything else is the module's business
        if not packet.encrypted:
            _LOGGER.debug("Ignoring an unencrypted datagram on port 3610")
            return
        handler = self.on_datagram
        if handler is None:
            return
        try:
            handler(_ipv6_text(packet.sender), packet.payload)
        except Exception:
            _LOGGER.exception("Datagram handler failed")

    def _booted(self) -> None:
        booting = self._booting
        if booting is not None and not booting.done():
            booting.set_result(None)
            return
        # Not our reset: a power glitch or watchdog. Route B, the port and PANA are gone.
        self.resets_seen += 1
        self._forget_session()
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(DongleError("the J11 module restarted"))
        if self._pana is not None and not self._pana.done():
            self._pana.set_result(JoinOutcome.NO_ANSWER)
        self._emit(DriverEvent.DONGLE_RESET)

    def _pana_result(self, result: int) -> None:
        outcome = {
            jf.PANA_SUCCESS: JoinOutcome.JOINED,
            jf.PANA_FAILED: JoinOutcome.REJECTED,
        }.get(result, JoinOutcome.NO_ANSWER)
        waiter = self._pana
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)
            return
        if not self._joined:
            return
        if outcome is JoinOutcome.JOINED:
            self._emit(DriverEvent.REAUTHENTICATED)
        else:
            self._joined = False
            self._emit(DriverEvent.SESSION_LOST)

    def _connection(self, state: int) -> None:
        if state in (jf.CONNECTION_MAC_DOWN, jf.CONNECTION_PANA_DOWN) and self._joined:
            self._joined = False
            self._emit(DriverEvent.SESSION_LOST)

    # --- helpers ----------------------------------------------------------------------------------

    def _forget_session(self) -> None:
        self._route_b = None
        self._port_open = False
        self._joined = False

    def _emit(self, event: DriverEvent) -> None:
        _LOGGER.debug("J11 event %s", event.name)
        handler = self.on_event
        if handler is None:
            return
        try:
            handler(event)
        except Exception:
            _LOGGER.exception("Driver event handler failed")

    def _fail_waiters(self, exc: BaseException) -> None:
        for future in (
            None if self._pending is None else self._pending.future,
            self._booting,
        ):
            if future is not None and not future.done():
                future.set_exception(exc)
        if self._pana is not None and not self._pana.done():
            self._pana.set_result(JoinOutcome.NO_ANSWER)

    def _log(self, direction: str, code: int, data: bytes) -> None:
        """The single traffic logging point; credentials never reach it raw."""
        if TRAFFIC_LOGGER.isEnabledFor(logging.DEBUG):
            TRAFFIC_LOGGER.debug("%s %04X %s", direction, code, self._redact(describe(code, data)))


def j11_timing(timing: WiSunTiming) -> J11Timing:
    """The driver's waits derived from the link's (``WiSunTiming.fast()`` gives fast ones)."""
    return J11Timing(
        command=timing.command_timeout,
        boot=2 * timing.reset_timeout,
        route_b=max(timing.join_timeout / 2, 3 * timing.command_timeout),
        pana=max(timing.join_timeout, 5 * timing.command_timeout),
        scan_margin=timing.scan_margin + timing.command_timeout,
        terminate=timing.term_timeout,
    )


class J11Drivers:
    """The :class:`~.wisun.DriverFactory` of a J11 link: a started driver per opened port."""

    def __init__(self, timing: J11Timing | None = None) -> None:
        """``timing`` overrides the waits derived from the link's timing."""
        self.timing = timing
        self.last: J11Driver | None = None

    def __call__(
        self, reader: asyncio.StreamReader, writer: PortWriter, *, port: str, timing: WiSunTiming
    ) -> J11Driver:
        """A driver for the freshly opened port, reading at once."""
        driver = J11Driver(reader, writer, timing=self.timing or j11_timing(timing))
        driver.start()
        self.last = driver
        return driver


class J11Link(WiSunLink):
    """A meter behind a dongle with ROHM's J11 firmware.

    The Wi-SUN link's ladder runs over :class:`J11Driver`: a lost session is re-joined
    (PANA again), a rejoin that keeps failing resets the module (``initialise``, 0x00D9)
    and then rescans, a module that restarted by itself is re-initialised.
    """

    kind: ClassVar[str] = "j11"

    def __init__(
        self,
        port: str,
        rbid: str,
        password: str,
        *,
        pan: PanDescriptor | None = None,
        timing: WiSunTiming | None = None,
        driver_timing: J11Timing | None = None,
    ) -> None:
        """Prepare the link; nothing is opened before :meth:`open`."""
        self.drivers = J11Drivers(driver_timing)
        super().__init__(port, rbid, password, driver_factory=self.drivers, pan=pan, timing=timing)

    @property
    def dongle_version(self) -> str | None:
        """The module's firmware version, once read."""
        return None if self.drivers.last is None else self.drivers.last.firmware

    def diagnostics(self) -> dict[str, Any]:
        """The Wi-SUN link's facts, with what the module told even after it closed."""
        return {**super().diagnostics(), "dialect": "j11", "dongle_version": self.dongle_version}


def describe(code: int, data: bytes) -> str:
    """Loggable text of a frame's data part: credentials and pairing ID left out."""
    if code == jf.CMD_SET_ROUTE_B_AUTH and data:
        return f"<B-route ID and password, {len(data)} bytes>"
    # The datagram after its header (27 bytes received, 22 sent): C0 values masked.
    if code == jf.NOTIFY_RECEIVED and len(data) >= 27:
        return f"{data[:27].hex().upper()} {loggable_payload(data[27:])}"
    if code == jf.CMD_TRANSMIT_DATA and len(data) >= 22:
        return f"{data[:22].hex().upper()} {loggable_payload(data[22:])}"
    if code == jf.CMD_ACTIVE_SCAN and len(data) >= 6:
        tail = " pairing ID ********" if data[5] == 1 else ""
        return f"duration {data[0]} mask {data[1:5].hex().upper()}{tail}"
    return data.hex().upper()


def _command_error(code: int, frame: jf.J11Frame) -> CommandError:
    result = frame.result
    if result is None:
        return CommandError(f"J11 {code:04X}", "empty answer")
    text = jf.RESULT_TEXT.get(result, "unknown result")
    return CommandError(f"J11 {code:04X}", f"result {result:02X} ({text})")


__all__ = [
    "CHANNEL_OFFSET",
    "J11Driver",
    "J11Drivers",
    "J11Link",
    "J11Timing",
    "describe",
    "j11_channel",
    "j11_timing",
    "rssi_to_lqi",
]
