"""Clocks and the timing model of the simulated radio link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
import threading
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Callable

JST = ZoneInfo("Asia/Tokyo")

# Channels 33-60 (0x21-0x3C) make up the full B-route scan mask.
SCAN_CHANNELS = 28


class Clock(Protocol):
    """Anything with ``now()`` returning an aware datetime."""

    def now(self) -> datetime: ...


class RealClock:
    """Wall-clock time in Asia/Tokyo."""

    def now(self) -> datetime:
        return datetime.now(JST)


class ManualClock:
    """A clock that only moves when told to.

    Listeners are called (from the thread that moved the clock) with the old and the
    new time; the simulator uses that to push the half-hourly EA/EB notification.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(JST)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[datetime, datetime], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            old = self._now
            self._now = old + timedelta(seconds=seconds)
            new = self._now
        self._notify(old, new)
        return new

    def set(self, dt: datetime) -> None:
        if dt.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        with self._lock:
            old = self._now
            self._now = dt.astimezone(JST)
            new = self._now
        self._notify(old, new)

    def add_listener(self, callback: Callable[[datetime, datetime], None]) -> Callable[[], None]:
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def _notify(self, old: datetime, new: datetime) -> None:
        for callback in list(self._listeners):
            callback(old, new)


@dataclass
class TimingModel:
    """How long things take on the simulated link.

    Every wait the simulator makes is ``nominal seconds × time_scale``; ``fast()``
    keeps the realistic proportions but compresses them a few hundred times.

    Air time: ECHONET payload plus ``frame_overhead_bytes`` per frame at
    ``bitrate`` bit/s. The 60-byte overhead is our own estimate of PHY preamble,
    SFD and header (~8 B), MAC header with security and MIC (~30 B) and compressed
    IPv6/UDP (~20 B); the reference gives only "on the order of 100 B per Get".
    """

    response_latency: float = 1.0
    join_seconds: float = 3.0
    dwell_unit: float = 0.0096
    time_scale: float = 1.0
    bitrate: int = 100_000
    frame_overhead_bytes: int = 60

    @classmethod
    def realistic(cls, latency: float = 1.0) -> TimingModel:
        return cls(response_latency=latency, join_seconds=3.0, time_scale=1.0)

    @classmethod
    def fast(cls) -> TimingModel:
        # duration-6 scan of 28 channels: 17.5 s × 0.002 = 35 ms; a reply: 2 ms.
        return cls(response_latency=1.0, join_seconds=3.0, time_scale=0.002)

    def scan_dwell(self, duration: int) -> float:
        """Nominal dwell per channel for SKSCAN DURATION (unscaled seconds)."""
        return self.dwell_unit * ((1 << duration) + 1)

    def scan_seconds(self, duration: int, channels: int = SCAN_CHANNELS) -> float:
        """Scaled wall time of a whole scan."""
        return self.scan_dwell(duration) * channels * self.time_scale

    def airtime(self, payload_bytes: int) -> float:
        """Estimated seconds on air for one frame carrying ``payload_bytes``."""
        return (payload_bytes + self.frame_overhead_bytes) * 8 / self.bitrate

    def wait(self, nominal: float) -> float:
        return nominal * self.time_scale


def half_hour_floor(dt: datetime) -> datetime:
    """Latest half-hour boundary at or before ``dt`` (same tz)."""
    return dt.replace(minute=0 if dt.minute < 30 else 30, second=0, microsecond=0)


def next_half_hour(dt: datetime) -> datetime:
    return half_hour_floor(dt) + timedelta(minutes=30)
