"""An agency that follows the hub's federation stream through every fault, resuming by cursor.

The contract of ``Federation.Subscribe`` (federation.proto): resume after a disconnect by
passing the last ``next_cursor``, and get no loss and no duplicate. The follower keeps every
log index it received; the invariants compare them with a fresh read of everything the agency
may see once the round is over.
"""

from __future__ import annotations

import threading
from typing import Any

import grpc

from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, federation_pb2, federation_pb2_grpc


class AgencyFollower:
    """Subscribe as *agency* with ``follow``; reconnect from the cursor after any break."""

    def __init__(self, site: Any, agency: str) -> None:
        self.site = site
        self.agency = agency
        self.received: list[int] = []
        self.cursor = 0
        self.breaks = 0
        self.reconnects = 0
        self._lock = threading.Lock()
        self._call: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow-{agency}", daemon=True)
        self._channel = self._open_channel()

    def _open_channel(self) -> grpc.Channel:
        cert, key = self.site.agency_files(self.agency)
        credentials = grpc.ssl_channel_credentials(
            (self.site.hub_dir / "ca.pem").read_bytes(), key.read_bytes(), cert.read_bytes())
        return grpc.secure_channel(self.site.hub_address, credentials, GRPC_MESSAGE_OPTIONS)

    def start(self) -> AgencyFollower:
        self._thread.start()
        return self

    def break_stream(self) -> None:
        """Cancel the open stream, as a dropped connection would; the follower resumes."""
        with self._lock:
            call = self._call
        if call is not None:
            self.breaks += 1
            call.cancel()

    def stop(self) -> None:
        self._stop.set()
        self.break_stream()
        self._thread.join(10)
        self._channel.close()

    def _run(self) -> None:
        stub = federation_pb2_grpc.FederationStub(self._channel)
        while not self._stop.is_set():
            call = stub.Subscribe(federation_pb2.SubscribeRequest(cursor=self.cursor, follow=True))
            with self._lock:
                self._call = call
            try:
                for record in call:
                    with self._lock:
                        self.received.append(record.log_index)
                        self.cursor = record.next_cursor
            except grpc.RpcError:
                pass  # the hub died, the stream was broken off, or we are stopping
            with self._lock:
                self._call = None
            if not self._stop.wait(0.3):
                self.reconnects += 1

    def snapshot(self) -> list[int]:
        with self._lock:
            return list(self.received)
