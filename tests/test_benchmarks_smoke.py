"""Smoke run of every benchmark script with tiny parameters: they start and print tables.

The figures of such a run mean nothing (time compressed 100×, a handful of polls); the
test only proves the scripts work against the current integration and simulator. All
five run at once, each in its own processes, to stay well under a minute.
"""

from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent

SCRIPTS: dict[str, list[str]] = {
    "cold_start": ["--time-scale", "0.02", "--jobs", "2"],
    "recovery": [
        "--time-scale",
        "0.01",
        "--jobs",
        "2",
        "--fault",
        "end_session",
        "--window",
        "300",
    ],
    # Long enough for several of core's polls even on a loaded machine (its 300 s
    # interval is 3 s here, after a setup that cannot be compressed below ~2 s).
    "steady_state": ["--time-scale", "0.01", "--hour", "1200"],
    "cpu_memory": ["--time-scale", "0.01", "--polls", "10", "--jobs", "2"],
    "backfill": ["--time-scale", "0.01", "--days", "2", "--poll-interval", "100"],
}


def _table(output: str) -> list[list[str]]:
    rows = []
    for line in output.splitlines():
        if line.startswith("| ") and not line.startswith("|-"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _table_rows(output: str) -> list[list[str]]:
    return _table(output)[1:]  # without the header


SECONDS = r"\d+\.\d s"
#: A figure, or what did not happen within the window ("> 300 s").
SECONDS_OR_CAP = r"\d+\.\d s|> \d+ s"


def test_every_benchmark_prints_its_table() -> None:
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"benchmarks.{name}", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in SCRIPTS.items()
    }
    outputs: dict[str, str] = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        assert proc.returncode == 0, f"{name} failed:\n{err[-3000:]}"
        outputs[name] = out

    for name, out in outputs.items():
        assert "Timing model" in out, name
        assert _table_rows(out), f"{name} printed no table:\n{out}"

    cold = {row[0]: row for row in _table_rows(outputs["cold_start"])}
    # Both integrations reached a first value in both cases; core needed a scan each time.
    for row in cold.values():
        assert re.fullmatch(r"\d+\.\d s", row[1]), row
        assert re.fullmatch(r"\d+\.\d s", row[3]), row
    assert cold["restart (ours: cached PAN)"][2].startswith("0 /")
    assert cold["restart (ours: cached PAN)"][4].startswith("1 /")
    # Through the config flow ours scans and joins once: the entry adopts the probe's join.
    assert cold["first setup through the config flow"][2].startswith("1 / 1 /")

    header, *recovery = _table(outputs["recovery"])
    assert len(recovery) == 1
    row = dict(zip(header, recovery[0], strict=True))
    # EVENT 26: ours knows the loss at once and is back after a join, so every figure of
    # ours is a number; core's may be capped at the window.
    for column in (
        "ours stale from onset",
        "ours stale after known loss",
        "ours valid after fault ends",
        "ours first good poll",
    ):
        assert re.fullmatch(SECONDS, row[column]), (column, row)
    for column in ("target (stale)", "target (valid)"):
        assert re.fullmatch(r"≤ \d+\.\d s: (met|missed)", row[column]), (column, row)
    for column in ("core stale from onset", "core valid after fault ends", "core first good poll"):
        assert re.fullmatch(SECONDS_OR_CAP, row[column]), (column, row)

    steady = {row[0]: row for row in _table_rows(outputs["steady_state"])}
    # Core reads power, current and energy with one Get each.
    assert steady["Get frames per poll"][2] == "3.00"

    cpu = {row[0]: row for row in _table_rows(outputs["cpu_memory"])}
    for cell in cpu["polls measured (failed)"][1:]:
        measured, failed = re.fullmatch(r"(\d+) \((\d+)\)", cell).groups()  # type: ignore[union-attr]
        assert int(measured) + int(failed) == 10
        assert int(measured) > 0

    backfill = {row[0]: row for row in _table_rows(outputs["backfill"])}
    assert backfill["days imported (job state)"][1] == "2 (idle)"
