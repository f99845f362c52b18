"""A minimal netCDF-3 classic (CDF-1) writer and reader, enough for ANDI/AIA files.

Format: Unidata "NetCDF Classic Format Specification" — big-endian; header = magic ``CDF\\x01``,
``numrecs``, dimension list, global attribute list, variable list (name, dimension ids,
attributes, type, vsize, begin offset); then each variable's data at ``begin``, padded to 4
bytes. Only fixed-size (non-record) variables of types char, int, float, double are written;
the reader also accepts byte and short. No record dimension.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import FrameDecodeError, IncompleteFileError

__all__ = ["NC_CHAR", "NC_DOUBLE", "NC_FLOAT", "NC_INT", "Dataset", "Variable", "decode", "encode"]

NC_BYTE, NC_CHAR, NC_SHORT, NC_INT, NC_FLOAT, NC_DOUBLE = 1, 2, 3, 4, 5, 6
_TAG_DIM, _TAG_VAR, _TAG_ATT = 0x0A, 0x0B, 0x0C
_FMT = {NC_BYTE: ("b", 1), NC_CHAR: ("c", 1), NC_SHORT: ("h", 2), NC_INT: ("i", 4), NC_FLOAT: ("f", 4),
        NC_DOUBLE: ("d", 8)}
_MAX_ITEMS = 1 << 26


@dataclass
class Variable:
    dims: tuple[str, ...]
    nc_type: int
    values: Any  # a str for NC_CHAR, else a sequence of numbers
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dataset:
    dims: dict[str, int] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def _name(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">i", len(raw)) + raw + b"\0" * _pad(len(raw))


def _values(nc_type: int, values: Any) -> bytes:
    if nc_type == NC_CHAR:
        raw = values.encode("utf-8") if isinstance(values, str) else bytes(values)
    else:
        code, _ = _FMT[nc_type]
        raw = struct.pack(f">{len(values)}{code}", *values)
    return raw + b"\0" * _pad(len(raw))


def _count(nc_type: int, values: Any) -> int:
    if nc_type == NC_CHAR:
        return len(values.encode("utf-8") if isinstance(values, str) else values)
    return len(values)


def _attr_type(value: Any) -> tuple[int, Any]:
    if isinstance(value, str):
        return NC_CHAR, value
    if isinstance(value, float):
        return NC_DOUBLE, [value]
    if isinstance(value, int):
        return NC_INT, [value]
    raise TypeError(f"attribute value {value!r}: str, int or float")


def _att_list(attrs: dict[str, Any]) -> bytes:
    if not attrs:
        return struct.pack(">ii", 0, 0)
    out = struct.pack(">ii", _TAG_ATT, len(attrs))
    for key, value in attrs.items():
        nc_type, vals = _attr_type(value)
        out += _name(key) + struct.pack(">ii", nc_type, _count(nc_type, vals)) + _values(nc_type, vals)
    return out


def encode(ds: Dataset) -> bytes:
    """The CDF-1 bytes of *ds* (variables in insertion order)."""
    dim_ids = {name: i for i, name in enumerate(ds.dims)}
    head = b"CDF\x01" + struct.pack(">i", 0)
    head += (struct.pack(">ii", _TAG_DIM, len(ds.dims)) + b"".join(
        _name(n) + struct.pack(">i", size) for n, size in ds.dims.items())) if ds.dims else struct.pack(">ii", 0, 0)
    head += _att_list(ds.attrs)
    bodies = []
    entries = []
    for name, var in ds.variables.items():
        expected = 1
        for d in var.dims:
            expected *= ds.dims[d]
        if _count(var.nc_type, var.values) != expected:
            raise ValueError(f"variable {name}: {_count(var.nc_type, var.values)} values for dims {var.dims}")
        body = _values(var.nc_type, var.values)
        bodies.append(body)
        entries.append((name, var, len(body)))
    # the header size does not depend on the offsets' values: compute it with zeros first
    def var_list(offsets: Sequence[int]) -> bytes:
        if not entries:
            return struct.pack(">ii", 0, 0)
        out = struct.pack(">ii", _TAG_VAR, len(entries))
        for (name, var, vsize), begin in zip(entries, offsets):
            out += _name(name) + struct.pack(">i", len(var.dims)) + b"".join(
                struct.pack(">i", dim_ids[d]) for d in var.dims)
            out += _att_list(var.attrs) + struct.pack(">iii", var.nc_type, vsize, begin)
        return out

    size = len(head) + len(var_list([0] * len(entries)))
    offsets, pos = [], size
    for body in bodies:
        offsets.append(pos)
        pos += len(body)
    return head + var_list(offsets) + b"".join(bodies)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise IncompleteFileError(f"netCDF: header ends early at byte {self.pos} (still being written?)")
        out = self.data[self.pos: self.pos + n]
        self.pos += n
        return out

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def name(self) -> str:
        n = self.i32()
        if not 0 <= n <= 4096:
            raise FrameDecodeError(f"netCDF: name of {n} bytes")
        raw = self.take(n)
        self.take(_pad(n))
        return raw.decode("utf-8", "replace")

    def values(self, nc_type: int, count: int) -> Any:
        if nc_type not in _FMT:
            raise FrameDecodeError(f"netCDF: unknown type {nc_type}")
        if not 0 <= count <= _MAX_ITEMS:
            raise FrameDecodeError(f"netCDF: {count} values")
        code, size = _FMT[nc_type]
        raw = self.take(count * size)
        self.take(_pad(count * size))
        if nc_type == NC_CHAR:
            return raw.rstrip(b"\0").decode("utf-8", "replace")
        return list(struct.unpack(f">{count}{code}", raw))

    def atts(self) -> dict[str, Any]:
        tag, n = self.i32(), self.i32()
        if tag == 0 and n == 0:
            return {}
        if tag != _TAG_ATT or not 0 <= n <= 10000:
            raise FrameDecodeError(f"netCDF: bad attribute list tag {tag}")
        out = {}
        for _ in range(n):
            key = self.name()
            nc_type, count = self.i32(), self.i32()
            value = self.values(nc_type, count)
            out[key] = value[0] if isinstance(value, list) and len(value) == 1 else value
        return out


def decode(data: bytes) -> Dataset:
    """Parse CDF-1/CDF-2 bytes (fixed-size variables; the record dimension is refused)."""
    if len(data) < 8:
        raise IncompleteFileError("netCDF: shorter than its header (still being written?)")
    if data[:3] != b"CDF" or data[3] not in (1, 2):
        raise FrameDecodeError(f"netCDF: bad magic {data[:4]!r}")
    offset_fmt = ">i" if data[3] == 1 else ">q"
    r = _Reader(data)
    r.take(4)
    if r.i32() != 0:
        raise FrameDecodeError("netCDF: record variables are not supported")
    ds = Dataset()
    tag, n = r.i32(), r.i32()
    if (tag, n) != (0, 0):
        if tag != _TAG_DIM or not 0 <= n <= 1024:
            raise FrameDecodeError(f"netCDF: bad dimension list tag {tag}")
        for _ in range(n):
            name = r.name()
            ds.dims[name] = r.i32()
    names = list(ds.dims)
    ds.attrs = r.atts()
    tag, n = r.i32(), r.i32()
    if (tag, n) != (0, 0) and (tag != _TAG_VAR or not 0 <= n <= 4096):
        raise FrameDecodeError(f"netCDF: bad variable list tag {tag}")
    layout = []
    for _ in range(n if tag else 0):
        name = r.name()
        ndims = r.i32()
        if not 0 <= ndims <= 16:
            raise FrameDecodeError(f"netCDF: variable {name} with {ndims} dimensions")
        ids = [r.i32() for _ in range(ndims)]
        if any(not 0 <= i < len(names) for i in ids):
            raise FrameDecodeError(f"netCDF: variable {name} names an unknown dimension")
        attrs = r.atts()
        nc_type, _vsize = r.i32(), r.i32()
        (begin,) = struct.unpack(offset_fmt, r.take(struct.calcsize(offset_fmt)))
        layout.append((name, tuple(names[i] for i in ids), attrs, nc_type, begin))
    for name, dims, attrs, nc_type, begin in layout:
        count = 1
        for d in dims:
            count *= ds.dims[d]
        if nc_type not in _FMT:
            raise FrameDecodeError(f"netCDF: variable {name} of unknown type {nc_type}")
        end = begin + count * _FMT[nc_type][1]
        if begin < r.pos or count > _MAX_ITEMS:
            raise FrameDecodeError(f"netCDF: variable {name} at a bad offset {begin}")
        if end > len(data):
            raise IncompleteFileError(f"netCDF: variable {name} ends beyond the file (still being written?)")
        vr = _Reader(data)
        vr.pos = begin
        ds.variables[name] = Variable(dims, nc_type, vr.values(nc_type, count), attrs)
    return ds
