"""Real-time behaviour and the standalone command."""

from __future__ import annotations

import asyncio
from datetime import datetime
import sys

from simulator import (
    TEST_RBID,
    DongleModel,
    MeterConfig,
    RealClock,
    Simulator,
    TimingModel,
)
from simulator.timing import next_half_hour

from .helpers import connect_and_join


async def test_real_clock_pushes_ea_at_the_half_hour(socket_enabled: None) -> None:
    config = MeterConfig()
    async with Simulator(
        DongleModel.BP35A1, config, timing=TimingModel.fast(), clock=RealClock()
    ) as sim:
        url = await sim.start_socket()
        host = await connect_and_join(url, dse=False)
        try:
            # Move the meter's clock so that its next half hour is 0.3 s away.
            now = sim.meter.now()
            config.clock_skew = (next_half_hour(now) - now).total_seconds() - 0.3
            rx = await host.rx(within=3.0)
            assert rx.data[10:13] == bytes.fromhex("7302EA")
            stamp = rx.data[14:21]
            pushed = datetime(
                int.from_bytes(stamp[:2], "big"), stamp[2], stamp[3], stamp[4], stamp[5]
            )
            boundary = next_half_hour(now).replace(tzinfo=None)
            assert pushed == boundary
        finally:
            await host.close()


async def test_standalone_command_prints_where_and_credentials() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--pty",
        "--model",
        "bp35a1",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(3)]
    finally:
        proc.terminate()
        await proc.wait()
    assert lines[0].startswith("Simulated bp35a1 dongle at: /")
    assert lines[1].strip() == f"B-route ID: {TEST_RBID}"
    assert lines[2].startswith("Password:")
