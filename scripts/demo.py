"""The demo behind ``scripts/develop``: simulated meters and Home Assistant.

Starts the simulated dongle + meter on ``socket://127.0.0.1:<port>`` (a solar house,
44 days of history, scans that take a few seconds) and two meters on the network that
answer ECHONET Lite on UDP 3610 of loopback addresses: a 2nd-generation low-voltage
meter (class 0x0288, Release R) on 127.0.0.2 and a high-voltage meter (0x028A) on
127.0.0.3. Then Home Assistant with a config dir under ``.demo/`` where this
repository's integration is linked in. ``--auto`` adds the meters' config entries (and,
on a fresh config, the Energy dashboard's grid source) before Home Assistant starts, so
entities and weeks of energy history are there right after onboarding. Ctrl-C stops
everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass
import importlib
import ipaddress
import json
import os
from pathlib import Path
import shutil
import signal
import sys
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Imported after the path tweak: both live in this repository, not in the venv.
from custom_components.broute_meter.broute import PanDescriptor  # noqa: E402
from custom_components.broute_meter.const import DOMAIN  # noqa: E402
from simulator import (  # noqa: E402
    TEST_PASSWORD,
    TEST_RBID,
    DongleModel,
    MeterConfig,
    Simulator,
    TimingModel,
)
from simulator.hv_meter import HvMeterConfig, SimulatedHvMeter  # noqa: E402
from simulator.meter import SimulatedMeter  # noqa: E402
from simulator.timing import RealClock  # noqa: E402
from simulator.udp import ECHONET_PORT, UdpMeterServer  # noqa: E402

DEMO_DIR = ROOT / ".demo"
CONFIG_DIR = DEMO_DIR / "config"
DEMO_TITLE = "Simulated smart meter"
LV_TITLE = "Simulated Wi-Fi B-route meter"
HV_TITLE = "Simulated high-voltage meter"
HA_RESTART_EXIT_CODE = 100  # what `hass` exits with when restarted from the UI

CONFIGURATION_YAML = """\
# Written by scripts/develop; edits are overwritten on the next start.
homeassistant:
  name: B-route demo
  country: JP
  time_zone: Asia/Tokyo
  currency: JPY
  unit_system: metric
  latitude: 35.681
  longitude: 139.767
  elevation: 40

frontend:
config:
energy:
history:
logbook:
recorder:
  commit_interval: 5

logger:
  default: warning
  logs:
    # "Setting up broute_meter" / "Setup of domain broute_meter took ..." on the console.
    homeassistant.setup: info
    custom_components.broute_meter: {level}
"""


@dataclass(frozen=True, slots=True)
class NetworkMeter:
    """A simulated meter on the network: what the banner calls it, its entry's title."""

    title: str
    kind: str
    server: UdpMeterServer


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/develop", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--auto",
        action="store_true",
        help="add the meter's config entry before Home Assistant starts",
    )
    parser.add_argument("--port", type=int, default=40000, help="simulator TCP port (40000)")
    parser.add_argument(
        "--model",
        choices=[model.value for model in DongleModel],
        default=DongleModel.BP35C2.value,
        help="dongle model to simulate (bp35c2)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.2,
        help="simulated radio time as a fraction of real time (0.2: a scan takes seconds)",
    )
    parser.add_argument("--ha-port", type=int, default=8123, help="Home Assistant HTTP port")
    parser.add_argument(
        "--fresh", action="store_true", help="start from an empty .demo/config (forget everything)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=CONFIG_DIR,
        help="Home Assistant config dir (.demo/config); the browser test uses its own",
    )
    parser.add_argument(
        "--lv-address",
        default="127.0.0.2",
        type=_loopback_or_off,
        help="loopback address of the simulated 2nd-generation meter on the network\n"
        "(0x0288, UDP 3610; 127.0.0.2); 'off' for none",
    )
    parser.add_argument(
        "--hv-address",
        default="127.0.0.3",
        type=_loopback_or_off,
        help="loopback address of the simulated high-voltage meter (0x028A, UDP 3610;\n"
        "127.0.0.3); 'off' for none",
    )
    parser.add_argument(
        "--no-network-meters",
        action="store_true",
        help="only the dongle: no simulated meters on the network",
    )
    parser.add_argument("--debug", action="store_true", help="debug logging for the integration")
    args = parser.parse_args()
    if args.no_network_meters:
        args.lv_address = args.hv_address = None
    if args.lv_address is not None and args.lv_address == args.hv_address:
        parser.error("--lv-address and --hv-address must differ")
    return args


def _loopback_or_off(text: str) -> str | None:
    """A loopback IPv4 address (Linux answers on all of 127/8), or None for 'off'."""
    if text.lower() in {"off", "none", "no"}:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None
    if address.version != 4 or not address.is_loopback:
        raise argparse.ArgumentTypeError(f"not a loopback IPv4 address (127.x.y.z): {text}")
    return str(address)


def _prepare_config_dir(args: argparse.Namespace) -> None:
    """Write configuration.yaml and link this repository's integration into the config dir."""
    if args.fresh and CONFIG_DIR.exists():
        shutil.rmtree(CONFIG_DIR)
    custom = CONFIG_DIR / "custom_components"
    custom.mkdir(parents=True, exist_ok=True)
    yaml = CONFIGURATION_YAML.format(level="debug" if args.debug else "info")
    (CONFIG_DIR / "configuration.yaml").write_text(yaml, encoding="utf-8")
    _write_http_port(args.ha_port)

    link = custom / DOMAIN
    target = os.path.relpath(ROOT / "custom_components" / DOMAIN, custom)
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(target, target_is_directory=True)


def _write_http_port(port: int) -> None:
    """Make ``port`` Home Assistant's confirmed HTTP port, the way 2026.10 keeps it.

    Since 2026.10 the HTTP settings live in ``.storage/http`` as a "stable" config and
    a "pending" one on trial; a YAML ``http:`` port is migrated into the pending slot
    and reverted (with a restart on the old port) unless confirmed within 5 minutes.
    Writing the port into the stable slot, with the YAML migration marked done, keeps
    it for the whole run and later ones.
    """
    from homeassistant.components.http.config import (
        HTTP_STORAGE_SCHEMA,
        STORAGE_KEY,
        STORAGE_MINOR_VERSION,
        STORAGE_VERSION,
    )
    from homeassistant.util import dt as dt_util

    path = CONFIG_DIR / ".storage" / STORAGE_KEY
    stable: dict[str, Any] = {}
    if path.exists():
        stable = json.loads(path.read_text(encoding="utf-8"))["data"]["stable"]
    if stable.get("server_port") == port:
        return
    keys = {str(key) for key in HTTP_STORAGE_SCHEMA.schema}
    conf = {key: value for key, value in stable.items() if key in keys}
    stable = {
        **HTTP_STORAGE_SCHEMA({**conf, "server_port": port}),
        "created_at": dt_util.utcnow().isoformat(),
        "error": None,
        "error_message": None,
    }
    stored = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2), encoding="utf-8")
    path.chmod(0o600)


def _write_config_entry(url: str, sim: Simulator) -> str:
    """Put (or refresh) the dongle meter's config entry in .storage before Home Assistant
    reads it."""
    pan = sim.pans[0]
    descriptor = PanDescriptor(
        channel=pan.channel, pan_id=pan.pan_id, mac=pan.mac, lqi=pan.lqi, pair_id=pan.pair_id
    )
    unique_id = pan.mac.lower()
    data = {"device": url, "rbid": sim.rbid, "password": sim.password, "pan": descriptor.as_dict()}
    _store_config_entry(unique_id, data, DEMO_TITLE, follow="device")
    return unique_id


def _store_config_entry(unique_id: str, data: dict[str, Any], title: str, follow: str) -> None:
    """Add an entry to .storage/core.config_entries, or update its ``follow`` key.

    The entry is built with Home Assistant's own ConfigEntry class and the integration's
    flow version, so it has exactly the shape the config flow would have stored.
    """
    from homeassistant.config_entries import (
        HANDLERS,
        STORAGE_KEY,
        STORAGE_VERSION,
        STORAGE_VERSION_MINOR,
        ConfigEntry,
    )

    # Importing the flow module registers the integration's flow class in HANDLERS.
    importlib.import_module(f"custom_components.{DOMAIN}.config_flow")
    flow = HANDLERS[DOMAIN]

    path = CONFIG_DIR / ".storage" / STORAGE_KEY
    stored: dict[str, Any] = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_VERSION_MINOR,
        "key": STORAGE_KEY,
        "data": {"entries": []},
    }
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = stored["data"]["entries"]
    for entry in entries:
        if entry["domain"] == DOMAIN and entry.get("unique_id") == unique_id:
            # Already there (a previous --auto run or the UI): follow a changed port/address.
            entry["data"] = {**entry["data"], follow: data[follow]}
            break
    else:
        entries.append(
            ConfigEntry(
                data=data,
                discovery_keys=MappingProxyType({}),
                domain=DOMAIN,
                minor_version=flow.MINOR_VERSION,
                options={},
                source="user",
                subentries_data=None,
                title=title,
                unique_id=unique_id,
                version=flow.VERSION,
            ).as_dict()
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2), encoding="utf-8")


async def _write_network_entries(servers: list[NetworkMeter]) -> None:
    """--auto: probe each simulated network meter as the config flow does, store its entry."""
    from custom_components.broute_meter import network_flow
    from custom_components.broute_meter.const import CONF_ADDRESS

    for meter in servers:
        node = await network_flow.async_probe_address(meter.server.host, None)
        data = network_flow.entry_data(node, None)
        _store_config_entry(network_flow.unique_id_of(node), data, meter.title, follow=CONF_ADDRESS)


def _write_energy_prefs(unique_id: str) -> bool:
    """Fill the Energy dashboard's grid source, unless the user already set one up.

    Import and export are the imported history statistics (weeks of data at once);
    grid power is the Power sensor, whose sign (+ buying, - selling) is the one the
    dashboard expects. Validated with the energy integration's own schema.
    """
    from homeassistant.components.energy.data import (
        GRID_SOURCE_SCHEMA,
        STORAGE_KEY,
        STORAGE_MINOR_VERSION,
        STORAGE_VERSION,
    )
    from homeassistant.util import slugify

    from custom_components.broute_meter.history import Direction, statistic_id

    path = CONFIG_DIR / ".storage" / STORAGE_KEY
    if path.exists():
        return False
    # The entity ID Home Assistant derives from the device name (the entry title).
    power = f"sensor.{slugify(f'{DEMO_TITLE} power')}"
    grid = GRID_SOURCE_SCHEMA(
        {
            "type": "grid",
            "stat_energy_from": statistic_id(unique_id, Direction.IMPORT),
            "stat_energy_to": statistic_id(unique_id, Direction.EXPORT),
            "power_config": {"stat_rate": power},
            "stat_rate": power,
            "cost_adjustment_day": 0,
        }
    )
    prefs = {"energy_sources": [grid], "device_consumption": [], "device_consumption_water": []}
    stored = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": STORAGE_KEY,
        "data": prefs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2), encoding="utf-8")
    return True


async def _wait_for_http(port: int, process: asyncio.subprocess.Process) -> bool:
    """Poll until Home Assistant answers HTTP on 127.0.0.1, or the process is gone."""
    while process.returncode is None:
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            status = await reader.readline()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            if status.startswith(b"HTTP/"):
                return True
        await asyncio.sleep(1)
    return False


async def _echo_integration_lines(process: asyncio.subprocess.Process) -> None:
    """Show Home Assistant's console lines about this integration; the rest is in the log."""
    assert process.stdout is not None
    async for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip()
        if DOMAIN in line:
            print(f"  [hass] {line}", flush=True)


def _banner(args: argparse.Namespace, url: str, sim: Simulator, servers: list[NetworkMeter]) -> str:
    auto = args.auto
    lines = [
        "",
        "=" * 72,
        f"  Home Assistant:  http://localhost:{args.ha_port}",
        f"  Simulated {sim.model.value} dongle at:  {url}",
        f"  B-route ID:      {sim.rbid}",
        f"  Password:        {sim.password}",
        "",
    ]
    if auto:
        lines += [
            "  The meter is already added: finish onboarding, then open its device page",
            "  (Settings > Devices & services) or the Energy dashboard (44 days of history).",
        ]
    else:
        lines += [
            "  Finish onboarding, then Settings > Devices & services > Add integration >",
            '  "B-route Smart Meter" > "Wi-SUN dongle": in Dongle port choose "Enter',
            '  manually" and paste the port URL above, then the ID and the password.',
        ]
    if servers:
        lines += ["", f"  Meters on the network (ECHONET Lite on UDP {ECHONET_PORT}):"]
        lines += [f"    {m.title} ({m.kind}):".ljust(56) + m.server.host for m in servers]
        if auto:
            lines += ["  They are added too (no ID or password)."]
        else:
            example = servers[-1].server.host
            lines += [
                '  Add integration > "B-route Smart Meter" > "Meter on the network": type the',
                f"  address (e.g. {example}) in Address and leave Interface blank; or leave",
                "  Address blank to look for them (about 3 s) and pick one. No ID or password.",
            ]
    lines += [
        "",
        f"  Full Home Assistant log: {os.path.relpath(CONFIG_DIR / 'home-assistant.log')}",
        "  Ctrl-C stops Home Assistant and the simulators.",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


async def _run_home_assistant(
    args: argparse.Namespace, url: str, sim: Simulator, servers: list[NetworkMeter]
) -> int:
    """Run `hass` until it exits (restarting it when asked from the UI) or we are stopped."""
    hass = Path(sys.executable).with_name("hass")
    # --skip-pip: the locked venv already has what the demo needs; Home Assistant must
    # not install packages into it behind uv's back.
    command = [str(hass), "--config", str(CONFIG_DIR), "--skip-pip"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    while True:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        echo = asyncio.create_task(_echo_integration_lines(process))
        print(f"Starting Home Assistant (pid {process.pid}) ...", flush=True)
        up = asyncio.create_task(_wait_for_http(args.ha_port, process))
        stopped = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(process.wait())
        done, _ = await asyncio.wait({up, stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and up.result():
            print(_banner(args, url, sim, servers), flush=True)
            done, _ = await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
        up.cancel()

        if stopped in done and process.returncode is None:
            print("Stopping Home Assistant ...", flush=True)
            # Ctrl-C already reached it through the terminal; a plain `kill` of this
            # script did not, so say it again (a second stop request is ignored).
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()
        await exited
        stopped.cancel()
        await echo
        code = process.returncode
        if code == HA_RESTART_EXIT_CODE and not stop.is_set():
            print("Home Assistant asked for a restart.", flush=True)
            continue
        return 0 if stop.is_set() else (code or 0)


async def _port_taken(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _main(args: argparse.Namespace) -> int:
    for port, option in ((args.ha_port, "--ha-port"), (args.port, "--port")):
        if await _port_taken(port):
            print(f"Port {port} is already in use (another demo?); choose one with {option}.")
            return 1
    _prepare_config_dir(args)
    timing = TimingModel(time_scale=args.time_scale)
    meter = MeterConfig(reverse_metering=True, retention_days=44)
    sim = Simulator(DongleModel(args.model), meter, TEST_RBID, TEST_PASSWORD, timing)
    servers = _network_meters(args)
    try:
        url = await sim.start_socket("127.0.0.1", args.port)
        print(f"Simulator listening at {url}", flush=True)
        taken = await _answered_already([node.server.host for node in servers])
        if taken:
            print(
                f"Something already answers ECHONET Lite on {', '.join(taken)} (another demo?): "
                "choose other addresses with --lv-address/--hv-address, or --no-network-meters."
            )
            return 1
        for node in servers:
            server = node.server
            try:
                await server.start()
            except OSError as err:
                print(
                    f"Cannot answer on {server.host}:{ECHONET_PORT} ({err.strerror}): choose "
                    "another address with --lv-address/--hv-address, or --no-network-meters."
                )
                return 1
            server.announce()
            print(f"{node.title} answering ECHONET Lite at {server.address}", flush=True)
        if args.auto:
            unique_id = _write_config_entry(url, sim)
            print("Config entry for the simulated meter written (--auto).", flush=True)
            if _write_energy_prefs(unique_id):
                print("Energy dashboard set up with the meter's statistics.", flush=True)
            if servers:
                await _write_network_entries(servers)
                print("Config entries for the meters on the network written.", flush=True)
        return await _run_home_assistant(args, url, sim, servers)
    finally:
        for node in servers:
            await node.server.stop()
        await sim.stop()
        print("Simulator stopped.", flush=True)


async def _answered_already(hosts: list[str]) -> list[str]:
    """The addresses where an ECHONET Lite node answers already (a demo running beside).

    The meters share UDP 3610 with Home Assistant's wildcard socket (SO_REUSEADDR), which
    would let a second meter bind the same address without an error: ask first.
    """
    from custom_components.broute_meter.broute.errors import NetworkMeterError
    from custom_components.broute_meter.broute.links.udp import discover

    async def answers(host: str) -> bool:
        try:
            nodes = await discover(target=host, local_host="127.0.0.1", local_port=0, wait=0.5)
        except NetworkMeterError:
            return False
        return bool(nodes)

    found = await asyncio.gather(*(answers(host) for host in hosts))
    return [host for host, yes in zip(hosts, found, strict=True) if yes]


def _network_meters(args: argparse.Namespace) -> list[NetworkMeter]:
    """The simulated meters on the network (not started yet), with their titles."""
    clock = RealClock()
    servers: list[NetworkMeter] = []
    if args.lv_address is not None:
        # Not the dongle's meter: its own serial, identification and load profile.
        lv = MeterConfig(
            release="R", serial="SIM00000002", mac="001D129012345679", seed=2, retention_days=44
        )
        server = UdpMeterServer(
            SimulatedMeter(lv, clock), host=args.lv_address, port=ECHONET_PORT, share_port=True
        )
        servers.append(NetworkMeter(LV_TITLE, "0x0288, Release R", server))
    if args.hv_address is not None:
        hv = SimulatedHvMeter(HvMeterConfig(), clock)
        server = UdpMeterServer(hv, host=args.hv_address, port=ECHONET_PORT, share_port=True)
        servers.append(NetworkMeter(HV_TITLE, "0x028A", server))
    return servers


def main() -> int:
    global CONFIG_DIR  # noqa: PLW0603 - every helper writes under the chosen dir
    args = _parse_args()
    CONFIG_DIR = args.config.resolve()
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
