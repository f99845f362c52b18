"""``borderlink hub …``: serve, make the log key, and administer a running hub over mutual TLS.

* ``hub serve --config hub.toml`` — run the hub until SIGTERM/SIGINT (graceful shutdown);
* ``hub keygen --origin ORIGIN --out log.skey`` — the log's C2SP signing key (prints the vkey);
* ``hub enroll | revoke | nodes | policy`` — Admin RPCs with an admin certificate
  (``--hub``, ``--cert``, ``--key``, ``--ca``; env ``BORDERLINK_HUB``, ``BORDERLINK_CERT``,
  ``BORDERLINK_KEY``, ``BORDERLINK_CA``).

Certificates come from the CA (``borderlink provision …``); the hub never imports it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import grpc

from borderlink.common.cli import (
    EXIT_OK,
    EXIT_USAGE,
    env_default,
    hub_address,
    non_negative_int,
    positive_float,
)
from borderlink.common.errors import UsageError
from borderlink.common.runtime import settle_gc
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, admin_pb2, admin_pb2_grpc, sync_pb2


def _serve(args: argparse.Namespace) -> int:
    from borderlink.hub.config import load_config
    from borderlink.hub.server import HubServer

    config = load_config(args.config)
    hub = HubServer.from_config(config)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = hub.start()
    settle_gc()
    print(f"borderlink hub: serving on port {port}", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    last = hub.stop()
    size = last.tree_size if last else "none"
    print(f"borderlink hub: stopped; last checkpoint size {size}", file=sys.stderr, flush=True)
    return EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    from borderlink.proto.checkpoint import NoteSigner

    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"{out} exists; use --force to replace it", file=sys.stderr)
        return EXIT_USAGE
    signer = NoteSigner.generate(args.origin)
    import os

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(signer.skey + "\n")
    from borderlink.hub.log import clock_signer

    print(signer.verifier.vkey)  # pin this to verify checkpoints
    print(clock_signer(signer).verifier.vkey)  # and this for their signed timestamps
    return EXIT_OK


def _channel(args: argparse.Namespace) -> grpc.Channel:
    from borderlink.common.tls import read_tls_files

    args.tls = read_tls_files(args.cert, args.key, args.ca)
    creds = grpc.ssl_channel_credentials(
        root_certificates=args.tls.ca_pem,
        private_key=args.tls.key_pem,
        certificate_chain=args.tls.cert_pem,
    )
    return grpc.secure_channel(args.hub, creds, options=GRPC_MESSAGE_OPTIONS)


def _admin_call(args: argparse.Namespace, method: str, request: Any) -> Any:
    with _channel(args) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        return getattr(stub, method)(request, timeout=args.timeout)


def _info_dict(n: admin_pb2.NodeInfo) -> dict[str, Any]:
    return {
        "node_id": n.node_id,
        "site": n.site,
        "agency": n.agency,
        "profile": n.hardware_profile,
        "record_types": list(n.record_types),
        "kid": n.kid.hex(),
        "enrolled_at_ms": n.enrolled_at_unix_ms,
        "revoked_at_ms": n.revoked_at_unix_ms or None,
        "last_seq": n.last_seq,
        "last_seen_ms": n.last_seen_unix_ms or None,
        "clock_skew_ms": n.clock_skew_ms,
        "backlog": n.backlog,
        # Every key the node was enrolled with, oldest first: the form an agency pins
        # (``agency … --trusted-keys``), old keys included for the records they signed.
        "keys": [
            {
                "kid": k.kid.hex(),
                "public_key": k.public_key.hex(),
                "enrolled_at_ms": k.enrolled_at_unix_ms,
                "revoked_at_ms": k.revoked_at_unix_ms or None,
            }
            for k in n.keys
        ],
        "downlink_acks": [
            {
                "kind": _kind_name(a.kind),
                "version": a.version,
                "applied": a.applied,
                "message": a.message,
                "received_ms": a.received_at_unix_ms,
            }
            for a in n.downlink_acks
        ],
    }


def _kind_name(kind: int) -> str:
    """``DOWNLINK_KIND_CONFIG`` -> ``config``."""
    return sync_pb2.DownlinkKind.Name(kind).removeprefix("DOWNLINK_KIND_").lower()


def _acks_text(acks: list[dict[str, Any]]) -> str:
    """``config v2 applied, watchlist v3 refused: bad signature`` (``-`` when none)."""
    parts = []
    for a in acks:
        outcome = "applied" if a["applied"] else f"refused: {a['message'] or '?'}"
        parts.append(f"{a['kind']} v{a['version']} {outcome}")
    return ", ".join(parts) or "-"


def _public_key(text: str) -> bytes:
    from borderlink.proto.keys import public_key_from_hex, public_key_from_pem

    path = Path(text)
    if path.is_file():
        return public_key_from_pem(path.read_bytes())
    return public_key_from_hex(text)


def _rpc(fn: Any) -> Any:
    """An Admin command whose gRPC failure is explained (a refused certificate named as such)."""

    def handler(args: argparse.Namespace) -> int:
        from borderlink.common.tls import explain_hub_failure

        try:
            return int(fn(args))
        except grpc.RpcError as exc:
            raise explain_hub_failure(exc, args.hub, getattr(args, "tls", None)) from exc

    return handler


def _enroll(args: argparse.Namespace) -> int:
    cert_der = b""
    if args.node_cert:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        cert_der = x509.load_pem_x509_certificate(Path(args.node_cert).read_bytes()).public_bytes(
            Encoding.DER
        )
    record_types = [t for t in (args.record_types or "").split(",") if t]
    resolve = getattr(args, "record_types_of_profile", None)
    if not record_types and args.profile and resolve is not None:
        record_types = list(resolve(args.profile))
    if not record_types:
        raise UsageError(
            "--record-types is required (or a --profile the top-level tool can read): the "
            "hub accepts from the node only the types its hardware produces"
        )
    info = _admin_call(
        args,
        "EnrollNode",
        admin_pb2.EnrollNodeRequest(
            node_id=args.node_id,
            public_key=_public_key(args.public_key),
            certificate_der=cert_der,
            site=args.site,
            agency=args.agency,
            hardware_profile=args.profile,
            record_types=record_types,
        ),
    )
    print(json.dumps(_info_dict(info)))
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    info = _admin_call(
        args,
        "RevokeNode",
        admin_pb2.RevokeNodeRequest(
            node_id=args.node_id, revoked_at_unix_ms=args.at_ms, reason=args.reason
        ),
    )
    print(json.dumps(_info_dict(info)))
    return EXIT_OK


def _nodes(args: argparse.Namespace) -> int:
    resp = _admin_call(
        args,
        "ListNodes",
        admin_pb2.ListNodesRequest(
            site=args.site, agency=args.agency, include_revoked=args.include_revoked
        ),
    )
    rows = [_info_dict(n) for n in resp.nodes]
    if args.json:
        print(json.dumps(rows))
    else:
        print(
            f"{'node':<24} {'site':<10} {'agency':<6} {'last_seq':>9} {'backlog':>8} "
            f"{'skew_ms':>8} {'revoked':<7} {'keys':>4} downlink acks"
        )
        for r in rows:
            print(
                f"{r['node_id']:<24} {r['site']:<10} {r['agency']:<6} {r['last_seq']:>9} "
                f"{r['backlog']:>8} {r['clock_skew_ms']:>8} "
                f"{'yes' if r['revoked_at_ms'] else 'no':<7} {len(r['keys']):>4} "
                f"{_acks_text(r['downlink_acks'])}"
            )
    return EXIT_OK


def _policy(args: argparse.Namespace) -> int:
    resp = _admin_call(
        args,
        "LoadPolicy",
        admin_pb2.LoadPolicyRequest(policy_toml=Path(args.file).read_bytes(), dry_run=args.dry_run),
    )
    print(
        json.dumps(
            {
                "digest": resp.policy_digest,
                "agencies": list(resp.agencies),
                "applied": not args.dry_run,
            }
        )
    )
    return EXIT_OK


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hub",
        type=hub_address,
        default=env_default("HUB", "127.0.0.1:7443"),
        help="hub address host:port (env BORDERLINK_HUB; default %(default)s)",
    )
    p.add_argument(
        "--cert", default=env_default("CERT"), help="admin certificate PEM (env BORDERLINK_CERT)"
    )
    p.add_argument(
        "--key", default=env_default("KEY"), help="its private key PEM (env BORDERLINK_KEY)"
    )
    p.add_argument("--ca", default=env_default("CA"), help="CA certificate PEM (env BORDERLINK_CA)")
    p.add_argument(
        "--timeout", type=positive_float, default=10.0, help="seconds per call (default %(default)s)"
    )


def configure(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """Add the hub subcommands; returns the subcommand set (the top-level glue adds ``init``)."""
    sub = parser.add_subparsers(dest="hub_command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "serve",
        help="run the hub (gRPC over mutual TLS)",
        description="run the hub until SIGTERM/SIGINT",
    )
    p.add_argument(
        "--config",
        default=env_default("HUB_CONFIG", "hub.toml"),
        help="hub TOML file (env BORDERLINK_HUB_CONFIG; default %(default)s)",
    )
    p.set_defaults(func=_serve)

    p = sub.add_parser("keygen", help="make the log's C2SP checkpoint signing key")
    p.add_argument("--origin", required=True, help="log origin, e.g. borderlink.example/AZ/log")
    p.add_argument("--out", required=True, help="file for the signer key (mode 0600)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=_keygen)

    p = sub.add_parser("enroll", help="enrol a node (Admin.EnrollNode)")
    p.add_argument("node_id")
    p.add_argument(
        "--public-key", required=True, help="record-signing key: 64 hex digits or a PEM file"
    )
    p.add_argument("--site", required=True)
    p.add_argument("--agency", required=True, choices=["SBS", "SCC", "SMS"])
    p.add_argument("--profile", default="", help="hardware profile name")
    p.add_argument(
        "--record-types",
        help="comma-separated record types the node produces (default: its profile's "
        "records.produces, read by `borderlink hub enroll`)",
    )
    p.add_argument("--node-cert", help="the node's TLS certificate (PEM), optional")
    _client_options(p)
    p.set_defaults(func=_rpc(_enroll))

    p = sub.add_parser("revoke", help="revoke a node (Admin.RevokeNode)")
    p.add_argument("node_id")
    p.add_argument("--at-ms", type=non_negative_int, default=0, help="revocation time, Unix ms (default: now)")
    p.add_argument("--reason", default="")
    _client_options(p)
    p.set_defaults(func=_rpc(_revoke))

    p = sub.add_parser("nodes", help="list nodes (Admin.ListNodes)")
    p.add_argument("--site", default="")
    p.add_argument("--agency", default="")
    p.add_argument("--include-revoked", action="store_true")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    _client_options(p)
    p.set_defaults(func=_rpc(_nodes))

    p = sub.add_parser("policy", help="load the federation policy (Admin.LoadPolicy)")
    p.add_argument("file", help="policy TOML")
    p.add_argument("--dry-run", action="store_true", help="validate only")
    _client_options(p)
    p.set_defaults(func=_rpc(_policy))
    return sub


__all__ = ["configure"]
