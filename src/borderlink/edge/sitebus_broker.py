"""The site broker's configuration: Mosquitto with a password file, an ACL and optional TLS.

``borderlink edge site-bus-config`` writes, for one site, the three files that make the site
bus authenticated (``docs/site-bus.md``)::

    mosquitto.conf   allow_anonymous false, password_file, acl_file, the TLS listener
    acl              per identity: what each node and each console may write and read
    passwd           hashed by /usr/bin/mosquitto_passwd (plain passwords never stay on disk
                     here; a generated one is written once to passwords/<name>, 0600)
    tls/             copies of the CA bundle, the broker's certificate and key

Run as root with ``--user`` (the account Mosquitto drops to before it reads any of these),
the files the broker reads are ``root:<its group>`` 0640 (folders 0750); otherwise they are
the caller's only. ``passwords/`` is always the caller's only.

TLS is not optional: a node takes console acknowledgements only from a broker whose
certificate it checked (``[broker] ca``), since over plain MQTT anyone on the LAN reads the
passwords or poses as the broker. The certificate is the deployment CA's
(``borderlink provision cert broker SITE --dns NAME``: ``borderlink://broker/SITE``).

The ACL names every identity's topics explicitly instead of ``pattern write
borderlink/+/console/%u/ack``: a ``pattern`` line applies to *every* user, so it would let a
node's username publish on ``console/<node>/ack`` and be taken for a console.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

__all__ = ["BrokerFiles", "Identity", "write_site_bus_config"]

MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
# A broker username and topic level: no MQTT wildcards or separators, no ':' (passwd file).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Identity:
    name: str
    password_file: Path | None = None  # None: a password is generated


@dataclass(frozen=True)
class BrokerFiles:
    conf: Path
    acl: Path
    passwd: Path
    generated: dict[str, Path]  # identity -> the file holding its generated password


def parse_identity(text: str) -> Identity:
    """``NAME`` or ``NAME:PASSWORD_FILE``."""
    name, sep, path = text.partition(":")
    if sep and not path:
        raise ConfigError(f"{text!r}: expected NAME or NAME:PASSWORD_FILE")
    return Identity(name, Path(path) if sep else None)


def _check_name(kind: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{kind} {name!r}: expected letters, digits, '.', '_' or '-' "
                          "(1-64, no MQTT wildcards or '/')")


def _password(identity: Identity) -> str:
    assert identity.password_file is not None
    try:
        text = identity.password_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{identity.password_file}: cannot read the password of "
                          f"{identity.name}: {exc}") from exc
    password = text[:-1] if text.endswith("\n") else text
    if not password or "\n" in password:
        raise ConfigError(f"{identity.password_file}: expected the password of "
                          f"{identity.name} alone on one line")
    return password


def acl_text(site: str, nodes: Sequence[str], consoles: Sequence[str]) -> str:
    base = f"borderlink/{site}"
    lines = [f"# Site bus ACL for {site} (written by borderlink edge site-bus-config).",
             "# Nodes write their own topics and read the consoles' acks; a console writes",
             "# only its own ack topic and reads what nodes publish.", ""]
    for node in nodes:
        lines += [f"user {node}",
                  *(f"topic write {base}/{node}/{leaf}" for leaf in ("birth", "alert",
                                                                     "status")),
                  f"topic read {base}/console/+/ack", ""]
    for console in consoles:
        lines += [f"user {console}", f"topic write {base}/console/{console}/ack",
                  *(f"topic read {base}/+/{leaf}" for leaf in ("birth", "alert", "status")),
                  ""]
    return "\n".join(lines)


def conf_text(directory: Path, *, port: int, bind: str, user: str | None,
              tls: tuple[Path, Path, Path]) -> str:
    lines = ["# Site broker (written by borderlink edge site-bus-config): every client",
             "# authenticates; the ACL decides what each identity may publish and read.",
             "per_listener_settings false", "allow_anonymous false",
             f"password_file {directory / 'passwd'}", f"acl_file {directory / 'acl'}",
             "persistence false"]
    if user is not None:
        lines.append(f"user {user}")
    lines.append(f"listener {port} {bind}")
    ca, cert, key = tls
    lines += [f"cafile {ca.resolve()}", f"certfile {cert.resolve()}",
              f"keyfile {key.resolve()}", "tls_version tlsv1.2"]
    return "\n".join(lines) + "\n"


def write_site_bus_config(directory: Path, *, site: str, nodes: Sequence[Identity],
                          consoles: Sequence[Identity], port: int | None = None,
                          bind: str = "0.0.0.0", user: str | None = None,
                          tls: tuple[Path, Path, Path],
                          mosquitto_passwd: str = MOSQUITTO_PASSWD) -> BrokerFiles:
    """*tls* is (CA bundle, broker certificate, broker key)."""
    _check_name("site", site)
    if not nodes and not consoles:
        raise ConfigError("expected at least one --node or --console")
    seen: set[str] = set()
    for kind, ident in [("node", n) for n in nodes] + [("console", c) for c in consoles]:
        _check_name(kind, ident.name)
        if ident.name in seen:  # one username, one identity: a node is never a console
            raise ConfigError(f"{kind} {ident.name!r}: the name is given twice")
        seen.add(ident.name)
    if shutil.which(mosquitto_passwd) is None:
        raise ConfigError(f"{mosquitto_passwd} not found: install Mosquitto's tools "
                          "(apt-get install mosquitto) to hash the password file")
    for path in tls:
        if not path.is_file():
            raise ConfigError(f"{path}: no such TLS file for the broker listener")
    group = _broker_group(user)
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    generated: dict[str, Path] = {}
    entries = []
    for ident in (*nodes, *consoles):
        if ident.password_file is None:
            password = secrets.token_urlsafe(24)
            out = directory / "passwords" / ident.name
            out.parent.mkdir(exist_ok=True, mode=0o700)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            generated[ident.name] = out
        else:
            password = _password(ident)
        entries.append(f"{ident.name}:{password}\n")
    passwd = directory / "passwd"
    fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(entries)
    # -U hashes the file in place: passwords never appear on a command line.
    done = subprocess.run([mosquitto_passwd, "-U", str(passwd)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        passwd.unlink()
        raise ConfigError(f"{mosquitto_passwd} -U failed: {done.stderr.strip() or done.stdout}")
    acl = directory / "acl"
    acl.write_text(acl_text(site, [n.name for n in nodes], [c.name for c in consoles]))
    # Copies the broker reads from its own folder: it may not reach the CA's folder (0700)
    # once it has dropped to its user, and the CA's folder need not live on this host.
    (directory / "tls").mkdir(exist_ok=True, mode=0o700)
    copies = (directory / "tls" / "ca.pem", directory / "tls" / "broker.pem",
              directory / "tls" / "broker.key")
    for source, copy in zip(tls, copies, strict=True):
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(source.read_bytes())
    conf = directory / "mosquitto.conf"
    conf.write_text(conf_text(directory, port=port or 8883, bind=bind,
                              user=user, tls=copies))
    for path in (directory, passwd, acl, conf, directory / "tls", *copies):
        _readable_by_broker(path, group)
    return BrokerFiles(conf, acl, passwd, generated)


def _broker_group(user: str | None) -> int | None:
    """The group of *user* when this runs as root: Mosquitto started as root drops to that
    user *before* it reads the password file and the ACL, so they must be readable by it.
    None when nothing needs changing (no ``user``, or not root: then Mosquitto runs as the
    caller, who owns the files)."""
    if user is None or os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(user).pw_gid
    except KeyError:
        raise ConfigError(f"--user {user!r}: no such account here (Mosquitto drops to it "
                          "when started as root)") from None


def _readable_by_broker(path: Path, group: int | None) -> None:
    """Owner rw, the broker's group r (never anyone else); owner-only without a group."""
    if group is not None:
        os.chown(path, 0, group)
        os.chmod(path, 0o750 if path.is_dir() else 0o640)
    else:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
