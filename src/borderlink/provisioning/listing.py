"""``borderlink provision list``: the nodes the hub knows, with what the CA knows of them.

The hub (``Admin.ListNodes``) says each node's site, agency, profile, key id, revocation and
last contact; the CA directory's register of issued certificates says when the node's newest
certificate expires. :func:`node_rows` joins the two (pure), soonest expiry first;
:func:`table` renders them, a certificate expiring within :data:`WARN_DAYS` marked (in colour
on a terminal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cryptography import x509

from borderlink.proto.v1 import admin_pb2

#: A certificate expiring within this many days is flagged.
WARN_DAYS = 14


def _iso(ms: int) -> str | None:
    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_rows(
    nodes: Iterable[admin_pb2.NodeInfo],
    certificates_of: Callable[[str], Sequence[x509.Certificate]],
    *,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """One row per node, soonest certificate expiry first (unknown expiry last)."""
    rows = []
    for n in nodes:
        certs = sorted(certificates_of(n.node_id), key=lambda c: c.not_valid_before_utc)
        expiry = certs[-1].not_valid_after_utc if certs else None
        days = (expiry - now).total_seconds() / 86400 if expiry else None
        rows.append({
            "node_id": n.node_id, "site": n.site, "agency": n.agency,
            "profile": n.hardware_profile,
            "status": "revoked" if n.revoked_at_unix_ms else "active",
            "kid": n.kid.hex(), "keys": len(n.keys),
            "cert_serial": f"{certs[-1].serial_number:x}" if certs else None,
            "cert_not_after": expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if expiry else None,
            "cert_days_left": None if days is None else round(days, 1),
            "cert_warning": days is not None and days < WARN_DAYS and not n.revoked_at_unix_ms,
            "last_seen": _iso(n.last_seen_unix_ms), "last_seq": n.last_seq,
            "revoked_at": _iso(n.revoked_at_unix_ms),
        })
    rows.sort(key=lambda r: (r["cert_days_left"] is None, r["cert_days_left"] or 0.0,
                             r["node_id"]))
    return rows


def table(rows: Sequence[dict[str, Any]], *, colour: bool) -> str:
    """The rows as a fixed-width table; flagged expiries in yellow (expired: red) if *colour*."""
    head = (f"{'node':<22} {'site':<9} {'agency':<6} {'profile':<18} {'status':<7} "
            f"{'key id':<16} {'cert expires':<20} {'days':>6} {'last seen':<20}")
    lines = [head]
    for r in rows:
        days = "-" if r["cert_days_left"] is None else f"{r['cert_days_left']:.0f}"
        expiry = f"{r['cert_not_after'] or '-':<20} {days:>6}"
        if r["cert_warning"]:
            mark = "!"
            if colour:
                code = "31" if (r["cert_days_left"] or 0) < 0 else "33"
                expiry = f"\x1b[{code}m{expiry}\x1b[0m"
        else:
            mark = " "
        lines.append(f"{r['node_id']:<22} {r['site']:<9} {r['agency']:<6} {r['profile']:<18} "
                     f"{r['status']:<7} {r['kid'][:16]:<16} {expiry}{mark}"
                     f"{r['last_seen'] or 'never':<20}")
    return "\n".join(lines)


__all__ = ["WARN_DAYS", "node_rows", "table"]
