"""``borderlink audit …``: offline verification of signed records.

Exit codes: 0 the check holds; 1 it does not (the reason is printed); 2 wrong usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import cbor_diag

from borderlink.common.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, env_default

from .cose import Algorithm, decode_sign1, verify_sign1
from .disclosure import decode_disclosure, reveal
from .envelope import decode_record_file
from .errors import BorderlinkError, KeyFileError, RecordDecodeError
from .keys import key_id, public_key_from_hex
from .record import GENESIS_PREV, ClockQuality, PayloadLabel, decode_record, verify_record
from .record_types import default_registry


def configure_audit(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    verify = actions.add_parser(
        "verify-sign1",
        help="verify one COSE_Sign1 message against an Ed25519 public key",
        description="Verify a COSE_Sign1 (tagged or untagged CBOR in FILE, '-' for stdin) "
        "signed with EdDSA/Ed25519 (alg -8 or -19). Prints the payload in CBOR diagnostic "
        "notation and exits 0 when valid; prints the reason and exits 1 when not.",
    )
    verify.add_argument("file", help="the message, as binary CBOR ('-' reads stdin)")
    verify.add_argument(
        "--public-key", required=env_default("PUBLIC_KEY") is None,
        default=env_default("PUBLIC_KEY"),
        help="32-byte Ed25519 public key as 64 hex digits (env BORDERLINK_PUBLIC_KEY)",
    )
    verify.set_defaults(func=_verify_sign1)

    inspect = actions.add_parser(
        "inspect",
        help="print a borderlink record readably",
        description="Print a record's header, payload fields, disclosures and chain link; "
        "with --public-key also whether the signature verifies. FILE holds a bare record or "
        "a record envelope [record, [disclosures]].",
    )
    inspect.add_argument("file", help="the record file ('-' reads stdin)")
    inspect.add_argument("--public-key", default=env_default("PUBLIC_KEY"),
                         help="check the signature with this key (64 hex digits)")
    inspect.set_defaults(func=_inspect)

    split = actions.add_parser(
        "check-split-view",
        help="check a witness's split-view evidence offline",
        description="Check evidence a witness recorded (borderlink-split-view/v1 JSON): two "
        "checkpoints signed by the log key that no single history can explain. Exits 0 when "
        "the evidence proves a split view, 1 when it does not (the reason is printed).",
    )
    split.add_argument("file", help="the evidence file ('-' reads stdin)")
    split.add_argument(
        "--log-key", required=env_default("LOG_KEY") is None, default=env_default("LOG_KEY"),
        help="the log's verifier key, or a file holding it (env BORDERLINK_LOG_KEY)",
    )
    split.add_argument("--json", action="store_true", help="print the report as JSON")
    split.set_defaults(func=_check_split_view)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {name}: {exc.strerror}") from exc


def _verify_sign1(args: argparse.Namespace) -> int:
    try:
        public_key = public_key_from_hex(args.public_key)
    except KeyFileError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return EXIT_USAGE
    data = _read(args.file)
    try:
        message = decode_sign1(data)
        verify_sign1(message, public_key)
    except BorderlinkError as exc:
        print(f"invalid: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"valid: COSE_Sign1, alg {_alg_name(message.algorithm)}, "
          f"kid {message.kid.hex() if message.kid else '(none)'}", file=sys.stderr)
    print(_diag(message.payload))
    return EXIT_OK


def _check_split_view(args: argparse.Namespace) -> int:
    from .note import parse_vkey
    from .witness import SplitView, check_split_view

    text = args.log_key.strip()
    if "+" not in text or Path(text).is_file():
        text = _read(text).decode("ascii", "replace").strip()
    try:
        log_key = parse_vkey(text)
        evidence = SplitView.loads(_read(args.file))
    except (BorderlinkError, ValueError) as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = check_split_view(evidence, log_key)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        verdict = "split view proven" if report.proven else "not proven"
        print(f"{verdict}: {report.reason} (sizes {report.sizes[0]} and {report.sizes[1]})")
    return EXIT_OK if report.proven else EXIT_FAILED


def _diag(payload: bytes) -> str:
    """The payload in CBOR diagnostic notation, or as hex when it is not CBOR."""
    try:
        return str(cbor_diag.cbor2diag(payload))
    except Exception:  # noqa: BLE001 - any payload is allowed; show the bytes instead
        return f"h'{payload.hex()}'"


def _alg_name(alg: int | None) -> str:
    try:
        return f"{Algorithm(alg).name} ({alg})" if alg is not None else "(none)"
    except ValueError:
        return str(alg)


def _inspect(args: argparse.Namespace) -> int:
    envelope = decode_record_file(_read(args.file))
    try:
        record = decode_record(envelope.record)
    except RecordDecodeError as exc:
        print(f"not a borderlink record: {exc}", file=sys.stderr)
        return EXIT_FAILED
    message = record.message
    out = []
    out.append("header")
    out.append(f"  alg        {_alg_name(message.algorithm)}")
    out.append(f"  kid        {message.kid.hex() if message.kid else '(none)'}")
    out.append(f"  tagged     {'yes (18)' if message.tagged else 'no'}")
    out.append(f"  size       {len(envelope.record)} bytes, sha256 {record.hash.hex()}")
    out.append("payload")
    when = dt.datetime.fromtimestamp(record.time_ms / 1000, dt.UTC).isoformat(
        timespec="milliseconds")
    try:
        clock = ClockQuality(record.clock).name.lower()
    except ValueError:
        clock = f"unknown ({record.clock})"
    rows = [
        (PayloadLabel.VERSION, record.version), (PayloadLabel.NODE, record.node_id),
        (PayloadLabel.SEQ, record.seq),
        (PayloadLabel.PREV, "genesis (32 zero bytes)" if record.prev_hash == GENESIS_PREV
         else record.prev_hash.hex()),
        (PayloadLabel.TIME, f"{record.time_ms} ({when})"), (PayloadLabel.CLOCK, clock),
        (PayloadLabel.TYPE, record.record_type), (PayloadLabel.AGENCY, record.agency),
        (PayloadLabel.SITE, record.site),
    ]
    out.extend(f"  {int(label):>2} {label.name.lower():<8} {value}" for label, value in rows)
    registry = default_registry()
    spec = registry.get(record.record_type)
    out.append(f"  10 body     ({'known type' if spec else 'type unknown to this verifier'})")
    for name, value in sorted(record.body.items()):
        out.append(f"       {name}: {value!r}")
    out.append(f"  11 sd       {len(record.digests)} digests (disclosures and decoys)")
    out.append(f"disclosures  {len(envelope.disclosures)} present")
    status = EXIT_OK
    try:
        revealed = reveal(record.digests, envelope.disclosures)
        for name, disclosure in sorted(revealed.items()):
            out.append(f"  {name}: {disclosure.value!r}  (matches a signed digest)")
    except BorderlinkError as exc:
        for raw in envelope.disclosures:
            try:
                d = decode_disclosure(raw)
                out.append(f"  {d.field}: {d.value!r}")
            except BorderlinkError:
                out.append(f"  (malformed disclosure, {len(raw)} bytes)")
        out.append(f"  DISCLOSURE CHECK FAILED: {exc}")
        status = EXIT_FAILED
    out.append("signature")
    if args.public_key:
        public_key = public_key_from_hex(args.public_key)
        try:
            verify_record(envelope.record, public_key, registry=registry,
                          disclosures=envelope.disclosures)
            out.append(f"  verifies with key id {key_id(public_key).hex()}")
        except BorderlinkError as exc:
            out.append(f"  DOES NOT VERIFY: {type(exc).__name__}: {exc}")
            status = EXIT_FAILED
    else:
        out.append("  not checked (give --public-key)")
    print("\n".join(out))
    return status
