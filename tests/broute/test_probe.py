"""The probe command against the simulator: output checked against its ground truth."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from pathlib import Path
import re
import sys
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute import ConnectionTiming
from custom_components.broute_meter.broute.__main__ import (
    EXIT_AUTH,
    EXIT_DONGLE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PORT,
    EXIT_USAGE,
    async_main,
    main,
)
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel

if TYPE_CHECKING:
    from .conftest import Harness

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROUTE_ID", TEST_RBID)
    monkeypatch.setenv("BROUTE_PASSWORD", TEST_PASSWORD)


async def _probe(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await async_main(["probe", *argv], timing=ConnectionTiming.fast(), out=out)
    return code, out.getvalue()


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("model", [DongleModel.BP35A1, DongleModel.BP35C2, DongleModel.BP35C2_J11])
async def test_probe_prints_identity_and_reading(harness: Harness, model: DongleModel) -> None:
    sim, url = await harness.sim("pty", model)
    code, text = await _probe("--port", url)
    assert code == EXIT_OK, text
    # The firmware is detected, never given.
    assert ("ROHM J11" in text) == (model is DongleModel.BP35C2_J11), text
    cfg = sim.config
    assert f"channel {cfg.channel} (0x{cfg.channel:02X})" in text
    assert f"PAN ID {cfg.pan_id:04X}" in text
    assert cfg.mac in text
    expected_rssi = 0.275 * cfg.lqi - 104.27
    if model is DongleModel.BP35C2_J11:
        # J11 reports whole dBm, not an LQI: the stored LQI maps back to within 0.3 dBm.
        shown = re.search(r"≈ (-?\d+\.\d) dBm", text)
        assert shown is not None, text
        assert float(shown[1]) == pytest.approx(round(expected_rssi), abs=0.3)
    else:
        assert f"{expected_rssi:.1f} dBm" in text
    assert f"maker 0x{cfg.maker_code:06X}" in text
    assert f"serial {cfg.serial}" in text
    assert f"release {cfg.release}" in text
    assert f"power {sim.meter.power_w()} W" in text
    forward = sim.meter.forward_kwh()
    assert forward is not None
    assert f"forward {forward.normalize():f} kWh" in text
    assert TEST_RBID not in text
    assert TEST_PASSWORD not in text
    assert sim.stats.flash_writes == 0
    if model is DongleModel.BP35C2_J11:
        assert sim.stats.commands["0057"] == 1  # PANA ended politely
        return
    assert ("Dual Stack" if model is DongleModel.BP35C2 else "Single-hop") in text
    assert "ERXUDP data binary" in text
    assert sim.stats.commands["SKTERM"] == 1


@pytest.mark.usefixtures("credentials")
async def test_probe_with_given_pan_skips_the_scan(harness: Harness) -> None:
    sim, url = await harness.sim("socket", DongleModel.RL7023_IPS)
    cfg = sim.config
    code, text = await _probe(
        "--port",
        url,
        "--channel",
        str(cfg.channel),
        "--pan-id",
        f"{cfg.pan_id:04X}",
        "--mac",
        cfg.mac,
    )
    assert code == EXIT_OK, text
    assert sim.stats.scans == 0
    assert "ERXUDP data hex ASCII" in text


@pytest.mark.usefixtures("credentials")
async def test_probe_failures_have_distinct_exit_codes(harness: Harness, tmp_path: Path) -> None:
    code, text = await _probe("--port", str(tmp_path / "ttyUSB0"))
    assert (code, "does not exist" in text) == (EXIT_PORT, True)

    _, url = await harness.sim("socket", min_scan_duration=12)
    code, text = await _probe("--port", url)
    assert (code, "closer" in text) == (EXIT_NOT_FOUND, True)

    _, url = await harness.sim("socket", password="ABCDEFABCDEF")
    code, text = await _probe("--port", url)
    assert (code, "re-issue" in text) == (EXIT_AUTH, True)

    master, slave = os.openpty()  # a port with nothing behind it
    try:
        code, text = await _probe("--port", os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)
    assert (code, "no Wi-SUN dongle answers" in text) == (EXIT_DONGLE, True)


async def test_probe_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROUTE_ID", raising=False)
    monkeypatch.delenv("BROUTE_PASSWORD", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    code, text = await _probe("--port", "/dev/null")
    assert code == EXIT_USAGE
    assert "BROUTE_ID" in text


@pytest.mark.usefixtures("credentials")
async def test_probe_debug_log_is_redacted(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, url = await harness.sim("socket")
    code, _ = await _probe("--port", url, "--debug")
    assert code == EXIT_OK
    assert "SKSETRBID ********" in caplog.text
    assert TEST_RBID not in caplog.text.upper()
    assert TEST_PASSWORD not in caplog.text.upper()
    logging.getLogger("custom_components.broute_meter.broute").setLevel(logging.NOTSET)


async def test_probe_as_a_module_process(harness: Harness) -> None:
    """``python -m …`` with credentials only in the environment, never in argv."""
    sim, url = await harness.sim("socket", DongleModel.BP35C2)
    env = {
        **os.environ,
        "BROUTE_ID": TEST_RBID,
        "BROUTE_PASSWORD": TEST_PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.broute_meter.broute",
        "probe",
        "--port",
        url,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    text = stdout.decode()
    assert proc.returncode == EXIT_OK, text + stderr.decode()
    assert f"power {sim.meter.power_w()} W" in text


@pytest.mark.parametrize(
    ("option", "value"),
    [("--channel", "32"), ("--channel", "0x3D"), ("--pan-id", "10000"), ("--pan-id", "-1")],
)
async def test_probe_rejects_out_of_range_pan_options(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A channel outside 33-60 or a PAN ID wider than 16 bits is a usage error."""
    with pytest.raises(SystemExit) as exited:
        await _probe("--port", "/dev/null", option, value)
    assert exited.value.code == EXIT_USAGE
    assert option in capsys.readouterr().err


@pytest.mark.usefixtures("credentials")
async def test_probe_needs_channel_pan_id_and_mac_together(harness: Harness) -> None:
    sim, url = await harness.sim("socket")
    code, text = await _probe("--port", url, "--channel", str(sim.config.channel))
    assert code == EXIT_USAGE
    assert "go together" in text
    assert sim.stats.commands.total() == 0  # the dongle was not even asked


@pytest.mark.usefixtures("credentials")
async def test_probe_rejects_a_malformed_mac(harness: Harness) -> None:
    sim, url = await harness.sim("socket")
    cfg = sim.config
    code, text = await _probe(
        "--port",
        url,
        "--channel",
        str(cfg.channel),
        "--pan-id",
        f"{cfg.pan_id:04X}",
        "--mac",
        cfg.mac[:-1],
    )
    assert code == EXIT_USAGE
    assert "Invalid PAN" in text
    assert sim.stats.commands.total() == 0


async def test_probe_rejects_malformed_credentials(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dongle is detected first; a B-route ID that is not 32 characters never joins."""
    monkeypatch.setenv("BROUTE_ID", TEST_RBID[:-1])
    monkeypatch.setenv("BROUTE_PASSWORD", TEST_PASSWORD)
    sim, url = await harness.sim("socket")
    code, text = await _probe("--port", url)
    assert code == EXIT_USAGE
    assert "Invalid credentials" in text
    assert TEST_RBID[:-1] not in text
    assert sim.stats.scans == 0
    assert sim.stats.commands["SKSETRBID"] == 0


async def test_probe_asks_for_credentials_on_a_terminal(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the environment variables an interactive run prompts (hidden) for both."""
    monkeypatch.delenv("BROUTE_ID", raising=False)
    monkeypatch.delenv("BROUTE_PASSWORD", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    prompts: list[str] = []
    answers = {"ID": f" {TEST_RBID} ", "password": TEST_PASSWORD}

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return next(value for key, value in answers.items() if key in prompt)

    monkeypatch.setattr("getpass.getpass", getpass)
    sim, url = await harness.sim("socket")
    code, text = await _probe("--port", url)
    assert code == EXIT_OK, text
    assert len(prompts) == 2
    assert f"power {sim.meter.power_w()} W" in text
    assert TEST_PASSWORD not in text


@pytest.mark.usefixtures("credentials")
def test_main_runs_the_probe_and_returns_its_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The process entry point: its own event loop, output on stdout."""
    code = main(["probe", "--port", "/dev/null", "--pan-id", "8888"])
    assert code == EXIT_USAGE
    assert "go together" in capsys.readouterr().out
