"""Availability follows the link: unavailable within 1 s of a known loss, back at once.

No test here polls by hand: the entry polls once an hour, so only the link's status
reports can make the power entity unavailable and bring it back within the test. Each
state change and link report is stamped with the loop's clock and compared with the
simulator's ground truth.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, callback
import pytest

from custom_components.broute_meter import coordinator as coordinator_module
from custom_components.broute_meter.broute import ConnectionTiming, LinkState, LinkStatus
from custom_components.broute_meter.broute.links.wisun import WiSunTiming
from simulator import DongleModel, TimingModel

from ..helpers import set_up, state
from .conftest import SimFactory, entry_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from simulator import Simulator

POWER = "sensor.simulated_meter_power"

# The rule: a value known stale is gone within 1 s. Once the link is back the
# value is valid within one round trip + 0.5 s; the simulator's round trip is a few ms.
STALE_LIMIT = 1.0
BACK_LIMIT = 0.5 + 0.2  # + a margin for a loaded 2-core machine

# Session expiry at the shipped re-authentication grace, time-compressed by SCALE (the
# simulator's join and round trips are compressed far more; they only get shorter).
SCALE = 0.2
#: The longest real re-authentication: one PANA exchange as long as a join (3 s in
#: the simulator's realistic model) plus one message PANA re-sent after 1 s.
REAL_REAUTH = 4.0
#: A missing re-authentication is known lost at most this long after EVENT 29.
LOST_AFTER_EXPIRY = REAL_REAUTH + 1.0
#: Timing model of the issue: a rejoin (2.7 s) and two round trips of 1 s.
JOIN_AND_TWO_ROUND_TRIPS = 2.7 + 2 * 1.0


@dataclass
class Timeline:
    """Loop-clock stamps of the power entity's states and of the link's reports."""

    loop: asyncio.AbstractEventLoop
    states: list[tuple[float, str]] = field(default_factory=list)
    links: list[tuple[float, LinkState]] = field(default_factory=list)

    def first_link(self, predicate: LinkState, after: float = 0.0) -> float:
        for at, link_state in self.links:
            if at >= after and link_state is predicate:
                return at
        raise AssertionError(f"no {predicate} report after {after}: {self.links}")

    def first_lost(self, after: float = 0.0) -> float:
        for at, link_state in self.links:
            if at >= after and link_state in (LinkState.REPAIRING, LinkState.DOWN):
                return at
        raise AssertionError(f"no loss reported: {self.links}")

    def first_state(self, *, unavailable: bool, after: float) -> float | None:
        for at, value in self.states:
            if at >= after and (value == STATE_UNAVAILABLE) is unavailable:
                return at
        return None


async def watch(hass: HomeAssistant, entry: MockConfigEntry) -> Timeline:
    timeline = Timeline(asyncio.get_running_loop())

    @callback
    def on_state(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == POWER and new is not None:
            timeline.states.append((timeline.loop.time(), new.state))

    @callback
    def on_link(status: LinkStatus) -> None:
        timeline.links.append((timeline.loop.time(), status.state))

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_state)
    link = entry.runtime_data.coordinator.connection.link
    entry.async_on_unload(link.add_status_listener(on_link))
    return timeline


async def loaded(hass: HomeAssistant, sim: Simulator) -> MockConfigEntry:
    entry = await set_up(hass, entry_for(sim, scan_interval=3600))
    assert state(hass, POWER) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    return entry


async def until(hass: HomeAssistant, done: Callable[[], object], limit: float) -> None:
    """Wait (bounded) until ``done()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not done() and loop.time() < deadline:
        await asyncio.sleep(0.01)
        await hass.async_block_till_done()


async def assert_lost_then_back(hass: HomeAssistant, sim: Simulator, timeline: Timeline) -> None:
    """Unavailable within 1 s of the reported loss; valid again right after UP."""
    start = timeline.loop.time()
    await until(hass, lambda: any(s is LinkState.REPAIRING for _, s in timeline.links), 5)
    lost = timeline.first_lost(after=start)
    # The coordinator hears the report first: its state write may carry an earlier stamp.
    await until(hass, lambda: timeline.first_state(unavailable=True, after=start), 2)
    gone = timeline.first_state(unavailable=True, after=start)
    assert gone is not None, f"power never went unavailable: {timeline}"
    assert gone - lost <= STALE_LIMIT

    await until(hass, lambda: timeline.first_state(unavailable=False, after=gone), 10)
    back = timeline.first_state(unavailable=False, after=gone)
    assert back is not None, f"power never came back: {timeline.links}"
    up = timeline.first_link(LinkState.UP, after=gone)
    assert back - up <= BACK_LIMIT
    assert int(state(hass, POWER)) == sim.meter.power_w()


# Both firmwares: the repair ladder is shared, the faults reach it through each driver.
MODELS = pytest.mark.parametrize(
    "model", [DongleModel.BP35C2, DongleModel.BP35C2_J11], ids=["skstack", "j11"]
)


@MODELS
@pytest.mark.parametrize("pty", [False, True], ids=["socket", "pty"])
async def test_unplug_is_unavailable_at_once(
    hass: HomeAssistant, make_simulator: SimFactory, model: DongleModel, pty: bool
) -> None:
    """The port goes away: no poll is needed for the power to turn unavailable."""
    sim = await make_simulator(model=model, pty=pty)
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.disconnect(1.0)
    await assert_lost_then_back(hass, sim, timeline)


@MODELS
async def test_session_ended_by_the_meter(
    hass: HomeAssistant, make_simulator: SimFactory, model: DongleModel
) -> None:
    """EVENT 26 (J11: 0x601A PANA down): unavailable at once; values back one join + a
    round trip later."""
    sim = await make_simulator(model=model)
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.end_session()
    await assert_lost_then_back(hass, sim, timeline)


async def test_session_expired_without_reauthentication(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """EVENT 29 with no EVENT 25: a hold first, then a loss that shows at once."""
    sim = await make_simulator()
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.expire_session(reauth=False)
    await assert_lost_then_back(hass, sim, timeline)
    assert LinkState.HELD in [s for _, s in timeline.links]


async def test_transparent_reauthentication_does_not_flap(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """EVENT 29 then EVENT 25: the link holds, the entities stay available."""
    sim = await make_simulator()
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.expire_session(reauth=True)
    await until(hass, lambda: LinkState.HELD in [s for _, s in timeline.links], 2)
    await until(hass, lambda: timeline.links and timeline.links[-1][1] is LinkState.UP, 2)
    await asyncio.sleep(0.5)  # past the re-authentication grace
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert [s for _, s in timeline.links] == [LinkState.HELD, LinkState.UP]
    assert all(value != STATE_UNAVAILABLE for _, value in timeline.states)
    assert int(state(hass, POWER)) == sim.meter.power_w()


async def test_one_dropped_reply_does_not_flap(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A reply the retry absorbs is no loss: the poll succeeds, nothing goes unavailable."""
    sim = await make_simulator()
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.drop_replies(1)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinator.last_update_success
    assert timeline.links == []
    assert all(value != STATE_UNAVAILABLE for _, value in timeline.states)
    assert sim.stats.faults["drop_reply"] == 1
    assert int(state(hass, POWER)) == sim.meter.power_w()


@MODELS
@pytest.mark.parametrize("pty", [False, True], ids=["socket", "pty"])
async def test_a_returning_dongle_is_noticed_at_once(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    model: DongleModel,
    pty: bool,
) -> None:
    """Gone for longer than the air-time backoff: found within the port poll of its return.

    The scan/join backoff may grow to 5 s here; the port is tried every 0.2 s while it
    is gone, so the link is up again within that (+ a join) of the replug. Socket: the
    connection is refused meanwhile; pty: the device path is gone (a USB unplug).
    """
    poll = 0.2
    timing = ConnectionTiming.fast().evolve(
        reconnect_backoff=0.1, reconnect_backoff_max=5.0, port_poll_interval=poll
    )
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", timing)
    sim = await make_simulator(model=model, pty=pty)
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    gone_for = 3.5
    unplugged = timeline.loop.time()
    sim.faults.disconnect(gone_for)
    replugged = unplugged + gone_for
    await until(
        hass,
        lambda: any(at >= replugged and s is LinkState.UP for at, s in timeline.links),
        gone_for + 5,
    )
    up = timeline.first_link(LinkState.UP, after=replugged)
    # The port poll, a (compressed) join and slack for a loaded machine.
    assert up - replugged <= poll + 0.6
    gone = timeline.first_state(unavailable=True, after=unplugged)
    assert gone is not None
    assert gone - unplugged <= STALE_LIMIT
    await until(hass, lambda: timeline.first_state(unavailable=False, after=up), 2)
    back = timeline.first_state(unavailable=False, after=up)
    assert back is not None
    assert back - up <= BACK_LIMIT
    assert int(state(hass, POWER)) == sim.meter.power_w()


def shipped_grace(monkeypatch: pytest.MonkeyPatch) -> float:
    """The shipped re-authentication grace, compressed by SCALE, for every connection."""
    grace = WiSunTiming().reauth_grace * SCALE
    timing = ConnectionTiming.fast().evolve(reauth_grace=grace)
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", timing)
    return grace


@pytest.mark.parametrize("model", [DongleModel.BP35C2, DongleModel.BP35A1])
async def test_reauthentication_as_long_as_a_real_one_does_not_flap(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    model: DongleModel,
) -> None:
    """EVENT 29, then EVENT 25 as late as a real dongle sends it: held, never unavailable."""
    shipped_grace(monkeypatch)
    sim = await make_simulator(model=model)
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.expire_session(reauth=True, reauth_seconds=REAL_REAUTH * SCALE)
    await until(hass, lambda: LinkState.HELD in [s for _, s in timeline.links], 2)
    await until(hass, lambda: timeline.links[-1][1] is not LinkState.HELD, REAL_REAUTH)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert [s for _, s in timeline.links] == [LinkState.HELD, LinkState.UP]
    held, up = (at for at, _ in timeline.links)
    assert up - held >= REAL_REAUTH * SCALE * 0.9  # the hold did last the re-auth
    assert all(value != STATE_UNAVAILABLE for _, value in timeline.states)
    assert int(state(hass, POWER)) == sim.meter.power_w()


async def test_missing_reauthentication_is_lost_soon_and_rejoined(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EVENT 29 alone: lost when the grace ends, unavailable within 1 s, values back
    within a rejoin and two round trips of the grace's end."""
    grace = shipped_grace(monkeypatch)
    sim = await make_simulator()
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.expire_session(reauth=False)
    await until(hass, lambda: LinkState.HELD in [s for _, s in timeline.links], 2)
    expired = timeline.first_link(LinkState.HELD)
    await until(hass, lambda: any(s is LinkState.REPAIRING for _, s in timeline.links), 10)
    lost = timeline.first_lost(after=expired)
    assert lost - expired <= LOST_AFTER_EXPIRY * SCALE + 0.1  # + timer slack under load
    grace_end = expired + grace
    await until(hass, lambda: timeline.first_state(unavailable=True, after=expired), 2)
    gone = timeline.first_state(unavailable=True, after=expired)
    assert gone is not None
    assert gone - grace_end <= STALE_LIMIT
    await until(hass, lambda: timeline.first_state(unavailable=False, after=gone), 5)
    back = timeline.first_state(unavailable=False, after=gone)
    assert back is not None, f"power never came back: {timeline.links}"
    assert back - grace_end <= JOIN_AND_TWO_ROUND_TRIPS * SCALE
    assert int(state(hass, POWER)) == sim.meter.power_w()


async def test_failed_reauthentication_is_a_loss_at_once(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EVENT 29, then EVENT 24 (the re-auth failed): lost at once, not after the grace."""
    grace = shipped_grace(monkeypatch)
    sim = await make_simulator()
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.meter_reboot(0.3)  # the meter cannot answer the re-authentication
    sim.faults.expire_session(reauth=True, reauth_seconds=0.05)
    await until(hass, lambda: any(s is LinkState.REPAIRING for _, s in timeline.links), 2)
    expired = timeline.first_link(LinkState.HELD)
    lost = timeline.first_lost(after=expired)
    assert lost - expired < grace / 2
    await until(hass, lambda: timeline.first_state(unavailable=True, after=expired), 2)
    gone = timeline.first_state(unavailable=True, after=expired)
    assert gone is not None
    assert gone - lost <= STALE_LIMIT
    await until(hass, lambda: timeline.first_state(unavailable=False, after=gone), 5)
    assert int(state(hass, POWER)) == sim.meter.power_w()


async def test_j11_module_restart_is_a_loss_at_once(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A J11 module that restarts by itself says so (0x6019): unavailable at once, and
    re-initialised and re-joined without a poll."""
    sim = await make_simulator(model=DongleModel.BP35C2_J11)
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    sim.faults.dongle_reset(silent=False)
    await assert_lost_then_back(hass, sim, timeline)


@MODELS
async def test_silent_dongle_is_found_by_the_keepalive(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    model: DongleModel,
) -> None:
    """A dongle that stops answering is known lost by the check between polls."""
    keepalive = 0.2
    timing = ConnectionTiming.fast().evolve(keepalive_interval=keepalive, command_timeout=0.3)
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", timing)
    sim = await make_simulator(model=model)
    entry = await loaded(hass, sim)
    timeline = await watch(hass, entry)
    silenced = timeline.loop.time()
    sim.faults.dongle_reset(silent=True)
    await assert_lost_then_back(hass, sim, timeline)
    # Within two checks (the first may meet the reset's leftovers) and slack.
    assert timeline.first_lost(after=silenced) - silenced <= 2 * (keepalive + 0.3) + 0.5


# A meter reboot at the shipped timings, compressed by REBOOT_SCALE (the simulator's
# realistic model and every timing of the connection alike).
REBOOT_SCALE = 0.1
#: A join the simulator leaves unanswered (the meter is down) ends after its PANA
#: retries: 2.1 joins on SKSTACK, 2.3 on J11 (nominal 3 s join). One may be under way
#: when the meter comes back.
FAILED_JOIN = 2.3 * 3.0
#: The issue's bound once the meter answers again: the 2 s retry interval, a join and
#: two round trips (timing model: 2.85 s join, 1 s round trip).
RETRY_JOIN_AND_TWO_ROUND_TRIPS = 2.0 + 2.85 + 2 * 1.0


def shipped_timings(monkeypatch: pytest.MonkeyPatch, scale: float) -> ConnectionTiming:
    """Every float of the shipped connection timings × ``scale``, for every connection."""
    base = ConnectionTiming()
    changes = {
        f.name: getattr(part, f.name) * scale
        for part in (base.link, base.client)
        for f in fields(part)
        if isinstance(getattr(part, f.name), float)
    }
    timing = base.evolve(**changes)
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", timing)
    return timing


async def scaled_meter(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    model: DongleModel = DongleModel.BP35C2,
) -> tuple[Simulator, MockConfigEntry, ConnectionTiming]:
    timing = shipped_timings(monkeypatch, REBOOT_SCALE)
    sim = await make_simulator(model=model)
    sim.timing = TimingModel(response_latency=1.0, join_seconds=3.0, time_scale=REBOOT_SCALE)
    entry = await set_up(hass, entry_for(sim, scan_interval=3600, history_days=1))
    assert state(hass, POWER) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    # Nothing else on the air when the fault comes: the history import and the
    # background identity check are done.
    await entry.runtime_data.history.async_wait_idle()
    client = entry.runtime_data.coordinator.connection.client
    await until(hass, lambda: not client.busy, 5)
    await asyncio.sleep(0.2)
    await hass.async_block_till_done()
    assert not client.busy
    return sim, entry, timing


@MODELS
async def test_meter_reboot_is_lost_after_one_request_and_back_soon(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    monkeypatch: pytest.MonkeyPatch,
    model: DongleModel,
) -> None:
    """A meter silent for 60 s (nominal) that comes back without the session.

    One poll whose request fails all its retries tells the link (unavailable within 1 s
    of that failure, and the link repairs); its joins fail while the meter is down and
    are retried every 2 s, so once the meter answers again the values are valid within
    the join under way, the retry interval, a join and two round trips.
    """
    sim, entry, timing = await scaled_meter(hass, make_simulator, monkeypatch, model)
    coordinator = entry.runtime_data.coordinator
    timeline = await watch(hass, entry)
    stats = coordinator.connection.client.stats
    requests, retries = stats.requests, stats.retries
    down_for = 60.0 * REBOOT_SCALE
    rebooted = timeline.loop.time()
    sim.faults.meter_reboot(down_for)
    back_at = rebooted + down_for
    await coordinator.async_refresh()  # one poll: its request fails every retry
    failed = timeline.loop.time()
    await hass.async_block_till_done()
    assert not coordinator.last_update_success
    # One request, all its retries spent (J11 reports the unacknowledged sends at once).
    assert (stats.requests - requests, stats.retries - retries) == (1, timing.client.retries)
    lost = timeline.first_lost(after=rebooted)
    assert lost <= failed  # told before the poll's failure reached the coordinator
    gone = timeline.first_state(unavailable=True, after=rebooted)
    assert gone is not None
    assert gone - failed <= STALE_LIMIT
    assert failed < back_at  # the joins that follow meet a meter still down

    bound = (FAILED_JOIN + RETRY_JOIN_AND_TWO_ROUND_TRIPS) * REBOOT_SCALE + 0.3  # + load
    await until(hass, lambda: timeline.first_state(unavailable=False, after=gone), down_for + 5)
    back = timeline.first_state(unavailable=False, after=gone)
    assert back is not None, f"power never came back: {timeline.links}"
    assert back - back_at <= bound, f"{back - back_at:.2f} s after the meter's return"
    assert int(state(hass, POWER)) == sim.meter.power_w()
    # No rescan while the cached PAN is right, and the credentials were never blamed.
    assert sim.stats.scans == 0
    assert entry.state is ConfigEntryState.LOADED
    assert not hass.config_entries.flow.async_progress()


@pytest.mark.parametrize("dropped", [1, 2])
async def test_dropped_replies_the_retries_absorb_do_not_flap(
    hass: HomeAssistant, make_simulator: SimFactory, monkeypatch: pytest.MonkeyPatch, dropped: int
) -> None:
    """At the shipped retries (two), one or two lost replies are no loss of the meter."""
    sim, entry, _ = await scaled_meter(hass, make_simulator, monkeypatch)
    timeline = await watch(hass, entry)
    sim.faults.drop_replies(dropped)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinator.last_update_success
    assert timeline.links == []
    assert all(value != STATE_UNAVAILABLE for _, value in timeline.states)
    assert sim.stats.faults["drop_reply"] == dropped
    assert int(state(hass, POWER)) == sim.meter.power_w()
