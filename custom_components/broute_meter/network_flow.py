"""The config flow's network half: find meters on the network, check a typed address.

A meter on the network is either a 2nd-generation low-voltage meter on its Wi-Fi
B-route or a high-voltage meter behind the utility's B-route terminal. Both speak
ECHONET Lite over UDP; the library's discovery and probe do the talking.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import network
from homeassistant.exceptions import HomeAssistantError

from .broute.errors import NetworkMeterError, error_translation_key
from .broute.links.udp import ECHONET_PORT, UdpTiming, discover, parse_address, probe
from .broute.makers import maker_name
from .const import (
    CONF_ADDRESS,
    CONF_CONNECTION,
    CONF_IDENTIFICATION,
    CONF_INTERFACE,
    CONF_METER_CLASS,
    CONNECTION_NETWORK,
    LOGGER,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.core import HomeAssistant

    from .broute.links.udp import DiscoveredNode, NodeAddress

#: Discovery listens this long, both IP families at once.
DISCOVERY_WAIT: Final = 3.0

# The form's error key for each library error key of the network path.
NETWORK_FORM_ERRORS: Final[dict[str, str]] = {
    "network_invalid_address": "invalid_address",
    "network_unreachable": "network_unreachable",
    "network_no_answer": "no_answer",
    "network_not_a_meter": "not_a_meter",
    "network_port_busy": "network_port_busy",
}


@dataclass(kw_only=True)
class NetworkSettings:
    """Where this integration's sockets live; tests point them at loopback.

    ``local_hosts`` and ``discovery_targets`` are per family ("ipv4", "ipv6"); None
    is the real-world default (all addresses, the ECHONET Lite group).
    """

    local_hosts: dict[str, str | None] = field(default_factory=lambda: {"ipv4": None, "ipv6": None})
    local_port: int = ECHONET_PORT
    discovery_targets: dict[str, str | None] = field(
        default_factory=lambda: {"ipv4": None, "ipv6": None}
    )
    wait: float = DISCOVERY_WAIT
    timing: UdpTiming | None = None


SETTINGS = NetworkSettings()


async def async_interface_names(hass: HomeAssistant) -> list[str]:
    """Names of the enabled interfaces from Home Assistant's network settings.

    Empty when they are not available; the form then takes a typed name (or none: the
    system's default interface).
    """
    try:
        adapters = await network.async_get_adapters(hass)
    except (HomeAssistantError, OSError) as err:
        LOGGER.debug("No network adapters from Home Assistant: %s", err)
        return []
    return [
        adapter["name"]
        for adapter in adapters
        if adapter["enabled"] and (adapter["ipv4"] or adapter["ipv6"])
    ]


def family_of(address: NodeAddress) -> str:
    """ "ipv4" or "ipv6"."""
    return "ipv4" if address.ip.version == 4 else "ipv6"


def network_form_error(err: BaseException) -> str:
    """The form error key for a failed discovery or probe."""
    return NETWORK_FORM_ERRORS.get(error_translation_key(err), "unknown")


async def async_discover_meters(interface: str | None) -> list[DiscoveredNode]:
    """Meters that answer the ECHONET Lite group on both IP families at once.

    A family that cannot be used here (no IPv6 on the host, say) is skipped; only when
    both fail is the error raised.
    """
    families = ("ipv4", "ipv6")
    results = await asyncio.gather(
        *(
            discover(
                target=SETTINGS.discovery_targets.get(family),
                local_host=SETTINGS.local_hosts.get(family),
                local_port=SETTINGS.local_port,
                interface=interface,
                family=family,
                wait=SETTINGS.wait,
            )
            for family in families
        ),
        return_exceptions=True,
    )
    nodes: list[DiscoveredNode] = []
    errors: list[BaseException] = []
    for family, result in zip(families, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, NetworkMeterError):
                raise result
            LOGGER.debug("Discovery over %s failed: %s", family, result)
            errors.append(result)
        else:
            nodes += result
    if len(errors) == len(families):
        raise errors[0]
    seen: set[str] = set()
    meters: list[DiscoveredNode] = []
    for node in nodes:
        key = node.identification or str(node.address)
        if node.is_meter and key not in seen:
            seen.add(key)
            meters.append(node)
    return meters


async def async_probe_address(text: str, interface: str | None) -> DiscoveredNode:
    """Whether the typed address is a meter; raises the library's network errors."""
    address = parse_address(text, scope=interface)
    return await probe(
        address,
        local_host=SETTINGS.local_hosts.get(family_of(address)),
        local_port=SETTINGS.local_port,
        interface=interface,
        wait=SETTINGS.wait,
    )


def node_label(node: DiscoveredNode) -> str:
    """What the list of found meters shows: class, maker and address."""
    kind = "High-voltage meter" if node.meter_class == "high_voltage" else "Low-voltage meter"
    maker = maker_name(node.maker_code) if node.maker_code is not None else None
    return " · ".join(part for part in (kind, maker, str(node.address)) if part)


def node_title(node: DiscoveredNode) -> str:
    """The entry's title: maker and class."""
    kind = "high-voltage meter" if node.meter_class == "high_voltage" else "smart meter"
    maker = maker_name(node.maker_code) if node.maker_code is not None else None
    return f"{maker} {kind}" if maker else kind.capitalize()


def unique_id_of(node: DiscoveredNode) -> str:
    """The identification number (stable across address changes), else the address."""
    return (node.identification or f"address:{node.address}").lower()


def entry_data(node: DiscoveredNode, interface: str | None) -> dict[str, Any]:
    """What a network entry stores."""
    return {
        CONF_CONNECTION: CONNECTION_NETWORK,
        CONF_ADDRESS: str(node.address),
        CONF_INTERFACE: interface,
        CONF_IDENTIFICATION: node.identification,
        CONF_METER_CLASS: node.meter_class,
    }


def is_network_entry(data: Mapping[str, Any]) -> bool:
    """Whether an entry's data describes a meter on the network."""
    return data.get(CONF_CONNECTION) == CONNECTION_NETWORK
