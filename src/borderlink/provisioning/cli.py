"""``borderlink provision …``: the technician's commands (docs/provisioning.md).

* ``ca init --dir DIR`` — root and issuing CA of a deployment; ``ca rotate`` a new issuing CA
  (needs the offline root key); ``ca show`` the fingerprint nodes pin;
* ``cert hub|agency|admin|broker NAME --dir DIR --out OUT`` — a leaf certificate and key
  (``broker``: the site bus's Mosquitto listener, docs/site-bus.md);
* ``crl --dir DIR --out CRL [--revoke CERT.pem]`` — the CRL signed again (a hub fails closed
  once its CRL is past its next update), revoking certificates at once;
* ``revoke --node ID --reason R --ca-dir DIR --crl CRL --hub ADDR --cert/--key/--ca`` — the
  node's TLS certificates into the CRL the hub reads, then its record key at the hub
  (Admin.RevokeNode); idempotent, a half-done revocation said so (``revoke.py``);
* ``list --hub ADDR --cert/--key/--ca [--ca-dir DIR]`` — the hub's nodes with certificate
  expiry (soonest first), status, key id, last seen (``listing.py``);
* ``token create --node ID --site SITE --agency AGENCY --profile PROFILE --expires 24h`` — a
  one-time enrolment token (printed, as a terminal QR code, optionally a PNG); ``token list``;
* ``serve --dir DIR --hub ADDR`` — the Enrollment service (its own port, default 7444);
* ``enroll --hub ADDR --token TOKEN`` — on the node: keys, certificate, a complete node.toml;
* ``renew --hub ADDR`` — on the node: a new TLS key and certificate (renewal.py, renew.py);
* air-gapped: ``enroll --offline --out REQ --token TOKEN`` on the node, ``sign-request REQ
  --out BUNDLE --hub ADDR`` at the CA, ``enroll --bundle BUNDLE`` on the node.

Exit codes of ``enroll`` besides the common ones (borderlink.common.cli) name the refusal:
see :data:`ENROLL_EXIT`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from borderlink.common.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    env_default,
    hub_address,
    positive_float,
    positive_int,
)
from borderlink.common.errors import UsageError
from borderlink.proto.identity import Identity, Role

#: ``provision enroll`` exit code per refusal cause (docs/provisioning.md).
ENROLL_EXIT = {
    "token-malformed": EXIT_USAGE,
    "bad-address": EXIT_USAGE,
    "hub-unreachable": EXIT_UNAVAILABLE,
    "hub-unavailable": EXIT_UNAVAILABLE,
    "token-unknown": 10,
    "token-expired": 11,
    "token-used": 12,
    "token-other-node": 13,
    "ca-mismatch": 14,
    "node-exists": 15,
    "node-configured": 16,
    "rate-limited": 17,
    "bad-request": 18,
    "bad-answer": EXIT_FAILED,
    "bundle-invalid": 19,
    "bundle-other-node": 20,
    "no-pending-request": 21,
    # provision renew
    "cert-expired": 23,
    "not-enrolled": 24,
    "node-revoked": 25,
    "stale-proof": 26,
    "not-a-node": EXIT_USAGE,
}


#: ``provision revoke``: the CRL written, the hub refused to revoke the record key.
REVOKE_REFUSED = 22


def _passphrase(path: str | None) -> bytes | None:
    if not path:
        return None
    data = Path(path).read_bytes().rstrip(b"\r\n")
    if not data:
        raise SystemExit(f"borderlink provision: passphrase file {path} is empty")
    return data


def _ca_dir(args: argparse.Namespace) -> Any:
    from borderlink.provisioning.trust import CaDirectory

    return CaDirectory(Path(args.dir))


# -- ca -------------------------------------------------------------------------------------

def _ca_init(args: argparse.Namespace) -> int:
    from borderlink.provisioning.trust import init_ca_directory

    ca = init_ca_directory(
        Path(args.dir), name=args.name,
        root_passphrase=_passphrase(args.root_passphrase_file),
        issuing_passphrase=_passphrase(args.issuing_passphrase_file))
    print(f"CA directory {ca.path}: root.pem, issuing.pem, trust.pem (keys 0600)")
    print(f"root fingerprint (SHA-256): {ca.fingerprint}")
    print(f"Move {ca.path / 'root.key'} offline: only `provision ca rotate` needs it.")
    return EXIT_OK


def _ca_rotate(args: argparse.Namespace) -> int:
    from borderlink.provisioning.trust import fingerprint, rotate_issuing

    cert = rotate_issuing(_ca_dir(args), root_passphrase=_passphrase(args.root_passphrase_file),
                          issuing_passphrase=_passphrase(args.issuing_passphrase_file))
    print(f"new issuing CA {fingerprint(cert)}; copy trust.pem to the hub's [tls] ca")
    return EXIT_OK


def _ca_show(args: argparse.Namespace) -> int:
    ca = _ca_dir(args)
    root, issuing = ca.root_certificate, ca.issuing_certificate
    info = {"dir": str(ca.path), "fingerprint": ca.fingerprint,
            "root": root.subject.rfc4514_string(),
            "root_not_after": root.not_valid_after_utc.isoformat(),
            "issuing": issuing.subject.rfc4514_string(),
            "issuing_not_after": issuing.not_valid_after_utc.isoformat(),
            "root_key_present": (ca.path / "root.key").exists()}
    print(json.dumps(info, indent=2) if args.json else
          "\n".join(f"{k:18} {v}" for k, v in info.items()))
    return EXIT_OK


# -- crl ------------------------------------------------------------------------------------

def _crl(args: argparse.Namespace) -> int:
    from borderlink.provisioning.trust import certificates_from_pem, write_crl

    revoke = []
    for name in args.revoke or ():
        try:
            revoke += certificates_from_pem(Path(name).read_bytes())[:1]  # the leaf of a chain
        except OSError as exc:
            raise UsageError(f"--revoke {name}: {exc.strerror}") from exc
    out = Path(args.out)
    crl = write_crl(_ca_dir(args), out, revoke=revoke, next_update_days=args.next_update_days,
                    passphrase=_passphrase(args.issuing_passphrase_file))
    serials = ", ".join(f"{c.serial_number:x}" for c in revoke) or "none new"
    print(f"{out}: {len(list(crl))} revoked (added: {serials}), next update "
          f"{crl.next_update_utc.isoformat() if crl.next_update_utc else '?'}; a hub whose "
          "[tls] crl is this file uses it at its next call")
    return EXIT_OK


# -- revoke ---------------------------------------------------------------------------------

def _admin_channel(args: argparse.Namespace) -> Any:
    """A channel to the hub as the technician (``--cert``/``--key``/``--ca``, as ``hub``
    commands take them); ``args.tls`` keeps the files for explaining a refusal."""
    import grpc

    from borderlink.common.tls import read_tls_files
    from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS

    args.tls = read_tls_files(args.cert, args.key, args.ca)
    creds = grpc.ssl_channel_credentials(root_certificates=args.tls.ca_pem,
                                         private_key=args.tls.key_pem,
                                         certificate_chain=args.tls.cert_pem)
    return grpc.secure_channel(args.hub, creds, options=GRPC_MESSAGE_OPTIONS)


def _revoke(args: argparse.Namespace) -> int:
    import grpc

    from borderlink.common.cli import EXIT_UNAVAILABLE
    from borderlink.common.tls import explain_hub_failure, read_tls_files
    from borderlink.proto.identity import IdentityError, check_name
    from borderlink.proto.v1 import admin_pb2, admin_pb2_grpc
    from borderlink.provisioning.revoke import (
        RevocationIncomplete,
        check_crl_file,
        node_certificates,
        parse_time_ms,
        revoke_certificates,
    )
    from borderlink.provisioning.trust import certificates_from_pem

    # 1. Every check before anything changes.
    try:
        check_name(Role.NODE, args.node)
    except IdentityError as exc:
        raise UsageError(f"--node {args.node!r}: {exc}") from exc
    since_ms = (parse_time_ms(args.compromised_since, now_ms=int(time.time() * 1000))
                if args.compromised_since else 0)
    read_tls_files(args.cert, args.key, args.ca)
    ca, passphrase, crl_path = _ca_dir(args), _passphrase(args.issuing_passphrase_file), \
        Path(args.crl)
    extra = []
    for name in args.cert_file or ():
        try:
            extra += certificates_from_pem(Path(name).read_bytes())[:1]  # the leaf of a chain
        except OSError as exc:
            raise UsageError(f"--node-cert {name}: {exc.strerror}") from exc
    certificates = node_certificates(ca, args.node, extra)
    check_crl_file(ca, crl_path, passphrase)

    # 2. The TLS certificates: the hub refuses the node's connections from its next call.
    step = revoke_certificates(ca, crl_path, certificates, passphrase)
    serials = ", ".join(f"{s:x}" for s in step.added + step.already)
    print(f"TLS: node {args.node}'s certificate(s) {serials} revoked in {crl_path} "
          f"({len(step.added)} added, {len(step.already)} listed already)", file=sys.stderr)

    # 3. The record key at the hub (logged there as a revocation entry).
    request = admin_pb2.RevokeNodeRequest(node_id=args.node, revoked_at_unix_ms=since_ms,
                                          reason=args.reason)
    try:
        with _admin_channel(args) as channel:
            info = admin_pb2_grpc.AdminStub(channel).RevokeNode(request, timeout=args.timeout)
    except grpc.RpcError as exc:
        why = explain_hub_failure(exc, args.hub, args.tls)
        code = exc.code()  # type: ignore[attr-defined]
        hint = ("is the node enrolled at this hub?" if code == grpc.StatusCode.NOT_FOUND
                else "run the same command again to finish it")
        raise RevocationIncomplete(
            f"revocation half done: node {args.node}'s TLS certificate(s) {serials} are "
            f"revoked in {crl_path}, but its record key is not revoked at the hub ({why}); "
            f"{hint}",
            exit_code=(EXIT_UNAVAILABLE if getattr(why, "exit_code", None) == EXIT_UNAVAILABLE
                       else REVOKE_REFUSED),
        ) from exc
    print(f"record key: node {args.node}'s key {info.kid.hex()} revoked at the hub",
          file=sys.stderr)
    print(json.dumps({
        "node": args.node, "reason": args.reason, "crl": str(crl_path),
        "certificates_revoked": [f"{s:x}" for s in step.added],
        "certificates_already_revoked": [f"{s:x}" for s in step.already],
        "crl_next_update": step.next_update.isoformat() if step.next_update else None,
        "kid": info.kid.hex(), "revoked_at_ms": info.revoked_at_unix_ms}))
    return EXIT_OK


# -- list -----------------------------------------------------------------------------------

def _list(args: argparse.Namespace) -> int:
    import datetime as dt

    import grpc

    from borderlink.common.tls import explain_hub_failure
    from borderlink.proto.v1 import admin_pb2, admin_pb2_grpc
    from borderlink.provisioning.listing import node_rows, table

    certificates_of: Callable[[str], Sequence[Any]] = lambda _node: ()  # noqa: E731
    if args.dir:
        ca = _ca_dir(args)
        ca.root_certificate  # noqa: B018  (a clear error when DIR is no CA directory)
        certificates_of = lambda node: ca.issued_to(Identity(Role.NODE, node))  # noqa: E731
    request = admin_pb2.ListNodesRequest(site=args.site, agency=args.agency,
                                         include_revoked=not args.active_only)
    try:
        with _admin_channel(args) as channel:
            resp = admin_pb2_grpc.AdminStub(channel).ListNodes(request, timeout=args.timeout)
    except grpc.RpcError as exc:
        raise explain_hub_failure(exc, args.hub, args.tls) from exc
    rows = node_rows(resp.nodes, certificates_of, now=dt.datetime.now(dt.UTC))
    if args.json:
        print(json.dumps(rows))
    else:
        print(table(rows, colour=sys.stdout.isatty() and not args.no_colour))
    return EXIT_OK


# -- cert -----------------------------------------------------------------------------------

def _cert(args: argparse.Namespace) -> int:
    role = Role(args.role_name)
    name = args.name or ("hub" if role is Role.HUB else "")
    if not name:
        print(f"borderlink provision cert {role.value}: a NAME is required", file=sys.stderr)
        return EXIT_USAGE
    server = role in (Role.HUB, Role.BROKER)
    if role is Role.BROKER and not (args.dns or args.ip):
        raise UsageError("provision cert broker: give the names clients dial (--dns, --ip): "
                         "nodes check the broker's certificate against them")
    dns = args.dns if args.dns else (["localhost"] if server else [])
    ips = args.ip if args.ip else (["127.0.0.1"] if server else [])
    cert, key = _ca_dir(args).issue(
        Identity(role, name), Path(args.out), passphrase=_passphrase(args.passphrase_file),
        key_passphrase=_passphrase(args.key_passphrase_file), dns_names=dns, ip_addresses=ips,
        valid_days=args.days)
    print(cert)
    print(key)
    return EXIT_OK


# -- tokens ---------------------------------------------------------------------------------

def _open_tokens(args: argparse.Namespace) -> Any:
    from borderlink.provisioning.tokens import TOKENS_DB, TokenStore

    ca = _ca_dir(args)
    ca.root_certificate  # noqa: B018  (a clear error when DIR is no CA directory)
    return ca, TokenStore.open(ca.path / TOKENS_DB)


def _token_create(args: argparse.Namespace) -> int:
    import segno

    from borderlink.provisioning.tokens import parse_duration

    record_types = [t for t in (args.record_types or "").split(",") if t]
    resolve = getattr(args, "record_types_of_profile", None)
    if not record_types and resolve is not None:
        record_types = list(resolve(args.profile))
    if not record_types:
        raise UsageError("--record-types is required (or a --profile the top-level tool can "
                         "read): the hub accepts from the node only the types its hardware "
                         "produces")
    ca, store = _open_tokens(args)
    try:
        token, grant = store.create(node_id=args.node, site=args.site, agency=args.agency,
                                    profile=args.profile, ttl_s=parse_duration(args.expires),
                                    ca_fingerprint=ca.fingerprint, record_types=record_types)
    finally:
        store.close()
    text = str(token)
    qr = segno.make(text, error="m")
    if args.png:
        qr.save(args.png, scale=6, border=4)
    expires = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(grant.expires_ms / 1000))
    if args.json:
        print(json.dumps({"token": text, "node": grant.node_id, "site": grant.site,
                          "agency": grant.agency, "profile": grant.profile,
                          "record_types": list(grant.record_types), "expires": expires, "ca_fingerprint": ca.fingerprint,
                          "png": args.png}))
        return EXIT_OK
    print(f"enrolment token for node {grant.node_id} ({grant.site}, {grant.agency}, "
          f"{grant.profile}), single use, expires {expires}:")
    print(text)
    print(f"CA fingerprint (SHA-256): {ca.fingerprint}")
    if not args.no_qr:
        qr.terminal(out=sys.stdout, compact=True)
    return EXIT_OK


def _token_list(args: argparse.Namespace) -> int:
    _, store = _open_tokens(args)
    try:
        grants = store.list()
    finally:
        store.close()
    now = time.time() * 1000
    rows = [{"node": g.node_id, "site": g.site, "agency": g.agency, "profile": g.profile,
             "expires_ms": g.expires_ms,
             "state": "used" if g.used_ms else "expired" if now >= g.expires_ms else "open",
             "used_by": g.used_by} for g in grants]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['node']:24} {r['site']:10} {r['agency']:4} {r['profile']:20} {r['state']}")
    return EXIT_OK


# -- serve / enroll -------------------------------------------------------------------------

def _serve(args: argparse.Namespace) -> int:
    from borderlink.provisioning.enrollment_service import EnrollmentServer, RateLimiter

    ca, store = _open_tokens(args)
    host = args.listen.rpartition(":")[0].strip("[]")
    server = EnrollmentServer.create(
        tokens=store, issuing=ca.issuing(_passphrase(args.issuing_passphrase_file)),
        root=ca.root_certificate, trust_pem=ca.trust_pem, hub_address=args.hub,
        node_hub_addresses=args.node_hub or [args.hub], listen=args.listen,
        dns_names=args.dns or ["localhost"], ip_addresses=args.ip or (
            [host] if host.replace(".", "").isdigit() else ["127.0.0.1"]),
        limiter=RateLimiter(per_minute=args.rate_per_minute, burst=args.burst),
        on_issued=ca.record_issued)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    port = server.start()
    print(f"borderlink provision: enrolment serving on port {port}", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    store.close()
    return EXIT_OK


def _enroll(args: argparse.Namespace) -> int:
    from borderlink.provisioning.enroll import NodeSettings, enroll
    from borderlink.provisioning.errors import CaDirectoryError, EnrollmentError, TokenError
    from borderlink.provisioning.offline import install_bundle, write_request

    host, _, port = (args.broker or "127.0.0.1:1883").rpartition(":")
    settings = NodeSettings(device_url=args.device_url, unit_id=args.unit_id,
                            broker_host=host, broker_port=int(port))
    if args.bundle:
        try:
            print(install_bundle(Path(args.dir), Path(args.bundle), settings))
        except EnrollmentError as exc:
            print(f"borderlink provision enroll: {exc.reason}: {exc}", file=sys.stderr)
            return ENROLL_EXIT.get(exc.reason, EXIT_FAILED)
        return EXIT_OK
    if not args.token or not (args.hub or args.offline):
        print("borderlink provision enroll: give --token and --hub (online), --token and "
              "--offline --out REQ, or --bundle BUNDLE", file=sys.stderr)
        return EXIT_USAGE
    from borderlink.provisioning.tokens import Token
    from borderlink.provisioning.trust import normalise_fingerprint

    try:
        token = Token.parse(args.token)
        fp = normalise_fingerprint(args.ca_fingerprint) if args.ca_fingerprint else None
    except CaDirectoryError as exc:
        print(f"borderlink provision enroll: --ca-fingerprint: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TokenError as exc:
        print(f"borderlink provision enroll: {exc.reason}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if fp and token.ca_fingerprint and fp != token.ca_fingerprint:
            raise EnrollmentError("ca-mismatch", "--ca-fingerprint differs from the token's")
        fp = fp or token.ca_fingerprint
        if not fp:
            raise TokenError("token-malformed", "the token carries no CA fingerprint: "
                             "give --ca-fingerprint")
        if args.offline:
            if not args.out:
                print("borderlink provision enroll --offline: --out REQ is required",
                      file=sys.stderr)
                return EXIT_USAGE
            print(write_request(Path(args.dir), Path(args.out), token_secret=token.secret,
                                node_id=args.node or token.node_id, ca_fingerprint=fp))
            return EXIT_OK
        config = enroll(Path(args.dir), address=args.hub, token_secret=token.secret,
                        node_id=args.node or token.node_id, ca_fingerprint=fp,
                        settings=settings)
    except (EnrollmentError, TokenError) as exc:
        print(f"borderlink provision enroll: {exc.reason}: {exc}", file=sys.stderr)
        return ENROLL_EXIT.get(exc.reason, EXIT_FAILED)
    print(config)
    return EXIT_OK


def _renew(args: argparse.Namespace) -> int:
    from borderlink.provisioning.errors import EnrollmentError
    from borderlink.provisioning.renew import renew

    try:
        cert = renew(Path(args.dir), address=args.hub, timeout_s=args.timeout)
    except EnrollmentError as exc:
        print(f"borderlink provision renew: {exc.reason}: {exc}", file=sys.stderr)
        return ENROLL_EXIT.get(exc.reason, EXIT_FAILED)
    print(cert)
    print("restart the agent (borderlink edge run) to use the new certificate",
          file=sys.stderr)
    return EXIT_OK


def _sign_request(args: argparse.Namespace) -> int:
    from borderlink.provisioning.errors import EnrollmentError, TokenError
    from borderlink.provisioning.offline import sign_request
    from borderlink.provisioning.registrar import HubLink, Registrar

    ca, store = _open_tokens(args)
    issuing = ca.issuing(_passphrase(args.issuing_passphrase_file))
    registrar = Registrar(store, issuing, HubLink.issued(issuing, ca.trust_pem, args.hub,
                                                         tuple(args.node_hub or ())),
                          on_issued=ca.record_issued)
    try:
        out = sign_request(ca, registrar, Path(args.request), Path(args.out),
                           now_ms=int(time.time() * 1000))
    except (EnrollmentError, TokenError) as exc:
        print(f"borderlink provision sign-request: {exc.reason}: {exc}", file=sys.stderr)
        return ENROLL_EXIT.get(exc.reason, EXIT_FAILED)
    finally:
        registrar.close()
        store.close()
    print(out)
    return EXIT_OK


def _admin_options(p: argparse.ArgumentParser) -> None:
    """The hub and the technician's admin credentials, as ``borderlink hub`` commands take them."""
    p.add_argument("--hub", type=hub_address, default=env_default("HUB", "127.0.0.1:7443"),
                   help="hub address host:port (env BORDERLINK_HUB; default %(default)s)")
    p.add_argument("--cert", default=env_default("CERT"),
                   help="admin certificate PEM (env BORDERLINK_CERT)")
    p.add_argument("--key", default=env_default("KEY"),
                   help="its private key PEM (env BORDERLINK_KEY)")
    p.add_argument("--ca", default=env_default("CA"),
                   help="CA certificate PEM (env BORDERLINK_CA)")
    p.add_argument("--timeout", type=positive_float, default=10.0,
                   help="seconds per call (default %(default)s)")


def configure_provision(
    parser: argparse.ArgumentParser,
    *,
    record_types_of_profile: Callable[[str], Sequence[str]] | None = None,
) -> None:
    """The ``provision`` subcommands. *record_types_of_profile* reads a hardware profile's
    record types for ``token create`` (the top-level glue passes it: provisioning never reads
    profiles)."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def ca_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", default=env_default("CA_DIR"), required=not env_default("CA_DIR"),
                       help="the CA directory (env BORDERLINK_CA_DIR)")

    ca = actions.add_parser("ca", help="the deployment's root and issuing CA")
    ca_actions = ca.add_subparsers(dest="ca_action", metavar="CA_ACTION", required=True)
    p = ca_actions.add_parser("init", help="make a root CA and an issuing CA in --dir")
    ca_dir(p)
    p.add_argument("--name", default="borderlink", help="deployment name in the CA names")
    p.add_argument("--root-passphrase-file", help="encrypt root.key with this passphrase")
    p.add_argument("--issuing-passphrase-file", help="encrypt issuing.key with this passphrase")
    p.set_defaults(func=_ca_init)
    p = ca_actions.add_parser("rotate", help="a new issuing CA (needs root.key back)")
    ca_dir(p)
    p.add_argument("--root-passphrase-file")
    p.add_argument("--issuing-passphrase-file", help="encrypt the new issuing.key")
    p.set_defaults(func=_ca_rotate)
    p = ca_actions.add_parser("show", help="fingerprint and validity of the CAs")
    ca_dir(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_ca_show)

    p = actions.add_parser(
        "crl", help="sign a fresh CRL (revoking certificates), before the old one expires",
        description="Sign the CRL in --out again with the issuing CA: its entries, plus each "
        "--revoke certificate, valid for --next-update-days. A hub refuses every client once "
        "its CRL is past its next update (fail closed), so re-sign it in time.")
    ca_dir(p)
    p.add_argument("--out", required=True, help="the CRL file (extended when it exists)")
    p.add_argument("--revoke", action="append", metavar="CERT.pem",
                   help="a certificate to revoke (repeatable)")
    p.add_argument("--next-update-days", type=positive_int, default=30,
                   help="days until the CRL must be re-signed (default %(default)s)")
    p.add_argument("--issuing-passphrase-file")
    p.set_defaults(func=_crl)
    p = actions.add_parser(
        "revoke", help="revoke a node: its TLS certificate (CRL) and its record key (hub)",
        description="Revoke node --node at once, both identities: its certificates (the CA "
        "directory's register of issued certificates, plus --node-cert) are added to the CRL "
        "the hub reads (--crl, its [tls] crl), so the hub refuses the node's connections from "
        "its next call; then Admin.RevokeNode revokes its record key at the hub, which logs "
        "the revocation: nothing the key signs is accepted after it. Idempotent: when the hub "
        "step fails the command says the revocation is half done; run it again to finish. "
        "Exit 0 done; nothing changed: 2 bad input, 1 a CA directory problem; half done "
        "(the CRL written, the key not revoked): 3 the hub unreachable, 22 the hub refused.")
    p.add_argument("--ca-dir", dest="dir", default=env_default("CA_DIR"),
                   required=not env_default("CA_DIR"),
                   help="the CA directory (env BORDERLINK_CA_DIR)")
    p.add_argument("--node", required=True, help="the node id, e.g. bil-radio-01")
    p.add_argument("--reason", required=True, help="why, kept by the hub (e.g. 'stolen')")
    p.add_argument("--compromised-since", metavar="TIME",
                   help="the key is known to be compromised since TIME (ISO 8601, no zone = "
                   "UTC, or Unix ms; default: now)")
    p.add_argument("--crl", required=True, help="the CRL file the hub reads ([tls] crl)")
    p.add_argument("--node-cert", dest="cert_file", action="append", metavar="CERT.pem",
                   help="also revoke this certificate of the node (repeatable; for nodes "
                   "whose certificates the register does not hold)")
    p.add_argument("--issuing-passphrase-file", help="passphrase of issuing.key")
    _admin_options(p)
    p.set_defaults(func=_revoke)

    p = actions.add_parser(
        "list", help="nodes the hub knows: status, key id, certificate expiry, last seen",
        description="The nodes of Admin.ListNodes (revoked ones too unless --active-only) "
        "with the expiry of each node's newest certificate from the CA directory's register "
        "(--ca-dir), soonest first; one expiring within 14 days is marked '!' (in colour on a "
        "terminal). Exit 0; 2 bad credentials; 3 hub unreachable.")
    p.add_argument("--ca-dir", dest="dir", default=env_default("CA_DIR"),
                   help="the CA directory, for certificate expiry (env BORDERLINK_CA_DIR; "
                   "without it expiry is not shown)")
    p.add_argument("--site", default="", help="only this site")
    p.add_argument("--agency", default="", help="only this agency")
    p.add_argument("--active-only", action="store_true", help="leave out revoked nodes")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.add_argument("--no-colour", action="store_true", help="no colour even on a terminal")
    _admin_options(p)
    p.set_defaults(func=_list)

    cert = actions.add_parser("cert", help="issue a hub, agency, admin or site broker "
                              "certificate")
    kinds = cert.add_subparsers(dest="role_name", metavar="ROLE", required=True)
    for role, help_text in (("hub", "a hub server certificate (serverAuth)"),
                            ("agency", "an agency client certificate: NAME is SBS, SCC or SMS"),
                            ("admin", "a technician's client certificate for hub admin"),
                            ("broker", "a site broker's server certificate (the site bus's "
                             "TLS listener; NAME: the site, e.g. AZ-BIL)")):
        p = kinds.add_parser(role, help=help_text)
        p.add_argument("name", nargs="?", help="hub/admin name or agency (hub: default 'hub')")
        ca_dir(p)
        p.add_argument("--out", required=True, help="folder for NAME.pem (chain) and NAME.key")
        p.add_argument("--dns", action="append", help="DNS name (repeatable; hub default "
                       "localhost)")
        p.add_argument("--ip", action="append", help="IP address (repeatable; hub default "
                       "127.0.0.1)")
        p.add_argument("--days", type=int, help="validity (default: hub/agency/admin 365)")
        p.add_argument("--passphrase-file", help="passphrase of issuing.key")
        p.add_argument("--key-passphrase-file", help="encrypt the new key with this passphrase")
        p.set_defaults(func=_cert)

    token = actions.add_parser("token", help="one-time enrolment tokens")
    t_actions = token.add_subparsers(dest="token_action", metavar="TOKEN_ACTION", required=True)
    p = t_actions.add_parser("create", help="a single-use, expiring token for one node")
    ca_dir(p)
    p.add_argument("--node", required=True, help="node id, e.g. bil-radio-01")
    p.add_argument("--site", required=True, help="site, e.g. AZ-BIL")
    p.add_argument("--agency", required=True, help="owning agency: SBS, SCC or SMS")
    p.add_argument("--profile", required=True, help="hardware profile, e.g. patrol-radio")
    p.add_argument("--record-types", help="comma-separated record types the node produces "
                   "(default: the profile's records.produces)")
    p.add_argument("--expires", default="24h", help="lifetime, e.g. 24h, 90m, 7d (default 24h)")
    p.add_argument("--png", help="also write the QR code as this PNG file")
    p.add_argument("--no-qr", action="store_true", help="no QR code in the terminal")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.set_defaults(func=_token_create, record_types_of_profile=record_types_of_profile)
    p = t_actions.add_parser("list", help="tokens of this CA directory: open, used, expired")
    ca_dir(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_token_list)

    p = actions.add_parser("serve", help="run the Enrollment service (server-only TLS)")
    ca_dir(p)
    p.add_argument("--hub", required=True, help="the hub's address, for Admin.EnrollNode")
    p.add_argument("--node-hub", action="append",
                   help="Sync address written into node.toml (repeatable; default --hub)")
    p.add_argument("--listen", default="127.0.0.1:7444", help="default %(default)s")
    p.add_argument("--dns", action="append", help="DNS name nodes use for this service")
    p.add_argument("--ip", action="append", help="IP address nodes use for this service")
    p.add_argument("--issuing-passphrase-file", help="passphrase of issuing.key")
    p.add_argument("--rate-per-minute", type=float, default=10.0,
                   help="enrolment attempts per peer host and minute (default %(default)s)")
    p.add_argument("--burst", type=int, default=5,
                   help="attempts a peer host may make at once (default %(default)s)")
    p.set_defaults(func=_serve)

    p = actions.add_parser("sign-request", help="at the CA: sign an offline enrolment request")
    p.add_argument("request", help="the REQ file from `provision enroll --offline`")
    ca_dir(p)
    p.add_argument("--out", required=True, help="the signed node bundle to write")
    p.add_argument("--hub", required=True, help="the hub's address, for Admin.EnrollNode")
    p.add_argument("--node-hub", action="append",
                   help="Sync address written into node.toml (repeatable; default --hub)")
    p.add_argument("--issuing-passphrase-file", help="passphrase of issuing.key")
    p.set_defaults(func=_sign_request)

    p = actions.add_parser(
        "renew", help="on the node: a new TLS key and certificate before the old one expires",
        description="Renew the node's TLS certificate through the Enrollment service (--hub, "
        "provision serve), without a token: the node proves its current certificate's key "
        "and its record key; a new P-256 key is made here and node.toml switched to the new "
        "pair atomically, the old private key deleted. An expired certificate is not "
        "renewed (re-enrol with a new token). Restart the agent to use it. Exit 0 renewed; "
        "2 not an enrolled node's folder; 3 service or hub unreachable; 23 certificate "
        "expired; 24 not enrolled at the hub; 25 revoked; 26 clock over 5 min off; 18 bad "
        "request; 17 rate-limited; 1 bad answer.")
    p.add_argument("--hub", required=True, type=hub_address,
                   help="the Enrollment service, HOST:PORT (as for enroll)")
    p.add_argument("--dir", default=".", help="the node's folder (default: current)")
    p.add_argument("--timeout", type=positive_float, default=15.0,
                   help="seconds for the call (default %(default)s)")
    p.set_defaults(func=_renew)

    p = actions.add_parser("enroll", help="on the node: enrol with a token, write node.toml")
    p.add_argument("--hub", help="the Enrollment service, HOST:PORT (online enrolment)")
    p.add_argument("--token", help="the token as printed (BLT1:…)")
    p.add_argument("--offline", action="store_true",
                   help="air-gapped: make the keys and write a signed request to --out")
    p.add_argument("--out", help="with --offline: the request file to carry to the CA")
    p.add_argument("--bundle", help="air-gapped: install the node bundle the CA signed")
    p.add_argument("--ca-fingerprint", help="SHA-256 of the root CA (if not in the token)")
    p.add_argument("--node", help="node id (default: the token's)")
    p.add_argument("--dir", default=".", help="the node's folder (default: current)")
    p.add_argument("--device-url", help="the device URL (default: the profile's)")
    p.add_argument("--unit-id", default="", help="device unit id, if its protocol has none")
    p.add_argument("--broker", help="site MQTT broker HOST:PORT (default 127.0.0.1:1883)")
    p.set_defaults(func=_enroll)


__all__ = ["ENROLL_EXIT", "REVOKE_REFUSED", "configure_provision"]
