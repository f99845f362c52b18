"""One line for every failure a command can meet: the diagnosis ``main`` prints.

:func:`explain` turns what reaches the command boundary into a :class:`BorderlinkError` whose
message says what went wrong and where, and whose ``exit_code`` is the command's exit status:

* a :class:`BorderlinkError` is already explained;
* an :class:`OSError` names the path or address and the cause in words (no such file, a part
  of the path is a file, the port is taken, permission denied);
* an :class:`ssl.SSLError` names the TLS cause;
* a gRPC error (``grpc.RpcError``, recognised by its ``code()`` and ``details()``, so this
  layer does not import grpc) names the status and what it usually means.

Anything else is a bug, and ``main`` lets its traceback through. The explaining lives here,
in the bottom layer, so that every command says the same thing about the same failure.
"""

from __future__ import annotations

import errno
import ssl

from borderlink.common.errors import BorderlinkError, UnavailableError, UsageError

__all__ = ["explain", "explain_os_error", "explain_rpc_error"]

#: OSError causes in an operator's words (errno -> text); the rest use the OS's own words.
_OS_CAUSES = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EADDRINUSE: "the address is already in use (another process listens on it)",
    errno.EADDRNOTAVAIL: "this machine has no such address to listen on",
    errno.ECONNREFUSED: "connection refused (nothing listens there)",
}
_UNAVAILABLE_ERRNOS = {errno.EADDRINUSE, errno.ECONNREFUSED, errno.EHOSTUNREACH,
                       errno.ENETUNREACH, errno.ETIMEDOUT}  # fmt: skip


def explain_os_error(exc: OSError, doing: str = "") -> BorderlinkError:
    """``<doing> <path>: <cause>`` as a usage error (a path) or an unavailable one (a port)."""
    cause = _OS_CAUSES.get(exc.errno or -1, exc.strerror or str(exc))
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    text = f"{where}: {cause}" if where else cause
    if doing:
        text = f"{doing} {text}"
    kind = UnavailableError if exc.errno in _UNAVAILABLE_ERRNOS else UsageError
    return kind(text)


#: What a gRPC status usually means for a borderlink client.
_RPC_MEANINGS = {
    "UNAVAILABLE": "the hub does not answer, or refused the TLS connection",
    "DEADLINE_EXCEEDED": "no answer in time (raise --timeout, or check the hub)",
    "UNAUTHENTICATED": "the hub did not accept this certificate as an identity",
    "PERMISSION_DENIED": "this certificate's role may not make this call",
    "UNIMPLEMENTED": "the hub does not offer this call (an older hub?)",
}


def explain_rpc_error(exc: BaseException, target: str = "the hub") -> BorderlinkError:
    """``<target>: <STATUS>: <details> (<meaning>)``; exit 3 when the hub is unreachable."""
    code = exc.code()  # type: ignore[attr-defined]
    name = getattr(code, "name", str(code))
    details = exc.details() or ""  # type: ignore[attr-defined]
    meaning = _RPC_MEANINGS.get(name)
    text = f"{target}: {name}: {details}" + (f" ({meaning})" if meaning else "")
    if name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return UnavailableError(text)
    return BorderlinkError(text)


def _is_rpc_error(exc: BaseException) -> bool:
    return callable(getattr(exc, "code", None)) and callable(getattr(exc, "details", None))


def explain(exc: BaseException) -> BorderlinkError | None:
    """The diagnosis of *exc*, or ``None`` when it is a bug (let the traceback through)."""
    if isinstance(exc, BorderlinkError):
        return exc
    if isinstance(exc, ssl.SSLError):
        return UsageError(f"TLS: {exc.reason or exc}")
    if isinstance(exc, OSError):
        return explain_os_error(exc)
    if _is_rpc_error(exc):
        return explain_rpc_error(exc)
    return None
