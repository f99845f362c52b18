"""A round's hub on PostgreSQL, and the ``pg-terminate`` fault: its server connections killed.

The round's hub stores in a schema of its own (``faults_<hex>``) on the server the campaign
names, dropped when the round ends. The hub's connections carry an ``application_name`` of
the round's own, so the fault finds exactly them in ``pg_stat_activity`` (its pool and its
sequencer lock's connection) and ends them with ``pg_terminate_backend`` while the nodes sync:
what a PostgreSQL restart, a failover or an administrator does to a running hub. The suite
reads the store on connections without that name, so it never terminates itself.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .errors import FaultSuiteError

#: The development machines' server (trust auth, database ``test``).
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class RoundStore:
    """One round's schema on *server* (a libpq URL)."""

    server: str
    schema: str
    application_name: str

    @classmethod
    def new(cls, server: str) -> RoundStore:
        tag = uuid.uuid4().hex[:12]
        return cls(server, f"faults_{tag}", f"borderlink-faults-hub-{tag}")

    @property
    def hub_url(self) -> str:
        """The hub's storage URL: the round's schema, its connections named."""
        return _with_query(self.server, schema=self.schema,
                           application_name=self.application_name)

    @property
    def reader_url(self) -> str:
        """The suite's storage URL for reading the same store (connections not named)."""
        return _with_query(self.server, schema=self.schema)

    def use_in(self, hub_toml: Path) -> None:
        """Point the hub configuration that ``hub init`` wrote at this store."""
        text = hub_toml.read_text()
        new, count = re.subn(r'(?m)^url = "sqlite:hub\.db"$', f'url = "{self.hub_url}"', text)
        if count != 1:
            raise FaultSuiteError(f"{hub_toml} has no [storage] url = \"sqlite:hub.db\" to replace")
        hub_toml.write_text(new)

    def _admin(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.server, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise FaultSuiteError(f"PostgreSQL unreachable at {self.server}: {exc}; pass "
                                  "--postgres URL or --postgres none") from exc

    def check(self) -> None:
        """Fail now, with the reason, when the server cannot be reached."""
        self._admin().close()

    def terminate_hub(self) -> int:
        """``pg_terminate_backend`` on every connection of the round's hub; how many."""
        with self._admin() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (self.application_name,)).fetchall()
        return sum(1 for (done,) in rows if done)

    def hub_connections(self) -> int:
        with self._admin() as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                               (self.application_name,)).fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                         .format(sql.Identifier(self.schema)))


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))
