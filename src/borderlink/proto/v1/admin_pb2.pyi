from borderlink.proto.v1 import common_pb2 as _common_pb2
from borderlink.proto.v1 import sync_pb2 as _sync_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnrollNodeRequest(_message.Message):
    __slots__ = ("node_id", "public_key", "certificate_der", "site", "agency", "hardware_profile", "record_types")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_DER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    RECORD_TYPES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    public_key: bytes
    certificate_der: bytes
    site: str
    agency: str
    hardware_profile: str
    record_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., certificate_der: _Optional[bytes] = ..., site: _Optional[str] = ..., agency: _Optional[str] = ..., hardware_profile: _Optional[str] = ..., record_types: _Optional[_Iterable[str]] = ...) -> None: ...

class RevokeNodeRequest(_message.Message):
    __slots__ = ("node_id", "revoked_at_unix_ms", "reason")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    revoked_at_unix_ms: int
    reason: str
    def __init__(self, node_id: _Optional[str] = ..., revoked_at_unix_ms: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node_id", "public_key", "kid", "site", "agency", "hardware_profile", "enrolled_at_unix_ms", "revoked_at_unix_ms", "last_seq", "last_hash", "last_seen_unix_ms", "clock_skew_ms", "backlog", "keys", "downlink_acks", "record_types")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_HASH_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_SKEW_MS_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    DOWNLINK_ACKS_FIELD_NUMBER: _ClassVar[int]
    RECORD_TYPES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    public_key: bytes
    kid: bytes
    site: str
    agency: str
    hardware_profile: str
    enrolled_at_unix_ms: int
    revoked_at_unix_ms: int
    last_seq: int
    last_hash: bytes
    last_seen_unix_ms: int
    clock_skew_ms: int
    backlog: int
    keys: _containers.RepeatedCompositeFieldContainer[_common_pb2.NodeKey]
    downlink_acks: _containers.RepeatedCompositeFieldContainer[DownlinkAckInfo]
    record_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., kid: _Optional[bytes] = ..., site: _Optional[str] = ..., agency: _Optional[str] = ..., hardware_profile: _Optional[str] = ..., enrolled_at_unix_ms: _Optional[int] = ..., revoked_at_unix_ms: _Optional[int] = ..., last_seq: _Optional[int] = ..., last_hash: _Optional[bytes] = ..., last_seen_unix_ms: _Optional[int] = ..., clock_skew_ms: _Optional[int] = ..., backlog: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[_common_pb2.NodeKey, _Mapping]]] = ..., downlink_acks: _Optional[_Iterable[_Union[DownlinkAckInfo, _Mapping]]] = ..., record_types: _Optional[_Iterable[str]] = ...) -> None: ...

class DownlinkAckInfo(_message.Message):
    __slots__ = ("kind", "version", "applied", "message", "received_at_unix_ms")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    kind: _sync_pb2.DownlinkKind
    version: int
    applied: bool
    message: str
    received_at_unix_ms: int
    def __init__(self, kind: _Optional[_Union[_sync_pb2.DownlinkKind, str]] = ..., version: _Optional[int] = ..., applied: _Optional[bool] = ..., message: _Optional[str] = ..., received_at_unix_ms: _Optional[int] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ("site", "agency", "include_revoked")
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_REVOKED_FIELD_NUMBER: _ClassVar[int]
    site: str
    agency: str
    include_revoked: bool
    def __init__(self, site: _Optional[str] = ..., agency: _Optional[str] = ..., include_revoked: _Optional[bool] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ...) -> None: ...

class LoadPolicyRequest(_message.Message):
    __slots__ = ("policy_toml", "dry_run")
    POLICY_TOML_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    policy_toml: bytes
    dry_run: bool
    def __init__(self, policy_toml: _Optional[bytes] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class LoadPolicyResponse(_message.Message):
    __slots__ = ("policy_digest", "agencies")
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    AGENCIES_FIELD_NUMBER: _ClassVar[int]
    policy_digest: str
    agencies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, policy_digest: _Optional[str] = ..., agencies: _Optional[_Iterable[str]] = ...) -> None: ...

class PublishDownlinkRequest(_message.Message):
    __slots__ = ("downlink",)
    DOWNLINK_FIELD_NUMBER: _ClassVar[int]
    downlink: _sync_pb2.Downlink
    def __init__(self, downlink: _Optional[_Union[_sync_pb2.Downlink, _Mapping]] = ...) -> None: ...

class PublishDownlinkResponse(_message.Message):
    __slots__ = ("delivered_now",)
    DELIVERED_NOW_FIELD_NUMBER: _ClassVar[int]
    delivered_now: int
    def __init__(self, delivered_now: _Optional[int] = ...) -> None: ...
