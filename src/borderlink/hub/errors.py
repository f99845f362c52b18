"""Errors of the hub.

All derive from :class:`HubError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError


class HubError(BorderlinkError):
    """Base class of every error raised by the hub."""


class StorageError(HubError):
    """A storage operation that failed for a reason other than the ones below."""


class StorageUnavailableError(StorageError):
    """The database cannot be reached or opened (PostgreSQL down, file not writable)."""


class UnknownNodeError(StorageError, LookupError):
    """A node id that is not enrolled."""


class NodeExistsError(StorageError):
    """Enrolling a node id that is already enrolled (and not revoked)."""


class ChainConflictError(StorageError):
    """An append whose records do not continue the node's stored chain (seq or previous hash).

    Raised inside the append transaction, so it also catches two hub replicas racing on one
    node; nothing of the batch is stored.
    """


class DuplicateRecordError(ChainConflictError):
    """An append of a (node, seq) that is already stored; the caller checks for idempotency."""


class DownlinkVersionError(StorageError, ValueError):
    """A downlink item whose version is not newer than the stored one for its kind and target."""


class PolicyError(HubError, ValueError):
    """A federation policy file that cannot be used; names the file, the key and what was expected."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


class PolicySyntaxError(PolicyError):
    """A policy file that is not TOML."""


class PolicyValidationError(PolicyError):
    """A TOML policy naming an unknown agency, record type or field, or a malformed rule."""


class FederationError(HubError):
    """A federation request the hub refuses (beyond policy filtering, which is silent)."""


class CursorError(FederationError, ValueError):
    """A cursor the hub never issued (beyond the log, or forged)."""


class ConfigError(HubError, ValueError):
    """A hub configuration file that cannot be used; the message names the file and the key."""

    exit_code = 2  # wrong usage: the operator's file
