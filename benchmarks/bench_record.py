"""Record make and verify rates on one core, beside raw Ed25519 in the same run.

    python benchmarks/bench_record.py [--json FILE] [-n N]

Ceilings: raw Ed25519 sign and verify through libsodium (PyNaCl) — the fastest binding
measured here — and through ``cryptography`` for reference, over a message the size of the
records' Sig_structure. Bars (issue #2): make >= 0.80 x raw sign, verify >= 0.85 x raw verify.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import nacl.bindings
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).parent))
from _common import Report, interleaved_best_rates, pin_one_core

from borderlink.proto.keys import SigningKey
from borderlink.proto.record import RecordChain, verify_record
from borderlink.proto.record_types import default_registry

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
    parser.add_argument("-n", type=int, default=5_000, help="operations per round and work")
    args = parser.parse_args()
    pin_one_core()
    n = args.n
    registry = default_registry()
    key = SigningKey.generate()
    report = Report("record (issue #2)")

    chains = {
        name: RecordChain(key, node_id="az-bil-rpm-01", site="AZ-BIL", registry=registry)
        for name in ("radiation.occupancy", "document.check")
    }
    made: dict[str, list[bytes]] = {name: [] for name in chains}

    def maker(record_type: str, body: dict) -> Callable[[int], None]:
        chain, raws = chains[record_type], made[record_type]

        def work(count: int) -> None:
            raws.clear()
            for i in range(count):
                signed = chain.prepare(record_type, body, time_ms=1_795_000_005_000 + i)
                chain.commit(signed)
                raws.append(signed.raw)
        return work

    maker("radiation.occupancy", OCCUPANCY)(10)
    occupancy_size = len(made["radiation.occupancy"][0])
    # Raw ceilings over a message as long as the records' Sig_structure.
    message = b"\x5a" * (occupancy_size - 64 + 12)
    _, secret = nacl.bindings.crypto_sign_seed_keypair(key.seed)
    signed_message = nacl.bindings.crypto_sign(message, secret)
    private = Ed25519PrivateKey.from_private_bytes(key.seed)
    public = private.public_key()
    crypto_signature = private.sign(message)

    def raw_sign(count: int) -> None:
        for _ in range(count):
            nacl.bindings.crypto_sign(message, secret)

    def raw_verify(count: int) -> None:
        for _ in range(count):
            nacl.bindings.crypto_sign_open(signed_message, key.public)

    def crypto_sign(count: int) -> None:
        for _ in range(count):
            private.sign(message)

    def crypto_verify(count: int) -> None:
        for _ in range(count):
            public.verify(crypto_signature, message)

    # Making: each round signs n records per type, and the ceilings run between them.
    rates = interleaved_best_rates({
        "raw_sign": (raw_sign, n),
        "occupancy": (maker("radiation.occupancy", OCCUPANCY), n),
        "document": (maker("document.check", DOCUMENT), n),
        "crypto_sign": (crypto_sign, n // 2),
    })
    occupancy_raws, document_raws = made["radiation.occupancy"], made["document.check"]
    document_size = len(document_raws[0])

    def verifier(raws: list[bytes]) -> Callable[[int], None]:
        sample = raws[: n // 2]

        def work(count: int) -> None:
            # Each record is a distinct object, as on the wire; results are dropped, as a
            # consumer drops a batch once it is stored.
            for raw in sample[:count]:
                verify_record(raw, key.public, registry=registry)
        return work

    rates.update(interleaved_best_rates({
        "raw_verify": (raw_verify, n // 2),
        "occupancy_verify": (verifier(occupancy_raws), n // 2),
        "document_verify": (verifier(document_raws), n // 2),
        "crypto_verify": (crypto_verify, n // 4),
    }))
    raw_sign_rate, raw_verify_rate = rates["raw_sign"], rates["raw_verify"]

    report.add("raw Ed25519 sign, cryptography", rates["crypto_sign"], "/s", "raw sign, PyNaCl",
               raw_sign_rate)
    report.add("raw Ed25519 verify, cryptography", rates["crypto_verify"], "/s",
               "raw verify, PyNaCl", raw_verify_rate)
    report.add(f"make radiation.occupancy ({occupancy_size} B)", rates["occupancy"], "/s",
               "raw sign, PyNaCl", raw_sign_rate, bar=0.80)
    report.add(f"make document.check ({document_size} B, 6 SD)", rates["document"], "/s",
               "raw sign, PyNaCl", raw_sign_rate)
    report.add("verify radiation.occupancy", rates["occupancy_verify"], "/s",
               "raw verify, PyNaCl", raw_verify_rate, bar=0.85)
    report.add("verify document.check (no disclosures)", rates["document_verify"], "/s",
               "raw verify, PyNaCl", raw_verify_rate)
    report.print()
    report.write_json(args.json)


if __name__ == "__main__":
    main()
