"""Device transports chosen by URL, one module per scheme (model: pyserial's ``serial_for_url``).

======================================  ==========================================
``serial:///dev/ttyUSB0?baud=9600``     :mod:`.serialport` (pyserial; ptys too)
``tcp://127.0.0.1:7001``                :mod:`.tcp` (client, reconnects)
``file:///var/spool/gcms/``             :mod:`.folder` (watched folder, whole files)
======================================  ==========================================

Every transport has the same small surface (:class:`Transport`): ``connect()`` raises
:class:`~borderlink.edge.errors.DeviceDisconnectedError` when the device is not there,
``read(timeout_s)`` returns a list of byte chunks (stream transports: what arrived; the folder:
one item per completed file) or raises the same error when the device went away, and
``close()``. ``stream`` tells the runner whether chunks go through the protocol's framer
(``True``) or are whole frames (``False``: files). Reconnecting is the runner's job
(:mod:`borderlink.edge.device`), so a transport holds no thread.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

__all__ = ["SCHEMES", "DriverStats", "Transport", "open_url"]

#: URL scheme -> module in this package.
SCHEMES = {"serial": "serialport", "tcp": "tcp", "file": "folder"}


class Transport(Protocol):
    url: str
    stream: bool

    def connect(self) -> None: ...

    def read(self, timeout_s: float) -> list[bytes]: ...

    def close(self) -> None: ...


def open_url(url: str, **options: object) -> Transport:
    """The transport for *url* (not yet connected); :class:`ValueError` for an unknown scheme."""
    import importlib

    scheme = urlsplit(url).scheme
    try:
        name = SCHEMES[scheme]
    except KeyError:
        raise ValueError(
            f"unknown device URL scheme {scheme!r} in {url!r}; known: "
            f"{', '.join(s + '://' for s in sorted(SCHEMES))}") from None
    module = importlib.import_module(f"{__name__}.{name}")
    return module.from_url(url, **options)  # type: ignore[no-any-return]
