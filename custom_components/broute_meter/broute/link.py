"""The link seam: what carries ECHONET Lite datagrams between us and one meter.

A link (Wi-SUN through a SKSTACK-IP or J11 dongle, or UDP on the network) knows how to
reach one meter and keep that path alive; it knows nothing of EPCs. Above it, one
:class:`~.client.EchonetClient` handles requests over any link, and meter models turn
properties into typed readings.

Every link reports its state as :class:`LinkStatus` events:

* ``CONNECTING`` while :meth:`Link.open` brings it up the first time;
* ``UP`` when datagrams flow;
* ``HELD`` for a short pause that is not a loss (the dongle re-authenticating by itself,
  the radio's transmit budget spent): requests wait for it within their budget;
* ``REPAIRING`` when the path is known lost and the link repairs itself in the
  background (requests fail at once, so nothing stale is taken for current);
* ``DOWN`` before ``open()``, after ``close()`` or a failed open.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
import enum
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Self

from .errors import BRouteError, SessionUnavailableError, TransmitLimitError

if TYPE_CHECKING:
    from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)


class LinkState(enum.StrEnum):
    """Where a link is in its life."""

    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"
    HELD = "held"
    REPAIRING = "repairing"


class HoldReason(enum.StrEnum):
    """Why a link that is not lost holds its sends for a moment."""

    REAUTHENTICATING = "reauthenticating"
    TRANSMIT_LIMIT = "transmit_limit"


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """One state report of a link; ``reason`` is short, redacted prose for logs."""

    state: LinkState
    reason: str | None = None
    error: BRouteError | None = None
    hold: HoldReason | None = None

    @property
    def up(self) -> bool:
        """Whether datagrams can be sent right now."""
        return self.state is LinkState.UP

    @property
    def lost(self) -> bool:
        """Whether the path to the meter is known lost (or not open)."""
        return self.state in (LinkState.REPAIRING, LinkState.DOWN)


class Link(abc.ABC):
    """Carries ECHONET Lite datagrams to and from one meter and reports its state.

    Subclasses implement :meth:`open`, :meth:`close` and :meth:`_send`, call
    :meth:`_deliver` with every ECHONET Lite payload that came from the meter (and only
    from it), and :meth:`_set_status` on every change of state.
    """

    #: Short name of the medium, for diagnostics and logs ("skstack", "j11", "udp").
    kind: ClassVar[str]
    #: After how many failed requests in a row (each after its retries) the client
    #: calls :meth:`report_unresponsive`; None leaves it to the client's timing.
    unresponsive_after: ClassVar[int | None] = None

    def __init__(self) -> None:
        """Start ``DOWN``; nothing is opened before :meth:`open`."""
        self.on_datagram: Callable[[bytes], None] | None = None
        self._status_listeners: list[Callable[[LinkStatus], None]] = []
        self._status = LinkStatus(LinkState.DOWN)
        self._changed = asyncio.Event()

    # --- what the client and the owner see -------------------------------------------------

    @property
    def status(self) -> LinkStatus:
        """The latest state report."""
        return self._status

    def add_status_listener(self, listener: Callable[[LinkStatus], None]) -> Callable[[], None]:
        """Call ``listener`` on every state change; returns a function that removes it."""
        self._status_listeners.append(listener)

        def remove() -> None:
            if listener in self._status_listeners:
                self._status_listeners.remove(listener)

        return remove

    @abc.abstractmethod
    async def open(self) -> None:
        """Bring the link up (open the port, initialise, find and join the meter).

        Raises the library's errors; everything opened is released on failure.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Leave the meter politely and release everything. Idempotent."""

    async def send(self, payload: bytes, *, hold_wait: float) -> bool:
        """Send one ECHONET Lite datagram to the meter.

        Waits up to ``hold_wait`` seconds while the link is ``CONNECTING`` or ``HELD``;
        raises :class:`SessionUnavailableError` at once when it is lost, and
        :class:`TransmitLimitError` when the transmit budget stays spent. Returns False
        when the medium refused this one datagram (worth a retry), True once handed on.
        """
        await self.wait_up(hold_wait)
        return await self._send(payload)

    async def wait_up(self, limit: float) -> None:
        """Return once ``UP``; wait through ``CONNECTING``/``HELD`` for at most ``limit`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(limit, 0.0)
        while True:
            status = self._status
            if status.up:
                return
            if status.lost:
                raise self.unavailable_error()
            remaining = deadline - loop.time()
            if remaining <= 0:
                if status.hold is HoldReason.TRANSMIT_LIMIT:
                    raise TransmitLimitError("the radio's transmit-time budget is spent")
                raise self.unavailable_error()
            self._changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                continue

    def unavailable_error(self) -> BRouteError:
        """The error a request meets while the link is not up: the link's last one if any."""
        status = self._status
        if status.error is not None and status.state is not LinkState.HELD:
            # A fresh instance per request: one exception object raised in several
            # tasks would collect their tracebacks.
            try:
                return type(status.error)(*status.error.args)
            except TypeError:
                return SessionUnavailableError(str(status.error))
        why = f": {status.reason}" if status.reason else ""
        return SessionUnavailableError(f"the link to the meter is {status.state}{why}")

    def report_unresponsive(self) -> None:
        """The meter stopped answering requests although the link is up.

        A Wi-SUN link re-joins (a rebooted meter forgot the session); a network link
        looks for the meter's address again. The default does nothing.
        """
        return

    def diagnostics(self) -> dict[str, Any]:
        """Redacted facts about the link for diagnostics (no address, no credential)."""
        return {"kind": self.kind, "state": str(self._status.state)}

    async def __aenter__(self) -> Self:
        """``async with link:`` opens…"""
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """…and closes."""
        await self.close()

    # --- for subclasses ----------------------------------------------------------------------

    @abc.abstractmethod
    async def _send(self, payload: bytes) -> bool:
        """Hand one datagram to the medium; see :meth:`send` for the result."""

    def _deliver(self, payload: bytes) -> None:
        """Pass a datagram from the meter up to the client."""
        handler = self.on_datagram
        if handler is None:
            return
        try:
            handler(payload)
        except Exception:
            _LOGGER.exception("Datagram handler failed")

    def _set_status(
        self,
        state: LinkState,
        reason: str | None = None,
        *,
        error: BRouteError | None = None,
        hold: HoldReason | None = None,
    ) -> None:
        status = LinkStatus(state, reason, error, hold)
        if status == self._status:
            return
        previous, self._status = self._status, status
        if previous.state is not state:
            _LOGGER.debug(
                "%s link %s -> %s%s",
                self.kind,
                previous.state,
                state,
                f" ({reason})" * bool(reason),
            )
        self._changed.set()
        for listener in list(self._status_listeners):
            try:
                listener(status)
            except Exception:
                _LOGGER.exception("Link status listener failed")


__all__ = ["HoldReason", "Link", "LinkState", "LinkStatus"]
