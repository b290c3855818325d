"""The Simulator: dongle + meter behind a socket or a pty."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
import logging
import os
from pathlib import Path
import tempfile
import tty
from typing import TYPE_CHECKING, Any, Self

from .dongle import Dongle, DongleModel, DongleState, decode_or_none
from .faults import Faults
from .j11 import J11Dongle
from .meter import MeterConfig, SimulatedMeter
from .pan import Pan
from .stats import Stats
from .timing import Clock, ManualClock, RealClock, TimingModel, half_hour_floor, next_half_hour

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import TracebackType

_LOGGER = logging.getLogger(__name__)

TEST_RBID = "00112233445566778899AABBCCDD1234"
TEST_PASSWORD = "0123456789AB"
_MAX_PENDING = 1 << 16


class _Client(asyncio.Protocol):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sim._client_connected(self)

    def data_received(self, data: bytes) -> None:
        if self.sim._client is self:
            self.sim.engine.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sim._client is self:
            self.sim._client = None


class Simulator:
    """A Wi-SUN dongle of the given model talking to one simulated smart meter."""

    def __init__(  # noqa: PLR0917 - the documented constructor takes these positionally
        self,
        model: DongleModel = DongleModel.BP35C2,
        meter: MeterConfig | None = None,
        rbid: str = TEST_RBID,
        password: str = TEST_PASSWORD,
        timing: TimingModel | None = None,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        dongle_mac: str = "001D129000000001",
    ) -> None:
        self.model = DongleModel(model)
        self.config = meter if meter is not None else MeterConfig()
        self.rbid = rbid
        self.password = password
        self.timing = timing if timing is not None else TimingModel.fast()
        self.clock: Clock = clock if clock is not None else RealClock()
        self.meter = SimulatedMeter(self.config, self.clock)
        self.stats = Stats()
        self.engine: Dongle | J11Dongle = (
            J11Dongle(self, self.model, dongle_mac)
            if self.model.j11
            else Dongle(self, self.model, dongle_mac)
        )
        self.faults = Faults(self, seed)
        self.pans: list[Pan] = [
            Pan(
                self.config.channel,
                self.config.pan_id,
                self.config.mac,
                self.config.lqi,
                rbid[-8:],
                self.config.min_scan_duration,
                True,
                self,
            )
        ]
        self.url: str | None = None
        self.path: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._meter_session = False
        self._meter_down_until = 0.0
        self._server: asyncio.Server | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._client: _Client | None = None
        self._refusing = False
        self._pty_master: int | None = None
        self._pty_slave: int | None = None
        self._pty_dir: str | None = None
        self._pty_pending = bytearray()
        self._remove_listener: Any = None
        self._started = False
        self.stopping = False  # set by stop(): no new tasks or timers from then on

    # --- public surface --------------------------------------------------------------------

    @property
    def dongle(self) -> DongleState:
        return self.engine.state

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start_socket(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._begin()
        self._host = host
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Client(self), host, port
        )
        sock = self._server.sockets[0]
        self._port = sock.getsockname()[1]
        self.url = f"socket://{host}:{self._port}"
        return self.url

    async def start_pty(self) -> str:
        self._begin()
        self._pty_dir = tempfile.mkdtemp(prefix="broute-sim-")
        self.path = str(Path(self._pty_dir) / "ttyWiSUN")
        self._open_pty()
        return self.path

    async def stop(self) -> None:
        self.stopping = True
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        # Cut the host link before stopping the engine: bytes arriving meanwhile would
        # start new commands (and session-lifetime timers) that outlive the simulator.
        await self._close_socket()
        self._close_pty()
        await self.engine.cancel_all()
        if self._pty_dir is not None:
            # No rmtree: Home Assistant's loop protection flags directory scans.
            for name in ("ttyWiSUN", "ttyWiSUN.new"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self._pty_dir, name))
            with contextlib.suppress(OSError):
                os.rmdir(self._pty_dir)
            self._pty_dir = None
        self._started = False

    # --- what faults act through --------------------------------------------------------

    @property
    def on_pty(self) -> bool:
        """Whether the host reaches the dongle through a pty (a USB unplug also resets it)."""
        return self._pty_master is not None

    async def unplug(self) -> tuple[bool, bool]:
        """Cut the host link; returns whether a socket server and a pty were open."""
        had_server, had_pty = self._server is not None, self._pty_master is not None
        if had_server:
            await self._close_socket()
        if had_pty:
            self._close_pty()
        return had_server, had_pty

    async def replug(self, *, server: bool, pty: bool) -> None:
        """Open the host link again: the same socket address, a new pty behind the symlink."""
        if server:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: _Client(self), self._host, self._port
            )
        if pty:
            self._open_pty()

    def meter_offline(self, seconds: float) -> None:
        """The meter is silent for ``seconds``; its session and TIDs are forgotten."""
        self._meter_down_until = asyncio.get_running_loop().time() + seconds
        self.meter_session_lost()
        self.meter.reset_state()

    # --- lifecycle helpers ----------------------------------------------------------------

    def _begin(self) -> None:
        if self._started:
            return
        self._started = True
        self.stopping = False
        self._loop = asyncio.get_running_loop()
        if isinstance(self.clock, ManualClock):
            self._remove_listener = self.clock.add_listener(self._clock_moved)
        else:
            self.spawn(self._half_hour_timer())

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self.stopping:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_socket(self) -> None:
        if self._client is not None and self._client.transport is not None:
            self._client.transport.abort()
        self._client = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # --- socket ------------------------------------------------------------------------------

    def _client_connected(self, client: _Client) -> None:
        if self._refusing:
            assert client.transport is not None
            client.transport.abort()
            return
        old = self._client
        self._client = client
        self.stats.connections += 1
        if old is not None and old.transport is not None:
            old.transport.abort()  # one port, one user: the newcomer wins

    # --- pty -----------------------------------------------------------------------------

    def _open_pty(self) -> None:
        assert self._pty_dir is not None
        assert self.path is not None
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._pty_master, self._pty_slave = master, slave
        tmp = self.path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)
        asyncio.get_running_loop().add_reader(master, self._pty_readable)
        self.stats.connections += 1

    def _close_pty(self) -> None:
        master = self._pty_master
        if master is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(master)
            loop.remove_writer(master)
            os.close(master)
            self._pty_master = None
        if self._pty_slave is not None:
            os.close(self._pty_slave)
            self._pty_slave = None
        self._pty_pending.clear()
        if self.path is not None and os.path.lexists(self.path):
            os.unlink(self.path)

    def _pty_readable(self) -> None:
        if self._pty_master is None:
            return
        try:
            data = os.read(self._pty_master, 4096)
        except BlockingIOError, InterruptedError:
            return
        except OSError:
            return
        if data:
            self.engine.feed(data)

    def _pty_write(self, data: bytes) -> None:
        master = self._pty_master
        if master is None:
            return
        if self._pty_pending:
            if len(self._pty_pending) < _MAX_PENDING:
                self._pty_pending += data
            return
        try:
            written = os.write(master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return
        if written < len(data):
            self._pty_pending += data[written:]
            asyncio.get_running_loop().add_writer(master, self._pty_flush)

    def _pty_flush(self) -> None:
        master = self._pty_master
        if master is None:
            return
        try:
            written = os.write(master, bytes(self._pty_pending))
        except BlockingIOError:
            return
        except OSError:
            written = len(self._pty_pending)
        del self._pty_pending[:written]
        if not self._pty_pending:
            asyncio.get_running_loop().remove_writer(master)

    # --- output ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Bytes from the dongle to whoever holds the port (nobody: they are lost)."""
        client = self._client
        if client is not None and client.transport is not None:
            client.transport.write(data)
        self._pty_write(data)

    # --- meter side ------------------------------------------------------------------------

    def visible_pans(self) -> list[Pan]:
        return [pan for pan in self.pans if pan.reachable()]

    def pan_for(self, ipv6: str) -> Pan | None:
        for pan in self.pans:
            if pan.ipv6 == ipv6:
                return pan
        return None

    def meter_reachable(self) -> bool:
        loop = self._loop
        return loop is None or loop.time() >= self._meter_down_until

    def meter_session_started(self) -> None:
        self._meter_session = True

    def meter_session_lost(self) -> None:
        self._meter_session = False

    @property
    def meter_session(self) -> bool:
        return self._meter_session and self.meter_reachable()

    def deliver_to_meter(self, payload: bytes, encrypted: bool) -> None:
        """A frame reached the meter's radio; maybe answer it after the latency."""
        if not encrypted or not self.meter_session:
            return
        if self.faults.should_drop():
            return
        frame = decode_or_none(payload)
        if frame is None:
            return
        replies = self.meter.handle(frame)
        if not replies:
            return
        latency = self.config.latency
        delay = latency if latency is not None else self.timing.wait(self.timing.response_latency)
        self.engine.spawn(self._reply_later(replies, delay))

    async def _reply_later(self, replies: list[Any], delay: float) -> None:
        await asyncio.sleep(delay)
        for frame, multicast in replies:
            if self.meter_session and self.dongle.joined:
                self.engine.meter_frame(frame, multicast=multicast)

    def push_fixed_time(self) -> None:
        """Send the EA/EB INF now (only reaches the host inside a session)."""
        if self.meter_session and self.dongle.joined:
            self.engine.meter_frame(self.meter.fixed_time_inf())

    def _clock_moved(self, old: datetime, new: datetime) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._check_boundary, old, new)

    def _check_boundary(self, old: datetime, new: datetime) -> None:
        skew = timedelta(seconds=self.config.clock_skew)
        if half_hour_floor(new + skew) > half_hour_floor(old + skew):
            self.push_fixed_time()

    async def _half_hour_timer(self) -> None:
        # Re-evaluated at least every second so clock_skew changes take effect at once.
        last = half_hour_floor(self.meter.now())
        while True:
            now = self.meter.now()
            await asyncio.sleep(min(1.0, (next_half_hour(now) - now).total_seconds() + 0.001))
            boundary = half_hour_floor(self.meter.now())
            if boundary > last:
                self.push_fixed_time()
            last = boundary
