"""Fault knobs (``sim.faults``): each one is observable from the client's side."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from .pan import Pan

if TYPE_CHECKING:
    from .sim import Simulator


class Faults:
    """Inject failures. Call from the event loop; timed faults use real seconds."""

    def __init__(self, sim: Simulator, seed: int = 0) -> None:
        self._sim = sim
        self._rng = random.Random(seed)
        self._drop_next = 0
        self.drop_probability: float = 0.0

    def _count(self, kind: str) -> None:
        self._sim.stats.faults[kind] += 1

    def should_drop(self) -> bool:
        """Called for every request that reaches the meter."""
        if self._drop_next > 0:
            self._drop_next -= 1
            self._count("drop_reply")
            return True
        if self.drop_probability > 0 and self._rng.random() < self.drop_probability:
            self._count("drop_reply")
            return True
        return False

    def drop_replies(self, n: int = 1) -> None:
        """The meter ignores the next ``n`` requests."""
        self._drop_next += n

    def inject_garbage(self, data: bytes | None = None) -> bytes:
        """A junk line (non-UTF-8 by default) on the serial port; returns what was sent."""
        if data is None:
            data = bytes([0xFF, 0xFE, 0x80]) + self._rng.randbytes(8) + b"\r\n"
        self._count("garbage")
        self._sim.write(data)
        return data

    def inject_stray_pana(self) -> None:
        """An ERXUDP from port 02CC (PANA), SECURED=0."""
        self._count("stray_pana")
        self._sim.engine.stray_pana()

    def expire_session(self, reauth: bool = True, *, reauth_seconds: float | None = None) -> None:
        """EVENT 29 now; EVENT 25 follows when ``reauth``, else the session is lost.

        ``reauth_seconds``: real seconds the re-authentication takes (default: half a
        join of the timing model, scaled like every other wait).
        """
        self._count("expire_session")
        self._sim.engine.expire_session(reauth, reauth_seconds=reauth_seconds)

    def end_session(self) -> None:
        """EVENT 26: the meter ends the session; sends fail until the next SKJOIN."""
        self._count("end_session")
        self._sim.engine.end_session()

    def transmit_limit(self, seconds: float) -> None:
        """EVENT 32 now, EVENT 33 after ``seconds``; sends fail (EVENT 21 … 01) meanwhile."""
        self._count("transmit_limit")
        engine = self._sim.engine
        engine.state.transmit_limited = True
        engine.state.registers["SFB"] = "1"
        engine.event(0x32, engine.state.ipv6)

        async def release() -> None:
            await asyncio.sleep(seconds)
            engine.state.transmit_limited = False
            engine.state.registers["SFB"] = "0"
            engine.event(0x33, engine.state.ipv6)

        engine.spawn(release())

    def dongle_reset(self, silent: bool = True) -> None:
        """The dongle loses volatile state; when ``silent`` it ignores all but SKRESET."""
        self._count("dongle_reset")
        self._sim.engine.reset_volatile()
        self._sim.engine.state.silent = silent

    def disconnect(self, seconds: float, reset_dongle: bool | None = None) -> None:
        """Drop the host link for ``seconds``.

        Socket: the client is dropped and connections are refused meanwhile. Pty: the
        pty is closed and the symlink removed, then a new pty + symlink appear (a USB
        unplug, so by default the dongle also loses its volatile state).
        """
        self._count("disconnect")
        sim = self._sim
        if reset_dongle is None:
            reset_dongle = sim.on_pty
        if reset_dongle:
            sim.engine.reset_volatile()

        async def run() -> None:
            server, pty = await sim.unplug()
            await asyncio.sleep(seconds)
            await sim.replug(server=server, pty=pty)

        sim.spawn(run())

    def pana_stuck(self) -> None:
        """J11 only: every PANA run (re-authentication too) fails until a module reset.

        A public report (regreh/m5stickc_bp35c0-j11) saw re-authentication fail after
        days until the module was rebooted.
        """
        engine = self._sim.engine
        if not hasattr(engine, "pana_stuck"):
            raise TypeError("pana_stuck applies to J11 dongles")
        self._count("pana_stuck")
        engine.pana_stuck = True

    def meter_reboot(self, seconds: float) -> None:
        """The meter is silent for ``seconds``; its session and TIDs are gone."""
        self._count("meter_reboot")
        self._sim.meter_offline(seconds)

    def neighbour_solicitation(self, n: int = 1) -> None:
        """The next ``n`` sends report ``EVENT 21 … 02`` before their ``EVENT 21 … 00``."""
        self._count("neighbour_solicitation")
        self._sim.engine.pending_ns += n

    def push_fixed_time(self) -> None:
        """The half-hourly EA/EB INF, now."""
        self._count("push_fixed_time")
        self._sim.push_fixed_time()

    def second_meter(
        self,
        pair_id: str = "99887766",
        same_channel: bool = True,
        mac: str = "001D129087654321",
        lqi: int = 0x60,
    ) -> Pan:
        """Another meter (another household) visible in scans; joining it fails."""
        self._count("second_meter")
        sim = self._sim
        channel = (
            sim.config.channel if same_channel else (sim.config.channel - 0x21 + 5) % 28 + 0x21
        )
        pan = Pan(
            channel,
            (sim.config.pan_id + 0x111) & 0xFFFF,
            mac,
            lqi,
            pair_id,
            sim.config.min_scan_duration,
            False,
            sim,
        )
        sim.pans.append(pan)
        return pan
