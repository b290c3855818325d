"""The long fault soak: thousands of polls of the real integration under random faults.

Runs ``tests/reliability/test_soak.py`` (Home Assistant's test harness, the
integration's coordinator and entities, the simulator on a socket and on a pty, and
its ROHM J11 dongle on a socket, ``--transport j11``) with
more polls and a chosen seed, then prints the figures: polls, faults injected by
kind, outages, recoveries and their worst time, register wraps, file descriptors,
tasks and traced memory, and every violated check.

    python -m benchmarks.soak --polls 3000 --seed 7

The pty and J11 runs make half as many polls as the socket run. Exit status 1 when a check
failed. The same seed gives the same fault schedule (timing on a loaded machine can
still shift which poll a fault lands in).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile

ROOT = Path(__file__).resolve().parent.parent


def run(polls: int, seed: int, transport: str) -> tuple[int, list[dict[str, object]]]:
    """Run the soak test; return pytest's exit status and the per-transport reports."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "soak.json"
        env = {
            **os.environ,
            "BROUTE_SOAK_POLLS": str(polls),
            "BROUTE_SOAK_SEED": str(seed),
            "BROUTE_SOAK_REPORT": str(report),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/reliability/test_soak.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            "-o",
            "log_level=WARNING",
        ]
        if transport != "both":
            command += ["-k", transport]
        status = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        runs = json.loads(report.read_text()) if report.exists() else []
    return status, runs


def show(runs: list[dict[str, object]]) -> None:
    for summary in runs:
        print()
        print(f"== {summary['transport']} (seed {summary['seed']}) ==")
        for key, value in summary.items():
            if key in ("transport", "seed"):
                continue
            print(f"  {key}: {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=3000, help="polls of the socket run")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--transport", choices=["socket", "pty", "j11", "both"], default="both")
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args()
    status, runs = run(args.polls, args.seed, args.transport)
    show(runs)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    if not runs:
        print("no report: the soak did not run to its end", file=sys.stderr)
        return 1
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
