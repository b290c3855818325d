"""Fixtures for the B-route client tests: a simulator per test, on a pty or a socket."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from custom_components.broute_meter.broute import ConnectionTiming, LinkState, MeterConnection
from custom_components.broute_meter.broute.echonet import LV_METER_EOJ
from custom_components.broute_meter.broute.errors import SessionUnavailableError
from simulator import (
    JST,
    TEST_PASSWORD,
    TEST_RBID,
    DongleModel,
    ManualClock,
    MeterConfig,
    Simulator,
    TimingModel,
)

from .udp_harness import UdpHarness

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

# A fixed instant keeps the simulated load (and so the ground truth) still during a test.
START = datetime(2026, 11, 15, 12, 10, tzinfo=JST)

DIALECTS = [DongleModel.BP35A1, DongleModel.BP35C2, DongleModel.RL7023_IPS]
TRANSPORTS = ["pty", "socket"]


class Harness:
    """Starts simulators and connections and tears all of them down after the test."""

    def __init__(self) -> None:
        self.sims: list[Simulator] = []
        self.sessions: list[MeterConnection] = []

    async def sim(
        self,
        transport: str = "socket",
        model: DongleModel = DongleModel.BP35C2,
        *,
        password: str = TEST_PASSWORD,
        **meter: Any,
    ) -> tuple[Simulator, str]:
        sim = Simulator(
            model=model,
            meter=MeterConfig(**meter),
            rbid=TEST_RBID,
            password=password,
            timing=TimingModel.fast(),
            clock=ManualClock(START),
        )
        self.sims.append(sim)
        url = await (sim.start_pty() if transport == "pty" else sim.start_socket())
        return sim, url

    def session(
        self, url: str, *, states: list[LinkState] | None = None, **kwargs: Any
    ) -> MeterConnection:
        """A connection (not opened); ``states`` collects every state the link reports."""
        kwargs.setdefault("timing", ConnectionTiming.fast())
        conn = MeterConnection(url, TEST_RBID, TEST_PASSWORD, **kwargs)
        if states is not None:
            conn.add_status_listener(lambda status: states.append(status.state))
        self.sessions.append(conn)
        return conn

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


@pytest.fixture
async def udp(socket_enabled: None) -> AsyncIterator[UdpHarness]:
    """UDP meters on loopback and links to them (see ``udp_harness.py``)."""
    harness = UdpHarness()
    try:
        yield harness
    finally:
        await harness.close()


async def get(conn: MeterConnection, *epcs: int) -> dict[int, bytes]:
    """Read properties of the low-voltage meter through the connection's client."""
    return await conn.client.get(LV_METER_EOJ, epcs)


async def get_when_up(conn: MeterConnection, *epcs: int, limit: float = 10.0) -> dict[int, bytes]:
    """Read as a poller does: a request that meets a link under repair fails at once,
    so wait for the link to report UP again and ask once more (bounded)."""
    async with asyncio.timeout(limit):
        while True:
            try:
                return await get(conn, *epcs)
            except SessionUnavailableError:
                while not conn.status.up:  # noqa: ASYNC110 - the link's state, polled
                    await asyncio.sleep(0.01)


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
    assert TEST_RBID not in text
    assert TEST_PASSWORD not in text
