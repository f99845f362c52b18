"""One agency subscription: records per second delivered through the policy, beside raw gRPC.

    python benchmarks/bench_federation.py [--records 100000] [--agency SBS] [--repeats 3]
                                          [--json FILE]

A SQLite store is filled with real signed records (a border-crossing mix: document checks,
radiation occupancies and alarms, intrusion alerts, laboratory analyses, call records) and
served by the Federation servicer under the shipped example policy, over mutual TLS on
127.0.0.1, from a separate process (the hub), to one subscribing client in this process.

Figures:
  * ``federation_subscribe`` — records delivered per second to one agency subscription
    (storage pages read, types the agency may not see left out of the query, conditional
    grants decided on the record body, disclosures filtered, each record framed with its
    node key); the client receives the raw messages. Bar (issue 3): >= 100,000 records/s.
  * ceiling ``raw_grpc_stream`` — the same number of ``bytes`` messages of the same average
    size streamed by a gRPC handler from a list in memory, same process layout, same mTLS.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from _common import Report  # benchmarks/_common.py

T0 = 1_795_000_000_000
EXAMPLE_POLICY = Path(__file__).parents[1] / "hub" / "policies" / "example-policy.toml"
RAW_METHOD = "/bench.Raw/Stream"
SUBSCRIBE = "/borderlink.v1.Federation/Subscribe"


def _identity(b: bytes) -> bytes:
    return b


# --------------------------------------------------------------------------- data


def fill_store(path: Path, n: int) -> None:
    """*n* signed records of a realistic mix, appended in batches as ingest would."""
    from borderlink.hub.storage import NewDisclosure, NewRecord, NodeEnrollment, open_storage
    from borderlink.proto.keys import SigningKey
    from borderlink.proto.record import RecordChain
    from borderlink.proto.record_types import default_registry

    registry = default_registry()
    store = open_storage(f"sqlite:///{path}")
    doc = {"line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "AZE",
           "nationality": "AZE", "verdict": "clear", "reasons": [], "surname": "ALIYEV",
           "given_names": "RASHAD", "document_number": "C01234567", "birth_date": "1980-02-03",
           "mrz": ["P<AZEALIYEV<<RASHAD<<<<<<<<<<<<<<<<<<<<<<<<<",
                   "C012345678AZE8002031M3001019<<<<<<<<<<<<<<02"]}  # fmt: skip
    occ = {"lane": "L1", "start_ms": T0, "end_ms": T0 + 4000, "gamma_counts": 900,
           "gamma_background_cps": 210.0, "neutron_counts": 2, "neutron_background_cps": 0.4,
           "max_sigma": 1.2, "alarm": False, "plate": "10-AB-123"}  # fmt: skip
    alarm = {"lane": "L1", "kind": "gamma", "nuisance": False, "sigma": 9.5,
             "threshold_cps": 300.0, "start_ms": T0, "end_ms": T0 + 4000, "plate": "10-AB-123"}  # fmt: skip
    intr = {"sector": "S-7", "sensors": ["s1", "s2"], "class": "person", "direction": "in",
            "speed_mps": 1.4, "first_ms": T0, "last_ms": T0 + 30_000}  # fmt: skip
    lab = {"case_id": "SZ-1", "sample_id": "S1", "instrument": "GCMS", "method": "GC-MS",
           "findings": [], "controlled_found": False, "analyst": "N. M."}  # fmt: skip
    call = {"exchange": "BIL", "start_ms": T0, "duration_s": 62.0, "result": "answered",
            "calling_number": "+994501112233", "called_number": "+994125556677"}  # fmt: skip
    # (node, type, body, share of the log in tenths)
    mix = [("dr-1", "document.check", doc, 4), ("dr-2", "document.check", doc, 2),
           ("rpm-1", "radiation.occupancy", occ, 1), ("rpm-1", "radiation.alarm", alarm, 1),
           ("ugs-1", "intrusion.alert", intr, 1), ("tel-1", "call.record", call, 1)]  # fmt: skip
    schedule = [m for m in mix for _ in range(m[3])]
    chains: dict[str, RecordChain] = {}
    for node in dict.fromkeys(m[0] for m in mix):
        key = SigningKey.generate()
        store.enroll_node(
            NodeEnrollment(node, key.public, key.kid, "AZ-BIL", "SBS", "bench"), enrolled_at_ms=T0
        )
        chains[node] = RecordChain(key, node_id=node, site="AZ-BIL", registry=registry)
    batch: list[Any] = []
    for i in range(n):
        node, rtype, body, _ = schedule[i % len(schedule)]
        if i % 5000 == 4999:
            rtype, body = "lab.analysis", lab  # a few records SBS never sees
        chain = chains[node]
        signed = chain.prepare(rtype, body, time_ms=T0 + i)
        chain.commit(signed)
        r = signed.record
        batch.append(
            NewRecord(
                r.node_id, r.seq, r.prev_hash, r.raw, r.record_type, r.agency, r.site, r.time_ms,
                tuple(NewDisclosure(d.digest, d.field, d.raw) for d in signed.disclosures),
            )
        )
        if len(batch) == 256:
            store.append_records(batch, received_ms=T0 + i)
            batch = []
    if batch:
        store.append_records(batch, received_ms=T0 + n)
    store.close()


# --------------------------------------------------------------------------- servers




def serve(kind: str, store_path: str, pki: dict[str, bytes], n_raw: int, size: int,
          ready: Any, stop: Any) -> None:  # fmt: skip
    """The hub process: the Federation servicer (kind "federation") or the raw ceiling."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if kind == "federation":
        from borderlink.hub.federation_service import FederationServicer, add_federation_servicer
        from borderlink.hub.policy import load_policy
        from borderlink.hub.storage import open_storage

        store = open_storage(f"sqlite:///{store_path}")
        add_federation_servicer(FederationServicer(store, load_policy(EXAMPLE_POLICY)), server)
    else:
        payloads = [bytes([i % 251]) * size for i in range(n_raw)]

        def stream(request: bytes, context: grpc.ServicerContext) -> Any:
            yield from payloads

        handler = grpc.method_handlers_generic_handler(
            "bench.Raw",
            {
                "Stream": grpc.unary_stream_rpc_method_handler(
                    stream, request_deserializer=_identity, response_serializer=_identity
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials(
        [(pki["hub_key"], pki["hub_cert"])],
        root_certificates=pki["ca"],
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    ready.put(port)
    stop.wait()
    server.stop(None)


def drain(channel: grpc.Channel, method: str, request: bytes) -> tuple[int, int, float]:
    """(messages, bytes, seconds) of one whole server stream."""
    call = channel.unary_stream(method, request_serializer=_identity, response_deserializer=_identity)
    start = time.perf_counter()
    count = total = 0
    for message in call(request, timeout=600):
        count += 1
        total += len(message)
    return count, total, time.perf_counter() - start


def run_server(kind: str, store: Path, pki: dict[str, bytes], n_raw: int = 0, size: int = 0) -> tuple[Any, Any, int]:  # fmt: skip
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=serve, args=(kind, str(store), pki, n_raw, size, ready, stop))
    proc.start()
    return proc, stop, ready.get(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--agency", default="SBS", choices=["SBS", "SCC", "SMS"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from borderlink.proto.v1 import federation_pb2
    from borderlink.provisioning.ca import CertificateAuthority

    ca = CertificateAuthority.create("bench CA")
    hub, client = ca.issue_hub(), ca.issue_agency(args.agency)
    pki = {"ca": ca.cert_pem, "hub_key": hub.key_pem(), "hub_cert": hub.cert_pem}
    creds = grpc.ssl_channel_credentials(ca.cert_pem, client.key_pem(), client.cert_pem)
    options = [("grpc.max_receive_message_length", 4 * 1024 * 1024)]

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "hub.db"
        t = time.perf_counter()
        fill_store(store, args.records)
        print(f"filled {args.records:,} signed records in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)  # fmt: skip

        proc, stop, port = run_server("federation", store, pki)
        best_fed, delivered, size = 0.0, 0, 0
        try:
            request = federation_pb2.SubscribeRequest(cursor=0).SerializeToString()
            for _ in range(args.repeats):
                with grpc.secure_channel(f"127.0.0.1:{port}", creds, options) as channel:
                    count, nbytes, seconds = drain(channel, SUBSCRIBE, request)
                delivered, size = count, nbytes // max(1, count)
                best_fed = max(best_fed, count / seconds)
        finally:
            stop.set()
            proc.join()

        proc, stop, port = run_server("raw", store, pki, delivered, size)
        best_raw = 0.0
        try:
            for _ in range(args.repeats):
                with grpc.secure_channel(f"127.0.0.1:{port}", creds, options) as channel:
                    count, _, seconds = drain(channel, RAW_METHOD, b"")
                assert count == delivered
                best_raw = max(best_raw, count / seconds)
        finally:
            stop.set()
            proc.join()

    report = Report("bench_federation")
    report.add(
        f"federation_subscribe {args.agency} ({delivered:,} of {args.records:,}, {size} B)",
        best_fed, "r/s", "raw_grpc_stream (same n, size)", best_raw,
    )  # fmt: skip
    report.print()
    bar = 100_000
    verdict = "meets" if best_fed >= bar else "BELOW"
    print(f"\nbar: >= {bar:,} records/s delivered -> {best_fed:,.0f} ({verdict})")
    report.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
