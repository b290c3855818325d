"""The ECHONET Lite client: requests and notifications over any :class:`~.link.Link`.

One request is in flight at a time (meters serve one controller slowly, and a second
frame on the air only delays the first). Each attempt gets a fresh TID; a late answer
to an earlier attempt of the same request is accepted. Long property lists are split
into frames of at most six EPCs; a Get_SNA still yields what did come back. INF and
INFC from the meter go to ``on_notification``; an INFC is acknowledged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial
import logging
from typing import TYPE_CHECKING, Any, Self

from .echonet import (
    ESV,
    Frame,
    build_get,
    build_infc_res,
    build_setc,
    chunk_epcs,
    decode_frame,
)
from .errors import (
    BRouteError,
    EchonetDecodeError,
    MeterTimeoutError,
    PropertyNotAvailableError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable

    from .echonet import EOJ
    from .link import Link

_LOGGER = logging.getLogger(__name__)

_GET_ANSWERS = frozenset({ESV.GET_RES, ESV.GET_SNA})
_SET_ANSWERS = frozenset({ESV.SET_RES, ESV.SETC_SNA})


@dataclass(frozen=True, slots=True)
class ClientTiming:
    """Timeouts and retries of requests (seconds). ``fast()`` shrinks them for tests.

    ``request_timeout``: the ECHONET AIF specification lets a meter take up to timer 1
    (≥ 20 s) to answer, but field logs show answers within about a second and losses
    that never answer (radio drops). Ten seconds per attempt with two retries still
    waits well over 20 s in total, and a lost frame is re-sent sooner.
    """

    request_timeout: float = 10.0
    retries: int = 2
    retry_backoff: float = 1.0
    #: How long a request waits for a link that is connecting or held (re-authentication,
    #: transmit budget). A link known lost fails requests at once whatever this says.
    hold_wait: float = 20.0
    #: Requests that fail in a row before the link is told the meter is unresponsive
    #: (a link may ask sooner: see ``Link.unresponsive_after``).
    unresponsive_after: int = 2

    @classmethod
    def fast(cls) -> Self:
        """Short timings for tests against a time-compressed simulator."""
        return cls(request_timeout=0.5, retries=2, retry_backoff=0.02, hold_wait=2.0)

    @property
    def request_budget(self) -> float:
        """Longest time one request may take with all its retries (not counting holds)."""
        attempts = self.retries + 1
        backoffs = sum(self.retry_backoff * i for i in range(1, attempts))
        return attempts * self.request_timeout + backoffs


@dataclass(slots=True)
class ClientStats:
    """Counters for diagnostics."""

    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict for diagnostics."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "timeouts": self.timeouts,
            "notifications": self.notifications,
        }


@dataclass(slots=True)
class _Waiter:
    deoj: EOJ
    esvs: frozenset[int]
    future: asyncio.Future[Frame]
    tids: set[int] = field(default_factory=set)


class EchonetClient:
    """Gets and sets properties of ECHONET Lite objects behind one link."""

    def __init__(
        self,
        link: Link,
        *,
        timing: ClientTiming | None = None,
        on_notification: Callable[[Frame], None] | None = None,
    ) -> None:
        """Attach to ``link`` (which may still be down)."""
        self.link = link
        self.timing = timing or ClientTiming()
        self.on_notification = on_notification
        self.stats = ClientStats()
        self._request_lock = asyncio.Lock()  # one frame in flight
        self._call_lock = asyncio.Lock()  # one get()/set() call at a time
        self._waiter: _Waiter | None = None
        self._tid = 0
        self._failed_requests = 0
        self._tasks: set[asyncio.Task[None]] = set()
        link.on_datagram = self._on_datagram

    @property
    def busy(self) -> bool:
        """Whether a request is in flight (a link may skip its own checks meanwhile)."""
        return self._request_lock.locked()

    async def get(self, eoj: EOJ, epcs: Iterable[int]) -> dict[int, bytes]:
        """Read properties; EDT by EPC for those the object returned.

        The frames of one call go out back to back: another caller's request (e.g. the
        history job's) waits for the whole call instead of splitting it.
        """
        chunks = chunk_epcs(epcs)
        result: dict[int, bytes] = {}
        async with self._call_lock:
            for chunk in chunks:
                frame = await self._request(partial(_get_frame, chunk, eoj), eoj, _GET_ANSWERS)
                result.update(frame.values())
        return result

    async def set(self, eoj: EOJ, epc: int, edt: bytes) -> None:
        """Write one property with SetC; PropertyNotAvailableError if it is refused."""
        async with self._call_lock:
            frame = await self._request(
                lambda tid: build_setc(tid, [(epc, edt)], eoj), eoj, _SET_ANSWERS
            )
        if frame.esv == ESV.SETC_SNA:
            raise PropertyNotAvailableError(f"the meter refused to set EPC 0x{epc:02X}")

    async def aclose(self) -> None:
        """Cancel background acknowledgements and fail a request still waiting."""
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        waiter = self._waiter
        if waiter is not None and not waiter.future.done():
            waiter.future.set_exception(self.link.unavailable_error())

    # --- requests ------------------------------------------------------------------------

    def _next_tid(self) -> int:
        self._tid = self._tid % 0xFFFF + 1
        return self._tid

    async def _request(
        self, build: Callable[[int], bytes], deoj: EOJ, esvs: frozenset[int]
    ) -> Frame:
        """Send one request (with retries) and return the matching response frame."""
        loop = asyncio.get_running_loop()
        timing = self.timing
        async with self._request_lock:
            waiter = _Waiter(deoj, esvs, loop.create_future())
            self._waiter = waiter
            self.stats.requests += 1
            try:
                for attempt in range(timing.retries + 1):
                    if attempt:
                        self.stats.retries += 1
                        await asyncio.sleep(timing.retry_backoff * attempt)
                    if waiter.future.done():  # a late answer to an earlier attempt
                        return waiter.future.result()
                    tid = self._next_tid()
                    waiter.tids.add(tid)
                    # Raises at once when the link is known lost: no waiting on a repair.
                    if not await self.link.send(build(tid), hold_wait=timing.hold_wait):
                        _LOGGER.debug("The link could not send TID %04X", tid)
                        continue
                    try:
                        async with asyncio.timeout(timing.request_timeout):
                            frame = await asyncio.shield(waiter.future)
                    except TimeoutError:
                        self.stats.timeouts += 1
                        _LOGGER.debug("No answer to TID %04X", tid)
                        continue
                    self._failed_requests = 0
                    return frame
                if waiter.future.done():
                    return waiter.future.result()
                self._failed_requests += 1
                if self._failed_requests >= (
                    self.link.unresponsive_after or timing.unresponsive_after
                ):
                    self._failed_requests = 0
                    self.link.report_unresponsive()
                raise MeterTimeoutError("the meter did not answer the request")
            finally:
                self._waiter = None
                if not waiter.future.done():
                    waiter.future.cancel()

    # --- what arrives ---------------------------------------------------------------------

    def _on_datagram(self, payload: bytes) -> None:
        try:
            frame = decode_frame(payload)
        except EchonetDecodeError as exc:
            _LOGGER.debug("Ignoring an undecodable ECHONET Lite frame: %s", exc)
            return
        waiter = self._waiter
        if (
            waiter is not None
            and frame.tid in waiter.tids
            and frame.esv in waiter.esvs
            and frame.seoj == waiter.deoj
            and not waiter.future.done()
        ):
            waiter.future.set_result(frame)
            return
        if frame.is_notification():
            self.stats.notifications += 1
            if frame.esv == ESV.INFC:
                self._spawn(self._answer_infc(frame))
            if self.on_notification is not None:
                try:
                    self.on_notification(frame)
                except Exception:
                    _LOGGER.exception("Notification handler failed")
            return
        _LOGGER.debug("Ignoring a stray frame (TID %04X, ESV %02X)", frame.tid, frame.esv)

    async def _answer_infc(self, frame: Frame) -> None:
        if not self.link.status.up:
            return  # never send while a join is under way (the meter re-sends an INFC)
        try:
            await self.link.send(build_infc_res(frame), hold_wait=0.0)
        except BRouteError as exc:
            _LOGGER.debug("Could not acknowledge an INFC: %s", exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _get_frame(epcs: tuple[int, ...], eoj: EOJ, tid: int) -> bytes:
    return build_get(tid, epcs, eoj)


__all__ = ["ClientStats", "ClientTiming", "EchonetClient"]
