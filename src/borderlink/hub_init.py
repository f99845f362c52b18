"""``borderlink hub init --dir DIR``: a ready-to-run hub directory for a pilot or a demo.

Glue at the top level because it needs both the CA (``borderlink.provisioning``) and the hub's
configuration format, and the hub never imports provisioning. Writes into DIR:

* ``ca.pem`` — the deployment's trust bundle (issuing CA, then root) from the CA directory
  (``--ca-dir``, default ``DIR-ca`` beside DIR: made as ``borderlink provision ca init`` makes
  it when it holds no root yet, else reused). The CA never lives inside DIR: the hub's folder
  holds the store (names, document numbers, MRZ lines) and the hub's own key, and a copy or
  a compromise of it must not carry the keys that issue every identity; ``init`` says where
  the CA is and that its ``root.key`` goes offline;
* ``crl.pem`` — the issuing CA's CRL, valid 30 days (the hub refuses to start without one and
  refuses every client once it is past its next update; ``borderlink provision crl`` signs it
  again and revokes);
* ``hub.pem`` / ``hub.key`` — the hub's server certificate (``localhost``, ``127.0.0.1``), issued
  as ``borderlink provision cert hub`` issues it;
* ``DIR-admin/admin.pem`` / ``admin.key`` (beside DIR, not in it, 0700) — a technician
  certificate for ``borderlink hub enroll …``: a credential of the person, not of the hub;
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


def default_ca_dir(directory: Path) -> Path:
    """Where ``hub init --dir DIR`` keeps a CA it creates: ``DIR-ca``, beside DIR, not in it."""
    return directory.parent / f"{directory.name}-ca"


def admin_dir(directory: Path) -> Path:
    """Where ``hub init --dir DIR`` puts the technician's credential: ``DIR-admin``, beside DIR."""
    return directory.parent / f"{directory.name}-admin"


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _private_dir(directory: Path) -> None:
    """A folder 0700 whatever the umask (the hub's: its store and keys; the admin's key)."""
    old = os.umask(0o077)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    finally:
        os.umask(old)
    os.chmod(directory, 0o700)


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
    from borderlink.provisioning.trust import ROOT_CERT, CaDirectory, init_ca_directory, write_crl

    config = directory / "hub.toml"
    if config.exists():
        raise UsageError(f"{config} exists; init never overwrites a hub")
    ca_dir = ca_dir if ca_dir is not None else default_ca_dir(directory)
    if _inside(ca_dir, directory):
        raise UsageError(
            f"--ca-dir {ca_dir} is inside the hub folder {directory}: keep the CA apart "
            "(its root key offline), e.g. --ca-dir "
            f"{default_ca_dir(directory)}"
        )
    _private_dir(directory)
    ca = CaDirectory(ca_dir) if (ca_dir / ROOT_CERT).exists() else init_ca_directory(ca_dir)
    (directory / "ca.pem").write_bytes(ca.trust_pem)
    write_crl(ca, directory / "crl.pem")  # required: the hub fails closed without one
    ca.issue(Identity(Role.HUB, "hub"), directory, dns_names=["localhost"],
             ip_addresses=["127.0.0.1"])
    _private_dir(admin_dir(directory))
    ca.issue(Identity(Role.ADMIN, admin), admin_dir(directory), stem="admin")
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
# Required. Re-sign it before its next update (borderlink provision crl --dir CA --out
# crl.pem [--revoke CERT]): past it, the hub refuses every client.
crl = "crl.pem"

[storage]
url = "sqlite:hub.db"

[log]
origin = "{origin}"
signing_key = "log.skey"
{metrics}"""
    )
    return config


def _init(args: argparse.Namespace) -> int:
    import sys

    from borderlink.provisioning.trust import ROOT_CERT, ROOT_KEY

    directory = Path(args.dir)
    ca_dir = Path(args.ca_dir) if args.ca_dir else default_ca_dir(directory)
    existed = (ca_dir / ROOT_CERT).exists()
    config = init_hub_dir(
        directory,
        origin=args.origin,
        listen=args.listen,
        metrics_port=None if args.metrics_port == 0 else args.metrics_port,
        ca_dir=ca_dir,
    )
    print(config)
    made = "used the existing CA in" if existed else "made the deployment's CA in"
    offline = (f"move {ca_dir / ROOT_KEY} offline (it is only needed to make a new issuing CA)"
               if (ca_dir / ROOT_KEY).exists() else "its root key is not there (offline): good")
    print(f"borderlink hub init: {made} {ca_dir}, outside the hub folder; {offline}",
          file=sys.stderr)  # fmt: skip
    print(f"borderlink hub init: the technician's admin.pem/admin.key are in "
          f"{admin_dir(directory)}", file=sys.stderr)  # fmt: skip
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
        help="the deployment's CA directory, outside DIR (default DIR-ca beside it; "
        "made if it holds no root, e.g. reuse one from `borderlink provision ca init`)",
    )
    p.add_argument("--origin", default=DEFAULT_ORIGIN, help="log origin (default %(default)s)")
    p.add_argument("--listen", type=hub_address, default="127.0.0.1:7443",
                   help="hub address (default %(default)s)")  # fmt: skip
    p.add_argument("--metrics-port", type=non_negative_int, default=9464,
                   help="Prometheus /metrics port on 127.0.0.1 (default %(default)s; 0 = off)")  # fmt: skip
    p.set_defaults(func=_init)
