"""``borderlink agency subscribe|query|proof`` against a real Federation service over mTLS."""

# ruff: noqa: F811 - the fixtures imported from test_federation are used as parameters

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# The in-test hub, the data set and its expectations are the service tests' own.
from test_federation import (  # noqa: F401 - fixtures
    CASES,
    ORIGIN,
    Hub,
    World,
    ca,
    certs,
    expected_labels,
    hub,
    policy,
    start_hub,
    to_new,
    world,
)

from borderlink.cli import main
from borderlink.hub.agency_cli import parse_output
from borderlink.hub.policy import Policy
from borderlink.proto.checkpoint import NoteSigner
from borderlink.proto.record_types import default_registry
from borderlink.provisioning.ca import CertificateAuthority, IssuedCertificate

REGISTRY = default_registry()


@pytest.fixture
def files(
    tmp_path: Path, ca: CertificateAuthority, certs: dict[str, IssuedCertificate]
) -> dict[str, Path]:
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    for who in ("SBS", "SCC", "SMS", "node"):
        certs[who].save(tmp_path / f"{who}.pem", tmp_path / f"{who}.key")
    return {"dir": tmp_path, "ca": tmp_path / "ca.pem"}


def agency(hub: Hub, files: dict[str, Path], who: str, action: str, *extra: str) -> list[str]:
    return [
        "agency", action, "--hub", f"127.0.0.1:{hub.port}",
        "--cert", str(files["dir"] / f"{who}.pem"), "--key", str(files["dir"] / f"{who}.key"),
        "--ca", str(files["ca"]), *extra,
    ]  # fmt: skip


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, parse_output(out), err


def check_lines(world: World, lines: list[dict], who: str) -> list[str]:
    """Every line verified, disclosed/withheld as the policy says; the labels in order."""
    labels = []
    for line in lines:
        assert line["verified"] is True, line
        # The hub's own receive time comes beside the node's claimed time.
        assert isinstance(line["received_ms"], int) and line["received_ms"] > 0
        label = world.labels[line["log_index"]]
        case = next(c for c in CASES if c.label == label)
        assert (line["type"], line["node"]) == (case.record_type, case.node)
        assert set(line["disclosed"]) == case.sees[who]
        assert set(line["withheld"]) == REGISTRY[case.record_type].sensitive - case.sees[who]
        assert not set(line["withheld"]) & set(line["body"])
        labels.append(label)
    return labels


def test_subscribe_resumes_from_its_cursor_file(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_cases(rounds=2)
    cursor_file = files["dir"] / "sms.cursor"
    seen: list[dict] = []
    for limit in ("1", "3", "0"):  # 0: no limit, to the end of the log
        args = ["--cursor-file", str(cursor_file), "--limit", limit]
        code, lines, _ = run(agency(hub, files, "SMS", "subscribe", *args), capsys)
        assert code == 0
        if limit != "0":
            assert len(lines) == int(limit)
        seen += lines
        assert int(cursor_file.read_text()) == lines[-1]["next_cursor"]
    assert [line["log_index"] for line in seen] == sorted({line["log_index"] for line in seen})
    assert len(seen) == len(expected_labels("SMS", rounds=2))
    assert check_lines(world, seen, "SMS") == expected_labels("SMS", rounds=2)
    # Nothing new: a further run prints nothing and keeps the cursor.
    code, lines, _ = run(
        agency(hub, files, "SMS", "subscribe", "--cursor-file", str(cursor_file)), capsys
    )
    assert code == 0 and lines == []


def test_query_prints_verified_lines_and_the_next_cursor(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_cases()
    code, lines, err = run(agency(hub, files, "SCC", "query", "--limit", "2"), capsys)
    assert code == 0
    assert check_lines(world, lines, "SCC") == expected_labels("SCC")[:2]
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary == {"next_cursor": lines[-1]["next_cursor"], "more": True, "records": 2}
    code, lines, _ = run(
        agency(hub, files, "SCC", "query", "--type", "lab.analysis", "--type", "call.record"),
        capsys,
    )
    assert code == 0 and [line["type"] for line in lines] == ["lab.analysis"]


def test_proof_verifies_inclusion_and_checkpoint_signature(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signer = NoteSigner.generate(ORIGIN)
    world.add_cases()
    world.checkpoint(signer)
    lab_index = world.labels.index("lab")
    keys = ["--log-key", signer.verifier.vkey, "--origin", ORIGIN]
    code, lines, _ = run(agency(hub, files, "SCC", "proof", str(lab_index), *keys), capsys)
    assert code == 0
    (line,) = lines
    assert line["log_index"] == lab_index and line["verified"]
    assert line["proof"]["checkpoint_signature"] == "verified"
    assert line["proof"]["tree_size"] == len(world.labels)
    # SMS may not see the laboratory record: no proof, exit 1.
    code, lines, err = run(agency(hub, files, "SMS", "proof", str(lab_index), *keys), capsys)
    assert code == 1 and lines == [] and "not visible" in err
    # A checkpoint checked with another log's key fails verification.
    other = ["--log-key", NoteSigner.generate(ORIGIN).verifier.vkey]
    code, lines, _ = run(agency(hub, files, "SCC", "proof", str(lab_index), *other), capsys)
    assert code == 1 and lines[0]["verified"] is False and "signature" in lines[0]["error"]
    # subscribe --proofs verifies every proof too.
    code, lines, _ = run(agency(hub, files, "SCC", "subscribe", "--proofs", *keys), capsys)
    assert code == 0 and all(line["proof"]["checkpoint_signature"] == "verified" for line in lines)
    assert check_lines(world, lines, "SCC") == expected_labels("SCC")


def test_a_tampered_record_is_reported_and_fails(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_cases()
    # A record whose signature was altered after signing, stored as if ingest had let it by.
    chain = world.node("bil-dr-01")
    signed = chain.prepare("document.check", CASES[0].body, time_ms=world.clock + 1000)
    bad = to_new(signed)
    forged = bad.record[:-1] + bytes([bad.record[-1] ^ 1])
    world.append([dataclasses.replace(bad, record=forged)])
    code, lines, _ = run(agency(hub, files, "SBS", "subscribe"), capsys)
    assert code == 1
    assert [line["verified"] for line in lines] == [True] * (len(lines) - 1) + [False]
    assert "Signature" in lines[-1]["error"] or "signature" in lines[-1]["error"]


def test_wrong_role_and_unreachable_hub(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(agency(hub, files, "node", "query"), capsys)
    assert code == 1 and "PERMISSION_DENIED" in err
    argv = agency(hub, files, "SBS", "subscribe")
    argv[argv.index("--hub") + 1] = "127.0.0.1:1"
    code, _, err = run(argv, capsys)
    assert code == 3 and "UNAVAILABLE" in err


def test_follow_reconnects_when_the_hub_restarts(
    world: World,
    policy: Policy,
    ca: CertificateAuthority,
    certs: dict[str, IssuedCertificate],
    files: dict[str, Path],
) -> None:
    world.add_cases()
    first, hub_a = start_hub(world.storage, policy, ca, certs, poll_interval_s=0.05)
    cursor_file = files["dir"] / "scc.cursor"
    total = len(expected_labels("SCC", rounds=2))
    argv = agency(hub_a, files, "SCC", "subscribe", "--follow", "--limit", str(total),
                  "--cursor-file", str(cursor_file))  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "borderlink", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second = None
    try:
        wait_until(lambda: cursor_file.exists() and int(cursor_file.read_text()) == 12)
        hub_a.servicer.stop()  # graceful shutdown: the stream ends UNAVAILABLE
        first.stop(0.5).wait()
        world.add_cases()  # logged while the hub is away
        second, _ = start_hub(
            world.storage, policy, ca, certs, port=hub_a.port, poll_interval_s=0.05
        )
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if second is not None:
            second.stop(None)
    assert proc.returncode == 0, err
    assert "reconnecting from cursor 12" in err
    lines = parse_output(out)
    assert check_lines(world, lines, "SCC") == expected_labels("SCC", rounds=2)
    assert int(cursor_file.read_text()) == len(world.labels)


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_pinned_node_keys(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_cases()
    pinned = files["dir"] / "nodes.json"
    rows = [
        {"node_id": n, "kid": c.key.kid.hex(), "site": "AZ-BIL"} for n, c in world.chains.items()
    ]
    pinned.write_text(json.dumps(rows))
    code, lines, _ = run(
        agency(hub, files, "SMS", "subscribe", "--trusted-keys", str(pinned)), capsys
    )
    assert code == 0 and check_lines(world, lines, "SMS") == expected_labels("SMS")
    assert {line["key_basis"] for line in lines} == {"pinned"}
    # The document reader's key "as the hub reports it" is not the one the agency pinned.
    for row in rows:
        if row["node_id"] == "bil-dr-01":
            row["kid"] = "00" * 32
    pinned.write_text(json.dumps(rows))
    code, lines, _ = run(
        agency(hub, files, "SMS", "subscribe", "--trusted-keys", str(pinned)), capsys
    )
    assert code == 1 and lines and all(not line["verified"] for line in lines)
    assert "pinned key id" in lines[0]["error"]


def test_records_logged_after_a_reported_compromise_are_flagged_never_dropped(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A key revoked as compromised since time T: what the hub logged from T on is shown
    with a flag, judged by the hub's receive time, not by the time the record claims."""
    world.add_cases(rounds=2)
    code, before, _ = run(agency(hub, files, "SBS", "subscribe"), capsys)
    assert code == 0 and before and not any("compromised" in line for line in before)
    assert {line["key_basis"] for line in before} == {"hub-supplied"}
    mine = [line for line in before if line["node"] == "bil-dr-01"]
    assert len(mine) >= 2
    since = mine[len(mine) // 2]["received_ms"]
    world.storage.revoke_node("bil-dr-01", revoked_at_ms=since, reason="key reported stolen")
    code, after, _ = run(agency(hub, files, "SBS", "subscribe"), capsys)
    assert code == 0 and len(after) == len(before)  # nothing withheld or dropped
    flagged = {line["log_index"] for line in after if "compromised" in line}
    expected = {line["log_index"] for line in mine if line["received_ms"] >= since}
    assert flagged == expected and 0 < len(flagged) < len(mine)
    assert all(line["verified"] for line in after)
    assert all(line["compromised"]["since_ms"] == since for line in after if "compromised" in line)


def test_subscribe_falls_back_to_one_record_per_message(
    world: World,
    policy: Policy,
    ca: CertificateAuthority,
    certs: dict[str, IssuedCertificate],
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Against a hub that predates SubscribeBatches (UNIMPLEMENTED), the same lines arrive."""
    from concurrent import futures

    import grpc

    from borderlink.hub.federation_service import SERVICE, FederationServicer
    from borderlink.proto.v1 import federation_pb2

    world.add_cases(rounds=2)
    servicer = FederationServicer(world.storage, policy, page_records=5)
    old_hub = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Subscribe": grpc.unary_stream_rpc_method_handler(
                servicer.Subscribe,
                request_deserializer=federation_pb2.SubscribeRequest.FromString,
                response_serializer=lambda b: b,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((old_hub,))
    creds = grpc.ssl_server_credentials(
        [(certs["hub"].key_pem(), certs["hub"].cert_pem)],
        root_certificates=ca.cert_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    try:
        old = Hub(port, servicer, ca, certs)
        code, lines, err = run(agency(old, files, "SCC", "subscribe"), capsys)
    finally:
        servicer.stop()
        server.stop(None)
    assert code == 0, err
    assert check_lines(world, lines, "SCC") == expected_labels("SCC", rounds=2)


def test_records_of_a_reenrolled_node_verify_with_the_key_that_signed_them(
    world: World, hub: Hub, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    doc = CASES[0]  # document.check of bil-dr-01: SBS sees it
    for _ in range(2):
        world.add(doc.node, doc.record_type, doc.body, doc.label)
    old = world.chains[doc.node].key
    new = world.rekey(doc.node)
    for _ in range(2):
        world.add(doc.node, doc.record_type, doc.body, doc.label)
    for action in ("subscribe", "query"):
        code, lines, _ = run(agency(hub, files, "SBS", action), capsys)
        assert code == 0 and check_lines(world, lines, "SBS") == [doc.label] * 4
    # Pinned as `hub nodes --json` lists the node: its current kid and its key history.
    pinned = files["dir"] / "nodes.json"
    history = [{"kid": old.kid.hex(), "public_key": old.public.hex()}, {"kid": new.kid.hex()}]
    pinned.write_text(json.dumps([{"node_id": doc.node, "kid": new.kid.hex(), "keys": history}]))
    code, lines, _ = run(
        agency(hub, files, "SBS", "subscribe", "--trusted-keys", str(pinned)), capsys
    )
    assert code == 0 and check_lines(world, lines, "SBS") == [doc.label] * 4
    # Only the new key pinned: the records signed with the old one are not trusted.
    pinned.write_text(json.dumps([{"node_id": doc.node, "kid": new.kid.hex()}]))
    code, lines, _ = run(
        agency(hub, files, "SBS", "subscribe", "--trusted-keys", str(pinned)), capsys
    )
    assert code == 1 and [line["verified"] for line in lines] == [False, False, True, True]
    assert "pinned key id" in lines[0]["error"]
