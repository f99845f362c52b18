"""``borderlink firmware …`` (docs/firmware.md):

* ``keygen --out KEY`` — a firmware-signing key (Ed25519, PKCS#8 PEM, mode 0600) and
  ``KEY.pub`` (hex); it is neither a node key nor the CA;
* ``build --target sensor-node --config ugs_config.json`` or ``build --target edge-agent
  --wheel borderlink-X.whl --requirements requirements.txt``, with ``--version``,
  ``--sequence``, ``--min-version``, ``--out IMAGE`` — an unsigned image;
* ``sign --key KEY IMAGE`` — adds the COSE_Sign1 envelope (``--out`` another file);
* ``verify --public-key HEX|FILE IMAGE [--target T]`` — exit 0 when every check passes, 1 not;
* ``inspect IMAGE`` — the manifest as JSON;
* ``deploy --port serial:///dev/ttyACM0 --public-key HEX|FILE IMAGE`` — verify, copy over
  the device's raw REPL, check each file's digest on the device, manifest last, soft-reset;
* ``offer IMAGE --source PATH --target NODE --issuer OPS --issuer-key KEY`` — an edge-agent
  image offered to nodes through the hub's downlink (Admin.PublishDownlink; ``--hub``,
  ``--cert``, ``--key``, ``--ca`` as for ``hub enroll``);
* ``supervise --node-config node.toml --slots DIR`` — run the agent from two slots, install
  offers with a trial that commits or rolls back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from borderlink.common.cli import (
    EXIT_FAILED,
    EXIT_OK,
    env_default,
    hub_address,
    non_negative_int,
    positive_float,
)
from borderlink.proto.keys import SigningKey, public_key_from_hex

from .errors import BuildError, FirmwareError
from .manifest import TARGETS, Image, verify_image

__all__ = ["configure_firmware"]


def _write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _read_image(path: str) -> Image:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BuildError(f"{path}: cannot read the image: {exc.strerror}") from exc
    return Image.decode(data)


def read_public_key(text: str) -> bytes:
    """A firmware public key given as 64 hex digits or as a file holding them (KEY.pub)."""
    path = Path(text)
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
    try:
        return public_key_from_hex(text)
    except ValueError as exc:
        raise BuildError(f"--public-key: expected 64 hex digits or a .pub file: {exc}") from exc


def _keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise BuildError(f"{out} exists: a signing key is never overwritten")
    key = SigningKey.generate()
    key.write_pem(out)
    _write_new(out.with_name(out.name + ".pub"), (key.public_hex + "\n").encode())
    print(json.dumps({"key": str(out), "public_key": key.public_hex, "kid": key.kid.hex()}))
    return EXIT_OK


def _build(args: argparse.Namespace) -> int:
    from .build import build_edge_agent, build_sensor_node

    common: dict[str, Any] = {"version": args.version, "sequence": args.sequence,
                              "min_version": args.min_version or args.version}
    if args.target == "sensor-node":
        if not args.config:
            raise BuildError("--target sensor-node needs --config ugs_config.json")
        image = build_sensor_node(Path(args.config), **common)
    else:
        if not args.wheel or not args.requirements:
            raise BuildError("--target edge-agent needs --wheel and --requirements")
        image = build_edge_agent(Path(args.wheel), Path(args.requirements),
                                 config_schema=args.config_schema, **common)
    _write_new(Path(args.out), image.encode())
    m = image.manifest
    print(json.dumps({"image": args.out, "target": m.target, "version": m.version,
                      "sequence": m.sequence, "size": m.size, "digest": m.digest.hex()}))
    return EXIT_OK


def _sign(args: argparse.Namespace) -> int:
    from .manifest import sign_image

    key = SigningKey.read_pem(args.key)
    image = sign_image(_read_image(args.image), key)
    _write_new(Path(args.out or args.image), image.encode())
    print(json.dumps({"image": args.out or args.image, "kid": key.kid.hex()}))
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    try:
        manifest = verify_image(_read_image(args.image), read_public_key(args.public_key),
                                target=args.target)
    except FirmwareError as exc:
        print(f"borderlink firmware verify: REFUSED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps({"verified": True, "target": manifest.target, "version": manifest.version,
                      "sequence": manifest.sequence, "digest": manifest.digest.hex()}))
    return EXIT_OK


def manifest_json(image: Image) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in image.manifest.to_dict().items():
        if isinstance(v, bytes):
            v = v.hex()
        elif k == "files":
            v = [{**f, "sha256": f["sha256"].hex()} for f in v]
        out[k] = v
    out["signed"] = image.envelope is not None
    return out


def _inspect(args: argparse.Namespace) -> int:
    print(json.dumps(manifest_json(_read_image(args.image)), indent=2))
    return EXIT_OK


def _deploy(args: argparse.Namespace) -> int:
    from .deploy import deploy_image, open_port
    from .rawrepl import RawRepl

    image = _read_image(args.image)
    public_key = read_public_key(args.public_key)
    port: Any = open_port(args.port)
    try:
        manifest = deploy_image(image, public_key, RawRepl(port, timeout_s=args.timeout_s),
                                progress=lambda m: print(m, file=sys.stderr))
    finally:
        port.close()
    print(json.dumps({"deployed": True, "port": args.port, "version": manifest.version,
                      "sequence": manifest.sequence, "files": len(manifest.files)}))
    return EXIT_OK


def _offer(args: argparse.Namespace) -> int:
    import grpc

    from borderlink.common.tls import explain_hub_failure, read_tls_files
    from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, admin_pb2, admin_pb2_grpc, sync_pb2

    from .offer import FirmwareOffer

    try:
        image_bytes = Path(args.image).read_bytes()
    except OSError as exc:
        raise BuildError(f"{args.image}: cannot read the image: {exc.strerror}") from exc
    if args.public_key:  # the technician's own check before anything leaves
        verify_image(Image.decode(image_bytes), read_public_key(args.public_key),
                     target="edge-agent")
    offer = FirmwareOffer.make(image_bytes, source=args.source or str(Path(args.image).resolve()),
                               target=args.target, issuer=args.issuer,
                               key=SigningKey.read_pem(args.issuer_key),
                               version=args.downlink_version or None)
    tls = read_tls_files(args.cert, args.key, args.ca)
    creds = grpc.ssl_channel_credentials(root_certificates=tls.ca_pem, private_key=tls.key_pem,
                                         certificate_chain=tls.cert_pem)
    request = admin_pb2.PublishDownlinkRequest(downlink=sync_pb2.Downlink(
        kind=sync_pb2.DOWNLINK_KIND_FIRMWARE, version=offer.version, target=offer.target,
        signed_payload=offer.signed))
    try:
        with grpc.secure_channel(args.hub, creds, options=GRPC_MESSAGE_OPTIONS) as channel:
            resp = admin_pb2_grpc.AdminStub(channel).PublishDownlink(request,
                                                                     timeout=args.timeout)
    except grpc.RpcError as exc:
        raise explain_hub_failure(exc, args.hub, tls) from exc
    print(json.dumps({"offered": True, "target": offer.target, "downlink_version": offer.version,
                      "version": offer.content["version"],
                      "sequence": offer.content["sequence"], "source": offer.content["source"],
                      "sha256": offer.content["sha256"].hex(),
                      "delivered_now": resp.delivered_now}))
    return EXIT_OK


def _supervise(args: argparse.Namespace) -> int:
    from .supervisor import Supervisor, load_supervisor_config

    return Supervisor(load_supervisor_config(Path(args.node_config), Path(args.slots))).run()


def configure_firmware(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=help_text, description=help_text)

    p = action("keygen", "make a firmware-signing key (not a node key, not the CA)")
    p.add_argument("--out", required=True, help="private key file (PEM, 0600); KEY.pub beside")
    p.set_defaults(func=_keygen)

    p = action("build", "build an unsigned image for a target class")
    p.add_argument("--target", required=True, choices=TARGETS)
    p.add_argument("--version", required=True, help="MAJOR.MINOR.PATCH")
    p.add_argument("--sequence", required=True, type=int,
                   help="release sequence number; devices refuse one not above their last")
    p.add_argument("--min-version", help="oldest version this image may update (default: any "
                   "from its own version)")
    p.add_argument("--config", help="sensor-node: the node's ugs_config.json")
    p.add_argument("--wheel", help="edge-agent: the borderlink wheel")
    p.add_argument("--requirements", help="edge-agent: pinned dependencies (name==version)")
    p.add_argument("--config-schema", type=int, default=1,
                   help="edge-agent: the node.toml schema version it reads (default 1)")
    p.add_argument("--out", required=True, help="image file to write")
    p.set_defaults(func=_build)

    p = action("sign", "sign an image's manifest (COSE_Sign1) with the firmware key")
    p.add_argument("image")
    p.add_argument("--key", default=env_default("FIRMWARE_KEY"), required=
                   env_default("FIRMWARE_KEY") is None,
                   help="firmware-signing key (env BORDERLINK_FIRMWARE_KEY)")
    p.add_argument("--out", help="write the signed image here (default: in place)")
    p.set_defaults(func=_sign)

    p = action("verify", "check an image's signature, digests and target")
    p.add_argument("image")
    p.add_argument("--public-key", required=True, help="64 hex digits or a KEY.pub file")
    p.add_argument("--target", choices=TARGETS, help="refuse an image for another target")
    p.set_defaults(func=_verify)

    p = action("deploy", "copy a sensor-node image onto a MicroPython device (raw REPL)")
    p.add_argument("image")
    p.add_argument("--port", required=True, default=env_default("FIRMWARE_PORT"),
                   help="serial:///dev/ttyACM0[?baud=115200] (env BORDERLINK_FIRMWARE_PORT)")
    p.add_argument("--public-key", required=True, help="64 hex digits or a KEY.pub file")
    p.add_argument("--timeout-s", type=float, default=10.0,
                   help="how long to wait for each answer of the device (default 10)")
    p.set_defaults(func=_deploy)

    p = action("inspect", "print an image's manifest as JSON")
    p.add_argument("image")
    p.set_defaults(func=_inspect)

    p = action("offer", "offer an edge-agent image to nodes through the hub's downlink")
    p.add_argument("image")
    p.add_argument("--source", help="where the nodes fetch the image: a path or file:// URL "
                   "(default: this image's absolute path)")
    p.add_argument("--target", required=True, help='a node id, "site:SITE" or "*"')
    p.add_argument("--issuer", default=env_default("FIRMWARE_ISSUER", "OPS"),
                   help="issuer name the nodes trust under [downlink.keys.firmware] "
                   "(env BORDERLINK_FIRMWARE_ISSUER; default %(default)s)")
    p.add_argument("--issuer-key", required=env_default("FIRMWARE_ISSUER_KEY") is None,
                   default=env_default("FIRMWARE_ISSUER_KEY"),
                   help="the issuer's downlink signing key, PEM (firmware keygen makes one; "
                   "env BORDERLINK_FIRMWARE_ISSUER_KEY)")
    p.add_argument("--downlink-version", type=non_negative_int, default=0,
                   help="the downlink item's version, above the last one for this target "
                   "(default: the time in ms)")
    p.add_argument("--public-key", help="check the image under this firmware public key "
                   "before offering it (64 hex digits or a KEY.pub file)")
    p.add_argument("--hub", type=hub_address, default=env_default("HUB", "127.0.0.1:7443"),
                   help="hub address host:port (env BORDERLINK_HUB; default %(default)s)")
    p.add_argument("--cert", default=env_default("CERT"),
                   help="admin certificate PEM (env BORDERLINK_CERT)")
    p.add_argument("--key", default=env_default("KEY"),
                   help="its private key PEM (env BORDERLINK_KEY)")
    p.add_argument("--ca", default=env_default("CA"), help="CA certificate PEM (env BORDERLINK_CA)")
    p.add_argument("--timeout", type=positive_float, default=10.0,
                   help="seconds for the call (default %(default)s)")
    p.set_defaults(func=_offer)

    p = action("supervise", "run the edge agent from the active of two slots and install "
               "firmware offers with a trial that commits or rolls back")
    p.add_argument("--node-config", required=True, help="the agent's node.toml ([firmware])")
    p.add_argument("--slots", required=True, help="folder of the two slots and their state")
    p.set_defaults(func=_supervise)
