"""Fixtures for the simulator's own tests."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from simulator import JST, DongleModel, ManualClock, MeterConfig, Simulator, TimingModel

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# 2025-11-15 13:10 JST: after the reference's 12:00/12:30 example slots.
START = datetime(2025, 11, 15, 13, 10, 0, tzinfo=JST)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def make_sim(clock: ManualClock, socket_enabled: None) -> AsyncIterator[object]:
    """Factory: ``await make_sim(model, **meter_kwargs)`` → started-later Simulator."""
    sims: list[Simulator] = []

    def factory(model: DongleModel = DongleModel.BP35C2, **meter: object) -> Simulator:
        sim = Simulator(
            model=model,
            meter=MeterConfig(**meter),  # type: ignore[arg-type]
            timing=TimingModel.fast(),
            clock=clock,
        )
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        await sim.stop()
