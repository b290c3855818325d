"""Run the simulator standalone: ``python -m simulator --port 40000`` or ``--pty``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .dongle import DongleModel
from .meter import MeterConfig
from .sim import TEST_PASSWORD, TEST_RBID, Simulator
from .timing import TimingModel


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--model", choices=[m.value for m in DongleModel], default="bp35c2")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, default=40000, help="TCP port on --host")
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency", type=float, default=1.0, help="meter reply latency (s)")
    parser.add_argument("--realistic", action="store_true", help="real scan/join durations")
    parser.add_argument("--rbid", default=TEST_RBID)
    parser.add_argument("--password", default=TEST_PASSWORD)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-reverse", action="store_true", help="meter without export")
    parser.add_argument("--single-phase", action="store_true")
    parser.add_argument("--session-lifetime", type=float, default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


async def _run(args: argparse.Namespace) -> None:
    timing = TimingModel.realistic(args.latency) if args.realistic else TimingModel.fast()
    config = MeterConfig(
        seed=args.seed,
        reverse_metering=not args.no_reverse,
        single_phase=args.single_phase,
        session_lifetime=args.session_lifetime,
        latency=None if args.realistic else args.latency,
    )
    async with Simulator(DongleModel(args.model), config, args.rbid, args.password, timing) as sim:
        where = await sim.start_pty() if args.pty else await sim.start_socket(args.host, args.port)
        # This is the operator's own console: showing the credentials to type in is the point.
        print(f"Simulated {sim.model.value} dongle at: {where}", flush=True)
        print(f"B-route ID: {args.rbid}", flush=True)
        print(f"Password:   {args.password}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    args = _parser().parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
