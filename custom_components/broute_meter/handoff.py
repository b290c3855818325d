"""The config flow's joined connection, handed over to the entry the flow creates.

The flow's probe scans, joins the meter and reads its identity. Closing that connection
and joining again in the entry's setup would cost a second PANA join and an identity
round trip, so the flow leaves the open connection here, keyed by the meter's MAC (the
entry's unique ID), and the entry's setup takes it when it is for the same port,
firmware and credentials. A handoff nobody takes within ``HANDOFF_TTL`` seconds, or
still here when Home Assistant stops, is closed: the port is never held for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_DEVICE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util.hass_dict import HassKey

from .broute.links.detect import Firmware
from .const import CONF_FIRMWARE, CONF_PASSWORD, CONF_RBID, DOMAIN, LOGGER

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from .broute.connection import MeterConnection
    from .broute.links.wisun import PanDescriptor
    from .broute.meters.low_voltage import MeterIdentity, RouteBIdentifier

#: Seconds a probe's connection waits for its entry before it is closed. The entry is
#: set up right after the flow ends; this only bounds a flow left open or a setup that
#: never comes.
HANDOFF_TTL: float = 60.0

_STORE: HassKey[_HandoffStore] = HassKey(f"{DOMAIN}_handoff")


@dataclass(eq=False)
class _HandoffStore:
    """Every open handoff, and those left for an entry by its unique ID."""

    live: set[ProbeHandoff] = field(default_factory=set)
    by_unique_id: dict[str, ProbeHandoff] = field(default_factory=dict)


def _store(hass: HomeAssistant) -> _HandoffStore:
    store = hass.data.get(_STORE)
    if store is None:
        store = hass.data[_STORE] = _HandoffStore()

        async def close_all(_event: Event) -> None:
            for handoff in list(store.live):
                await handoff.async_close()

        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, close_all)
    return store


class ProbeHandoff:
    """A joined connection and what the probe read over it, waiting for its entry.

    Holds the credentials it was opened with, to compare; never shows them (nor the
    port, which may hold a host address) in its ``repr``.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        connection: MeterConnection,
        *,
        device: str,
        rbid: str,
        password: str,
        firmware: Firmware,
        identity: MeterIdentity | None,
        route_b_id: RouteBIdentifier | None,
    ) -> None:
        """Take ownership of ``connection``; closed after ``HANDOFF_TTL`` unless taken."""
        self.hass = hass
        self.connection = connection
        self.device = device
        self._rbid = rbid
        self._password = password
        self.firmware = firmware
        #: The identity frame the probe read (None: it could not, the entry reads it).
        self.identity = identity
        self.route_b_id = route_b_id
        self._closed = False
        self._store = _store(hass)
        self._store.live.add(self)
        self._unsub_timer: CALLBACK_TYPE | None = async_call_later(hass, HANDOFF_TTL, self._expired)

    def __repr__(self) -> str:
        """No port, no credential."""
        state = "closed" if self._closed else self.connection.status.state
        return f"<ProbeHandoff {self.firmware} {state}>"

    @property
    def pan(self) -> PanDescriptor | None:
        """Where the probe found the meter."""
        return self.connection.pan

    def matches(self, data: Mapping[str, Any]) -> bool:
        """Whether an entry's data names this connection's port, firmware and credentials."""
        return (
            data.get(CONF_DEVICE) == self.device
            and data.get(CONF_RBID) == self._rbid
            and data.get(CONF_PASSWORD) == self._password
            and Firmware(data.get(CONF_FIRMWARE, Firmware.SKSTACK)) is self.firmware
        )

    def leave_for(self, unique_id: str) -> None:
        """Leave the connection for the entry with ``unique_id`` (the flow is done with it)."""
        older = self._store.by_unique_id.get(unique_id)
        if older is not None and older is not self:
            older.async_close_soon()
        self._store.by_unique_id[unique_id] = self

    def take(self) -> MeterConnection | None:
        """Hand the connection over to its new owner; None if it is closed or lost."""
        if self._closed or self.connection.status.lost:
            return None
        self._forget()
        return self.connection

    async def async_close(self) -> None:
        """Close the connection (idempotent)."""
        if self._closed:
            return
        self._forget()
        self._closed = True
        await self.connection.close()

    @callback
    def async_close_soon(self) -> None:
        """Close from a callback; Home Assistant waits for it like for any task."""
        if not self._closed:
            self.hass.async_create_task(self.async_close(), f"{DOMAIN} close probe connection")

    @property
    def closed(self) -> bool:
        """Whether the connection has been closed here (a taken one is not)."""
        return self._closed

    def _forget(self) -> None:
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        self._store.live.discard(self)
        for key, held in list(self._store.by_unique_id.items()):
            if held is self:
                del self._store.by_unique_id[key]

    @callback
    def _expired(self, _now: datetime) -> None:
        self._unsub_timer = None
        LOGGER.debug("No entry took the probe's connection in time; closing it")
        self.async_close_soon()


async def async_take(
    hass: HomeAssistant, unique_id: str, data: Mapping[str, Any]
) -> ProbeHandoff | None:
    """The handoff left for the entry with ``unique_id`` and ``data``, if it fits.

    A handoff returned is taken: its connection belongs to the caller now. Any other
    open handoff on the entry's port is closed first, so the entry can open the port
    itself; so is one that does not fit (another port, firmware or password, or a link
    lost meanwhile).
    """
    store = hass.data.get(_STORE)
    if store is None:
        return None
    handoff = store.by_unique_id.pop(unique_id, None)
    for other in list(store.live):
        if other is not handoff and other.device == data.get(CONF_DEVICE):
            await other.async_close()
    if handoff is None:
        return None
    if handoff.matches(data) and handoff.take() is not None:
        return handoff
    LOGGER.debug("The probe's connection does not fit the entry; closing it")
    await handoff.async_close()
    return None


async def async_close_port(hass: HomeAssistant, device: str) -> None:
    """Close every open handoff on ``device``: a new probe is about to open it."""
    store = hass.data.get(_STORE)
    if store is None:
        return
    for handoff in list(store.live):
        if handoff.device == device:
            await handoff.async_close()
