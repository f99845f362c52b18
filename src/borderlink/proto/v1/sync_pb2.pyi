from borderlink.proto.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RejectReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECT_REASON_UNSPECIFIED: _ClassVar[RejectReason]
    REJECT_REASON_MALFORMED: _ClassVar[RejectReason]
    REJECT_REASON_BAD_SIGNATURE: _ClassVar[RejectReason]
    REJECT_REASON_UNKNOWN_NODE: _ClassVar[RejectReason]
    REJECT_REASON_REVOKED: _ClassVar[RejectReason]
    REJECT_REASON_CHAIN_GAP: _ClassVar[RejectReason]
    REJECT_REASON_CHAIN_MISMATCH: _ClassVar[RejectReason]
    REJECT_REASON_EQUIVOCATION: _ClassVar[RejectReason]
    REJECT_REASON_INVALID_BODY: _ClassVar[RejectReason]
    REJECT_REASON_OVERSIZED: _ClassVar[RejectReason]
    REJECT_REASON_BAD_DISCLOSURE: _ClassVar[RejectReason]
    REJECT_REASON_WRONG_SITE: _ClassVar[RejectReason]
    REJECT_REASON_WRONG_AGENCY: _ClassVar[RejectReason]
    REJECT_REASON_TYPE_NOT_ALLOWED: _ClassVar[RejectReason]
    REJECT_REASON_TIME_IN_FUTURE: _ClassVar[RejectReason]
    REJECT_REASON_TIME_BEFORE_PREVIOUS: _ClassVar[RejectReason]

class DownlinkKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOWNLINK_KIND_UNSPECIFIED: _ClassVar[DownlinkKind]
    DOWNLINK_KIND_WATCHLIST: _ClassVar[DownlinkKind]
    DOWNLINK_KIND_CONFIG: _ClassVar[DownlinkKind]
    DOWNLINK_KIND_FIRMWARE: _ClassVar[DownlinkKind]
REJECT_REASON_UNSPECIFIED: RejectReason
REJECT_REASON_MALFORMED: RejectReason
REJECT_REASON_BAD_SIGNATURE: RejectReason
REJECT_REASON_UNKNOWN_NODE: RejectReason
REJECT_REASON_REVOKED: RejectReason
REJECT_REASON_CHAIN_GAP: RejectReason
REJECT_REASON_CHAIN_MISMATCH: RejectReason
REJECT_REASON_EQUIVOCATION: RejectReason
REJECT_REASON_INVALID_BODY: RejectReason
REJECT_REASON_OVERSIZED: RejectReason
REJECT_REASON_BAD_DISCLOSURE: RejectReason
REJECT_REASON_WRONG_SITE: RejectReason
REJECT_REASON_WRONG_AGENCY: RejectReason
REJECT_REASON_TYPE_NOT_ALLOWED: RejectReason
REJECT_REASON_TIME_IN_FUTURE: RejectReason
REJECT_REASON_TIME_BEFORE_PREVIOUS: RejectReason
DOWNLINK_KIND_UNSPECIFIED: DownlinkKind
DOWNLINK_KIND_WATCHLIST: DownlinkKind
DOWNLINK_KIND_CONFIG: DownlinkKind
DOWNLINK_KIND_FIRMWARE: DownlinkKind

class EdgeMessage(_message.Message):
    __slots__ = ("hello", "batch", "downlink_ack")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    DOWNLINK_ACK_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    batch: RecordBatch
    downlink_ack: DownlinkAck
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., batch: _Optional[_Union[RecordBatch, _Mapping]] = ..., downlink_ack: _Optional[_Union[DownlinkAck, _Mapping]] = ...) -> None: ...

class HubMessage(_message.Message):
    __slots__ = ("resume", "ack", "reject", "downlink")
    RESUME_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    DOWNLINK_FIELD_NUMBER: _ClassVar[int]
    resume: Resume
    ack: Ack
    reject: Reject
    downlink: Downlink
    def __init__(self, resume: _Optional[_Union[Resume, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., reject: _Optional[_Union[Reject, _Mapping]] = ..., downlink: _Optional[_Union[Downlink, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("node_id", "last_journal_seq", "node_time_unix_ms", "agent_version", "downlink_versions")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_JOURNAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    NODE_TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DOWNLINK_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    last_journal_seq: int
    node_time_unix_ms: int
    agent_version: str
    downlink_versions: _containers.RepeatedCompositeFieldContainer[DownlinkVersion]
    def __init__(self, node_id: _Optional[str] = ..., last_journal_seq: _Optional[int] = ..., node_time_unix_ms: _Optional[int] = ..., agent_version: _Optional[str] = ..., downlink_versions: _Optional[_Iterable[_Union[DownlinkVersion, _Mapping]]] = ...) -> None: ...

class Resume(_message.Message):
    __slots__ = ("next_seq", "hub_time_unix_ms", "last_hash", "max_batch_records", "max_batch_bytes", "max_in_flight_batches")
    NEXT_SEQ_FIELD_NUMBER: _ClassVar[int]
    HUB_TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_HASH_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_BATCHES_FIELD_NUMBER: _ClassVar[int]
    next_seq: int
    hub_time_unix_ms: int
    last_hash: bytes
    max_batch_records: int
    max_batch_bytes: int
    max_in_flight_batches: int
    def __init__(self, next_seq: _Optional[int] = ..., hub_time_unix_ms: _Optional[int] = ..., last_hash: _Optional[bytes] = ..., max_batch_records: _Optional[int] = ..., max_batch_bytes: _Optional[int] = ..., max_in_flight_batches: _Optional[int] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("batch_id", "envelopes")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    envelopes: _containers.RepeatedCompositeFieldContainer[_common_pb2.Envelope]
    def __init__(self, batch_id: _Optional[int] = ..., envelopes: _Optional[_Iterable[_Union[_common_pb2.Envelope, _Mapping]]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("batch_id", "highest_contiguous_seq")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    HIGHEST_CONTIGUOUS_SEQ_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    highest_contiguous_seq: int
    def __init__(self, batch_id: _Optional[int] = ..., highest_contiguous_seq: _Optional[int] = ...) -> None: ...

class Reject(_message.Message):
    __slots__ = ("batch_id", "index_in_batch", "seq", "reason", "message")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_IN_BATCH_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    index_in_batch: int
    seq: int
    reason: RejectReason
    message: str
    def __init__(self, batch_id: _Optional[int] = ..., index_in_batch: _Optional[int] = ..., seq: _Optional[int] = ..., reason: _Optional[_Union[RejectReason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class DownlinkVersion(_message.Message):
    __slots__ = ("kind", "version")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    kind: DownlinkKind
    version: int
    def __init__(self, kind: _Optional[_Union[DownlinkKind, str]] = ..., version: _Optional[int] = ...) -> None: ...

class Downlink(_message.Message):
    __slots__ = ("kind", "version", "signed_payload", "target")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SIGNED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    kind: DownlinkKind
    version: int
    signed_payload: bytes
    target: str
    def __init__(self, kind: _Optional[_Union[DownlinkKind, str]] = ..., version: _Optional[int] = ..., signed_payload: _Optional[bytes] = ..., target: _Optional[str] = ...) -> None: ...

class DownlinkAck(_message.Message):
    __slots__ = ("kind", "version", "applied", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: DownlinkKind
    version: int
    applied: bool
    message: str
    def __init__(self, kind: _Optional[_Union[DownlinkKind, str]] = ..., version: _Optional[int] = ..., applied: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...
