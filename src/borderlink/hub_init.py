"""``borderlink hub init --dir DIR``: a ready-to-run hub directory for a pilot or a demo.

Glue at the top level because it needs both the CA (``borderlink.provisioning``) and the hub's
configuration format, and the hub never imports provisioning. Writes into DIR:

* ``ca.pem`` — the deployment's trust bundle (issuing CA, then root) from the CA directory
  (``--ca-dir``, default ``DIR/ca``: made with ``borderlink provision ca init`` when it holds no
  root yet, else reused; move its ``root.key`` offline in production);
* ``hub.pem`` / ``hub.key`` — the hub's server certificate (``localhost``, ``127.0.0.1``), issued
  as ``borderlink provision cert hub`` issues it;
* ``admin.pem`` / ``admin.key`` — a technician certificate for ``borderlink hub enroll …``;
* ``log.skey`` — the log's C2SP checkpoint signing key, ``log.vkey`` its verifier key and
  ``clock.vkey`` the verifier of the timestamped cosignatures (derived from the log key);
* ``hub.toml`` — SQLite storage in DIR, listening on ``--listen``.

Private keys are written with mode 0600. An existing ``hub.toml`` is never overwritten.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from borderlink.common.cli import EXIT_OK, hub_address, non_negative_int
from borderlink.common.errors import UsageError

DEFAULT_ORIGIN = "borderlink.example/AZ/log"


def init_hub_dir(
    directory: Path,
    *,
    origin: str = DEFAULT_ORIGIN,
    listen: str = "127.0.0.1:7443",
    admin: str = "technician",
    metrics_port: int | None = 9464,
    ca_dir: Path | None = None,
) -> Path:
    """Create the files above in *directory*; returns the path of ``hub.toml``."""
    from borderlink.hub.log import clock_signer
    from borderlink.proto.checkpoint import NoteSigner
    from borderlink.proto.identity import Identity, Role
    from borderlink.provisioning.ca import write_private
    from borderlink.provisioning.trust import ROOT_CERT, CaDirectory, init_ca_directory

    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "hub.toml"
    if config.exists():
        raise UsageError(f"{config} exists; init never overwrites a hub")
    ca_dir = ca_dir if ca_dir is not None else directory / "ca"
    ca = CaDirectory(ca_dir) if (ca_dir / ROOT_CERT).exists() else init_ca_directory(ca_dir)
    (directory / "ca.pem").write_bytes(ca.trust_pem)
    ca.issue(Identity(Role.HUB, "hub"), directory, dns_names=["localhost"],
             ip_addresses=["127.0.0.1"])
    ca.issue(Identity(Role.ADMIN, admin), directory, stem="admin")
    signer = NoteSigner.generate(origin)
    write_private(directory / "log.skey", (signer.skey + "\n").encode())
    (directory / "log.vkey").write_text(signer.verifier.vkey + "\n")
    (directory / "clock.vkey").write_text(clock_signer(signer).verifier.vkey + "\n")
    metrics = f"\n[metrics]\nport = {metrics_port}\n" if metrics_port is not None else ""
    config.write_text(
        f"""# borderlink hub configuration (see borderlink.hub.config for every key)
[server]
listen = "{listen}"
# Processes verifying records, one per core: signature checks then use every core, not one
# Python interpreter's (on 2 cores, 0.36 -> 0.85 of one core's raw verify rate).
verify_workers = {os.cpu_count() or 1}

[tls]
cert = "hub.pem"
key = "hub.key"
ca = "ca.pem"

[storage]
url = "sqlite:hub.db"

[log]
origin = "{origin}"
signing_key = "log.skey"
{metrics}"""
    )
    return config


def _init(args: argparse.Namespace) -> int:
    config = init_hub_dir(
        Path(args.dir),
        origin=args.origin,
        listen=args.listen,
        metrics_port=None if args.metrics_port == 0 else args.metrics_port,
        ca_dir=Path(args.ca_dir) if args.ca_dir else None,
    )
    print(config)
    return EXIT_OK


def profile_record_types(profile_name: str) -> tuple[str, ...]:
    """The record types a hardware profile produces (its ``records.produces``): what
    ``hub enroll`` declares for a node, read here because the hub never reads profiles."""
    from borderlink.hardware_profiles.loader import load_profile

    return load_profile(profile_name).produces


def add_init_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``init`` to the ``borderlink hub`` subcommands (and let ``hub enroll`` read a
    node's record types from its profile)."""
    commands.choices["enroll"].set_defaults(record_types_of_profile=profile_record_types)
    p = commands.add_parser(
        "init", help="make a CA, hub and admin certificates, log key and hub.toml"
    )
    p.add_argument("--dir", required=True, help="directory to fill (created if missing)")
    p.add_argument(
        "--ca-dir",
        help="the deployment's CA directory (default DIR/ca; made if it holds no root)",
    )
    p.add_argument("--origin", default=DEFAULT_ORIGIN, help="log origin (default %(default)s)")
    p.add_argument("--listen", type=hub_address, default="127.0.0.1:7443",
                   help="hub address (default %(default)s)")  # fmt: skip
    p.add_argument("--metrics-port", type=non_negative_int, default=9464,
                   help="Prometheus /metrics port on 127.0.0.1 (default %(default)s; 0 = off)")  # fmt: skip
    p.set_defaults(func=_init)
