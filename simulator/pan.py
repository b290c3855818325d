"""A meter as scans see it: channel, PAN ID, MAC, beacon strength and pairing ID."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .meter import mac_to_ipv6

if TYPE_CHECKING:
    from .sim import Simulator


@dataclass
class Pan:
    """A meter visible to scans."""

    channel: int
    pan_id: int
    mac: str
    lqi: int
    pair_id: str
    min_scan_duration: int
    is_main: bool
    sim: Simulator

    @property
    def ipv6(self) -> str:
        return mac_to_ipv6(self.mac)

    def reachable(self) -> bool:
        return self.sim.meter_reachable() if self.is_main else True
