"""borderlink.proto — the contract every part shares.

The record codec (COSE_Sign1 over deterministic CBOR, Ed25519), selective disclosure, the
record-type registry, hash chains, keys, Merkle-log math and the gRPC contract. Imports
nothing else of borderlink's.
"""
