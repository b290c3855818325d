"""Fixtures for the B-route client tests: a simulator per test, on a pty or a socket."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from custom_components.broute_meter.broute import MeterSession, SessionTiming
from simulator import JST, DongleModel, ManualClock, MeterConfig, Simulator, TimingModel

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

RBID = "00112233445566778899AABBCCDD1234"
PASSWORD = "0123456789AB"
# A fixed instant keeps the simulated load (and so the ground truth) still during a test.
START = datetime(2026, 11, 15, 12, 10, tzinfo=JST)

DIALECTS = [DongleModel.BP35A1, DongleModel.BP35C2, DongleModel.RL7023_IPS]
TRANSPORTS = ["pty", "socket"]


class Harness:
    """Starts simulators and sessions and tears all of them down after the test."""

    def __init__(self) -> None:
        self.sims: list[Simulator] = []
        self.sessions: list[MeterSession] = []

    async def sim(
        self,
        transport: str = "socket",
        model: DongleModel = DongleModel.BP35C2,
        *,
        password: str = PASSWORD,
        **meter: Any,
    ) -> tuple[Simulator, str]:
        sim = Simulator(
            model=model,
            meter=MeterConfig(**meter),
            rbid=RBID,
            password=password,
            timing=TimingModel.fast(),
            clock=ManualClock(START),
        )
        self.sims.append(sim)
        url = await (sim.start_pty() if transport == "pty" else sim.start_socket())
        return sim, url

    def session(self, url: str, **kwargs: Any) -> MeterSession:
        kwargs.setdefault("timing", SessionTiming.fast())
        session = MeterSession(url, RBID, PASSWORD, **kwargs)
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        for sim in self.sims:
            await sim.stop()


@pytest.fixture
async def harness(socket_enabled: None) -> AsyncIterator[Harness]:
    """Simulators and sessions; sockets allowed (the test harness keeps them on 127.0.0.1)."""
    h = Harness()
    try:
        yield h
    finally:
        await h.close()


async def eventually(check: Callable[[], bool], limit: float = 3.0) -> None:
    """Wait until ``check()`` holds (state reached through the event loop)."""
    async with asyncio.timeout(limit):
        while not check():  # noqa: ASYNC110 - polling a plain predicate, no event to wait on
            await asyncio.sleep(0.01)


@contextlib.contextmanager
def no_secrets_in(caplog: pytest.LogCaptureFixture) -> Any:
    """Fail if the B-route ID or password shows up in any log record."""
    yield
    text = caplog.text.upper()
    assert RBID not in text
    assert PASSWORD not in text
