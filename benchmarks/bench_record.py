"""Record make and verify rates on one core, beside raw Ed25519 in the same run.

    python benchmarks/bench_record.py [--json FILE] [-n N]

Ceilings: raw Ed25519 sign and verify through libsodium (PyNaCl) — the fastest binding
measured here — and through ``cryptography`` for reference, over a message the size of the
records' Sig_structure. Bars (issue #2): make >= 0.80 x raw sign, verify >= 0.85 x raw verify.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nacl.bindings
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).parent))
from _common import Report, best_rate, pin_one_core  # noqa: E402

from borderlink.proto.keys import SigningKey  # noqa: E402
from borderlink.proto.record import RecordChain, verify_record  # noqa: E402
from borderlink.proto.record_types import default_registry  # noqa: E402

# A radiation-portal occupancy: the commonest record of the pilot (one per vehicle per lane).
OCCUPANCY = {
    "lane": "L2", "start_ms": 1_795_000_000_000, "end_ms": 1_795_000_004_200,
    "gamma_counts": 48_211, "gamma_background_cps": 1201.5, "neutron_counts": 12,
    "neutron_background_cps": 2.5, "max_sigma": 1.7, "alarm": False,
}
# A document check: six sensitive fields, so six disclosures with fresh salts per record.
DOCUMENT = {
    "line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "AZE",
    "nationality": "AZE", "verdict": "clear", "reasons": [], "sex": "M", "expiry": "2031-05-01",
    "surname": "MAMMADOV", "given_names": "ELVIN", "document_number": "C01234567",
    "birth_date": "1985-02-03",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="add the figures to this JSON file")
    parser.add_argument("-n", type=int, default=20_000, help="operations per repetition")
    args = parser.parse_args()
    pin_one_core()
    n = args.n
    registry = default_registry()
    key = SigningKey.generate()
    report = Report("record (issue #2)")

    def made(record_type: str, body: dict) -> tuple[float, list[bytes], int]:
        chain = RecordChain(key, node_id="az-bil-rpm-01", site="AZ-BIL", registry=registry)
        raws: list[bytes] = []

        def work(count: int) -> None:
            raws.clear()
            for i in range(count):
                signed = chain.prepare(record_type, body, time_ms=1_795_000_005_000 + i)
                chain.commit(signed)
                raws.append(signed.raw)

        rate = best_rate(work, n)
        return rate, list(raws), len(raws[0])

    occupancy_rate, occupancy_raws, occupancy_size = made("radiation.occupancy", OCCUPANCY)
    document_rate, document_raws, document_size = made("document.check", DOCUMENT)

    # Raw ceilings over a message as long as the records' Sig_structure.
    message = b"\x5a" * (occupancy_size - 64 + 12)
    _, secret = nacl.bindings.crypto_sign_seed_keypair(key.seed)
    signature = nacl.bindings.crypto_sign(message, secret)[:64]
    signed_message = signature + message
    raw_sign = best_rate(lambda c: [nacl.bindings.crypto_sign(message, secret) for _ in range(c)], n)
    raw_verify = best_rate(
        lambda c: [nacl.bindings.crypto_sign_open(signed_message, key.public) for _ in range(c)], n // 2)
    private = Ed25519PrivateKey.from_private_bytes(key.seed)
    public = private.public_key()
    crypto_signature = private.sign(message)
    crypto_sign = best_rate(lambda c: [private.sign(message) for _ in range(c)], n // 2)
    crypto_verify = best_rate(
        lambda c: [public.verify(crypto_signature, message) for _ in range(c)], n // 4)

    def verify_rate(raws: list[bytes]) -> float:
        sample = raws[: n // 2]
        return best_rate(lambda c: [verify_record(r, key.public, registry=registry)
                                    for r in sample[:c]], len(sample))

    occupancy_verify = verify_rate(occupancy_raws)
    document_verify = verify_rate(document_raws)

    report.add("raw Ed25519 sign, cryptography", crypto_sign, "/s", "raw sign, PyNaCl", raw_sign)
    report.add("raw Ed25519 verify, cryptography", crypto_verify, "/s", "raw verify, PyNaCl",
               raw_verify)
    report.add(f"make radiation.occupancy ({occupancy_size} B)", occupancy_rate, "/s",
               "raw sign, PyNaCl", raw_sign, bar=0.80)
    report.add(f"make document.check ({document_size} B, 6 SD)", document_rate, "/s",
               "raw sign, PyNaCl", raw_sign)
    report.add("verify radiation.occupancy", occupancy_verify, "/s", "raw verify, PyNaCl",
               raw_verify, bar=0.85)
    report.add("verify document.check (no disclosures)", document_verify, "/s",
               "raw verify, PyNaCl", raw_verify)
    report.print()
    report.write_json(args.json)


if __name__ == "__main__":
    main()
