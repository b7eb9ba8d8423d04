"""A small asyncio TCP fault proxy (loopback only): this machine's kernel has no netem.

Placed between the load client and an app node (drill 14) or between the app and PostgreSQL
(drill 3), it forwards bytes and, on command, injects one fault at a time into every connection:

  pass            forward (and resume whatever ``pause`` held back)
  delay MS        hold every chunk MS milliseconds, in order, in both directions
  drop P          each chunk is lost with probability P by resetting its connection (both sides), so a
                  request can die before the server sees it or after the server answered; new
                  connections are reset at once with the same probability
  stall           black hole: new connections are accepted and never answered, and every open one is
                  never forwarded again (a half-open peer); each side gives up on its own timeouts
  pause           forwarding stops on every connection, new ones included, until the mode changes;
                  then the held bytes flow again (a partition that heals)

It runs its own event loop in a thread, so a synchronous caller or another event loop switches modes
with ``proxy.set_mode("delay", 200)``. ``python -m benchmarks.loadkit.faultproxy --listen PORT
--upstream HOST:PORT`` runs one on its own and reads mode commands ("delay 200", "pass") from stdin.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import sys
import threading
import time
from collections import Counter
from typing import Self

MODES = ("pass", "delay", "drop", "stall", "pause")
CHUNK = 65536


class FaultProxy:
    """One listening port forwarding to one upstream, with a switchable fault mode."""

    def __init__(self, listen_port: int, upstream_port: int, *, upstream_host: str = "127.0.0.1", seed: int = 14):
        if upstream_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fault proxy forwards to loopback only")
        self.listen_port, self.upstream = listen_port, (upstream_host, upstream_port)
        self.mode, self.param = "pass", 0.0
        self.counts: Counter = Counter()  # connections, resets, stalled, bytes
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._resume: asyncio.Event | None = None  # set unless paused
        self._epoch = 0  # bumped when stall starts: connections of an older epoch stay stalled
        self._conns: set[_Conn] = set()

    # --- control (any thread) ------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on 127.0.0.1:listen_port (returns once listening)."""
        self._thread = threading.Thread(target=self._run, name=f"faultproxy-{self.listen_port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._server is None:
            raise RuntimeError(f"fault proxy could not listen on 127.0.0.1:{self.listen_port}")
        return self

    def set_mode(self, mode: str, param: float = 0.0) -> None:
        """Switch every connection (open and new) to ``mode``; thread-safe, takes effect at once."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        done = threading.Event()

        def apply() -> None:
            if mode == "stall" and self.mode != "stall":
                self._epoch += 1
                for conn in list(self._conns):
                    conn.stalled = True
                    self.counts["stalled"] += 1
            self.mode, self.param = mode, float(param)
            if mode == "pause":
                self._resume.clear()
            else:
                self._resume.set()
            done.set()

        self._loop.call_soon_threadsafe(apply)
        done.wait(5)

    def stop(self) -> None:
        """Close the listener and every connection, end the thread."""
        if self._loop is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for conn in list(self._conns):
                conn.abort()
            self._resume.set()

        with contextlib.suppress(Exception):  # best effort on the way out
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the loop (proxy thread) ---------------------------------------------------------------

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._resume = asyncio.Event()
        self._resume.set()
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", self.listen_port, backlog=2048, reuse_address=True))
        except OSError:
            self._server = None
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts["connections"] += 1
        if self.mode == "drop" and self._rng.random() < self.param:
            self.counts["resets"] += 1
            _reset(writer)
            return
        conn = _Conn(self, reader, writer)
        self._conns.add(conn)
        try:
            if self.mode == "stall":
                conn.stalled = True
                self.counts["stalled"] += 1
            else:
                await self._resume.wait()
            if conn.stalled:
                await conn.hold()
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 10)
            except (TimeoutError, OSError):
                _reset(writer)
                return
            conn.upstream = up_writer
            await asyncio.gather(conn.pipe(reader, up_writer), conn.pipe(up_reader, writer))
        finally:
            conn.abort()
            self._conns.discard(conn)


class _Conn:
    """One proxied connection: two pipes that obey the proxy's mode chunk by chunk."""

    def __init__(self, proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.proxy, self.client, self.client_reader = proxy, writer, reader
        self.upstream: asyncio.StreamWriter | None = None
        self.stalled = False
        self.closed = False

    async def hold(self) -> None:
        """A stalled connection: read and discard until the peer gives up (never answer)."""
        try:
            while not self.closed and await self.client_reader.read(CHUNK):
                pass
        except (OSError, asyncio.IncompleteReadError):
            pass

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        p = self.proxy
        try:
            while not self.closed:
                data = await reader.read(CHUNK)
                if not data:
                    if self.stalled:  # one peer gave up on a black-holed connection: drop the other side too
                        self.abort()
                        return
                    break
                if self.stalled:  # a black hole from now on: swallow what comes, forward nothing
                    continue
                if p.mode == "pause":
                    await p._resume.wait()
                    if self.stalled:
                        continue
                if p.mode == "delay" and p.param > 0:
                    await asyncio.sleep(p.param / 1000)
                elif p.mode == "drop" and p._rng.random() < p.param:
                    p.counts["resets"] += 1
                    self.abort()
                    return
                writer.write(data)
                p.counts["bytes"] += len(data)
                await writer.drain()
            if not self.stalled and writer.can_write_eof():
                writer.write_eof()
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            self.abort()

    def abort(self) -> None:
        """Reset both sides (RST, not FIN: what a broken network looks like to each peer)."""
        if self.closed:
            return
        self.closed = True
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    writer.transport.abort()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadkit.faultproxy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--upstream", required=True, help="127.0.0.1:PORT to forward to")
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    proxy = FaultProxy(args.listen, int(port), upstream_host=host or "127.0.0.1").start()
    print(f"fault proxy 127.0.0.1:{args.listen} -> {args.upstream}; modes: {', '.join(MODES)} (one per line)",
          flush=True)
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            try:
                proxy.set_mode(words[0], float(words[1]) if len(words) > 1 else 0.0)
                print(f"{time.strftime('%H:%M:%S')} mode {proxy.mode} {proxy.param:g}; {dict(proxy.counts)}", flush=True)
            except ValueError as exc:
                print(exc, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
