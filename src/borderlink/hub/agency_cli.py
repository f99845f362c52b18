"""``borderlink agency subscribe|query|proof``: an agency's client of the hub's Federation service.

Talks to the hub over mutual TLS with the agency's certificate, key and the CA certificate,
and prints one JSON object per record on stdout::

    {"log_index": 41, "type": "document.check", "node": "bil-dr-01", "seq": 17,
     "site": "AZ-BIL", "agency": "SBS", "time_ms": 1795000001000,
     "body": {... signed clear fields + the disclosed fields ...},
     "disclosed": ["birth_date", "surname"], "withheld": ["mrz", "personal_number"],
     "verified": true, "next_cursor": 42,
     "proof": {"tree_size": 1024, "root": "…hex…", "checkpoint_signature": "verified"}}

``withheld`` lists the sensitive fields of the record's type that were not disclosed; whether
the record holds them at all cannot be told (the signed digests are padded with decoys).

Every record is verified here, not trusted: its COSE signature with the node key sent beside
it, every disclosure against the signed digests, the body against its type; with
``--proofs`` also its inclusion in the log against the signed checkpoint (and the
checkpoint's signature when ``--log-key`` names the hub's log key). With ``--trusted-keys``
the node keys are pinned (learnt out of band, e.g. from ``borderlink hub nodes --json``), so
not even the hub's operator can slip in a record under a substituted key. A record that fails
is printed with ``"verified": false`` and the reason, and the command exits 1. Each line says
on which basis its signature was checked (``"key_basis": "pinned"`` or ``"hub-supplied"``).

A record the hub logged at or after the time its key was reported compromised (the
revocation's date) carries ``"compromised": {"since_ms": …, "why": …}``: still shown, never
silently dropped, but not evidence. This is judged by the hub's receive time, never by the
time the record claims; from the revocation itself on, the hub accepts nothing signed by the
key at all.

``subscribe`` reads ``Federation.SubscribeBatches`` (a page of records per message) and
falls back to ``Subscribe`` when the hub does not offer it. ``subscribe --cursor-file F`` resumes from the cursor kept in F and rewrites F after every
record printed, so a restarted subscription continues exactly after the last line printed;
``subscribe --follow`` also reconnects by itself (from the last cursor, backing off up to
30 s) when the hub restarts, shuts down or fails over to a replica.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

import grpc

from borderlink.common.cli import (
    EXIT_FAILED,
    EXIT_OK,
    env_default,
    hub_address,
    non_negative_int,
    positive_float,
)
from borderlink.common.errors import UsageError
from borderlink.proto import merkle
from borderlink.proto.checkpoint import open_checkpoint, parse_checkpoint
from borderlink.proto.errors import BorderlinkError, VerificationError
from borderlink.proto.keys import key_id
from borderlink.proto.note import parse_note, parse_vkey
from borderlink.proto.record import verify_record
from borderlink.proto.record_types import RecordTypeRegistry, default_registry
from borderlink.proto.v1 import (
    GRPC_MESSAGE_OPTIONS,
    common_pb2,
    federation_pb2,
    federation_pb2_grpc,
)


class AgencyClientError(UsageError):
    """A problem of the agency client's own inputs (certificate files, cursor file)."""


# --------------------------------------------------------------------------- verification


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def check_record(
    fr: federation_pb2.FederatedRecord,
    *,
    registry: RecordTypeRegistry,
    log_key: str | None = None,
    origin: str | None = None,
    trusted: Mapping[str, Sequence[TrustedKey]] | None = None,
) -> dict[str, Any]:
    """Verify one received record (and its proof, when present); the JSON line as a dict.

    With *trusted* (node id -> keys learnt out of band), the node key the hub sent must be a
    pinned one: a hub operator cannot then substitute a key and a record signed with it.
    Never raises for a bad record: the result says ``"verified": false`` and why.
    """
    out: dict[str, Any] = {
        "log_index": fr.log_index,
        "next_cursor": fr.next_cursor,
        # The hub's receive time (its own clock), beside the node's claimed time_ms.
        "received_ms": fr.received_at_unix_ms or None,
    }
    try:
        if not fr.HasField("node_key"):
            raise VerificationError("the hub sent no node key with the record")
        if trusted is not None:
            check_pinned(fr.node_key, trusted)
        verified = verify_record(
            fr.record, fr.node_key.public_key, registry=registry, disclosures=fr.disclosures
        )
        record = verified.record
        if record.node_id != fr.node_key.node_id:
            raise VerificationError(
                f"record of node {record.node_id!r} came with the key of {fr.node_key.node_id!r}"
            )
        spec = registry.get(record.record_type)
        out.update(
            type=record.record_type,
            node=record.node_id,
            seq=record.seq,
            site=record.site,
            agency=record.agency,
            time_ms=record.time_ms,
            body=_jsonable(verified.body),
            disclosed=sorted(verified.disclosed),
            withheld=sorted(spec.sensitive - set(verified.disclosed)) if spec else None,
            known_type=verified.known_type,
        )
        # On which basis the signature was checked: a key pinned out of band, or only the
        # key the hub supplied (then a dishonest hub could have substituted it).
        out["key_basis"] = "pinned" if trusted is not None else "hub-supplied"
        compromised_since = fr.node_key.revoked_at_unix_ms
        if compromised_since and fr.received_at_unix_ms >= compromised_since:
            # Judged by when the hub logged it, never by the time the record claims: the key
            # was reported compromised since then, so whoever held it may have signed this.
            out["compromised"] = {
                "since_ms": compromised_since,
                "why": "logged after its key was reported compromised: signed, but not "
                       "evidence of what the node saw",
            }
        if fr.HasField("inclusion_proof"):
            out["proof"] = check_proof(fr, log_key=log_key, origin=origin)
        out["verified"] = True
    except (BorderlinkError, ValueError) as exc:  # bad data or a failed check: not verified
        out["verified"] = False
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


@dataclass(frozen=True)
class TrustedKey:
    """A node's key as the agency learnt it out of band (either form is enough)."""

    kid: bytes | None = None
    public_key: bytes | None = None


def check_pinned(node_key: common_pb2.NodeKey, trusted: Mapping[str, Sequence[TrustedKey]]) -> None:
    """The key the hub sent must be one pinned for its node (a node re-enrolled with a new
    key has several: its older records come with the older key)."""
    pinned = trusted.get(node_key.node_id)
    if not pinned:
        raise VerificationError(f"node {node_key.node_id!r} is not in the trusted keys file")
    try:
        sent_kid = key_id(node_key.public_key)
    except (BorderlinkError, ValueError) as exc:
        raise VerificationError(f"the key sent for node {node_key.node_id!r}: {exc}") from exc
    for key in pinned:
        if key.public_key not in (None, node_key.public_key):
            continue
        if key.kid not in (None, sent_kid):
            continue
        return
    raise VerificationError(
        f"the key sent for node {node_key.node_id!r} (key id {sent_kid.hex()[:16]}…) is not "
        f"a pinned key id of the node ({len(pinned)} pinned)"
    )


def load_trusted_keys(path: str) -> dict[str, tuple[TrustedKey, ...]]:
    """Read (from the file *path*, or from *path* itself when it is the JSON text) a JSON list of nodes with ``node_id`` and ``kid`` and/or ``public_key`` (hex), and
    optionally ``keys``, a list of such keys (a node's key history) — the form
    ``borderlink hub nodes --json`` prints. A node may also appear in several rows; every key
    given for it is pinned."""
    try:
        rows = json.loads(path if path.lstrip().startswith("[") else Path(path).read_text())
        out: dict[str, list[TrustedKey]] = {}
        for row in rows:
            node_id = str(row["node_id"])
            keys = out.setdefault(node_id, [])
            for entry in [row, *row.get("keys", ())]:
                kid, public = entry.get("kid"), entry.get("public_key")
                if kid or public:
                    keys.append(
                        TrustedKey(
                            bytes.fromhex(kid) if kid else None,
                            bytes.fromhex(public) if public else None,
                        )
                    )
            if not keys:
                raise ValueError(f"node {node_id!r} has neither kid nor public_key")
        return {node_id: tuple(keys) for node_id, keys in out.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise AgencyClientError(
            f"trusted keys file {path}: {exc}; expected a JSON list of "
            '{"node_id": ..., "kid": hex and/or "public_key": hex, "keys": [optional, the same]}'
        ) from exc


def read_log_key(text: str | None) -> str | None:
    """The log's verifier key given as the key itself (``origin+id+base64``) or as a file
    holding it; checked here, so a typo is one line and not a failure on every record."""
    if not text:
        return None
    value = text.strip()
    path = Path(value)
    if "+" not in value or path.is_file():
        try:
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise AgencyClientError(
                f"--log-key {text}: neither a verifier key (origin+id+base64) nor a readable "
                f"file ({getattr(exc, 'strerror', None) or exc})"
            ) from exc
    try:
        parse_vkey(value)
    except (BorderlinkError, ValueError) as exc:
        raise AgencyClientError(f"--log-key {text}: not a C2SP verifier key: {exc}") from exc
    return value


def check_proof(
    fr: federation_pb2.FederatedRecord, *, log_key: str | None, origin: str | None
) -> dict[str, Any]:
    """Check the record's inclusion proof against the checkpoint sent with it."""
    proof = fr.inclusion_proof
    note = proof.checkpoint.signed_note
    if not note:
        raise VerificationError("inclusion proof without a signed checkpoint")
    if log_key:
        checkpoint = open_checkpoint(note, parse_vkey(log_key), origin=origin)
        signature = "verified"
    else:
        checkpoint = parse_checkpoint(parse_note(note).text)
        signature = "not checked (no --log-key)"
    if checkpoint.size != proof.tree_size:
        raise VerificationError(
            f"proof is for tree size {proof.tree_size}, its checkpoint for {checkpoint.size}"
        )
    if proof.log_index != fr.log_index:
        raise VerificationError(f"proof of leaf {proof.log_index} sent with record {fr.log_index}")
    leaf = merkle.leaf_hash(fr.record)
    if proof.leaf_hash and proof.leaf_hash != leaf:
        raise VerificationError("proof's leaf hash is not the hash of the record received")
    merkle.verify_inclusion(
        leaf, fr.log_index, checkpoint.size, list(proof.hashes), checkpoint.root_hash
    )
    return {
        "tree_size": checkpoint.size,
        "root": checkpoint.root_hash.hex(),
        "origin": checkpoint.origin,
        "checkpoint_signature": signature,
    }


# --------------------------------------------------------------------------- the client


def open_channel(args: argparse.Namespace) -> grpc.Channel:
    from borderlink.common.tls import read_tls_files

    args.tls = read_tls_files(args.cert, args.key, args.ca)
    creds = grpc.ssl_channel_credentials(
        root_certificates=args.tls.ca_pem,
        private_key=args.tls.key_pem,
        certificate_chain=args.tls.cert_pem,
    )
    return grpc.secure_channel(args.hub, creds, options=list(GRPC_MESSAGE_OPTIONS))


def _when(text: str | None) -> int:
    """Unix ms from an integer or an ISO 8601 time (UTC unless it says otherwise)."""
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise AgencyClientError(
            f"time {text!r}: expected Unix milliseconds or ISO 8601 (2026-11-27T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def record_filter(args: argparse.Namespace) -> common_pb2.RecordFilter:
    registry = default_registry()
    unknown = [t for t in args.type or [] if registry.get(t) is None]
    if unknown:
        raise AgencyClientError(
            f"--type {', '.join(unknown)}: no such record type; known types: "
            f"{', '.join(sorted(registry.names()))}"
        )
    return common_pb2.RecordFilter(
        types=args.type or [],
        sites=args.site or [],
        node_ids=args.node or [],
        since_unix_ms=_when(args.since),
        until_unix_ms=_when(args.until),
    )


def read_cursor(path: Path | None, default: int) -> int:
    if path is None or not path.exists():
        return default
    text = path.read_text().strip()
    if not text.isdigit():
        raise AgencyClientError(f"cursor file {path} holds {text[:40]!r}, not a log index")
    return int(text)


def write_cursor(path: Path, cursor: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{cursor}\n")
    os.replace(tmp, path)


class Printer:
    """Writes JSON lines; remembers whether any record failed verification."""

    def __init__(self, out: TextIO, args: argparse.Namespace) -> None:
        self.out, self.failed, self.count = out, False, 0
        self.registry = default_registry()
        self.log_key, self.origin = read_log_key(args.log_key), args.origin
        self.trusted = load_trusted_keys(args.trusted_keys) if args.trusted_keys else None

    def emit(self, fr: federation_pb2.FederatedRecord) -> dict[str, Any]:
        line = check_record(
            fr,
            registry=self.registry,
            log_key=self.log_key,
            origin=self.origin,
            trusted=self.trusted,
        )
        self.failed |= not line["verified"]
        self.count += 1
        self.out.write(json.dumps(line, sort_keys=True) + "\n")
        self.out.flush()
        return line


def _rpc_error(exc: grpc.RpcError, args: argparse.Namespace) -> NoReturn:
    from borderlink.common.tls import explain_hub_failure

    raise explain_hub_failure(exc, args.hub, getattr(args, "tls", None)) from exc


#: Seconds between reconnection attempts of ``subscribe --follow`` (doubling up to the max).
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0


def cmd_subscribe(args: argparse.Namespace) -> int:
    """Stream, verify and print; with --follow, reconnect from the last cursor after the hub
    goes away (UNAVAILABLE: restart, shutdown, network), so nothing is lost or repeated."""
    cursor_file = Path(args.cursor_file) if args.cursor_file else None
    cursor = read_cursor(cursor_file, args.cursor)
    printer = Printer(sys.stdout, args)
    delay = RECONNECT_FIRST_S
    batched = True  # SubscribeBatches; Subscribe when the hub does not know it
    while True:
        request = federation_pb2.SubscribeRequest(
            filter=record_filter(args),
            cursor=cursor,
            follow=args.follow,
            include_inclusion_proof=args.proofs,
        )
        with open_channel(args) as channel:
            stub = federation_pb2_grpc.FederationStub(channel)
            stream = (stub.SubscribeBatches if batched else stub.Subscribe)(request)
            try:
                for fr_or_batch in stream:
                    if batched:
                        records = fr_or_batch.records
                    else:
                        records = (fr_or_batch,)
                    for fr in records:
                        printer.emit(fr)
                        cursor = fr.next_cursor
                        delay = RECONNECT_FIRST_S
                        if cursor_file is not None:
                            write_cursor(cursor_file, cursor)
                        if args.limit and printer.count >= args.limit:
                            break
                    if args.limit and printer.count >= args.limit:
                        stream.cancel()
                        break
                    if batched and fr_or_batch.next_cursor > cursor:
                        # Records the agency does not see were passed over: move on past them.
                        cursor = fr_or_batch.next_cursor
                        if cursor_file is not None:
                            write_cursor(cursor_file, cursor)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNIMPLEMENTED and batched:
                    batched = False  # a hub without SubscribeBatches: one record per message
                    continue
                if code == grpc.StatusCode.UNAVAILABLE and args.follow:
                    print(
                        f"borderlink agency: hub {args.hub} unavailable ({exc.details()}); "
                        f"reconnecting from cursor {cursor} in {delay:.1f} s",
                        file=sys.stderr,
                    )
                    time.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    continue
                if code != grpc.StatusCode.CANCELLED:
                    return _rpc_error(exc, args)
            except KeyboardInterrupt:
                stream.cancel()
        return EXIT_FAILED if printer.failed else EXIT_OK


def _query(args: argparse.Namespace, channel: grpc.Channel, cursor: int, limit: int,
           proofs: bool) -> federation_pb2.QueryResponse:  # fmt: skip
    request = federation_pb2.QueryRequest(
        filter=record_filter(args), cursor=cursor, limit=limit, include_inclusion_proof=proofs
    )
    return federation_pb2_grpc.FederationStub(channel).Query(request, timeout=args.timeout)


def cmd_query(args: argparse.Namespace) -> int:
    printer = Printer(sys.stdout, args)
    with open_channel(args) as channel:
        try:
            resp = _query(args, channel, args.cursor, args.limit, args.proofs)
        except grpc.RpcError as exc:
            return _rpc_error(exc, args)
    for fr in resp.records:
        printer.emit(fr)
    summary = {"next_cursor": resp.next_cursor, "more": resp.more, "records": len(resp.records)}
    print(json.dumps(summary, sort_keys=True), file=sys.stderr)
    return EXIT_FAILED if printer.failed else EXIT_OK


def cmd_proof(args: argparse.Namespace) -> int:
    printer = Printer(sys.stdout, args)
    with open_channel(args) as channel:
        try:
            resp = _query(args, channel, args.log_index, 1, True)
        except grpc.RpcError as exc:
            return _rpc_error(exc, args)
    records = [fr for fr in resp.records if fr.log_index == args.log_index]
    if not records:
        print(
            f"borderlink agency proof: record {args.log_index} is not visible to this agency, "
            "or not yet covered by a signed checkpoint",
            file=sys.stderr,
        )
        return EXIT_FAILED
    line = printer.emit(records[0])
    return EXIT_OK if line["verified"] and "proof" in line else EXIT_FAILED


# --------------------------------------------------------------------------- parser


def _connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hub", type=hub_address, default=env_default("HUB", "127.0.0.1:7443"),
                   help="hub address host:port (env BORDERLINK_HUB; default %(default)s)")  # fmt: skip
    p.add_argument("--cert", default=env_default("CERT"),
                   help="agency certificate PEM (env BORDERLINK_CERT)")  # fmt: skip
    p.add_argument("--key", default=env_default("KEY"),
                   help="its private key PEM (env BORDERLINK_KEY)")  # fmt: skip
    p.add_argument("--ca", default=env_default("CA"),
                   help="CA certificate PEM (env BORDERLINK_CA)")  # fmt: skip
    p.add_argument("--log-key", default=env_default("LOG_KEY"),
                   help="the hub's log verifier key (C2SP vkey), or a file holding it (hub "
                   "init writes log.vkey); checkpoint signatures are checked with it "
                   "(env BORDERLINK_LOG_KEY)")  # fmt: skip
    p.add_argument("--origin", default=env_default("LOG_ORIGIN"),
                   help="expected log origin line of checkpoints (env BORDERLINK_LOG_ORIGIN)")  # fmt: skip
    p.add_argument("--trusted-keys", default=env_default("TRUSTED_KEYS"),
                   help="JSON list of nodes (node_id + kid and/or public_key, as `hub nodes "
                   "--json` prints), or a file holding it, learnt out of band; records must "
                   "be signed by these keys (env BORDERLINK_TRUSTED_KEYS)")  # fmt: skip
    p.add_argument("--timeout", type=positive_float, default=10.0,
                   help="seconds per unary call (default %(default)s)")  # fmt: skip


def _filter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", action="append", metavar="TYPE",
                   help="record type, e.g. document.check (repeatable; default: all allowed)")  # fmt: skip
    p.add_argument("--site", action="append", metavar="SITE", help="site id (repeatable)")
    p.add_argument("--node", action="append", metavar="NODE", help="node id (repeatable)")
    p.add_argument("--since", help="node time from (Unix ms or ISO 8601), inclusive")
    p.add_argument("--until", help="node time until (Unix ms or ISO 8601), exclusive")
    p.add_argument("--proofs", action="store_true",
                   help="ask for inclusion proofs and verify them against the checkpoint")  # fmt: skip


def configure(parser: argparse.ArgumentParser) -> None:
    """Sub-subcommands of ``borderlink agency``."""
    sub = parser.add_subparsers(dest="agency_action", metavar="ACTION", required=True)

    p = sub.add_parser("subscribe", help="stream records in log order (resumable)",
                       description="Stream the records this agency may see, verify each, print "
                       "JSON lines; resume with --cursor-file.")  # fmt: skip
    _connection_options(p)
    _filter_options(p)
    p.add_argument("--cursor", type=non_negative_int, default=0,
                   help="first log index (default 0)")  # fmt: skip
    p.add_argument("--cursor-file", default=env_default("AGENCY_CURSOR_FILE"),
                   help="read the cursor from and keep it in this file "
                   "(env BORDERLINK_AGENCY_CURSOR_FILE)")  # fmt: skip
    p.add_argument("--follow", action="store_true", help="keep following new records")
    p.add_argument("--limit", type=non_negative_int, default=0,
                   help="stop after this many records (default 0: no limit)")  # fmt: skip
    p.set_defaults(func=cmd_subscribe)

    p = sub.add_parser("query", help="one bounded look-up (at most 1000 records)",
                       description="One Query: records from a cursor, verified, as JSON lines; "
                       "the next cursor goes to stderr.")  # fmt: skip
    _connection_options(p)
    _filter_options(p)
    p.add_argument("--cursor", type=non_negative_int, default=0,
                   help="first log index (default 0)")  # fmt: skip
    p.add_argument("--limit", type=non_negative_int, default=100,
                   help="at most this many (max 1000)")  # fmt: skip
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("proof", help="fetch and verify the record at a log index with its proof",
                       description="Fetch one record with its inclusion proof; verify signature, "
                       "disclosures, inclusion and (with --log-key) the checkpoint.")  # fmt: skip
    _connection_options(p)
    p.add_argument("log_index", type=non_negative_int, help="log index of the record")
    p.set_defaults(func=cmd_proof, type=None, site=None, node=None, since=None, until=None,
                   proofs=True)  # fmt: skip


def _iter_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def parse_output(text: str) -> list[dict[str, Any]]:
    """The JSON lines a subscribe/query/proof printed (for scripts and tests)."""
    return list(_iter_lines(text))


__all__ = [
    "AgencyClientError",
    "check_proof",
    "check_record",
    "configure",
    "parse_output",
    "read_cursor",
    "write_cursor",
]
