"""open_port: real opens of ptys, sockets and serialx URL handlers, and the error mapping."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import serialx
from serialx import register_uri_handler

from custom_components.broute_meter.broute.errors import (
    PortBusyError,
    PortConnectError,
    PortNotFoundError,
    PortNotReadyError,
    PortPermissionError,
    TransportError,
)
from custom_components.broute_meter.broute.transport import (
    close_port,
    describe_port,
    map_open_error,
    open_port,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .conftest import Harness

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pty_path() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


async def test_open_simulator_pty_and_socket(harness: Harness) -> None:
    for transport in ("pty", "socket"):
        _, url = await harness.sim(transport)
        reader, writer = await open_port(url)
        try:
            writer.write(b"SKVER\r\n")
            async with asyncio.timeout(2):
                while b"OK" not in (line := await reader.readline()):
                    assert line  # not EOF
        finally:
            await close_port(writer)


async def test_missing_device(tmp_path: Path) -> None:
    with pytest.raises(PortNotFoundError) as err:
        await open_port(str(tmp_path / "ttyUSB9"))
    assert isinstance(err.value.__cause__, Exception)


async def test_second_open_of_a_locked_pty_is_busy(pty_path: str) -> None:
    _, writer = await open_port(pty_path)
    try:
        with pytest.raises(PortBusyError):
            await open_port(pty_path)
    finally:
        await close_port(writer)
    # Released on close: a new open succeeds.
    _, writer = await open_port(pty_path)
    await close_port(writer)


_AS_OTHER_USER = """
import asyncio, sys
from custom_components.broute_meter.broute.transport import open_port
async def main():
    try:
        await open_port(sys.argv[1])
    except Exception as exc:
        print(type(exc).__name__)
asyncio.run(main())
"""


def test_permission_denied(pty_path: str) -> None:
    os.chmod(pty_path, 0)
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:
        # Root ignores file modes; ask the same question as an unprivileged user.
        kwargs = {"user": 65534, "group": 65534}
    try:
        result = subprocess.run(
            [sys.executable, "-c", _AS_OTHER_USER, pty_path],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
            **kwargs,
        )
    except PermissionError:
        pytest.skip("cannot switch to an unprivileged user here")
    if "ModuleNotFoundError" in result.stderr or "Permission denied: '" in result.stderr:
        pytest.skip("the unprivileged user cannot read the project")
    assert result.stdout.strip() == "PortPermissionError", result.stderr


async def test_closed_tcp_port_is_refused(socket_enabled: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PortConnectError):
        await open_port(f"socket://127.0.0.1:{port}")


async def test_unknown_scheme_is_a_plain_transport_error() -> None:
    with pytest.raises(TransportError) as err:
        await open_port("nosuchscheme://device")
    assert type(err.value) is TransportError


async def test_esphome_proxy_not_loaded_is_not_ready() -> None:
    # Home Assistant's own stub handler (what serialx runs while ESPHome is still loading).
    from homeassistant.components.usb.serial_proxy_stub import register_serialx_transport

    unregister = register_serialx_transport()
    try:
        with pytest.raises(PortNotReadyError):
            await open_port("esphome-hass://esphome/0123abcd?port_name=uart0")
    finally:
        unregister(None)  # type: ignore[arg-type]


async def test_open_is_bounded_by_a_timeout() -> None:
    from homeassistant.components.usb.serial_proxy_stub import (
        HassESPHomeSerialStub,
        HassESPHomeSerialStubTransport,
    )

    class HangingTransport(HassESPHomeSerialStubTransport):
        async def _connect(self, *, path: str | None = None, **kwargs: Any) -> None:
            await asyncio.Event().wait()

    unregister = register_uri_handler(
        scheme="hang-test://",
        unique_scheme="hang-test://",
        sync_cls=HassESPHomeSerialStub,
        async_transport_cls=HangingTransport,
    )
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TransportError, match="timed out"):
            await open_port("hang-test://device", open_timeout=0.2)
        assert loop.time() - start < 2
    finally:
        unregister()


def test_error_mapping_of_network_failures() -> None:
    url = "socket://192.0.2.1:4001"
    assert isinstance(map_open_error(TimeoutError(), url), PortConnectError)
    assert isinstance(map_open_error(OSError(113, "No route to host"), url), PortConnectError)
    assert isinstance(map_open_error(socket.gaierror(-2, "Name unknown"), url), PortConnectError)
    wrapped = serialx.SerialException("boom")
    wrapped.__cause__ = PermissionError(13, "denied")
    assert isinstance(map_open_error(wrapped, "/dev/ttyUSB0"), PortPermissionError)


def test_port_names_in_messages_drop_keys() -> None:
    assert describe_port("esphome://host:6053/?port_name=x&key=SECRET") == "esphome://host:6053/"
    assert describe_port("/dev/serial/by-id/usb-x") == "/dev/serial/by-id/usb-x"
    assert "SECRET" not in str(map_open_error(OSError(111, "refused"), "rfc2217://h:1?key=SECRET"))
