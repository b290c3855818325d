"""The demo as the README starts it, and Debian's Chromium driven by playwright.

No browser is downloaded: playwright drives the system Chromium (`apt-get install
chromium fonts-ipafont-gothic`). Without it the browser test is skipped, except in
CI (``CI`` set), where a missing browser fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING
import urllib.error
import urllib.request

import pytest
import pytest_socket

if TYPE_CHECKING:
    from collections.abc import Generator

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".browser-screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 180.0


@dataclass(frozen=True, slots=True)
class Demo:
    """A running scripts/develop."""

    url: str
    port_url: str
    config: Path
    log: Path
    lv_address: str  # the simulated meters on the network (UDP 3610)
    hv_address: str
    silent_address: str  # a loopback address where nothing answers


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        message = "Chromium is not installed (apt-get install chromium fonts-ipafont-gothic)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture
def chromium() -> str:
    """The system Chromium's path (skips outside CI when it is missing)."""
    return _chromium()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    """An emptied screenshot folder, announced on the terminal."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nBrowser screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture
def demo(chromium: str, tmp_path: Path) -> Generator[Demo]:
    """`scripts/develop --fresh` on free ports with its own config dir, stopped after."""
    pytest_socket.enable_socket()  # talks to the demo on 127.0.0.1 only
    ha_port, sim_port = _free_port(), _free_port()
    # Not the demo's defaults (127.0.0.2/.3), so a demo someone runs beside keeps its own.
    net = f"127.36.{ha_port % 250 + 1}"
    config = tmp_path / "config"
    log = tmp_path / "develop.log"
    command = [
        str(ROOT / "scripts" / "develop"),
        "--fresh",
        "--config",
        str(config),
        "--ha-port",
        str(ha_port),
        "--port",
        str(sim_port),
        "--lv-address",
        f"{net}.2",
        "--hv-address",
        f"{net}.3",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{ha_port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (b"Ctrl-C stops" in log.read_bytes() and _answers(url)):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.5)
        yield Demo(
            url=url,
            port_url=f"socket://127.0.0.1:{sim_port}",
            config=config,
            log=config / "home-assistant.log",
            lv_address=f"{net}.2",
            hv_address=f"{net}.3",
            silent_address=f"{net}.9",
        )
    finally:
        # Ctrl-C, as a user stops it: the demo stops Home Assistant and the simulator.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
