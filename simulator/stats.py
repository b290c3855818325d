"""Counters a test or benchmark can read from ``sim.stats``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Traffic over the simulated air and dongle usage.

    ``airtime_seconds`` sums :meth:`TimingModel.airtime` over every ECHONET frame in
    either direction (PANA noise and beacons are not counted).
    """

    frames_to_meter: int = 0
    frames_from_meter: int = 0
    bytes_to_meter: int = 0
    bytes_from_meter: int = 0
    airtime_seconds: float = 0.0
    scans: int = 0
    joins: int = 0
    sendto: int = 0
    flash_writes: int = 0
    connections: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def count_command(self, name: str) -> None:
        self.commands[name] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "frames_to_meter": self.frames_to_meter,
            "frames_from_meter": self.frames_from_meter,
            "bytes_to_meter": self.bytes_to_meter,
            "bytes_from_meter": self.bytes_from_meter,
            "airtime_seconds": self.airtime_seconds,
            "scans": self.scans,
            "joins": self.joins,
            "sendto": self.sendto,
            "flash_writes": self.flash_writes,
            "connections": self.connections,
            "commands": dict(self.commands),
            "faults": dict(self.faults),
        }
