"""A fault-injecting HTTP proxy for the endpoint tests, on 127.0.0.1 only.

It stands between the endpoint client and a server (vLLM, or the tests' fake), handles one
request per connection (it asks the server for `Connection: close`), and injects faults into
POST requests, drawn from a seeded generator so that a test is repeatable:

- drop: the connection closes after the request is read, with no answer;
- cut: the server's answer is forwarded half, then the connection closes;
- error: HTTP 500; busy: HTTP 429 with Retry-After: 0;
- slow: the request waits `slow_s` seconds before it is forwarded (past the client's
  timeout when the test wants timeouts).

`outage(seconds)` stops listening (connections are refused, open ones are dropped) and listens
again after that long: a server killed and restarted, as the client sees it. `down()` without
an end is a server that never comes back. Counters say what was injected.
"""
from __future__ import annotations

import asyncio
import collections
import random
import threading
from dataclasses import dataclass

FAULTS = ("drop", "cut", "error", "busy", "slow")


@dataclass
class Faults:
    """Probability of each fault per POST request (the rest is forwarded untouched)."""

    drop: float = 0.0
    cut: float = 0.0
    error: float = 0.0
    busy: float = 0.0
    slow: float = 0.0
    slow_s: float = 1.0


class FaultProxy:
    def __init__(self, upstream_port: int, faults: Faults | None = None, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.injected: collections.Counter[str] = collections.Counter()
        self.forwarded = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # ---- control, from the test's thread ----------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def down(self) -> None:
        """Refuse connections from now on and drop the open ones."""
        self._call(self._close())

    def up(self) -> None:
        self._call(self._listen())

    def outage(self, seconds: float) -> None:
        """Down now, up again after `seconds` (without blocking the caller)."""
        self.down()
        self._loop.call_soon_threadsafe(lambda: self._loop.call_later(seconds, self._relisten))

    def stop(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _relisten(self) -> None:
        asyncio.ensure_future(self._listen())

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._open):
            w.transport.abort()

    # ---- one connection ---------------------------------------------------------------------

    def _draw(self, method: str) -> str | None:
        if method != "POST":
            return None
        x, edge = self.rng.random(), 0.0
        for name in FAULTS:
            edge += getattr(self.faults, name)
            if x < edge:
                return name
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                           if k.strip().lower() == "content-length"), 0)
            body = await reader.readexactly(length) if length else b""
            fault = self._draw(lines[0].split(" ")[0])
            if fault:
                self.injected[fault] += 1
            if fault == "drop":
                return
            if fault in ("error", "busy"):
                status = b"500 Internal Server Error" if fault == "error" else b"429 Too Many Requests"
                text = b'{"error": {"message": "injected by the fault proxy"}}'
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nRetry-After: 0\r\n"
                             b"Connection: close\r\nContent-Length: " + str(len(text)).encode() + b"\r\n\r\n" + text)
                await writer.drain()
                return
            if fault == "slow":
                await asyncio.sleep(self.faults.slow_s)
            answer = await self._forward(lines, body)
            if fault == "cut":
                answer = answer[: len(answer) // 2]
            writer.write(answer)
            await writer.drain()
            self.forwarded += 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def _forward(self, lines: list[str], body: bytes) -> bytes:
        kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
        head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            up_writer.write(head + body)
            await up_writer.drain()
            return await up_reader.read()          # to EOF: the server closes after its answer
        finally:
            up_writer.close()
