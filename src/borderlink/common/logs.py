"""Structured logs: readable text for people, JSON lines for collectors. Only ``main`` calls this."""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import sys
import threading
import time
from typing import TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every ``extra=`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class KeyValueFormatter(logging.Formatter):
    """``time level logger: message key=value …`` — the extra fields stay visible in text."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{line} {extras}" if extras else line


#: gRPC C-core's own log lines: ``E1207 06:19:45.631844    6654 file.cc:487] message``.
_CORE_LINE = re.compile(r"^([DIWEF])\d{4} [\d:.]+\s+\d+ ([^\]]+)\] ?(.*)$")
_CORE_LEVELS = {"D": "debug", "I": "info", "W": "warning", "E": "error", "F": "critical"}


def foreign_line_as_json(line: str) -> str:
    """A line some other writer put on stderr (gRPC's C core, a ``print``), as one JSON
    object; a line that already is one passes as it is. A refused TLS handshake, which gRPC
    lets the server see only as its own log line, becomes a security event."""
    text = line.rstrip("\n")
    if text.startswith("{") and text.endswith("}"):
        try:
            json.loads(text)
            return text
        except ValueError:
            pass
    entry: dict[str, object] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        "level": "info", "logger": "stderr", "msg": text,
    }  # fmt: skip
    core = _CORE_LINE.match(text)
    if core:
        entry.update(level=_CORE_LEVELS[core.group(1)], logger="grpc", source=core.group(2),
                     msg=core.group(3))  # fmt: skip
        if "Handshake failed" in text:
            entry.update(level="warning", event="tls_handshake_refused")
    elif ": error: " in text:
        entry["level"] = "error"
    return json.dumps(entry)


_real_stderr: list[TextIO] = []  # set once per process: the stream JSON lines go to


def _route_stderr_as_json() -> TextIO:
    """Make every line on stderr JSON: file descriptor 2 (where gRPC's C core and ``print``
    write) becomes a pipe whose lines a thread rewrites with :func:`foreign_line_as_json`
    onto the real stderr; returns the real stderr for the logging handler."""
    if _real_stderr:
        return _real_stderr[0]
    real = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                real.write(foreign_line_as_json(line) + "\n")

    thread = threading.Thread(target=pump, name="stderr-as-json", daemon=True)
    thread.start()

    def finish() -> None:  # the last lines (the error line of main) must not be lost
        sys.stderr.flush()
        os.dup2(real.fileno(), 2)  # closes the pipe's write end held by fd 2
        thread.join(2.0)
        real.flush()

    atexit.register(finish)
    _real_stderr.append(real)
    return real


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr as *fmt* (``text`` or ``json``); with ``json`` every line on stderr is
    JSON, gRPC's C-core lines and printed banners included."""
    handler = logging.StreamHandler(_route_stderr_as_json() if fmt == "json" else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
