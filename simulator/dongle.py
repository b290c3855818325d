"""SKSTACK-IP dongle emulation: the line protocol of the three dialects.

The dongle turns host bytes into commands and writes replies through ``emit``. It
owns no transport; :class:`simulator.Simulator` wires it to a socket or a pty.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
import logging
import re
from typing import TYPE_CHECKING, Any

from .echonet import Frame, FrameError
from .meter import mac_to_ipv6

if TYPE_CHECKING:
    from .sim import Simulator

_LOGGER = logging.getLogger(__name__)

CRLF = b"\r\n"
MULTICAST_ALL = "FF02:0000:0000:0000:0000:0000:0000:0001"
ECHONET_PORT = 0x0E1A
PANA_PORT = 0x02CC
_IPV6 = re.compile(r"^[0-9A-F]{4}(:[0-9A-F]{4}){7}$")
_HEX4 = re.compile(rb"^[0-9A-F]{4}$")
MAX_SENDTO = 0x04D0


class DongleModel(StrEnum):
    """Which dongle family the simulator impersonates."""

    BP35A1 = "bp35a1"
    BP35C2 = "bp35c2"
    RL7023_IPS = "rl7023_ips"
    #: ROHM J11 binary firmware (BP35C0-J11, BP35C2-J11-T01, RATOC RS-WSUHA-J11).
    BP35C2_J11 = "bp35c2_j11"

    @property
    def dse(self) -> bool:
        return self is DongleModel.BP35C2

    @property
    def j11(self) -> bool:
        """Whether the dongle speaks the J11 binary protocol instead of SKSTACK-IP text."""
        return self is DongleModel.BP35C2_J11

    @classmethod
    def skstack(cls) -> list[DongleModel]:
        """The SKSTACK-IP text dialects."""
        return [model for model in cls if not model.j11]


_VERSIONS = {
    DongleModel.BP35A1: ("1.2.10", "rev26e"),
    DongleModel.BP35C2: ("1.5.2", "rev1.5.2-sim"),
    DongleModel.RL7023_IPS: ("1.2.8", "rl7023-ips-sim"),
}

_DEFAULT_REGISTERS = {
    "S02": "21",
    "S03": "FFFF",
    "S07": "00000000",
    "S0A": "00000000",
    "S15": "1",
    "S16": "384",
    "S17": "1",
    "SA0": "1",
    "SA1": "1",
    "SA2": "0",
    "SFA": "1",
    "SFB": "0",
    "SFD": "0",
    "SFE": "1",
    "SFF": "0",
}
_READ_ONLY = {"S07", "SFB", "SFD"}


def normalize_register(name: str) -> str | None:
    """`S2` and `S02` name the same register."""
    m = re.fullmatch(r"S([0-9A-F]{1,2})", name)
    if not m:
        return None
    reg = "S" + m.group(1).rjust(2, "0")
    return reg if reg in _DEFAULT_REGISTERS else None


def redact(line: str) -> str:
    """Command line safe to log: credentials replaced."""
    parts = line.split(" ")
    if parts[0] == "SKSETRBID" and len(parts) > 1:
        return "SKSETRBID ********"
    if parts[0] == "SKSETPWD" and len(parts) > 1:
        return " ".join([*parts[:2], "********"]) if len(parts) > 2 else "SKSETPWD ********"
    return line


@dataclass
class DongleState:
    """What the dongle remembers. ``erxudp_hex`` is flash (survives resets)."""

    mac: str = "001D129000000001"
    echo: bool = True
    erxudp_hex: bool = False
    joined: bool = False
    session_count: int = 0
    silent: bool = False
    transmit_limited: bool = False
    uart: str = "00"
    registers: dict[str, str] = field(default_factory=lambda: dict(_DEFAULT_REGISTERS))
    last_commands: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    rbid_set: bool = False
    password_set: bool = False
    tx_time_ms: float = 0.0

    @property
    def ipv6(self) -> str:
        return mac_to_ipv6(self.mac)


class DongleEngine:
    """What every dongle engine shares: its state, its tasks and the session lifetime.

    A subclass parses its own protocol from :meth:`feed` and answers through
    :meth:`emit`; faults reach either kind through the same methods.
    """

    def __init__(self, sim: Simulator, model: DongleModel, state: DongleState) -> None:
        self.sim = sim
        self.model = model
        self.state = state
        self._rbid: str | None = None
        self._password: str | None = None
        self._buf = bytearray()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lifetime_handle: asyncio.TimerHandle | None = None
        self.pending_ns = 0

    # --- plumbing ------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self.sim.stopping:
            coro.close()  # nothing new may start once stop() began
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        # Repeat: a timer firing while we wait could have spawned one more task.
        self._cancel_lifetime()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        self._cancel_lifetime()

    def cancel_all_nowait(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._cancel_lifetime()

    def emit(self, data: bytes) -> None:
        self.sim.write(data)

    async def sleep(self, nominal: float) -> None:
        await asyncio.sleep(self.sim.timing.wait(nominal))

    def expire_session(self, reauth: bool | None, *, reauth_seconds: float | None = None) -> None:
        raise NotImplementedError

    # --- the session lifetime ---------------------------------------------------------------

    def _start_lifetime(self) -> None:
        self._cancel_lifetime()
        lifetime = self.sim.config.session_lifetime
        if lifetime is None or self.sim.stopping:
            return
        loop = asyncio.get_running_loop()
        self._lifetime_handle = loop.call_later(lifetime, self.expire_session, None)

    def _cancel_lifetime(self) -> None:
        if self._lifetime_handle is not None:
            self._lifetime_handle.cancel()
            self._lifetime_handle = None


class Dongle(DongleEngine):
    """Protocol engine of one SKSTACK-IP dongle attached to the simulator."""

    def __init__(self, sim: Simulator, model: DongleModel, mac: str) -> None:
        super().__init__(
            sim, model, DongleState(mac=mac, erxudp_hex=model is DongleModel.RL7023_IPS)
        )

    def line(self, text: str, end: bytes = CRLF) -> None:
        self.emit(text.encode("ascii") + end)

    def side(self) -> str:
        return " 0" if self.model.dse else ""

    def event(self, num: int, addr: str, param: str | None = None) -> None:
        text = f"EVENT {num:02X} {addr}{self.side()}"
        if param is not None:
            text += f" {param}"
        self.line(text)

    # --- input ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buf += data
        while self._buf:
            if not self._step():
                break
        if len(self._buf) > 8192:  # a real UART buffer would overflow too
            self._buf.clear()

    def _step(self) -> bool:
        buf = self._buf
        while bytes(buf[:1]) in (b"\r", b"\n"):
            del buf[0]
        if not buf:
            return False
        if buf.startswith(b"SKSENDTO "):
            parsed = self._parse_sendto_header()
            if parsed is None:
                return False
            if parsed is not True:
                return True
        end = _line_end(buf)
        if end < 0:
            return False
        raw = bytes(buf[:end])
        del buf[: end + 1]
        self._handle_line(raw)
        return True

    def _parse_sendto_header(self) -> bool | None:
        """Consume a complete SKSENDTO (header + payload).

        Returns None when more bytes are needed, False when it was consumed, True
        when the line has no payload part and must be treated as an ordinary line.
        """
        buf = self._buf
        pos = 0
        tokens: list[bytes] = []
        while True:
            space = buf.find(b" ", pos)
            end = _line_end(buf, pos)
            if end >= 0 and (space < 0 or end < space):
                return True
            if space < 0:
                return None
            token = bytes(buf[pos:space])
            tokens.append(token)
            pos = space + 1
            if len(tokens) >= 6 and _HEX4.match(token):
                break
            if len(tokens) > 9:
                return True
        length = int(tokens[-1], 16)
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        header = b" ".join(tokens).decode("ascii", "replace")
        self._sendto(header, payload)
        return False

    def _handle_line(self, raw: bytes) -> None:
        text = raw.decode("ascii", "replace").strip("\r\n")
        if not text:
            return
        st = self.state
        if st.silent:
            if text.split(" ")[0] != "SKRESET":
                return
            st.silent = False
        if st.echo:
            self.emit(raw.rstrip(b"\r\n") + CRLF)
        parts = text.split(" ")
        name, args = parts[0], parts[1:]
        st.last_commands.append(redact(text))
        self.sim.stats.count_command(name)
        _LOGGER.debug("dongle <- %s", redact(text))
        handler = getattr(self, "cmd_" + name, None) if name.isupper() else None
        if handler is None or not name.isalnum():
            self.line("FAIL ER04", self._end_for(name))
            return
        handler(args)

    def _end_for(self, name: str) -> bytes:
        return b"\r" if name in ("ROPT", "WOPT", "RUART", "WUART") else CRLF

    def ok(self) -> None:
        self.line("OK")

    def fail(self, code: int, name: str = "") -> None:
        self.line(f"FAIL ER{code:02d}", self._end_for(name))

    # --- simple commands -------------------------------------------------------------------

    def cmd_SKRESET(self, args: list[str]) -> None:
        if args:
            self.fail(5)
            return
        self.reset_volatile()
        self.ok()

    def reset_volatile(self) -> None:
        """Power-on state: everything but flash (WOPT/WUART) is forgotten."""
        st = self.state
        self.cancel_all_nowait()
        st.echo = True
        st.joined = False
        st.transmit_limited = False
        st.registers = dict(_DEFAULT_REGISTERS)
        st.rbid_set = st.password_set = False
        self._rbid = self._password = None
        self.sim.meter_session_lost()

    def cmd_SKVER(self, args: list[str]) -> None:
        if args:
            self.fail(5)
            return
        self.line(f"EVER {_VERSIONS[self.model][0]}")
        self.ok()

    def cmd_SKAPPVER(self, args: list[str]) -> None:
        if args:
            self.fail(5)
            return
        self.line(f"EAPPVER {_VERSIONS[self.model][1]}")
        self.ok()

    def cmd_SKINFO(self, args: list[str]) -> None:
        if args:
            self.fail(5)
            return
        st = self.state
        regs = st.registers
        # A1 ends with the 16-bit short address (FFFE = none); DSE reports the side.
        tail = "0" if self.model.dse else "FFFE"
        self.line(f"EINFO {st.ipv6} {st.mac} {regs['S02']} {regs['S03']} {tail}")
        self.ok()

    def cmd_SKSREG(self, args: list[str]) -> None:
        if len(args) not in (1, 2):
            self.fail(5)
            return
        reg = normalize_register(args[0])
        if reg is None:
            self.fail(6)
            return
        regs = self.state.registers
        if len(args) == 1:
            if reg == "SFD":
                regs["SFD"] = f"{int(self.state.tx_time_ms):08X}"
            self.line(f"ESREG {regs[reg]}")
            self.ok()
            return
        value = args[1]
        if reg in _READ_ONLY or not re.fullmatch(r"[0-9A-F]{1,16}", value):
            self.fail(6)
            return
        number = int(value, 16)
        if reg == "S02" and not 0x21 <= number <= 0x3C:
            self.fail(6)
            return
        if reg == "S03" and number > 0xFFFF:
            self.fail(6)
            return
        if reg in ("SFE", "S17", "SA0", "SA1", "S15", "SFA", "SFF") and number > 1:
            self.fail(6)
            return
        if reg == "S16" and number < 0x3C:
            self.fail(6)
            return
        regs[reg] = (
            f"{number:X}"
            if reg not in ("S02", "S03")
            else (f"{number:02X}" if reg == "S02" else f"{number:04X}")
        )
        if reg == "SFE":
            self.state.echo = number == 1
        self.ok()

    def cmd_SKSETPWD(self, args: list[str]) -> None:
        if len(args) != 2:
            self.fail(5)
            return
        try:
            length = int(args[0], 16)
        except ValueError:
            self.fail(6)
            return
        if not 1 <= length <= 0x20 or len(args[1]) != length:
            self.fail(6)
            return
        self._password = args[1]
        self.state.password_set = True
        self.ok()

    def cmd_SKSETRBID(self, args: list[str]) -> None:
        if len(args) != 1:
            self.fail(5)
            return
        if len(args[0]) != 32:
            self.fail(6)
            return
        self._rbid = args[0]
        self.state.rbid_set = True
        self.ok()

    def cmd_SKLL64(self, args: list[str]) -> None:
        if len(args) != 1:
            self.fail(5)
            return
        if not re.fullmatch(r"[0-9A-Fa-f]{16}", args[0]):
            self.fail(6)
            return
        self.line(mac_to_ipv6(args[0].upper()))  # no OK, by design of the firmware

    def cmd_SKSAVE(self, args: list[str]) -> None:
        self.ok() if not args else self.fail(5)

    def cmd_SKLOAD(self, args: list[str]) -> None:
        self.ok() if not args else self.fail(5)

    def cmd_ROPT(self, args: list[str]) -> None:
        if self.model is DongleModel.RL7023_IPS:
            self.fail(4, "ROPT")
            return
        if args:
            self.fail(5, "ROPT")
            return
        self.line(f"OK {1 if self.state.erxudp_hex else 0:02X}", b"\r")

    def cmd_WOPT(self, args: list[str]) -> None:
        if self.model is DongleModel.RL7023_IPS:
            self.fail(4, "WOPT")
            return
        if len(args) != 1:
            self.fail(5, "WOPT")
            return
        if not re.fullmatch(r"[0-9A-F]{2}", args[0]):
            self.fail(6, "WOPT")
            return
        self.state.erxudp_hex = bool(int(args[0], 16) & 1)
        self.sim.stats.flash_writes += 1
        self.line("OK", b"\r")

    def cmd_RUART(self, args: list[str]) -> None:
        if args:
            self.fail(5, "RUART")
            return
        self.line(f"OK {self.state.uart}", b"\r")

    def cmd_WUART(self, args: list[str]) -> None:
        if len(args) != 1:
            self.fail(5, "WUART")
            return
        if not re.fullmatch(r"[0-9A-F]{2}", args[0]):
            self.fail(6, "WUART")
            return
        self.state.uart = args[0]
        self.sim.stats.flash_writes += 1
        self.line("OK", b"\r")

    # --- scan --------------------------------------------------------------------------------

    def cmd_SKSCAN(self, args: list[str]) -> None:
        expected = 4 if self.model.dse else 3
        if len(args) != expected:
            self.fail(5)
            return
        mode, mask_s, duration_s = args[:3]
        if (
            mode not in ("0", "2", "3")
            or not re.fullmatch(r"[0-9A-F]{8}", mask_s)
            or not re.fullmatch(r"[0-9A-E]", duration_s)
            or (self.model.dse and args[3] not in ("0", "1"))
        ):
            self.fail(6)
            return
        self.ok()
        self.sim.stats.scans += 1
        self.spawn(self._scan(int(mode), int(mask_s, 16), int(duration_s, 16)))

    async def _scan(self, mode: int, mask: int, duration: int) -> None:
        channels = [0x21 + i for i in range(28) if mask & (1 << i)]
        dwell = self.sim.timing.scan_dwell(duration)
        own = self.state.ipv6
        if mode == 0:
            await self.sleep(dwell * len(channels))
            self.event(0x1F, own)
            self.line("EEDSCAN")
            self.line(" ".join(f"{ch:02X} {0x20 + (ch * 7) % 40:02X}" for ch in channels))
            return
        found = {
            pan.channel: pan for pan in self.sim.visible_pans() if duration >= pan.min_scan_duration
        }
        elapsed = 0.0
        for index, ch in enumerate(channels):
            target = dwell * (index + 1)
            await self.sleep(target - elapsed)
            elapsed = target
            for pan in [p for p in self.sim.visible_pans() if p.channel == ch]:
                if pan.channel not in found:
                    continue
                self.event(0x20, own)
                lines = [
                    "EPANDESC",
                    f"  Channel:{pan.channel:02X}",
                    "  Channel Page:09",
                    f"  Pan ID:{pan.pan_id:04X}",
                    f"  Addr:{pan.mac}",
                    f"  LQI:{pan.lqi:02X}",
                ]
                if self.model.dse:
                    lines.append("  Side:0")
                if mode == 2:
                    lines.append(f"  PairID:{pan.pair_id}")
                for text in lines:
                    self.line(text)
        self.event(0x22, own)

    # --- PANA session -----------------------------------------------------------------------

    def cmd_SKJOIN(self, args: list[str]) -> None:
        if len(args) != 1:
            self.fail(5)
            return
        if not _IPV6.match(args[0]):
            self.fail(6)
            return
        self.ok()
        self.sim.stats.joins += 1
        self.spawn(self._join(args[0]))

    def credentials_match(self) -> bool:
        return self._rbid == self.sim.rbid and self._password == self.sim.password

    async def _join(self, target: str) -> None:
        st = self.state
        st.joined = False
        self._cancel_lifetime()
        pan = self.sim.pan_for(target)
        regs = st.registers
        reachable = (
            pan is not None
            and pan.reachable()
            and int(regs["S02"], 16) == pan.channel
            and int(regs["S03"], 16) == pan.pan_id
        )
        join_time = self.sim.timing.join_seconds
        self.event(0x21, target, "02")
        await self.sleep(join_time * 0.1)
        if not reachable or pan is None:
            # PANA messages go unanswered; the stack gives up after its retries.
            await self.sleep(join_time * 2)
            self.event(0x24, target)
            return
        self.event(0x02, target)
        self.event(0x21, target, "00")
        for index in range(3):
            await self.sleep(join_time * 0.2)
            self._erxudp(
                target, st.ipv6, (PANA_PORT, PANA_PORT), pan.mac, _pana_noise(index), secured=False
            )
        await self.sleep(join_time * 0.2)
        if not pan.is_main or not self.credentials_match():
            self.event(0x24, target)
            return
        st.joined = True
        st.session_count += 1
        self.sim.meter_session_started()
        self.event(0x25, target)
        self._start_lifetime()
        await self.sleep(join_time * 0.05)
        frame = self.sim.meter.instance_list_inf()
        self.meter_frame(frame, multicast=True)

    def cmd_SKREJOIN(self, args: list[str]) -> None:
        if args:
            self.fail(5)
            return
        if not self.state.joined:
            self.fail(10)
            return
        self.ok()
        self.spawn(self._reauth())

    async def _reauth(self, seconds: float | None = None) -> None:
        if seconds is None:
            await self.sleep(self.sim.timing.join_seconds * 0.5)
        else:
            await asyncio.sleep(seconds)
        if self.state.joined and self.sim.meter_reachable():
            self.event(0x25, self.sim.config.ipv6)
            self._start_lifetime()
        else:
            self.state.joined = False
            self.event(0x24, self.sim.config.ipv6)

    def cmd_SKTERM(self, args: list[str]) -> None:
        if args:
            self.fail(5)
            return
        if not self.state.joined:
            self.fail(10)
            return
        self.ok()
        self.state.joined = False
        self._cancel_lifetime()
        reachable = self.sim.meter_reachable()
        self.sim.meter_session_lost()
        self.spawn(self._term_event(reachable))

    async def _term_event(self, reachable: bool) -> None:
        await self.sleep(self.sim.timing.join_seconds * (0.1 if reachable else 1.0))
        self.event(0x27 if reachable else 0x28, self.sim.config.ipv6)

    def expire_session(self, reauth: bool | None, *, reauth_seconds: float | None = None) -> None:
        """EVENT 29; with re-authentication EVENT 25 follows, else the session is gone."""
        # Cancelled, not just forgotten: when a fault calls this before the lifetime
        # runs out, the pending timer would fire later (and outlive stop()).
        self._cancel_lifetime()
        if not self.state.joined:
            return
        if reauth is None:
            reauth = self.sim.config.auto_reauth
        self.event(0x29, self.sim.config.ipv6)
        if reauth:
            self.spawn(self._reauth(reauth_seconds))
        else:
            self.state.joined = False
            self.sim.meter_session_lost()

    def end_session(self) -> None:
        """The meter ends the session (EVENT 26)."""
        was = self.state.joined
        self.state.joined = False
        self._cancel_lifetime()
        self.sim.meter_session_lost()
        if was:
            self.event(0x26, self.sim.config.ipv6)

    # --- UDP ------------------------------------------------------------------------------

    def cmd_SKSENDTO(self, args: list[str]) -> None:
        # Reached only when the line ended before a DATALEN token: too few arguments.
        self.fail(5)

    def _sendto(self, header: str, payload: bytes) -> None:
        st = self.state
        if st.silent:
            return
        if st.echo:
            self.line(header)
        st.last_commands.append(f"{header} <{len(payload)} bytes>")
        self.sim.stats.count_command("SKSENDTO")
        args = header.split(" ")[1:]
        expected = 6 if self.model.dse else 5
        if len(args) != expected:
            self.fail(5)
            return
        handle, addr, port_s, sec_s = args[:4]
        side_ok = not self.model.dse or args[4] in ("0", "1")
        if (
            handle not in ("1", "2", "3", "4", "5", "6")
            or not _IPV6.match(addr)
            or not re.fullmatch(r"[0-9A-F]{4}", port_s)
            or sec_s not in ("0", "1", "2")
            or not side_ok
            or not 1 <= len(payload) <= MAX_SENDTO
        ):
            self.fail(6)
            return
        stats = self.sim.stats
        stats.sendto += 1
        sec = int(sec_s)
        if st.transmit_limited or (sec == 1 and not st.joined):
            self.event(0x21, addr, "01")
            self.ok()
            return
        airtime = self.sim.timing.airtime(len(payload))
        st.tx_time_ms += airtime * 1000
        stats.frames_to_meter += 1
        stats.bytes_to_meter += len(payload)
        stats.airtime_seconds += airtime
        if self.pending_ns > 0:
            # The stack first had to resolve the neighbour: EVENT 21 … 02, then the result.
            self.pending_ns -= 1
            self.event(0x21, addr, "02")
        self.event(0x21, addr, "00")
        self.ok()
        port = int(port_s, 16)
        encrypted = sec >= 1 and st.joined
        if port == ECHONET_PORT and addr in (self.sim.config.ipv6, MULTICAST_ALL):
            self.sim.deliver_to_meter(payload, encrypted)

    def meter_frame(self, frame: Frame, *, multicast: bool = False) -> None:
        """Emit an ERXUDP carrying a frame from the main meter."""
        data = frame.encode()
        stats = self.sim.stats
        stats.frames_from_meter += 1
        stats.bytes_from_meter += len(data)
        stats.airtime_seconds += self.sim.timing.airtime(len(data))
        dest = MULTICAST_ALL if multicast else self.state.ipv6
        cfg = self.sim.config
        self._erxudp(cfg.ipv6, dest, (ECHONET_PORT, ECHONET_PORT), cfg.mac, data, secured=True)

    def _erxudp(
        self,
        sender: str,
        dest: str,
        ports: tuple[int, int],
        mac: str,
        data: bytes,
        *,
        secured: bool,
    ) -> None:
        rport, lport = ports
        fields = [sender, dest, f"{rport:04X}", f"{lport:04X}", mac]
        if self.model.dse and self.state.registers["SA2"] == "1":
            # Token format unverified in the reference; we print the LQI as two hex digits.
            fields.append(f"{self.sim.config.lqi:02X}")
        fields.append("1" if secured else "0")
        if self.model.dse:
            fields.append("0")
        fields.append(f"{len(data):04X}")
        head = ("ERXUDP " + " ".join(fields) + " ").encode("ascii")
        body = data.hex().upper().encode("ascii") if self.state.erxudp_hex else data
        self.emit(head + body + CRLF)

    def stray_pana(self) -> None:
        cfg = self.sim.config
        self._erxudp(
            cfg.ipv6,
            self.state.ipv6,
            (PANA_PORT, PANA_PORT),
            cfg.mac,
            _pana_noise(7),
            secured=False,
        )


def _line_end(buf: bytes | bytearray, start: int = 0) -> int:
    cr = buf.find(b"\r", start)
    lf = buf.find(b"\n", start)
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)


def _pana_noise(index: int) -> bytes:
    # A PANA-looking header (reserved, length, flags, type) plus filler; clients ignore it.
    body = bytes((index * 37 + i * 11) & 0xFF for i in range(28))
    return bytes([0, 0, 0, 0x28, 0x80, 0x00, 0x00, 0x02 + index % 2]) + bytes(4) + body


def decode_or_none(data: bytes) -> Frame | None:
    try:
        return Frame.decode(data)
    except FrameError:
        return None


Handler = Callable[[list[str]], None]
