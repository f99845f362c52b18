"""Emulators: the device side of every profile's protocol on a real pty, TCP port or folder."""

from .emulator import Emulator, Pump, supported_faults
from .endpoints import FolderEndpoint, PtyEndpoint, TcpEndpoint, endpoint_for

__all__ = [
           "Emulator",
           "FolderEndpoint",
           "PtyEndpoint",
           "Pump",
           "TcpEndpoint",
           "endpoint_for",
           "supported_faults",
]
