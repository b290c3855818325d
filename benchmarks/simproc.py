"""The simulator in a child process, steered over stdin/stdout with JSON lines.

Running the dongle + meter emulator in its own process keeps its CPU time out of the
Home Assistant process being measured. Commands (one JSON object per line):
``{"op": "stats"}``, ``{"op": "reset_stats"}``, ``{"op": "expire", "reauth": false}``,
``{"op": "end_session"}``, ``{"op": "disconnect", "seconds": 30}``,
``{"op": "dongle_reset", "silent": true}``, ``{"op": "meter_reboot", "seconds": 30}``,
``{"op": "push_fixed_time"}``, ``{"op": "set_load", "watts": 500}``, ``{"op": "marks"}``,
``{"op": "stop"}``. Every command is answered with one line.

Ground truth for the recovery benchmark: any command may carry ``"load_w"``, which fixes
the power the meter reports from the same instant the command acts (so a value shown
later can be told to be older or newer than the fault); every answer carries ``"at"``,
the ``time.monotonic()`` (system-wide, so comparable with the parent's clock) at which
the command was applied. ``marks`` returns when the host link was last cut
(``unplugged``) and opened again (``replugged``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from simulator import DongleModel, MeterConfig, Simulator, TimingModel


def timing_for(scale: float, latency: float) -> TimingModel:
    """The realistic model, every wait multiplied by ``scale``."""
    model = TimingModel.realistic(latency=latency)
    model.time_scale = scale
    return model


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        model=DongleModel(args.model),
        meter=MeterConfig(seed=args.seed),
        timing=timing_for(args.time_scale, args.latency),
    )
    where = await sim.start_pty() if args.pty else await sim.start_socket()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    marks: dict[str, float] = {}
    unplug, replug = sim.unplug, sim.replug

    async def marked_unplug() -> tuple[bool, bool]:
        result = await unplug()
        marks["unplugged"] = time.monotonic()
        return result

    async def marked_replug(*, server: bool, pty: bool) -> None:
        await replug(server=server, pty=pty)
        marks["replugged"] = time.monotonic()

    sim.unplug = marked_unplug  # type: ignore[method-assign]
    sim.replug = marked_replug  # type: ignore[method-assign]
    _reply({"port": where})
    try:
        while line := await reader.readline():
            cmd: dict[str, Any] = json.loads(line)
            op = cmd.get("op")
            if "load_w" in cmd:
                sim.config.load_override_w = cmd["load_w"]
            answer: dict[str, Any] = {"ok": True, "at": time.monotonic()}
            if op == "stats":
                answer = {
                    **sim.stats.as_dict(),
                    "joined": sim.dongle.joined,
                    "session_count": sim.dongle.session_count,
                }
            elif op == "reset_stats":
                sim.stats.__init__()  # type: ignore[misc]
            elif op == "expire":
                sim.faults.expire_session(reauth=bool(cmd.get("reauth", False)))
            elif op == "end_session":
                sim.faults.end_session()
            elif op == "disconnect":
                sim.faults.disconnect(float(cmd["seconds"]))
            elif op == "set_load":
                sim.config.load_override_w = cmd.get("watts")
            elif op == "push_fixed_time":
                sim.faults.push_fixed_time()
            elif op == "dongle_reset":
                sim.faults.dongle_reset(silent=bool(cmd.get("silent", True)))
            elif op == "meter_reboot":
                sim.faults.meter_reboot(float(cmd["seconds"]))
            elif op == "marks":
                answer = {**answer, **marks}
            elif op == "stop":
                _reply(answer)
                break
            else:
                answer = {"ok": False, "error": f"unknown op {op!r}"}
            _reply(answer)
    finally:
        await sim.stop()


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="bp35c2")
    parser.add_argument("--pty", action="store_true")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
