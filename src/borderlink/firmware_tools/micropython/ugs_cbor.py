# The CBOR subset a sensor frame needs (RFC 8949): maps with text keys, integers, text, bytes.
# MicroPython has no cbor2; this encoder writes the shortest head for every item, so a map
# given in the documented key order is the same bytes cbor2 makes from it.


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    if n < 0x10000000000000000:
        return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")
    raise ValueError("integer beyond 64 bits")


def encode_item(value: object) -> bytes:
    if isinstance(value, bool):  # bool before int: True is an int too
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, (bytes, bytearray)):
        return _head(2, len(value)) + bytes(value)
    raise TypeError("no CBOR encoding here for " + str(type(value)))


def encode_map(pairs: list[tuple[str, object]]) -> bytes:
    """A CBOR map of *pairs* in the order given (the frame's documented key order)."""
    out = bytearray(_head(5, len(pairs)))
    for key, value in pairs:
        out += encode_item(key)
        out += encode_item(value)
    return bytes(out)
