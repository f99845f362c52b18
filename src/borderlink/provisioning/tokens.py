"""One-time enrolment tokens: what a technician carries to a device, and the store that
keeps only their hashes.

A token names its node and pins the deployment::

    BLT1:<node id>:<secret, 32 base32 characters = 160 bits>:<root CA SHA-256, 64 hex>

The store (``tokens.db`` in the CA directory, SQLite) keeps the SHA-256 of the secret with
what the token allows (node, site, agency, hardware profile) and its expiry; a token is used
once, atomically (:meth:`TokenStore.claim`). Stealing the store yields no usable token.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderlink.proto.identity import Role, check_name
from borderlink.provisioning.errors import CaDirectoryError, TokenError
from borderlink.provisioning.trust import normalise_fingerprint

TOKEN_PREFIX = "BLT1"
SECRET_BYTES = 20
TOKENS_DB = "tokens.db"

#: Refusal causes (docs/provisioning.md); also the ``borderlink-reason`` trailing metadata.
TOKEN_MALFORMED = "token-malformed"
TOKEN_UNKNOWN = "token-unknown"
TOKEN_EXPIRED = "token-expired"
TOKEN_USED = "token-used"
TOKEN_OTHER_NODE = "token-other-node"

_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``"24h"``, ``"90m"``, ``"7d"``, ``"1d12h"`` as seconds (> 0)."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s", "", text.lower()):
        raise TokenError(TOKEN_MALFORMED, f"duration {text!r}: expected e.g. 24h, 90m, 7d")
    seconds = sum(int(n) * _UNIT_S[u] for n, u in parts)
    if seconds <= 0:
        raise TokenError(TOKEN_MALFORMED, f"duration {text!r} must be longer than 0")
    return seconds


def secret_hash(secret: bytes) -> bytes:
    return hashlib.sha256(b"borderlink-token-v1\0" + secret).digest()


@dataclass(frozen=True)
class Token:
    """A token as printed: node id, secret, and (optionally) the root CA fingerprint."""

    node_id: str
    secret: bytes
    ca_fingerprint: str | None

    def __str__(self) -> str:
        secret = base64.b32encode(self.secret).decode().rstrip("=")
        tail = f":{self.ca_fingerprint}" if self.ca_fingerprint else ""
        return f"{TOKEN_PREFIX}:{self.node_id}:{secret}{tail}"

    @classmethod
    def parse(cls, text: str) -> Token:
        parts = text.strip().split(":")
        if len(parts) not in (3, 4) or parts[0].upper() != TOKEN_PREFIX:
            raise TokenError(
                TOKEN_MALFORMED,
                f"not an enrolment token (expected {TOKEN_PREFIX}:<node>:<secret>[:<fingerprint>])",
            )
        try:
            check_name(Role.NODE, parts[1])
            raw = parts[2].upper()
            secret = base64.b32decode(raw + "=" * (-len(raw) % 8))
        except ValueError as exc:
            raise TokenError(TOKEN_MALFORMED, f"enrolment token: {exc}") from exc
        if len(secret) != SECRET_BYTES:
            raise TokenError(TOKEN_MALFORMED, "enrolment token: the secret part is truncated")
        try:
            fp = normalise_fingerprint(parts[3]) if len(parts) == 4 else None
        except CaDirectoryError as exc:
            raise TokenError(TOKEN_MALFORMED, f"enrolment token: {exc}") from exc
        return cls(parts[1], secret, fp)


@dataclass(frozen=True)
class TokenGrant:
    """What a token allows, as the store keeps it."""

    node_id: str
    site: str
    agency: str
    profile: str
    created_ms: int
    expires_ms: int
    used_ms: int | None = None
    used_by: str = ""
    #: The record types the node's profile produces, declared to the hub at enrolment (it
    #: accepts no other type from the node but the node.* lifecycle types).
    record_types: tuple[str, ...] = ()


_COLS = "node_id, site, agency, profile, created_ms, expires_ms, used_ms, used_by, record_types"


def _grant(row: Any) -> TokenGrant:
    node_id, site, agency, profile, created, expires, used, by, types = row
    return TokenGrant(node_id, site, agency, profile, created, expires, used, by,
                      tuple(types.split()))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    secret_sha256 BLOB PRIMARY KEY,
    node_id TEXT NOT NULL,
    site TEXT NOT NULL,
    agency TEXT NOT NULL,
    profile TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER,
    used_by TEXT NOT NULL DEFAULT '',
    record_types TEXT NOT NULL DEFAULT ''
);
"""


class TokenStore:
    """The token hashes of one CA directory (thread-safe; one SQLite file)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> TokenStore:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 5000")
        db.executescript(_SCHEMA)
        # A store made before tokens carried record types: its open tokens carry none, and
        # the hub refuses to enrol a node with them (create a new token).
        if "record_types" not in {r[1] for r in db.execute("PRAGMA table_info(tokens)")}:
            db.execute("ALTER TABLE tokens ADD COLUMN record_types TEXT NOT NULL DEFAULT ''")
        path.chmod(0o600)
        return cls(db)

    def close(self) -> None:
        self._db.close()

    def create(
        self,
        *,
        node_id: str,
        site: str,
        agency: str,
        profile: str,
        ttl_s: int,
        ca_fingerprint: str,
        record_types: Sequence[str] = (),
        now_ms: int | None = None,
    ) -> tuple[Token, TokenGrant]:
        check_name(Role.NODE, node_id)
        check_name(Role.AGENCY, agency)
        if not site or not profile:
            raise TokenError(TOKEN_MALFORMED, "a token needs a site and a hardware profile")
        types = tuple(dict.fromkeys(record_types))
        if not types or any(not t or " " in t for t in types):
            raise TokenError(TOKEN_MALFORMED, "a token needs the record types the node's "
                             f"hardware profile produces, got {list(record_types)!r}")
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        token = Token(node_id, secrets.token_bytes(SECRET_BYTES), ca_fingerprint)
        grant = TokenGrant(node_id, site, agency, profile, now, now + ttl_s * 1000,
                           record_types=types)
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (secret_sha256, node_id, site, agency, profile, created_ms,"
                " expires_ms, record_types) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (secret_hash(token.secret), node_id, site, agency, profile, now,
                 grant.expires_ms, " ".join(types)),
            )
        return token, grant

    def _row(self, digest: bytes) -> TokenGrant | None:
        row = self._db.execute(
            f"SELECT {_COLS} FROM tokens WHERE secret_sha256 = ?", (digest,)
        ).fetchone()
        return _grant(row) if row else None

    def claim(self, secret: bytes, node_id: str, *, by: str, now_ms: int) -> TokenGrant:
        """Use the token once for *node_id*; :class:`TokenError` with the cause otherwise.

        Checked in this order, so that a probe learns nothing about tokens it does not hold:
        unknown, used, expired, another node's.
        """
        digest = secret_hash(secret)
        with self._lock:
            grant = self._row(digest)
            if grant is None:
                raise TokenError(TOKEN_UNKNOWN, "unknown enrolment token")
            if grant.used_ms is not None:
                raise TokenError(TOKEN_USED, f"enrolment token already used ({grant.used_by})")
            if now_ms >= grant.expires_ms:
                raise TokenError(TOKEN_EXPIRED, "enrolment token expired")
            if grant.node_id != node_id:
                raise TokenError(
                    TOKEN_OTHER_NODE, f"this token is for another node, not {node_id!r}"
                )
            done = self._db.execute(
                "UPDATE tokens SET used_ms = ?, used_by = ? WHERE secret_sha256 = ?"
                " AND used_ms IS NULL",
                (now_ms, by, digest),
            ).rowcount
            if done != 1:  # another process of the same store won the race
                raise TokenError(TOKEN_USED, "enrolment token already used")
        return TokenGrant(grant.node_id, grant.site, grant.agency, grant.profile,
                          grant.created_ms, grant.expires_ms, now_ms, by, grant.record_types)

    def release(self, secret: bytes) -> None:
        """Give a claimed token back (the hub could not be reached: not the node's fault)."""
        with self._lock:
            self._db.execute(
                "UPDATE tokens SET used_ms = NULL, used_by = '' WHERE secret_sha256 = ?",
                (secret_hash(secret),),
            )

    def list(self) -> list[TokenGrant]:
        rows = self._db.execute(f"SELECT {_COLS} FROM tokens ORDER BY created_ms").fetchall()
        return [_grant(r) for r in rows]


__all__ = ["Token", "TokenGrant", "TokenStore", "parse_duration", "secret_hash"]
