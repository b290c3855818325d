"""A simulated meter on socket://127.0.0.1 (or a pty), a real connection, and the recorder.

The meter's clock is a ManualClock and the history job's view of Home Assistant's
clock is set to the same instant (freezegun would also stop the event loop's clock),
so a test can move both forward together ("Home Assistant was stopped for five
hours") or only the meter's ("the meter's clock is wrong").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.broute_meter.broute import ConnectionTiming, MeterConnection
from custom_components.broute_meter.const import DOMAIN
from custom_components.broute_meter.history import Direction, HistoryImporter
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel, MeterConfig, Simulator
from simulator.timing import JST, ManualClock, TimingModel

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from decimal import Decimal

    from homeassistant.core import HomeAssistant

    from custom_components.broute_meter.broute.meters.low_voltage import (
        EnergyScale,
        LowVoltageMeter,
    )

MAC = "001D129012345678"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """The recorder must exist before hass (see the HA reference, recorder tests)."""


@dataclass
class Source:
    """What the coordinator offers the history job: the meter model and the scale."""

    connection: MeterConnection | None
    scale: EnergyScale | None

    @property
    def meter(self) -> LowVoltageMeter | None:
        """The meter model of the live connection."""
        return None if self.connection is None else self.connection.meter


@dataclass
class Rig:
    """Simulator, session, clocks and the config entry of one test."""

    hass: HomeAssistant
    sim: Simulator
    clock: ManualClock
    ha_clock: list[datetime]
    source: Source
    entry: MockConfigEntry
    importers: list[HistoryImporter] = field(default_factory=list)

    @property
    def meter(self) -> Any:
        return self.sim.meter

    def now(self) -> datetime:
        return self.clock.now()

    def move_to(self, when: datetime, *, meter_skew: timedelta = timedelta(0)) -> None:
        """Move Home Assistant's clock and the meter's (plus an optional error) together."""
        self.ha_clock[0] = when.astimezone(dt_util.UTC)
        self.clock.set(when + meter_skew)

    def ha_now(self) -> datetime:
        """Home Assistant's clock as the history job sees it."""
        return self.ha_clock[0]

    def importer(self, days: int = 44) -> HistoryImporter:
        """A fresh history job, as after a (re)start of Home Assistant."""
        importer = HistoryImporter(
            self.hass, self.entry, self.source, days=days, name="Meter", now=self.ha_now
        )
        self.importers.append(importer)
        return importer

    async def catch_up(self, importer: HistoryImporter) -> None:
        importer.async_request_catch_up()
        await importer.async_wait_idle()
        await async_wait_recording_done(self.hass)

    async def rows(self, importer: HistoryImporter, direction: Direction) -> list[dict[str, Any]]:
        """All hourly rows of one statistic, oldest first."""
        stat_id = importer.statistic_id(direction)
        result = await get_instance(self.hass).async_add_executor_job(
            statistics_during_period,
            self.hass,
            self.now() - timedelta(days=120),
            None,
            {stat_id},
            "hour",
            None,
            {"state", "sum"},
        )
        return list(result.get(stat_id, []))


def truth(meter: Any, direction: Direction, hour_start: datetime) -> tuple[Decimal, Decimal] | None:
    """(register at the end of the hour, energy of the hour) in kWh, from the simulator."""
    name = "forward" if direction is Direction.IMPORT else "reverse"
    begin = meter.slot_raw(name, hour_start.astimezone(JST))
    end = meter.slot_raw(name, (hour_start + timedelta(hours=1)).astimezone(JST))
    if begin is None or end is None:
        return None
    step = (end - begin) % meter.modulus
    return end * meter.kwh_per_raw, step * meter.kwh_per_raw


def hours(first: datetime, last: datetime) -> list[datetime]:
    """Hour starts from ``first`` to ``last`` inclusive."""
    out = []
    at = first
    while at <= last:
        out.append(at)
        at += timedelta(hours=1)
    return out


def start_of(row: dict[str, Any]) -> datetime:
    return dt_util.utc_from_timestamp(row["start"]).astimezone(JST)


@pytest.fixture
async def make_rig(hass: HomeAssistant, socket_enabled: None) -> AsyncIterator[Callable[..., Any]]:
    """Build a rig for a meter configuration starting at a given meter time."""
    rigs: list[Rig] = []

    async def _make(
        start: datetime,
        *,
        pty: bool = False,
        model: DongleModel = DongleModel.BP35C2,
        **meter: Any,
    ) -> Rig:
        clock = ManualClock(start)
        sim = Simulator(
            model=model,
            meter=MeterConfig(**meter),
            rbid=TEST_RBID,
            password=TEST_PASSWORD,
            clock=clock,
            timing=TimingModel.fast(),
        )
        url = await (sim.start_pty() if pty else sim.start_socket())
        conn = MeterConnection(
            url,
            TEST_RBID,
            TEST_PASSWORD,
            timing=ConnectionTiming.fast(),
            firmware="j11" if sim.model.j11 else "skstack",
        )
        await conn.connect()
        scale = (await conn.meter.read_identity()).scale
        entry = MockConfigEntry(domain=DOMAIN, unique_id=MAC.lower(), title="Meter")
        entry.add_to_hass(hass)
        rig = Rig(hass, sim, clock, [start.astimezone(dt_util.UTC)], Source(conn, scale), entry)
        rigs.append(rig)
        return rig

    yield _make

    for rig in rigs:
        for importer in rig.importers:
            importer.async_stop()
            await importer.async_wait_idle()
        if rig.source.connection is not None:
            await rig.source.connection.close()
        await rig.sim.stop()
