"""Hub storage: one interface (:class:`Storage`), two backends chosen by URL.

* ``sqlite:///abs/path/hub.db``, ``sqlite:rel/path.db`` — :class:`SqliteStorage`, embedded default;
* ``postgresql://user@host:5432/db?schema=name`` — :class:`PostgresStorage`, for replicas.

An unknown scheme is a :class:`ValueError`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from borderlink.hub.storage.interface import NodeKey, Storage
from borderlink.hub.storage.model import (
    MAX_EQUIVOCATIONS_KEPT,
    ZERO_HASH,
    AppendResult,
    ChainHead,
    CheckpointRow,
    DownlinkAckRow,
    DownlinkItem,
    DownlinkKind,
    Equivocation,
    LogState,
    NewDisclosure,
    NewRecord,
    NodeEnrollment,
    NodeKeyRow,
    NodeRow,
    PolicyRow,
    RecordFilter,
    ScanPage,
    StoredDisclosure,
    StoredRecord,
)

SCHEMES = ("sqlite", "postgresql", "postgres")


def open_storage(url: str, **options: Any) -> Storage:
    """Open the store named by *url*; backend *options* pass through (see each backend's ``open``)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from borderlink.hub.storage.sqlite import SqliteStorage

        path = url[len("sqlite:") :]
        if path.startswith("//"):
            path = path[2:]  # sqlite:///abs -> /abs ; sqlite://rel is not allowed
            if not path.startswith("/"):
                raise ValueError(
                    f"sqlite URL {url!r}: use sqlite:///absolute/path or sqlite:relative/path"
                )
        if not path:
            raise ValueError(f"sqlite URL {url!r} names no file")
        return SqliteStorage.open(path, **options)
    if scheme in ("postgresql", "postgres"):
        from borderlink.hub.storage.postgres import PostgresStorage, split_schema

        conninfo, schema = split_schema(url)
        return PostgresStorage.open(conninfo, schema=schema, **options)
    raise ValueError(f"unknown storage URL scheme {scheme!r} in {url!r}; expected one of {SCHEMES}")


__all__ = [
    "SCHEMES",
    "ZERO_HASH",
    "AppendResult",
    "ChainHead",
    "CheckpointRow",
    "DownlinkAckRow",
    "DownlinkItem",
    "DownlinkKind",
    "MAX_EQUIVOCATIONS_KEPT",
    "Equivocation",
    "LogState",
    "NewDisclosure",
    "NewRecord",
    "NodeEnrollment",
    "NodeKey",
    "NodeKeyRow",
    "NodeRow",
    "PolicyRow",
    "RecordFilter",
    "ScanPage",
    "Storage",
    "StoredDisclosure",
    "StoredRecord",
    "open_storage",
]
