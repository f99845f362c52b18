from borderlink.proto.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeRequest(_message.Message):
    __slots__ = ("filter", "cursor", "follow", "include_inclusion_proof")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    filter: _common_pb2.RecordFilter
    cursor: int
    follow: bool
    include_inclusion_proof: bool
    def __init__(self, filter: _Optional[_Union[_common_pb2.RecordFilter, _Mapping]] = ..., cursor: _Optional[int] = ..., follow: _Optional[bool] = ..., include_inclusion_proof: _Optional[bool] = ...) -> None: ...

class FederatedRecord(_message.Message):
    __slots__ = ("log_index", "record", "disclosures", "node_key", "inclusion_proof", "next_cursor", "received_at_unix_ms")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DISCLOSURES_FIELD_NUMBER: _ClassVar[int]
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    record: bytes
    disclosures: _containers.RepeatedScalarFieldContainer[bytes]
    node_key: _common_pb2.NodeKey
    inclusion_proof: _common_pb2.InclusionProof
    next_cursor: int
    received_at_unix_ms: int
    def __init__(self, log_index: _Optional[int] = ..., record: _Optional[bytes] = ..., disclosures: _Optional[_Iterable[bytes]] = ..., node_key: _Optional[_Union[_common_pb2.NodeKey, _Mapping]] = ..., inclusion_proof: _Optional[_Union[_common_pb2.InclusionProof, _Mapping]] = ..., next_cursor: _Optional[int] = ..., received_at_unix_ms: _Optional[int] = ...) -> None: ...

class FederatedBatch(_message.Message):
    __slots__ = ("records", "next_cursor")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[FederatedRecord]
    next_cursor: int
    def __init__(self, records: _Optional[_Iterable[_Union[FederatedRecord, _Mapping]]] = ..., next_cursor: _Optional[int] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("filter", "cursor", "limit", "include_inclusion_proof")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    filter: _common_pb2.RecordFilter
    cursor: int
    limit: int
    include_inclusion_proof: bool
    def __init__(self, filter: _Optional[_Union[_common_pb2.RecordFilter, _Mapping]] = ..., cursor: _Optional[int] = ..., limit: _Optional[int] = ..., include_inclusion_proof: _Optional[bool] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("records", "next_cursor", "more")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[FederatedRecord]
    next_cursor: int
    more: bool
    def __init__(self, records: _Optional[_Iterable[_Union[FederatedRecord, _Mapping]]] = ..., next_cursor: _Optional[int] = ..., more: _Optional[bool] = ...) -> None: ...
