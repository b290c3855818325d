"""Fault soak of the real integration (coordinator + entities) against the simulator.

A few hundred polls here; ``benchmarks/soak.py`` runs the same soak for thousands
(``--polls N --seed S``) by running this module with the ``BROUTE_SOAK_*`` variables.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter import coordinator as coordinator_module
from simulator import DongleModel, ManualClock

from .conftest import METER_TIME, SimFactory, entry_for
from .soak import Soak, meter_config, soak_timing

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

pytestmark = pytest.mark.usefixtures("integration", "unload_entries")

POLLS = int(os.environ.get("BROUTE_SOAK_POLLS", "200"))
SEED = int(os.environ.get("BROUTE_SOAK_SEED", "20261121"))
REPORT = os.environ.get("BROUTE_SOAK_REPORT")


def _append_report(path: Path, summary: dict[str, object]) -> None:
    runs = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([*runs, summary], indent=2))


@pytest.mark.slow
@pytest.mark.timeout(900 + POLLS)
@pytest.mark.parametrize(
    ("transport", "model"),
    [
        pytest.param("socket", DongleModel.BP35C2, id="socket"),
        pytest.param("pty", DongleModel.BP35C2, id="pty"),
        # The J11 dongle over socket:// (its pty path is covered by the integration tests).
        pytest.param("socket", DongleModel.BP35C2_J11, id="j11"),
    ],
)
async def test_soak(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    model: DongleModel,
) -> None:
    """Hundreds of polls under random faults and bursts: every soak check holds."""
    timing = soak_timing()
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", timing)
    clock = ManualClock(METER_TIME)
    seed = SEED + (1 if transport == "pty" else 0) + (2 if model.j11 else 0)
    sim = await make_simulator(
        model=model,
        clock=clock,
        pty=transport == "pty",
        config=meter_config(METER_TIME),
        seed=seed,
    )
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    polls = POLLS if transport == "socket" and not model.j11 else max(POLLS // 2, 50)
    soak = Soak(hass, entry, sim, clock, polls=polls, seed=seed, timing=timing)
    report = await soak.run()
    name = "j11" if model.j11 else transport
    summary = {"transport": name, "seed": seed, **report.as_dict()}
    if REPORT:
        await hass.async_add_executor_job(_append_report, Path(REPORT), summary)
    print(json.dumps(summary, indent=2))
    assert report.violations == []
    # The run did exercise what it claims to: faults of every kind, outages that
    # recovered, and the import register wrapped at 10^D7.
    assert set(report.faults) >= {"drop_reply", "disconnect", "dongle_reset", "meter_reboot"}
    assert report.recoveries > 0
    # Availability was judged without polls: known losses watched, transparent faults seen.
    assert report.watched_losses > 0
    assert report.transparent_checked > 0
    if model.j11:
        assert "pana_stuck" in report.faults  # the module-reset rung was needed and worked
    assert report.wraps_import >= 1
