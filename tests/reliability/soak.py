"""The fault soak: the real integration polling a simulated meter while faults rain down.

Used by ``test_soak.py`` (a few hundred polls) and ``benchmarks/soak.py`` (thousands).
The simulator's timings are compressed and the meter's clock is a ManualClock that
moves on by minutes at every poll, so hours of meter time (register wraps, half-hour
pushes) pass in seconds. Every check compares with the simulator's ground truth:

* nothing unexpected is logged at ERROR, no task, file descriptor or memory leaks;
* after every fault clears, valid values come back within a bounded time;
* energy never decreases except at a true register wrap, is never 0 or a sentinel and
  never moves further than the meter's own register did; power and current are
  unavailable (not stale) while the meter cannot be read;
* availability follows the link, judged from state_changed events against the fault
  schedule: after a fault the link knows at once (the meter ends the session, the port
  goes, EVENT 29 without re-authentication once the grace is over), the soak does not
  poll and the coordinator's own interval is an hour, so only the link's report can
  make the power unavailable within 1 s, and only the coordinator's refresh after the
  repair can bring it back; transparent faults (re-authentication as long as a real
  one, junk, a reply the retries absorb, a transmit-limit pause) never make it
  unavailable;
* the config entry stays LOADED throughout.

Violations are collected (not asserted one by one) so a long run reports all of them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
import gc
import logging
import os
import random
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, callback

from custom_components.broute_meter.broute import ConnectionTiming, LinkStatus
from simulator import ManualClock, MeterConfig, SimulatedMeter, Simulator

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

POWER = "sensor.simulated_meter_power"
CURRENT_R = "sensor.simulated_meter_current_phase_r"
IMPORT = "sensor.simulated_meter_energy_import"
EXPORT = "sensor.simulated_meter_energy_export"

#: Real seconds per nominal second of a fault's duration ("disconnect 1-60 s").
FAULT_TIME_SCALE = 0.02

#: Meter: 0.01 kWh per count and 4 digits, so the register wraps every 100 kWh.
UNIT_CODE = 0x02
DIGITS = 4
MODULUS = 10**DIGITS
WARM_UP_POLLS = 20
#: The issue's rule: once the link reports a loss, no old value is shown as current
#: for longer than this (seconds), whether or not a poll comes.
STALE_LIMIT = 1.0
#: Polls between the faults of the opening tour (every kind once).
TOUR_SPACING = 6
#: Once the link is UP again, the coordinator's own refresh shows valid values within
#: this (one round trip on the compressed simulator, and slack for a loaded machine).
BACK_LIMIT = 1.0
#: The soak's re-authentication grace against the shipped one (5 s): real dongles'
#: re-authentication times (1-4 s) are compressed by the same factor.
REAUTH_GRACE = 0.2
GRACE_SCALE = REAUTH_GRACE / 5.0
#: Faults the link learns of by itself at once (or when the grace ends): the power
#: must go unavailable within STALE_LIMIT with no poll.
KNOWN_LOSSES = frozenset({"end_session", "disconnect", "expire_no_reauth", "pana_stuck"})
#: Faults that must never make the power unavailable ("drop_reply" only while the
#: retries absorb it).
TRANSPARENT = frozenset(
    {"garbage", "stray_pana", "expire_reauth", "push_fixed_time", "transmit_limit", "drop_reply"}
)


def soak_timing() -> ConnectionTiming:
    """The session's compressed timings, shortened further so failing polls are quick."""
    return ConnectionTiming.fast().evolve(
        command_timeout=0.5,
        reset_timeout=0.5,
        request_timeout=0.3,
        reauth_grace=REAUTH_GRACE,
        reconnect_backoff=0.05,
        reconnect_backoff_max=0.4,
    )


def meter_config(start: datetime, **extra: Any) -> MeterConfig:
    """A meter whose registers wrap a few dozen polls into the run."""
    probe = SimulatedMeter(
        MeterConfig(unit_code=UNIT_CODE, digits=9, initial_forward_raw=0, initial_reverse_raw=0),
        ManualClock(start),
    )
    forward, reverse = probe.forward_raw(), probe.reverse_raw()
    assert forward is not None
    assert reverse is not None
    return MeterConfig(
        unit_code=UNIT_CODE,
        digits=DIGITS,
        # 3 kWh (import) and 1 kWh (export) before the wrap.
        initial_forward_raw=(MODULUS - 300 - forward) % MODULUS,
        initial_reverse_raw=(MODULUS - 100 - reverse) % MODULUS,
        session_lifetime=1.5,  # EVENT 29 + re-authentication every 1.5 s (real time)
        **extra,
    )


@dataclass
class SoakReport:
    """What happened; ``violations`` is empty when every check held."""

    polls: int = 0
    ok_polls: int = 0
    failed_polls: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    outages: int = 0
    recoveries: int = 0
    recovery_times: list[float] = field(default_factory=list)
    wraps_import: int = 0
    wraps_export: int = 0
    error_fetching_logs: int = 0
    unavailable_episodes: int = 0
    losses: int = 0
    worst_stale_after_loss: float = 0.0
    #: Known losses watched without a poll, and what the state_changed events showed.
    watched_losses: int = 0
    worst_unavailable_after_known_loss: float = 0.0
    worst_back_after_up: float = 0.0
    transparent_checked: int = 0
    fds: tuple[int, int] = (0, 0)
    tasks: tuple[int, int] = (0, 0)
    memory_kib: tuple[float, float] = (0.0, 0.0)
    memory_mid_kib: float = 0.0
    meter_hours: float = 0.0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    @property
    def worst_recovery(self) -> float:
        return max(self.recovery_times, default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "polls": self.polls,
            "ok_polls": self.ok_polls,
            "failed_polls": self.failed_polls,
            "faults": dict(sorted(self.faults.items())),
            "faults_total": sum(self.faults.values()),
            "outages": self.outages,
            "recoveries": self.recoveries,
            "worst_recovery_s": round(self.worst_recovery, 3),
            "median_recovery_s": round(
                sorted(self.recovery_times)[len(self.recovery_times) // 2], 3
            )
            if self.recovery_times
            else 0.0,
            "wraps_import": self.wraps_import,
            "wraps_export": self.wraps_export,
            "error_fetching_logs": self.error_fetching_logs,
            "unavailable_episodes": self.unavailable_episodes,
            "link_losses": self.losses,
            "worst_stale_after_loss_s": round(self.worst_stale_after_loss, 3),
            "watched_losses": self.watched_losses,
            "worst_unavailable_after_known_loss_s": round(
                self.worst_unavailable_after_known_loss, 3
            ),
            "worst_back_after_up_s": round(self.worst_back_after_up, 3),
            "transparent_faults_checked": self.transparent_checked,
            "fds_before_after": list(self.fds),
            "tasks_before_after": list(self.tasks),
            "traced_memory_kib_warm_mid_end": [
                round(self.memory_kib[0]),
                round(self.memory_mid_kib),
                round(self.memory_kib[1]),
            ],
            "meter_hours": round(self.meter_hours, 1),
            "seconds": round(self.seconds, 1),
            "violations": self.violations[:50],
            "violation_count": len(self.violations),
        }


class _Records(logging.Handler):
    """ERROR records as text: keeping the records would keep their exceptions, and
    with them the frames (and futures) of failed polls, which would look like a leak."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[tuple[str, str, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except TypeError, ValueError:
            message = str(record.msg)
        self.records.append((record.levelname, message, record.exc_info is not None))


def _traced_kib() -> float:
    """Traced memory that can leak.

    Left out: the simulator (its load model caches every simulated day) and log
    records, which pytest's capture handlers keep for the report.
    """
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, "*/simulator/*"),
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, logging.__file__),
            tracemalloc.Filter(False, "<frozen posixpath>"),
            tracemalloc.Filter(False, "<frozen genericpath>"),
        ]
    )
    return sum(stat.size for stat in snapshot.statistics("filename")) / 1024


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


class _Truth:
    """The meter's registers without the wrap (a 9-digit twin of the simulated meter)."""

    def __init__(self, sim: Simulator) -> None:
        cfg = sim.config
        self.meter = sim.meter
        self.twin = SimulatedMeter(replace(cfg, digits=9), sim.meter.clock)
        self.kwh_per_raw = sim.meter.kwh_per_raw

    def unwrapped(self, direction: str, at: datetime) -> int:
        raw = self.twin.forward_raw(at) if direction == "import" else self.twin.reverse_raw(at)
        assert raw is not None
        return raw


class _Register:
    """What the sensor published so far, unwrapped by the wraps the meter really made."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.raw: int | None = None
        self.unwrapped: int | None = None
        self.wraps = 0


class Soak:
    """Drive one loaded entry through ``polls`` polls with random faults."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: MockConfigEntry,
        sim: Simulator,
        clock: ManualClock,
        *,
        polls: int,
        seed: int,
        timing: ConnectionTiming,
        poll_gap: float = 0.005,
        fault_rate: float = 0.12,
        progress: Callable[[SoakReport], None] | None = None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.sim = sim
        self.clock = clock
        self.polls = polls
        self.rng = random.Random(seed)
        self.timing = timing
        self.poll_gap = poll_gap
        self.fault_rate = fault_rate
        self.progress = progress
        self.report = SoakReport()
        self.truth = _Truth(sim)
        self.registers = {"import": _Register("import"), "export": _Register("export")}
        self.coordinator = entry.runtime_data.coordinator
        self.loop = asyncio.get_running_loop()
        self._clear_at: float | None = None  # loop time when the current faults are over
        self._outage = False
        self._restore: list[Callable[[], None]] = []
        self._sna_poll = False
        self._tour: list[str] | None = None
        self._lost_at: float | None = None  # loop time of the link's loss report
        self._was_ok = True
        # This poll's faults: (kind, loop time the link should know of the loss, end).
        self._injected: list[tuple[str, float, float]] = []
        self._drops_absorbed = True
        self._last_unavailable_at = float("-inf")
        # Power states and UP reports, kept only while a loss is watched (bounded).
        self._watch_states: list[tuple[float, str]] | None = None
        self._watch_ups: list[float] | None = None
        # Recovery bound: one failing poll, the gap to the next, and one rejoin with its
        # backoff, plus slack for a loaded 2-core machine.
        self.recovery_bound = (
            timing.client.request_budget
            + poll_gap
            + timing.link.reconnect_backoff_max
            + timing.link.command_timeout * 4
            + 2.0
        )

    # --- faults -----------------------------------------------------------------------

    def _fault_kinds(self) -> list[tuple[str, float]]:
        return [
            ("drop_reply", 3),
            ("garbage", 2),
            ("stray_pana", 2),
            ("expire_reauth", 1),
            ("expire_no_reauth", 1),
            ("end_session", 1),
            ("transmit_limit", 1),
            ("dongle_reset", 1),
            ("disconnect", 1),
            ("meter_reboot", 1),
            ("get_sna", 1),
            ("push_fixed_time", 2),
            # J11 only: PANA stuck in the module until it is reset (regreh's report).
            *([("pana_stuck", 1)] if self.sim.model.j11 else []),
        ]

    def _inject(self, kind: str) -> None:
        faults = self.sim.faults
        rng = self.rng
        now = self.loop.time()
        lasts = 0.0
        known = now
        match kind:
            case "drop_reply":
                count = rng.randint(1, 4)
                # Three attempts per request: up to two lost replies are absorbed.
                self._drops_absorbed = self._drops_absorbed and count <= 2
                faults.drop_replies(count)
            case "garbage":
                for _ in range(rng.randint(1, 5)):
                    faults.inject_garbage()
            case "stray_pana":
                faults.inject_stray_pana()
            case "expire_reauth":
                # As long as a real dongle's re-authentication, compressed like the grace.
                lasts = rng.uniform(1, 4) * GRACE_SCALE
                faults.expire_session(reauth=True, reauth_seconds=lasts)
            case "expire_no_reauth":
                known = now + self.timing.link.reauth_grace
                faults.expire_session(reauth=False)
            case "end_session":
                faults.end_session()
            case "transmit_limit":
                lasts = rng.uniform(1, 30) * FAULT_TIME_SCALE
                faults.transmit_limit(lasts)
            case "dongle_reset":
                faults.dongle_reset(silent=True)
            case "disconnect":
                lasts = rng.uniform(1, 60) * FAULT_TIME_SCALE
                faults.disconnect(lasts)
            case "meter_reboot":
                lasts = rng.uniform(1, 30) * FAULT_TIME_SCALE
                faults.meter_reboot(lasts)
            case "get_sna":
                # The meter answers only the first n properties of the next poll.
                cfg = self.sim.config
                cfg.max_epcs_per_get = rng.randint(0, 4)

                def restore() -> None:
                    cfg.max_epcs_per_get = 6

                self._restore.append(restore)
            case "pana_stuck":
                faults.pana_stuck()
                faults.expire_session(reauth=True)  # the module's own re-auth fails
            case "push_fixed_time":
                delay = rng.uniform(0, 0.01)
                self.loop.call_later(delay, faults.push_fixed_time)
            case _:
                raise AssertionError(kind)
        self.report.faults[kind] += 1
        clear = now + lasts
        self._injected.append((kind, known, clear))
        self._clear_at = clear if self._clear_at is None else max(self._clear_at, clear)

    def _maybe_inject(self) -> None:
        for restore in self._restore:
            restore()
        self._restore.clear()
        kinds = self._fault_kinds()
        names = [k for k, _ in kinds]
        weights = [w for _, w in kinds]
        if self._tour is None:
            # Every kind once, in a random order, before the weighted draw takes over.
            self._tour = self.rng.sample(names, len(names))
        if self._tour:
            if self.report.polls % TOUR_SPACING == 0:
                self._inject(self._tour.pop())
            return
        if self.rng.random() >= self.fault_rate:
            return
        # Now and then a burst: several faults at once.
        count = self.rng.choice([1, 1, 1, 2, 3]) if self.rng.random() < 0.3 else 1
        for kind in self.rng.choices(names, weights, k=count):
            self._inject(kind)

    # --- checks -----------------------------------------------------------------------

    def _violation(self, text: str) -> None:
        self.report.violations.append(f"poll {self.report.polls}: {text}")

    def _state(self, entity_id: str) -> str:
        state = self.hass.states.get(entity_id)
        return STATE_UNAVAILABLE if state is None else state.state

    def _check_energy(self, name: str, entity_id: str, start: datetime, end: datetime) -> None:
        value = self._state(entity_id)
        reg = self.registers[name]
        if value in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            self._violation(f"{name} energy is {value} after a successful poll")
            return
        raw_dec = Decimal(value) / self.truth.kwh_per_raw
        raw = int(raw_dec.to_integral_value())
        if abs(raw_dec - raw) > Decimal("0.001") or not 0 <= raw < MODULUS:
            self._violation(f"{name} energy {value} kWh is not a register value")
            return
        low = self.truth.unwrapped(name, start)
        high = self.truth.unwrapped(name, end)
        if reg.raw is None:
            unwrapped = low - (low % MODULUS) + raw
        else:
            step = (raw - reg.raw) % MODULUS
            unwrapped = (reg.unwrapped or 0) + step
            if raw < reg.raw:
                reg.wraps += 1
        if raw == 0 and high % MODULUS != 0 and low % MODULUS != 0:
            self._violation(f"{name} energy is 0 but the meter holds {low % MODULUS}")
        if unwrapped > high:
            self._violation(
                f"{name} energy ran ahead of the meter: {value} kWh ({unwrapped} counts "
                f"unwrapped, meter at {high})"
            )
        # Cumulative values may be a poll old when the meter left them out (Get_SNA).
        if unwrapped < low and not self._sna_poll:
            self._violation(f"{name} energy is stale: {unwrapped} counts, meter at {low}")
        reg.raw, reg.unwrapped = raw, unwrapped

    def _check_live(self, start: datetime, end: datetime) -> None:
        meter = self.sim.meter
        power = self._state(POWER)
        if power in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            if not self._sna_poll:
                self._violation(f"power is {power} after a successful poll")
            return
        expected = {meter.power_w(start), meter.power_w(end)}
        if int(Decimal(power)) not in expected:
            self._violation(f"power {power} W is not the meter's {sorted(expected)}")
        current = self._state(CURRENT_R)
        if current not in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            currents = {meter.currents_a(start)[0], meter.currents_a(end)[0]}
            if float(current) not in currents:
                self._violation(f"current {current} A is not the meter's {sorted(currents)}")

    def _check_unavailable(self) -> None:
        for entity_id in (POWER, CURRENT_R):
            value = self._state(entity_id)
            if value != STATE_UNAVAILABLE:
                self._violation(f"{entity_id} shows {value} while the meter cannot be read")

    @callback
    def _on_link(self, status: LinkStatus) -> None:
        """Availability follows the link: a reported loss shows within STALE_LIMIT."""
        if not status.lost:
            self._lost_at = None
            if status.up and self._watch_ups is not None:
                self._watch_ups.append(self.loop.time())
            return
        if self._lost_at is not None:
            return
        self._lost_at = self.loop.time()
        self.report.losses += 1
        self.loop.call_later(STALE_LIMIT, self._check_loss_shown, self._lost_at)

    def _check_loss_shown(self, lost_at: float) -> None:
        if self._lost_at != lost_at:
            return  # back within the limit: a value shown now may be fresh
        value = self._state(POWER)
        if value != STATE_UNAVAILABLE:
            self._violation(
                f"power shows {value} {self.loop.time() - lost_at:.2f} s after the link "
                f"reported a loss ({self.coordinator.connection.status})"
            )

    @callback
    def _on_state(self, event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] != POWER or new is None:
            return
        now = self.loop.time()
        if new.state == STATE_UNAVAILABLE:
            self._last_unavailable_at = now
        if self._watch_states is not None:
            self._watch_states.append((now, new.state))
        if new.state == STATE_UNAVAILABLE and self._lost_at is not None:
            stale = self.loop.time() - self._lost_at
            self.report.worst_stale_after_loss = max(self.report.worst_stale_after_loss, stale)

    @callback
    def _on_coordinator(self) -> None:
        ok = self.coordinator.last_update_success
        if self._was_ok and not ok:
            self.report.unavailable_episodes += 1
        self._was_ok = ok

    # --- availability against the fault schedule -------------------------------------

    async def _watch_faults(self) -> bool:
        """Judge this poll's faults from state_changed events, without polling.

        Returns whether the faults were watched to their end (the loss was seen and
        the values came back), so the outage bookkeeping of the polls can skip them.
        """
        kinds = {kind for kind, _, _ in self._injected}
        losses = [entry for entry in self._injected if entry[0] in KNOWN_LOSSES]
        available = self._state(POWER) not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        if len(losses) == 1 and kinds - KNOWN_LOSSES <= self._transparent() and available:
            if "drop_reply" in kinds and not self._drops_absorbed:
                return False
            _, known, _ = losses[0]
            clear = max(end for _, _, end in self._injected)
            return await self._watch_loss(known, clear)
        if "expire_reauth" in kinds and kinds <= self._transparent():
            # Let the hold pass with no poll: only the link's reports act meanwhile.
            connection = self.coordinator.connection
            deadline = self.loop.time() + 1.0
            await asyncio.sleep(0.01)
            while not connection.status.up and self.loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return False

    async def _watch_loss(self, known: float, clear: float) -> bool:
        report = self.report
        started = self.loop.time()
        states: list[tuple[float, str]] = []
        ups: list[float] = []
        self._watch_states, self._watch_ups = states, ups
        deadline = max(known, clear) + self.recovery_bound
        try:
            while self.loop.time() < deadline:
                gone = next((at for at, v in states if v == STATE_UNAVAILABLE), None)
                if gone is not None and any(
                    at > gone and v not in (STATE_UNAVAILABLE, STATE_UNKNOWN) for at, v in states
                ):
                    break
                if gone is None and self.loop.time() > known + STALE_LIMIT + 1.0:
                    break
                await asyncio.sleep(0.01)
        finally:
            self._watch_states = self._watch_ups = None
        report.watched_losses += 1
        gone = next((at for at, v in states if v == STATE_UNAVAILABLE), None)
        kinds = sorted(kind for kind, _, _ in self._injected)
        if gone is None:
            self._violation(f"power never went unavailable without a poll after {kinds}")
            return False
        stale = max(0.0, gone - known)
        report.worst_unavailable_after_known_loss = max(
            report.worst_unavailable_after_known_loss, stale
        )
        if stale > STALE_LIMIT:
            self._violation(f"power went unavailable {stale:.2f} s after {kinds} (no poll)")
        report.outages += 1
        back = next(
            (at for at, v in states if at > gone and v not in (STATE_UNAVAILABLE, STATE_UNKNOWN)),
            None,
        )
        if back is None:
            self._violation(
                f"no valid values {self.loop.time() - started:.2f} s after {kinds} "
                "without a poll (the refresh after the repair did not come)"
            )
            return False
        up = max((at for at in ups if at <= back), default=back)
        report.worst_back_after_up = max(report.worst_back_after_up, back - up)
        if back - up > BACK_LIMIT:
            self._violation(f"values came back {back - up:.2f} s after the link was up")
        recovery = max(0.0, back - clear)
        report.recoveries += 1
        report.recovery_times.append(recovery)
        if recovery > self.recovery_bound:
            self._violation(
                f"values came back {recovery:.2f} s after {kinds} cleared "
                f"(bound {self.recovery_bound:.2f} s)"
            )
        return True

    def _transparent(self) -> frozenset[str]:
        if self.sim.model.j11:
            # A J11 module announces no transmit limit (the simulator answers sends
            # "01 01", unsourced): the poll's attempts fail and it is unavailable.
            return TRANSPARENT - {"transmit_limit"}
        return TRANSPARENT

    def _check_transparent(self, since: float) -> None:
        """No unavailable power since faults that must not show (after their poll)."""
        kinds = {kind for kind, _, _ in self._injected}
        if not kinds or not kinds <= self._transparent() or not self._drops_absorbed:
            return
        self.report.transparent_checked += 1
        if self._last_unavailable_at >= since:
            self._violation(f"power went unavailable after transparent faults {sorted(kinds)}")

    # --- the run ----------------------------------------------------------------------

    async def _link_back(self) -> None:
        """After a failed poll, wait (bounded) for the link to report UP again.

        A poll that meets a link under repair fails at once; the coordinator polls
        again when the link is back, and so does the soak (its polls replace the
        coordinator's timer). Without this the soak would fire its whole budget of
        polls, and of faults, into one repair.
        """
        connection = self.coordinator.connection
        deadline = self.loop.time() + self.recovery_bound
        while not connection.status.up and self.loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def _poll(self) -> bool:
        advance = self.rng.choice([60, 120, 300, 600, 900, 1800])
        moved = asyncio.Event()

        def move() -> None:
            self.clock.advance(advance)
            moved.set()

        start = self.sim.meter.now()
        if self.rng.random() < 0.3:
            # The clock (and so a half-hour push) moves while the request is on the air.
            self.loop.call_later(self.rng.uniform(0, 0.004), move)
        else:
            move()
            start = self.sim.meter.now()
        await self.coordinator.async_refresh()
        await self.hass.async_block_till_done()
        await moved.wait()
        end = self.sim.meter.now()
        report = self.report
        report.polls += 1
        if self.entry.state is not ConfigEntryState.LOADED:
            self._violation(f"entry state is {self.entry.state}")
        ok = self.coordinator.last_update_success
        if ok:
            report.ok_polls += 1
            self._check_live(start, end)
            self._check_energy("import", IMPORT, start, end)
            self._check_energy("export", EXPORT, start, end)
        else:
            report.failed_polls += 1
            self._check_unavailable()
        return ok

    async def run(self) -> SoakReport:
        report = self.report
        records = _Records()
        root = logging.getLogger()
        # pytest's capture handlers keep every record (and what its arguments hold)
        # until the test ends: detached meanwhile, so memory shows what the code keeps.
        detached = [h for h in root.handlers if type(h).__module__.startswith("_pytest")]
        for handler in detached:
            root.removeHandler(handler)
        root.addHandler(records)
        # The soak's polls replace the coordinator's timer: an hour is far longer than
        # the run, so between polls only the link's reports (and the coordinator's
        # refresh once a repair is done) can change availability.
        self.coordinator.update_interval = timedelta(hours=1)
        self.coordinator._unschedule_refresh()
        unsubs = [
            self.coordinator.connection.add_status_listener(self._on_link),
            self.hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_state),
            self.coordinator.async_add_listener(self._on_coordinator),
        ]
        began = time.monotonic()
        first_meter_time = self.sim.meter.now()
        try:
            # Warm up (caches, the recorder's first rows) before measuring.
            tracemalloc.start(25 if os.environ.get("BROUTE_SOAK_MEMDEBUG") else 1)
            for _ in range(WARM_UP_POLLS):
                await self._poll()
            gc.collect()
            report.fds = (_fd_count(), 0)
            report.tasks = (len(asyncio.all_tasks()), 0)
            warm = _traced_kib()
            if os.environ.get("BROUTE_SOAK_MEMDEBUG"):
                self._snap = tracemalloc.take_snapshot()
            for index in range(self.polls):
                self._injected = []
                self._drops_absorbed = True
                injected_at = self.loop.time()
                self._maybe_inject()
                if self._injected and await self._watch_faults():
                    self._clear_at = None  # watched through: lost, repaired, valid again
                self._sna_poll = bool(self._restore)
                fault_started = self._clear_at is not None
                ok = await self._poll()
                self._check_transparent(injected_at)
                now = self.loop.time()
                if not ok and not self._outage:
                    self._outage = True
                    report.outages += 1
                if ok and fault_started and self._clear_at is not None and now >= self._clear_at:
                    if self._outage:
                        recovery = max(0.0, now - self._clear_at)
                        report.recoveries += 1
                        report.recovery_times.append(recovery)
                        if recovery > self.recovery_bound:
                            self._violation(
                                f"values came back {recovery:.2f} s after the fault cleared "
                                f"(bound {self.recovery_bound:.2f} s)"
                            )
                    self._clear_at = None
                if ok:
                    self._outage = False
                elif self._clear_at is None:
                    self._violation(
                        "a poll failed with no fault injected: "
                        f"{self.coordinator.last_exception!r} "
                        f"({self.coordinator.connection.status})"
                    )
                elif now - self._clear_at > self.recovery_bound:
                    self._violation(
                        f"still failing {now - self._clear_at:.2f} s after the faults cleared"
                    )
                    self._clear_at = now  # report once per bound, not every poll
                await asyncio.sleep(self.poll_gap)
                if not ok:
                    await self._link_back()
                if index == self.polls // 2:
                    gc.collect()
                    report.memory_mid_kib = _traced_kib()
                    if os.environ.get("BROUTE_SOAK_MEMDEBUG"):
                        self._snap = tracemalloc.take_snapshot()
                if self.progress is not None and index % 250 == 249:
                    self.progress(report)
            # Let the last faults clear, then require a healthy finish.
            for restore in self._restore:
                restore()
            self._restore.clear()
            self._sna_poll = False
            deadline = self.loop.time() + self.recovery_bound + 2
            while not await self._poll():
                if self.loop.time() > deadline:
                    self._violation("no valid values at the end of the run")
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            gc.collect()
            end_mem = _traced_kib()
            if os.environ.get("BROUTE_SOAK_MEMDEBUG"):
                keep = [tracemalloc.Filter(False, "*/simulator/*")]
                end_snap = tracemalloc.take_snapshot().filter_traces(keep)
                mid_snap = self._snap.filter_traces(keep)
                for stat in end_snap.compare_to(mid_snap, "lineno")[:15]:
                    print("MEM", stat)
                stats = end_snap.compare_to(mid_snap, "traceback")
                stats = [
                    st
                    for st in stats
                    if any("custom_components" in fr.filename for fr in st.traceback)
                ]
                print("MEMSUM", sum(st.size_diff for st in stats), len(stats))
                for stat in sorted(stats, key=lambda st: -st.size_diff)[:4]:
                    print("MEMT", stat)
                    for line in stat.traceback.format(limit=12, most_recent_first=True):
                        print("MEMT   ", line)
            tracemalloc.stop()
            report.memory_kib = (warm, end_mem)
            report.fds = (report.fds[0], _fd_count())
            report.tasks = (report.tasks[0], len(asyncio.all_tasks()))
        finally:
            for unsub in unsubs:
                unsub()
            root.removeHandler(records)
            for handler in detached:
                root.addHandler(handler)
            if tracemalloc.is_tracing():
                tracemalloc.stop()
        report.wraps_import = self.registers["import"].wraps
        report.wraps_export = self.registers["export"].wraps
        report.meter_hours = (self.sim.meter.now() - first_meter_time) / timedelta(hours=1)
        report.seconds = time.monotonic() - began
        self._judge_logs(records.records)
        self._judge_leaks()
        return report

    def _judge_logs(self, records: list[tuple[str, str, bool]]) -> None:
        report = self.report
        for level, message, has_traceback in records:
            if message.startswith(("Error fetching ", "Error requesting ")) and not has_traceback:
                report.error_fetching_logs += 1
                continue
            report.violations.append(f"logged at {level}: {message[:200]}")
        # The coordinator logs one ERROR per outage (when it starts: the link's loss
        # report or a failed poll), never per poll.
        if report.error_fetching_logs > report.unavailable_episodes:
            report.violations.append(
                f"{report.error_fetching_logs} error logs for "
                f"{report.unavailable_episodes} unavailable episodes"
            )

    def _judge_leaks(self) -> None:
        report = self.report
        fds_before, fds_after = report.fds
        if fds_after > fds_before + 2:
            report.violations.append(f"file descriptors grew from {fds_before} to {fds_after}")
        tasks_before, tasks_after = report.tasks
        if tasks_after > tasks_before + 3:
            report.violations.append(f"asyncio tasks grew from {tasks_before} to {tasks_after}")
        warm, end = report.memory_kib
        mid = report.memory_mid_kib
        # Flat: caches fill early (line cache of formatted tracebacks, state attribute
        # caches); the second half of a run must not grow like the first.
        if end - warm > 512 + report.polls or end - mid > 256 + report.polls / 2:
            report.violations.append(
                f"traced memory grew from {warm:.0f} (mid {mid:.0f}) to {end:.0f} KiB"
            )
