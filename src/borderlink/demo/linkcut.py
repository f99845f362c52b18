"""The demo's WAN links: a TCP relay per node between its edge agent and the hub.

In the field a node reaches the hub over a radio or leased line that fails now and then. The
demo puts each node's uplink through a :class:`LinkRelay` on 127.0.0.1, so it can cut the link
(every open connection is dropped, new ones are refused) and restore it, without touching the
agent: the agent sees exactly what a broken line looks like. TLS passes through untouched.

The fault suite (:mod:`borderlink.faults`) uses two more failures of real lines: a *stalled*
link (half-open: connections stay established, new ones are accepted, but no byte is forwarded
and no reset is sent, as when a radio link dies between two routers), a *blackholed* one (the
same, but every byte sent meanwhile is dropped both ways, never delivered, and the connections
open then are reset when the line returns, as when the path's NAT state is gone) and a *slow*
one (every chunk is held back by a delay).
"""

from __future__ import annotations

import socket
import threading
import time

_CHUNK = 64 * 1024


class LinkRelay:
    """Forward connections from ``127.0.0.1:<port>`` to *target*; :meth:`cut` and :meth:`restore`."""

    def __init__(self, name: str, target: tuple[str, int]) -> None:
        self.name = name
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._flowing = threading.Event()  # cleared while the link is stalled (half-open)
        self._flowing.set()
        self._dropping = threading.Event()  # set while the link is blackholed
        #: Connections accepted so far (a node that noticed a dead line dials again).
        self.accepted = 0
        #: Seconds each forwarded chunk is held back (0: a healthy line).
        self.delay_s = 0.0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.cut_windows: list[tuple[float, float | None]] = []
        self._thread = threading.Thread(target=self._accept, name=f"relay-{name}", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    def start(self) -> LinkRelay:
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until :meth:`restore`."""
        self._up.clear()
        self.cut_windows.append((time.time(), None))
        self._drop_connections()

    def stall(self) -> None:
        """Keep every connection open but forward nothing (a half-open line) until :meth:`restore`."""
        self._flowing.clear()

    def blackhole(self) -> None:
        """Keep every connection open, accept new ones, and drop every byte both ways (no
        reset) until :meth:`restore`, which then resets the connections opened before."""
        self._dropping.set()

    def slow(self, delay_s: float) -> None:
        """Hold every forwarded chunk back by *delay_s* seconds until :meth:`restore`."""
        self.delay_s = delay_s

    def restore(self) -> None:
        if not self._up.is_set() and self.cut_windows:
            start, _ = self.cut_windows[-1]
            self.cut_windows[-1] = (start, time.time())
        self.delay_s = 0.0
        if self._dropping.is_set():
            self._dropping.clear()
            self._drop_connections()  # what crossed the dead line is gone: those streams too
        self._flowing.set()
        self._up.set()

    def close(self) -> None:
        self._closing.set()
        self._up.clear()
        self._drop_connections()
        _close(self._listener)

    def _drop_connections(self) -> None:
        with self._lock:
            doomed = list(self._sockets)
            self._sockets.clear()
        for sock in doomed:
            _close(sock)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                _close(client)  # the line is down: the connection attempt fails
                continue
            self.accepted += 1
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    break
                while not self._flowing.wait(0.2):  # stalled: hold the bytes, send no reset
                    if self._closing.is_set() or not self._up.is_set():
                        return
                if self._dropping.is_set():
                    continue  # blackholed: read and dropped, the sender never knows
                if self.delay_s:
                    time.sleep(self.delay_s)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
