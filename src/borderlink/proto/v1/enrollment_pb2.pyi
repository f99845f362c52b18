from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RenewRequest(_message.Message):
    __slots__ = ("node_id", "current_chain_pem", "tls_csr_der", "time_unix_ms", "tls_key_proof", "record_key_proof")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_CHAIN_PEM_FIELD_NUMBER: _ClassVar[int]
    TLS_CSR_DER_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TLS_KEY_PROOF_FIELD_NUMBER: _ClassVar[int]
    RECORD_KEY_PROOF_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    current_chain_pem: bytes
    tls_csr_der: bytes
    time_unix_ms: int
    tls_key_proof: bytes
    record_key_proof: bytes
    def __init__(self, node_id: _Optional[str] = ..., current_chain_pem: _Optional[bytes] = ..., tls_csr_der: _Optional[bytes] = ..., time_unix_ms: _Optional[int] = ..., tls_key_proof: _Optional[bytes] = ..., record_key_proof: _Optional[bytes] = ...) -> None: ...

class RenewResponse(_message.Message):
    __slots__ = ("certificate_chain_pem", "trust_bundle_pem")
    CERTIFICATE_CHAIN_PEM_FIELD_NUMBER: _ClassVar[int]
    TRUST_BUNDLE_PEM_FIELD_NUMBER: _ClassVar[int]
    certificate_chain_pem: bytes
    trust_bundle_pem: bytes
    def __init__(self, certificate_chain_pem: _Optional[bytes] = ..., trust_bundle_pem: _Optional[bytes] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("token_secret", "node_id", "record_public_key", "record_key_proof", "tls_csr_der")
    TOKEN_SECRET_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RECORD_KEY_PROOF_FIELD_NUMBER: _ClassVar[int]
    TLS_CSR_DER_FIELD_NUMBER: _ClassVar[int]
    token_secret: bytes
    node_id: str
    record_public_key: bytes
    record_key_proof: bytes
    tls_csr_der: bytes
    def __init__(self, token_secret: _Optional[bytes] = ..., node_id: _Optional[str] = ..., record_public_key: _Optional[bytes] = ..., record_key_proof: _Optional[bytes] = ..., tls_csr_der: _Optional[bytes] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("certificate_chain_pem", "trust_bundle_pem", "site", "agency", "hardware_profile", "hub_addresses", "enrolled_at_unix_ms")
    CERTIFICATE_CHAIN_PEM_FIELD_NUMBER: _ClassVar[int]
    TRUST_BUNDLE_PEM_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    HUB_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    certificate_chain_pem: bytes
    trust_bundle_pem: bytes
    site: str
    agency: str
    hardware_profile: str
    hub_addresses: _containers.RepeatedScalarFieldContainer[str]
    enrolled_at_unix_ms: int
    def __init__(self, certificate_chain_pem: _Optional[bytes] = ..., trust_bundle_pem: _Optional[bytes] = ..., site: _Optional[str] = ..., agency: _Optional[str] = ..., hardware_profile: _Optional[str] = ..., hub_addresses: _Optional[_Iterable[str]] = ..., enrolled_at_unix_ms: _Optional[int] = ...) -> None: ...
