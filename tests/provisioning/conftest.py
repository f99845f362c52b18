"""Shared TLS fixtures: a CA, a loopback gRPC server that requires client certificates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc
import pytest

from borderlink.provisioning.ca import (
    CertificateAuthority,
    IssuedCertificate,
    cert_from_pem,
    identity_of,
)

WHOAMI = "/borderlink.test.Echo/WhoAmI"


def _whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
    """Answers with the identity URI of the peer's certificate, as the hub will read it."""
    pem = context.auth_context()["x509_pem_cert"][0]
    return identity_of(cert_from_pem(pem)).uri.encode()


@dataclass
class TlsServer:
    port: int
    ca: CertificateAuthority

    def call(
        self, client: IssuedCertificate | None, *, trust: CertificateAuthority | None = None
    ) -> bytes:
        """One unary call over mutual TLS; raises grpc.RpcError when the handshake fails."""
        creds = grpc.ssl_channel_credentials(
            root_certificates=(trust or self.ca).cert_pem,
            private_key=client.key_pem() if client else None,
            certificate_chain=client.cert_pem if client else None,
        )
        with grpc.secure_channel(f"127.0.0.1:{self.port}", creds) as channel:
            return channel.unary_unary(WHOAMI)(b"", timeout=5)


def start_tls_server(ca: CertificateAuthority, hub: IssuedCertificate) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "borderlink.test.Echo", {"WhoAmI": grpc.unary_unary_rpc_method_handler(_whoami)}
    )
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials(
        [(hub.key_pem(), hub.cert_pem)], root_certificates=ca.cert_pem, require_client_auth=True
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, port


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("borderlink test CA")


@pytest.fixture(scope="module")
def tls_server(ca: CertificateAuthority) -> Iterator[TlsServer]:
    server, port = start_tls_server(ca, ca.issue_hub())
    try:
        yield TlsServer(port, ca)
    finally:
        server.stop(None)


@pytest.fixture
def make_tls_server() -> Iterator[Callable[[CertificateAuthority, IssuedCertificate], TlsServer]]:
    """Factory of further servers (other CAs, other key types), stopped after the test."""
    servers: list[grpc.Server] = []

    def make(ca: CertificateAuthority, hub: IssuedCertificate) -> TlsServer:
        server, port = start_tls_server(ca, hub)
        servers.append(server)
        return TlsServer(port, ca)

    yield make
    for server in servers:
        server.stop(None)
