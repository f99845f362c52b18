from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("record", "disclosures")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DISCLOSURES_FIELD_NUMBER: _ClassVar[int]
    record: bytes
    disclosures: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, record: _Optional[bytes] = ..., disclosures: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RecordFilter(_message.Message):
    __slots__ = ("types", "sites", "since_unix_ms", "until_unix_ms", "node_ids")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    sites: _containers.RepeatedScalarFieldContainer[str]
    since_unix_ms: int
    until_unix_ms: int
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, types: _Optional[_Iterable[str]] = ..., sites: _Optional[_Iterable[str]] = ..., since_unix_ms: _Optional[int] = ..., until_unix_ms: _Optional[int] = ..., node_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeKey(_message.Message):
    __slots__ = ("node_id", "public_key", "kid", "enrolled_at_unix_ms", "revoked_at_unix_ms")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    public_key: bytes
    kid: bytes
    enrolled_at_unix_ms: int
    revoked_at_unix_ms: int
    def __init__(self, node_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., kid: _Optional[bytes] = ..., enrolled_at_unix_ms: _Optional[int] = ..., revoked_at_unix_ms: _Optional[int] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("log_index", "tree_size", "leaf_hash", "hashes", "checkpoint")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: Checkpoint
    def __init__(self, log_index: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("signed_note", "origin", "tree_size", "root_hash", "time_unix_ms")
    SIGNED_NOTE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    signed_note: bytes
    origin: str
    tree_size: int
    root_hash: bytes
    time_unix_ms: int
    def __init__(self, signed_note: _Optional[bytes] = ..., origin: _Optional[str] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ..., time_unix_ms: _Optional[int] = ...) -> None: ...
