"""Make the worked examples of docs/record-contract.md, byte for byte.

Deterministic: a fixed test key (seed 32 x 0x07 — a published test key, never use it in the
field), fixed times and salts from a counter. ``tests/proto/test_contract_doc.py`` checks
that the document shows exactly what this prints. Run: ``python docs/examples/make_examples.py``.
"""

from __future__ import annotations

import hashlib
import itertools

import cbor_diag

from borderlink.proto.envelope import encode_envelope
from borderlink.proto.keys import SigningKey, cose_key
from borderlink.proto.record import GENESIS_PREV, ClockQuality, make_record
from borderlink.proto.record_types import default_registry

TEST_SEED = bytes([7]) * 32


def counter_salts():
    """Salts and decoys from a hash counter: reproducible, unlike the field's os.urandom."""
    counter = itertools.count()

    def source(n: int) -> bytes:
        return hashlib.sha256(b"borderlink example %d" % next(counter)).digest()[:n]

    return source


def examples() -> list[tuple[str, bytes, list[bytes]]]:
    registry = default_registry()
    key = SigningKey(TEST_SEED)
    first = make_record(
        key, node_id="az-bil-rpm-01", seq=1, prev_hash=GENESIS_PREV, time_ms=1795000000000,
        record_type="radiation.alarm", site="AZ-BIL", clock=ClockQuality.NTP,
        body={"lane": "L2", "kind": "gamma", "nuisance": False, "sigma": 9.5,
              "threshold_cps": 1450.0, "start_ms": 1794999995800, "end_ms": 1794999999900},
        registry=registry, salt_source=counter_salts(),
    )
    second = make_record(
        key, node_id="az-bil-rpm-01", seq=2, prev_hash=first.record.hash, time_ms=1795000004000,
        record_type="document.check", site="AZ-BIL", clock=ClockQuality.NTP,
        body={"line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "UTO",
              "nationality": "UTO", "verdict": "refer", "reasons": ["expired"],
              "surname": "ERIKSSON", "given_names": "ANNA MARIA",
              "document_number": "L898902C3", "birth_date": "1974-08-12"},
        registry=registry, salt_source=counter_salts(),
    )
    return [
        ("radiation alarm, first record of its node", first.raw, first.disclosure_bytes),
        ("document check with selective disclosure, second record", second.raw,
         second.disclosure_bytes),
    ]


def render() -> str:
    key = SigningKey(TEST_SEED)
    out = [
        f"public key (hex)      {key.public_hex}",
        f"COSE_Key              {cose_key(key.public).hex()}",
        f"kid (RFC 9679)        {key.kid.hex()}",
        "",
    ]
    for title, raw, disclosures in examples():
        out.append(f"### {title}")
        out.append("")
        out.append("record bytes (hex):")
        out.append("")
        out.append("```")
        out.extend(raw.hex()[i:i + 96] for i in range(0, len(raw.hex()), 96))
        out.append("```")
        out.append("")
        out.append("diagnostic notation of the record, then of its payload:")
        out.append("")
        out.append("```")
        out.append(str(cbor_diag.cbor2diag(raw)))
        import cbor2
        payload = cbor2.loads(raw).value[2]
        out.append(str(cbor_diag.cbor2diag(payload)))
        out.append("```")
        out.append("")
        if disclosures:
            out.append("disclosures (diagnostic notation, then SHA-256 = a digest in label 11):")
            out.append("")
            out.append("```")
            for d in disclosures:
                out.append(f"{cbor_diag.cbor2diag(d)}")
                out.append(f"  sha256 {hashlib.sha256(d).hexdigest()}")
            out.append("```")
            out.append("")
            envelope = encode_envelope(raw, disclosures[:1])
            out.append(f"an envelope with only the first disclosure is {len(envelope)} bytes.")
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render())
