"""The one place that judges cumulative register values (coordinator.CumulativeRegister).

Rules from the protocol reference: a register counts modulo 10^D7 (effective digits),
0xFFFFFFFE means "no data", kWh = raw x D3 x E1.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from homeassistant.core import State
import pytest
from pytest_homeassistant_custom_component.common import mock_restore_cache

from custom_components.broute_meter.broute.echonet import EnergyScale
from custom_components.broute_meter.coordinator import CumulativeRegister

from ..helpers import set_up, state
from .conftest import SimFactory, entry_for

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

IMPORT = "sensor.simulated_meter_energy_import"

SIX_DIGITS_TENTHS = EnergyScale(coefficient=1, unit=Decimal("0.1"), digits=6)


def register(scale: EnergyScale = SIX_DIGITS_TENTHS) -> CumulativeRegister:
    return CumulativeRegister(scale, "forward energy")


def test_nothing_known_at_first() -> None:
    reg = register()
    assert reg.raw is None
    assert reg.kwh is None
    assert not reg.offer(None)  # "no data" never becomes a value
    assert reg.kwh is None


def test_increases_and_repeats_are_taken() -> None:
    reg = register()
    assert reg.offer(12_345)
    assert reg.kwh == pytest.approx(1_234.5)
    assert reg.offer(12_345)
    assert reg.offer(12_400)
    assert reg.kwh == pytest.approx(1_240.0)


@pytest.mark.parametrize("lower", [12_399, 6_000, 1, 0])
def test_a_drop_is_not_published(lower: int) -> None:
    """Lower than the last value without being a wrap (a glitch, a stale frame): ignored."""
    reg = register()
    reg.offer(12_400)
    assert not reg.offer(lower)
    assert reg.raw == 12_400


def test_zero_is_fine_when_it_is_the_register() -> None:
    """A new meter really reads 0."""
    reg = register()
    assert reg.offer(0)
    assert reg.kwh == 0


def test_a_wrap_at_the_digit_limit_is_taken() -> None:
    """Six digits wrap from 999,999 to 0: the value drops and a new cycle starts."""
    reg = register()
    reg.offer(999_990)
    assert reg.offer(15)  # 25 steps later, past the wrap
    assert reg.raw == 15
    assert reg.kwh == pytest.approx(1.5)


def test_a_wrap_needs_the_register_near_its_limit() -> None:
    """From the middle of the range, a big drop is a glitch, not a wrap."""
    reg = register()
    reg.offer(500_000)
    assert not reg.offer(15)
    assert reg.raw == 500_000


def test_scale_with_coefficient_and_unit() -> None:
    """kWh = raw x D3 x E1 (coefficient 10, unit 0.01 kWh)."""
    reg = register(EnergyScale(coefficient=10, unit=Decimal("0.01"), digits=8))
    reg.offer(123_456)
    assert reg.kwh == pytest.approx(12_345.6)


def test_wrap_with_few_digits() -> None:
    """Four digits wrap at 10,000 steps."""
    reg = register(EnergyScale(coefficient=1, unit=Decimal(1), digits=4))
    reg.offer(9_950)
    assert reg.offer(30)
    assert not reg.offer(20)


def test_a_reading_from_before_the_wrap_is_not_an_increase() -> None:
    """After 999,990 -> 15, a late 999,995 (taken before the wrap) is stale, not +999,980."""
    reg = register()
    reg.offer(999_990)
    reg.offer(15)
    assert not reg.offer(999_995)
    assert reg.raw == 15


async def test_restart_seeds_the_guard_from_the_restored_state(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A first reading below the value restored at restart is not published as a reset."""
    sim = await make_simulator()
    entry = await set_up(hass, entry_for(sim))
    truth = sim.meter.forward_kwh()
    assert truth is not None
    assert Decimal(state(hass, IMPORT)).quantize(truth) == truth
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # Home Assistant stopped at a higher value: the meter's reading now is a glitch.
    before = truth + 5
    mock_restore_cache(hass, [State(IMPORT, str(before))])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert Decimal(state(hass, IMPORT)).quantize(before) == before
