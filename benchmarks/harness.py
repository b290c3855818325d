"""Shared machinery of the benchmarks: simulator child process, Home Assistant, tables.

Both integrations run inside the same Home Assistant test harness
(``pytest_homeassistant_custom_component.common.async_test_home_assistant`` plus a real
recorder on a temporary SQLite file), each against its own simulator process on a pty.
Every measurement runs in a fresh Python process (``run_worker``) so one run's threads,
caches and memory never leak into the next.

Time compression: ``--time-scale s`` multiplies every simulated radio delay by ``s``
and, so that the clients keep their proportions, every timeout and interval of both
integrations too (see ``ours_timing`` and ``scale_core``). Results are always
converted back to nominal seconds (divided by ``s``); only a run at scale 1 measures
the clients' real, unscaled code paths.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import fields, replace
from datetime import timedelta
import json
import os
from pathlib import Path
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RBID = "00112233445566778899AABBCCDD1234"
PASSWORD = "0123456789AB"
#: The simulator's ROHM J11 dongle (ours only: core speaks SKSTACK-IP alone).
J11_MODEL = "bp35c2_j11"
OURS = "broute_meter"
CORE = "route_b_smart_meter"
ARIB_BUDGET_S_PER_H = 360.0  # ARIB STD-T108: 10 % duty = 360 s of transmission per hour

# Timeouts that guard local I/O or a reply (not radio procedures) are never compressed
# below this, or a busy 2-core machine would trip them.
_MIN_IO_TIMEOUT = 0.25


# --- the simulator, in its own process ------------------------------------------------


class SimProcess:
    """``benchmarks.simproc`` as a child process; ``call`` sends one command."""

    def __init__(self, *, time_scale: float, latency: float, model: str = "bp35c2") -> None:
        self.time_scale = time_scale
        self.latency = latency
        self.model = model
        self.port = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> str:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.simproc",
            "--pty",
            "--model",
            self.model,
            "--time-scale",
            repr(self.time_scale),
            "--latency",
            repr(self.latency),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        hello = await self._read()
        self.port = str(hello["port"])
        return self.port

    async def _read(self) -> dict[str, Any]:
        assert self._proc is not None
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the simulator process exited")
        result: dict[str, Any] = json.loads(line)
        return result

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self._proc is not None
        assert self._proc.stdin is not None
        async with self._lock:
            self._proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
            await self._proc.stdin.drain()
            return await self._read()

    async def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write(b'{"op": "stop"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# --- Home Assistant ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def home_assistant(*, load_usb: bool = True) -> AsyncIterator[Any]:
    """A running Home Assistant of the test harness with a real recorder (SQLite file)."""
    # This repository's custom_components package must be imported before the loader
    # mounts the harness's own one.
    from homeassistant import loader
    from homeassistant.helpers import recorder as recorder_helper
    from homeassistant.setup import async_setup_component
    from pytest_homeassistant_custom_component.common import async_test_home_assistant

    # Only the (empty) package: which integration gets imported is up to the run.
    import custom_components  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="broute-bench-") as tmp:
        async with async_test_home_assistant(config_dir=tmp) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            recorder_helper.async_initialize_recorder(hass)
            db = f"sqlite:///{tmp}/home-assistant_v2.db"
            assert await async_setup_component(hass, "recorder", {"recorder": {"db_url": db}})
            if load_usb:
                # usb needs http; bind it to a free local port, never the default 8123.
                http = {"server_host": ["127.0.0.1"], "server_port": _free_port()}
                assert await async_setup_component(hass, "http", {"http": http})
                assert await async_setup_component(hass, "usb", {})
            await hass.async_block_till_done()
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ours_timing(scale: float) -> Any:
    """Our session timings compressed by ``scale`` (None = the real-world defaults)."""
    from custom_components.broute_meter.broute import ConnectionTiming

    if scale == 1:
        return None
    base = ConnectionTiming()
    # The request timeout too: a loaded machine must not turn a reply into a timeout.
    io = {
        "open_timeout",
        "command_timeout",
        "reset_timeout",
        "close_timeout",
        "term_timeout",
        "request_timeout",
    }
    parts = {}
    for part in (base.link, base.client):
        changes: dict[str, float] = {}
        for f in fields(part):
            value = getattr(part, f.name)
            if isinstance(value, float):
                scaled = value * scale
                changes[f.name] = (
                    max(scaled, min(value, _MIN_IO_TIMEOUT)) if f.name in io else scaled
                )
        parts[part] = replace(part, **changes)
    return replace(base, link=parts[base.link], client=parts[base.client])


def scale_core(scale: float) -> None:
    """Compress the core integration's and momonga's own waits by ``scale``.

    Patches the constants they read at run time; at scale 1 nothing is touched. The
    2 s input-drain wait at port open (pyserial timeout inside momonga) is hard-coded
    and stays 2 s, which a compressed run converts into 2/scale nominal seconds; see
    docs/benchmarks.md.
    """
    if scale == 1:
        return
    from homeassistant.components.route_b_smart_meter import coordinator as core_coordinator
    import momonga
    from momonga import momonga_session_manager, momonga_sk_wrapper

    core_coordinator.DEFAULT_SCAN_INTERVAL = timedelta(
        seconds=core_coordinator.DEFAULT_SCAN_INTERVAL.total_seconds() * scale
    )
    core_coordinator.REOPEN_DELAYS = tuple(d * scale for d in core_coordinator.REOPEN_DELAYS)
    original = momonga.Momonga

    class ScaledMomonga(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.internal_xmit_interval = self.internal_xmit_interval * scale
            self.recv_timeout = self.recv_timeout * scale
            self.xmit_timeout = self.xmit_timeout * scale

    core_coordinator.Momonga = ScaledMomonga  # type: ignore[misc]
    from homeassistant.components.route_b_smart_meter import config_flow as core_flow

    core_flow.Momonga = ScaledMomonga  # type: ignore[misc]
    limit = momonga_sk_wrapper._SK_COMMAND_LIMIT
    momonga_sk_wrapper._SK_COMMAND_LIMIT = limit * scale
    for func in (momonga_sk_wrapper.MomongaSkWrapper.exec_command,):
        func.__defaults__ = tuple(
            limit * scale if d == limit else d for d in func.__defaults__ or ()
        )
    func = momonga_sk_wrapper.MomongaSkWrapper.sksendto
    func.__defaults__ = tuple(limit * scale if d == limit else d for d in func.__defaults__ or ())
    for name in ("_GATE_WAIT_TIMEOUT", "_REJOIN_ATTEMPT_LIMIT", "_SKTERM_LIMIT"):
        setattr(momonga_session_manager, name, getattr(momonga_session_manager, name) * scale)


def make_entry(
    integration: str,
    port: str,
    *,
    scale: float,
    cached_pan: bool = True,
    history_days: int | None = None,
    poll_interval: float | None = None,
    firmware: str | None = None,
) -> Any:
    """A config entry as each integration's config flow would have stored it.

    ``firmware`` (ours): what the flow detected; None is an entry from before detection.
    """
    from homeassistant.const import CONF_DEVICE, CONF_ID, CONF_PASSWORD
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    if integration == OURS:
        from custom_components.broute_meter import const
        from simulator import MeterConfig

        cfg = MeterConfig()
        data: dict[str, Any] = {
            CONF_DEVICE: port,
            const.CONF_RBID: RBID,
            const.CONF_PASSWORD: PASSWORD,
        }
        if firmware is not None:
            data[const.CONF_FIRMWARE] = firmware
        if cached_pan:
            data[const.CONF_PAN] = {
                "channel": cfg.channel,
                "pan_id": cfg.pan_id,
                "mac": cfg.mac,
                "lqi": cfg.lqi,
                "pair_id": RBID[-8:],
            }
        interval = poll_interval if poll_interval is not None else const.DEFAULT_SCAN_INTERVAL
        options: dict[str, Any] = {const.CONF_SCAN_INTERVAL: interval * scale}
        if history_days is not None:
            options[const.CONF_HISTORY_DAYS] = history_days
        return MockConfigEntry(
            domain=OURS, title="Meter", unique_id=cfg.mac.lower(), data=data, options=options
        )
    return MockConfigEntry(
        domain=CORE,
        title="Route B Smart Meter",
        unique_id=RBID,
        data={CONF_DEVICE: port, CONF_ID: RBID, CONF_PASSWORD: PASSWORD},
    )


def prepare(integration: str, scale: float) -> None:
    """Apply the time compression to the integration about to be loaded."""
    if integration == OURS:
        from custom_components.broute_meter import coordinator

        coordinator.CONNECTION_TIMING = ours_timing(scale)
    else:
        scale_core(scale)


def coordinator_of(entry: Any) -> Any:
    """The DataUpdateCoordinator of a loaded entry of either integration."""
    data = entry.runtime_data
    return getattr(data, "coordinator", data)


def value_entities(hass: Any, entry: Any) -> tuple[str, list[str]]:
    """Entity IDs of the power sensor and the energy sensors of an entry."""
    from homeassistant.helpers import entity_registry as er

    registry = er.async_get(hass)
    power = ""
    energy: list[str] = []
    for item in er.async_entries_for_config_entry(registry, entry.entry_id):
        if item.domain != "sensor":
            continue
        if item.original_device_class == "power":
            power = item.entity_id
        elif item.original_device_class == "energy" and "30" not in item.entity_id:
            energy.append(item.entity_id)
    return power, energy


def has_values(hass: Any, entry: Any) -> bool:
    """Whether the power sensor and an energy sensor both show a number."""
    power, energy = value_entities(hass, entry)
    if not power or not energy:
        return False

    def numeric(entity_id: str) -> bool:
        state = hass.states.get(entity_id)
        if state is None:
            return False
        try:
            float(state.state)
        except ValueError:
            return False
        return True

    return numeric(power) and any(numeric(e) for e in energy)


async def wait_for(predicate: Callable[[], bool], limit: float, step: float = 0.005) -> bool:
    """Poll ``predicate`` on the loop until true or ``limit`` wall seconds pass."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not predicate():
        if loop.time() >= end:
            return False
        await asyncio.sleep(step)
    return True


def load_entry_task(hass: Any, entry: Any) -> asyncio.Task[bool]:
    """Start setting up ``entry`` (added to hass first); the task ends when setup does."""
    entry.add_to_hass(hass)
    task: asyncio.Task[bool] = hass.async_create_task(
        hass.config_entries.async_setup(entry.entry_id)
    )
    return task


# --- child processes ----------------------------------------------------------------------


def run_worker(module: str, case: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run ``python -m module --worker JSON`` and return the JSON of its last line."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, "--worker", json.dumps(case)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        # A worker emits its result before tearing down; a hang there loses nothing.
        stdout, stderr, code = _text(exc.stdout), _text(exc.stderr), 0
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        tail = "\n".join(stderr.splitlines()[-25:])
        raise RuntimeError(f"{module} worker {case} failed ({code}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def run_workers(
    module: str, cases: list[dict[str, Any]], jobs: int, limit: float | None = None
) -> list[dict[str, Any]]:
    """``run_worker`` for every case, up to ``jobs`` at a time, results in case order."""
    sem = asyncio.Semaphore(max(1, jobs))

    async def one(case: dict[str, Any]) -> dict[str, Any]:
        async with sem:
            return await asyncio.to_thread(run_worker, module, case, limit)

    return list(await asyncio.gather(*(one(c) for c in cases)))


def worker_main(argv: list[str], measure: Callable[[dict[str, Any]], Any]) -> bool:
    """If ``argv`` asks for a worker, run ``measure(case)`` and print its JSON; True if so."""
    if len(argv) < 3 or argv[1] != "--worker":
        return False
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    log_file = os.environ.get("BROUTE_BENCH_DEBUG_LOG")
    if log_file:
        # The integration's own DEBUG lines, with wall-clock stamps, to study a timeline.
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(relativeCreated)9.0f %(name)s %(message)s"))
        for name in ("custom_components.broute_meter", "simulator"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)
    case = json.loads(argv[2])
    result = asyncio.run(measure(case))
    emit(result)
    # Threads a client left behind (momonga's readers) must not keep the worker alive.
    os._exit(0)


def emit(result: dict[str, Any]) -> None:
    """Print a worker's result as one JSON line (the parent takes the last one)."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


# --- output ----------------------------------------------------------------------------


def timing_model_text(scale: float, latency: float) -> str:
    """One paragraph stating the simulated timing model."""
    from simulator import TimingModel

    t = TimingModel.realistic(latency=latency)
    scan6 = t.scan_dwell(6) * 28
    return (
        f"Timing model (nominal seconds; wall time = nominal × time scale {scale:g}): "
        f"SKSCAN dwell {t.dwell_unit * 1000:.1f} ms × (2^D + 1) per channel over 28 channels "
        f"(D=6: {scan6:.1f} s); PANA join {t.join_seconds * 0.95:.2f} s of a "
        f"{t.join_seconds:.0f} s model; meter reply latency {latency:g} s; air time = "
        f"(ECHONET payload + {t.frame_overhead_bytes} B overhead) × 8 / "
        f"{t.bitrate // 1000} kbit/s per frame."
    )


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    text = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out.extend(
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in text
    )
    return "\n".join(out)


def fmt_s(value: float | None, digits: int = 1) -> str:
    """Seconds for a table; None reads as "never"."""
    return "never" if value is None else f"{value:.{digits}f} s"


def ratio(a: float | None, b: float | None) -> str:
    """How many times ``b`` is longer than ``a``."""
    if a is None or b is None or a <= 0:
        return "n/a"
    return f"{b / a:.1f}×"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: list[float]) -> float:
    """Median."""
    return statistics.median(values)


def machine_text() -> str:
    """nproc, CPU model, RAM, Python and Home Assistant versions."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    from homeassistant.const import __version__ as ha_version

    return (
        f"{os.cpu_count()} CPU(s), {cpu}, RAM {ram}, Python {platform.python_version()}, "
        f"Home Assistant {ha_version}"
    )


def monotonic() -> float:
    """Wall clock for measurements."""
    return time.monotonic()
