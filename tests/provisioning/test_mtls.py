"""Real mutual-TLS handshakes over gRPC on 127.0.0.1 with certificates from the CA."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest

from borderlink.provisioning.ca import CertificateAuthority, KeyType

TlsServer = Any  # conftest.TlsServer: .call(client_cert, trust=ca) -> identity URI bytes


def test_node_certificate_is_accepted_and_identified(tls_server: TlsServer) -> None:
    node = tls_server.ca.issue_node("bil-dr-01")
    assert tls_server.call(node) == b"borderlink://node/bil-dr-01"


def test_agency_certificate_is_accepted_and_identified(tls_server: TlsServer) -> None:
    agency = tls_server.ca.issue_agency("SCC")
    assert tls_server.call(agency) == b"borderlink://agency/SCC"


def test_client_certificate_of_another_ca_is_refused(tls_server: TlsServer) -> None:
    rogue_ca = CertificateAuthority.create("borderlink test CA")  # same name, other key
    rogue = rogue_ca.issue_node("bil-dr-01")
    with pytest.raises(grpc.RpcError) as err:
        tls_server.call(rogue)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_without_certificate_is_refused(tls_server: TlsServer) -> None:
    with pytest.raises(grpc.RpcError) as err:
        tls_server.call(None)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_expired_client_certificate_is_refused(tls_server: TlsServer) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = tls_server.ca.issue_node(
        "bil-dr-02", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    with pytest.raises(grpc.RpcError) as err:
        tls_server.call(expired)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # The same identity with a valid certificate gets in, so the refusal was the date.
    assert tls_server.call(tls_server.ca.issue_node("bil-dr-02")) == b"borderlink://node/bil-dr-02"


def test_client_refuses_a_hub_from_another_ca(tls_server: TlsServer) -> None:
    node = tls_server.ca.issue_node("bil-dr-01")
    with pytest.raises(grpc.RpcError) as err:
        tls_server.call(node, trust=CertificateAuthority.create("other"))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_ed25519_tls_certificates_are_refused_by_grpc(make_tls_server: Any) -> None:
    """Why TLS keys are P-256: gRPC's BoringSSL offers no Ed25519 signature algorithm for TLS.

    If a gRPC release starts accepting them this test fails, and KeyType.ED25519 may become
    usable for TLS.
    """
    ca = CertificateAuthority.create("ed25519 CA", key_type=KeyType.ED25519)
    server = make_tls_server(ca, ca.issue_hub(key_type=KeyType.ED25519))
    node = ca.issue_node("bil-rpm-01", key_type=KeyType.ED25519)
    with pytest.raises(grpc.RpcError) as err:
        server.call(node)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_p256_leaves_work_under_the_default_ca(make_tls_server: Any) -> None:
    ca = CertificateAuthority.create("second CA")
    server = make_tls_server(ca, ca.issue_hub(name="hub-2"))
    assert server.call(ca.issue_admin("tech-01")) == b"borderlink://admin/tech-01"
