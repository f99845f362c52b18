"""The Federation service: agencies read the log through their policy, over mutual TLS.

Two layers, as everywhere in borderlink:

* :class:`FederationView` is the core. Given the agency, its :class:`~borderlink.hub.policy.Policy`
  and a request filter it reads pages from a :class:`~borderlink.hub.storage.Storage`, decides
  for each record whether the agency may see it and which disclosures go with it, and returns
  each ``FederatedRecord`` already encoded (protobuf wire bytes). It holds no socket, no
  thread, no gRPC object; tests drive it directly.
* :class:`FederationServicer` is the gRPC shell: it reads the agency from the peer
  certificate (URI SAN ``borderlink://agency/<SBS|SCC|SMS>``), runs ``Subscribe`` (a paging
  loop that follows the log live; ``SubscribeBatches`` the same, one page per message) and
  ``Query``, and maps errors to status codes. Register
  it with :func:`add_federation_servicer` (not the generated ``add_FederationServicer_to_server``):
  the responses are pre-encoded bytes, so the handlers pass them through unserialised.

Cursors are log indexes, as ``federation.proto`` defines them: ``FederatedRecord.next_cursor``
is past the record and past every record after it that this subscription would not deliver,
so resuming from the last ``next_cursor`` received neither repeats nor loses a record — log
indexes are contiguous and committed in order (see ``hub/storage/interface.py``). A cursor
beyond the log was never issued by the hub and is refused (``OUT_OF_RANGE``). A cursor grants
nothing by itself: every page is filtered by the policy of the certificate asking, so a cursor
copied from another agency reads exactly what the holder's own policy allows.

Policy is enforced per page and per record: record types the agency may not see are left out
of the storage query (never read), records whose grant conditions fail are skipped silently
(never errors, so an agency cannot probe what it does not see), and only the disclosures of
granted fields are attached. The hub verified every record at ingest; it never re-verifies
on the way out — the agency does, with the ``NodeKey`` sent beside each record: the key whose
kid the record's protected header names, so records a node signed before it was revoked and
re-enrolled with a new key come with the old key (and its revocation date).

Inclusion proofs (``include_inclusion_proof``) are against the latest signed checkpoint: the
stream then delivers records only up to that checkpoint's tree size and follows as new
checkpoints are published, so every proof verifies against a signed tree head.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import grpc

from borderlink.hub.errors import CursorError, FederationError, StorageError
from borderlink.hub.metrics import HubMetrics
from borderlink.hub.policy import DENY_ALL, AgencyPolicy, Policy, TypeAccess
from borderlink.hub.storage import CheckpointRow, RecordFilter, Storage
from borderlink.hub.stream_slots import StreamSlots
from borderlink.proto import merkle
from borderlink.proto.cose import decode_sign1, protected_header
from borderlink.proto.errors import RecordDecodeError
from borderlink.proto.identity import Identity, IdentityError, Role, identity_of_pem
from borderlink.proto.v1 import MAX_QUERY_LIMIT, common_pb2, federation_pb2

log = logging.getLogger(__name__)

SERVICE = "borderlink.v1.Federation"
#: Records read from storage per page.
PAGE_RECORDS = 1000
#: Seconds between looks at the log while following and no notifier wakes us.
POLL_INTERVAL_S = 0.25
#: Seconds a cached node key stays valid (a revocation shows within this delay).
NODE_CACHE_S = 5.0
#: Pages a subscription reads ahead of what gRPC has sent (0: read inline).
PREFETCH_PAGES = 2
#: Federation streams one agency may hold open at once (a feed per consumer, a few replicas);
#: more are refused RESOURCE_EXHAUSTED (``[limits] max_streams_per_agency``).
MAX_STREAMS_PER_AGENCY = 8
#: Query examines at most this many pages before answering (``more`` is then true).
QUERY_MAX_PAGES = 10

_PAYLOAD_BODY = 10  # record payload label of the body (borderlink.proto.record.PayloadLabel)


# --------------------------------------------------------------------------- wire encoding


def _varint_slow(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


#: Varints of 0 .. 2**14 - 1 (lengths of records and disclosures), precomputed.
_SMALL_VARINTS = tuple(_varint_slow(i) for i in range(1 << 14))


def _varint(value: int) -> bytes:
    if value < 16384:
        return _SMALL_VARINTS[value]
    if value < 0x200000:  # three bytes: log indexes up to 2 million
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
    if value < 0x10000000:  # four bytes: up to 268 million
        return bytes(
            (
                (value & 0x7F) | 0x80,
                ((value >> 7) & 0x7F) | 0x80,
                ((value >> 14) & 0x7F) | 0x80,
                value >> 21,
            )
        )
    return _varint_slow(value)


def _field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited protobuf field: tag byte, length, bytes."""
    return tag + _varint(len(data)) + data


def encode_federated_record(
    log_index: int,
    record: bytes,
    disclosures: Sequence[bytes],
    node_key_field: bytes,
    proof: bytes,
    next_cursor: int,
) -> bytes:
    """``FederatedRecord`` wire bytes (fields 1..6); *node_key_field* is already framed
    (``0x22 len NodeKey``) and *proof* is an encoded ``InclusionProof`` or empty."""
    varint = _varint
    parts = [b"\x08", varint(log_index)] if log_index else []
    parts += (b"\x12", varint(len(record)), record)
    for d in disclosures:
        parts += (b"\x1a", varint(len(d)), d)
    if node_key_field:
        parts.append(node_key_field)
    if proof:
        parts += (b"\x2a", varint(len(proof)), proof)
    if next_cursor:
        parts += (b"\x30", varint(next_cursor))
    return b"".join(parts)


def encode_query_response(records: Sequence[bytes], next_cursor: int, more: bool) -> bytes:
    """``QueryResponse`` wire bytes from encoded ``FederatedRecord`` messages."""
    parts = [b"\x0a" + _varint(len(r)) + r for r in records]
    if next_cursor:
        parts.append(b"\x10" + _varint(next_cursor))
    if more:
        parts.append(b"\x18\x01")
    return b"".join(parts)


def encode_federated_batch(records: Sequence[bytes], next_cursor: int) -> bytes:
    """``FederatedBatch`` wire bytes from encoded ``FederatedRecord`` messages."""
    varint = _varint
    parts: list[bytes] = []
    for r in records:
        parts += (b"\x0a", varint(len(r)), r)
    if next_cursor:
        parts += (b"\x10", varint(next_cursor))
    return b"".join(parts)


def _identity_bytes(value: bytes) -> bytes:
    return value


# --------------------------------------------------------------------------- the core


def agency_filter(agency: AgencyPolicy, requested: common_pb2.RecordFilter) -> RecordFilter | None:
    """The storage filter for *requested* within *agency*'s policy; None when nothing can match.

    Record types are the intersection of the requested ones (all, when none are named) and the
    ones the policy grants; types the agency may not see are never read.
    """
    granted = set(agency.types)
    wanted = set(requested.types)
    types = granted & wanted if wanted else granted
    if not types:
        return None
    return RecordFilter(
        types=tuple(sorted(types)),
        sites=tuple(requested.sites),
        node_ids=tuple(requested.node_ids),
        since_ms=requested.since_unix_ms or None,
        until_ms=requested.until_unix_ms or None,
    )


def _body_of(raw: bytes) -> Mapping[str, Any] | None:
    """The signed body of a stored record (verified at ingest, so only parsed here)."""
    try:
        sign1 = cbor2.loads(raw)
        payload = sign1.value[2] if isinstance(sign1, cbor2.CBORTag) else sign1[2]
        body = cbor2.loads(payload)[_PAYLOAD_BODY]
    except Exception:
        log.warning("stored record does not parse; withheld from federation", exc_info=True)
        return None
    return body if isinstance(body, Mapping) else None


_PROTECTED = protected_header(bytes(32))
#: A record's bytes up to its kid, as borderlink signs them: tag 18, array of 4, the
#: protected header's bstr head, the header up to the 32-byte kid.
_KID_PREFIX = b"\xd2\x84" + cbor2.dumps(_PROTECTED)[: -len(_PROTECTED)] + _PROTECTED[:-32]
_KID_END = len(_KID_PREFIX) + 32


def _kid_of(raw: bytes) -> bytes | None:
    """The key id in a stored record's protected header (verified at ingest, so only parsed):
    sliced from the usual layout, else decoded."""
    if raw.startswith(_KID_PREFIX):
        return raw[len(_KID_PREFIX) : _KID_END]
    try:
        return decode_sign1(raw).kid
    except RecordDecodeError:
        log.warning("stored record does not parse; sent with its node's current key")
        return None


@dataclass(frozen=True)
class Page:
    """Encoded records of one page and the cursor after it."""

    records: tuple[bytes, ...]
    next_cursor: int


class FederationView:
    """One agency's view of the log: pages of encoded ``FederatedRecord`` messages.

    Holds a node-key cache; create one per stream or call (cheap). *now* is the clock of
    the cache (seconds, monotonic).
    """

    def __init__(
        self,
        storage: Storage,
        agency: str,
        *,
        now: Callable[[], float] = time.monotonic,
        page_records: int = PAGE_RECORDS,
    ) -> None:
        self.storage, self.agency = storage, agency
        self._now, self._page_records = now, page_records
        # node id -> (kid in force, its framed NodeKey, framed NodeKey by kid of every key)
        self._node_fields: dict[str, tuple[bytes, bytes, dict[bytes, bytes]]] = {}
        self._reloaded: set[str] = set()  # nodes read again for a kid not cached
        self._node_cache_at = now()

    # -- bounds ---------------------------------------------------------------------------

    def log_size(self) -> int:
        return self.storage.log_state().size

    def check_cursor(self, cursor: int) -> int:
        """The log size, after checking *cursor* is one the hub could have issued."""
        size = self.log_size()
        if cursor > size:
            raise CursorError(
                f"cursor {cursor} is beyond the end of the log (size {size}): not a cursor "
                "this hub issued"
            )
        return size

    def proof_checkpoint(self) -> CheckpointRow | None:
        """The checkpoint proofs are made against (the latest), or None before the first."""
        cp = self.storage.latest_checkpoint()
        if cp is None:
            return None
        state = self.storage.log_state()
        if state.integrated_size < cp.tree_size:  # interior nodes not stored yet
            return None
        return cp

    # -- one page -------------------------------------------------------------------------

    def page(
        self,
        policy: Policy,
        requested: common_pb2.RecordFilter,
        cursor: int,
        end: int,
        *,
        checkpoint: CheckpointRow | None = None,
        limit: int | None = None,
    ) -> Page:
        """Encoded records the agency may see in ``[cursor, end)``, at most one storage page
        (or *limit* storage rows), and the cursor after everything examined."""
        if cursor >= end:
            return Page((), cursor)
        access = policy.for_agency(self.agency)
        record_filter = agency_filter(access, requested)
        if record_filter is None:
            return Page((), end)
        rows, next_index = self.storage.scan_rows(
            cursor,
            limit=min(limit or self._page_records, self._page_records),
            record_filter=record_filter,
            end_index=end,
        )
        # (log_index, node_id, record, fields disclosed, hub receive time) of the records
        # the agency sees.
        decided: list[tuple[int, str, bytes, frozenset[str], int]] = []
        types = access.types
        for log_index, node_id, record, record_type, agency, site, received_ms in rows:
            rule: TypeAccess | None = types.get(record_type)
            if rule is None:
                continue
            fields = rule.unconditional
            if fields is None:
                body = _body_of(record) if rule.needs_body else None
                fields = rule.decide(site, agency, body)
                if fields is None:
                    continue
            decided.append((log_index, node_id, record, fields, received_ms))
        # Disclosures only of the records that get some, merged in by log index.
        wanted = [d[0] for d in decided if d[3]]
        drows = self.storage.disclosure_rows(wanted) if wanted else []
        proofs = self._proofs([d[0] for d in decided], checkpoint) if checkpoint else {}
        out: list[bytes] = []
        append = out.append
        node_field = self._node_field
        varint = _varint
        last = len(decided) - 1
        j, n_d = 0, len(drows)
        for i, (log_index, node_id, record, fields, received_ms) in enumerate(decided):
            parts = [b"\x08", varint(log_index), b"\x12"] if log_index else [b"\x12"]
            parts += (varint(len(record)), record)
            if fields:
                while j < n_d and drows[j][0] < log_index:
                    j += 1
                while j < n_d and drows[j][0] == log_index:
                    _, name, d = drows[j]
                    j += 1
                    if name in fields:
                        parts += (b"\x1a", varint(len(d)), d)
            parts.append(node_field(node_id, record))
            if proofs:
                proof = proofs.get(log_index)
                if proof:
                    parts += (b"\x2a", varint(len(proof)), proof)
            next_cursor = decided[i + 1][0] if i < last else next_index
            parts += (b"\x30", varint(next_cursor), b"\x38", varint(received_ms))
            append(b"".join(parts))
        return Page(tuple(out), next_index)

    # -- node keys and proofs -------------------------------------------------------------

    def _node_field(self, node_id: str, record: bytes) -> bytes:
        """The framed ``NodeKey`` that verifies *record*: the key its kid names. A node
        re-enrolled after revocation signed its older records with an older key."""
        if self._now() - self._node_cache_at > NODE_CACHE_S:
            self._node_fields.clear()
            self._reloaded.clear()
            self._node_cache_at = self._now()
        cached = self._node_fields.get(node_id)
        if cached is None:
            cached = self._node_fields[node_id] = self._load_node(node_id)
        kid = _kid_of(record)
        if kid == cached[0] or kid is None:
            return cached[1]
        found = cached[2].get(kid)
        if found is None and node_id not in self._reloaded:
            # A key enrolled since the cache was filled (a re-enrolment): read the node again,
            # once per cache period.
            self._reloaded.add(node_id)
            cached = self._node_fields[node_id] = self._load_node(node_id)
            found = cached[2].get(kid)
        return found if found is not None else cached[1]

    def _load_node(self, node_id: str) -> tuple[bytes, bytes, dict[bytes, bytes]]:
        row = self.storage.get_node(node_id)
        if row is None:
            return b"", b"", {}
        by_kid: dict[bytes, bytes] = {}
        for key in self.storage.node_keys([node_id]):
            pb = common_pb2.NodeKey(
                node_id=node_id,
                public_key=key.public_key,
                kid=key.kid,
                enrolled_at_unix_ms=key.enrolled_at_ms,
                revoked_at_unix_ms=key.revoked_at_ms or 0,
            )
            by_kid[key.kid] = _field(b"\x22", pb.SerializeToString())
        current = common_pb2.NodeKey(
            node_id=row.node_id,
            public_key=row.public_key,
            kid=row.kid,
            enrolled_at_unix_ms=row.enrolled_at_ms,
            revoked_at_unix_ms=row.revoked_at_ms or 0,
        )
        return row.kid, _field(b"\x22", current.SerializeToString()), by_kid

    def _proofs(self, indexes: Sequence[int], cp: CheckpointRow) -> dict[int, bytes]:
        """Encoded ``InclusionProof`` per log index, against *cp*; one storage read."""
        size = cp.tree_size
        plans = {i: merkle.inclusion_plan(i, size) for i in indexes if i < size}
        keys = {tuple(n) for plan in plans.values() for n in plan.nodes}
        keys |= {(0, i) for i in plans}
        hashes = self.storage.get_merkle_nodes(keys)  # type: ignore[arg-type]
        origin = cp.signed_note.split(b"\n", 1)[0].decode("utf-8", "replace")
        checkpoint = common_pb2.Checkpoint(
            signed_note=cp.signed_note,
            origin=origin,
            tree_size=size,
            root_hash=cp.root_hash,
            time_unix_ms=cp.time_ms,
        )
        out: dict[int, bytes] = {}
        for index, plan in plans.items():
            try:
                path = plan.assemble([hashes[(n.level, n.index)] for n in plan.nodes])
                leaf = hashes[(0, index)]
            except KeyError as exc:
                raise FederationError(
                    f"interior hash {exc} of the log is missing; proof of {index} unavailable"
                ) from exc
            proof = common_pb2.InclusionProof(
                log_index=index, tree_size=size, leaf_hash=leaf, hashes=path, checkpoint=checkpoint
            )
            out[index] = proof.SerializeToString()
        return out


# --------------------------------------------------------------------------- live following


class LogNotifier:
    """Wakes following streams when the log grows. The server calls :meth:`notify` after
    each append; streams call :meth:`wait`. Without calls, streams fall back to polling."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    @property
    def generation(self) -> int:
        return self._generation

    def wait(self, generation: int, timeout: float) -> int:
        """Block until the generation moves past *generation* or *timeout* seconds pass."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation, timeout)
            return self._generation


class _Prefetch:
    """Runs a page iterator *depth* pages ahead on its own thread, so reading storage and
    applying policy overlap with gRPC sending the previous page (the send waits release the
    GIL). ``depth`` 0 runs it inline. Exceptions reach the consumer; :meth:`close` stops the
    producer (it notices at its next page)."""

    _END = object()

    def __init__(self, pages: Iterator[Page], depth: int) -> None:
        self._pages, self._depth = pages, depth
        self._closed = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._thread = threading.Thread(
                target=self._run, name="federation-prefetch", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        try:
            for page in self._pages:
                while not self._closed.is_set():
                    try:
                        self._queue.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._closed.is_set():
                    return
            item: Any = self._END
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            item = exc
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Page]:
        if self._thread is None:
            yield from self._pages
            return
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._closed.set()
        if self._thread is None:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()


# --------------------------------------------------------------------------- gRPC shell


def peer_identity(context: grpc.ServicerContext) -> Identity:
    """The borderlink identity of the peer's TLS certificate; :class:`IdentityError` if none."""
    certs = context.auth_context().get("x509_pem_cert")
    if not certs:
        raise IdentityError("no client certificate (mutual TLS is required)")
    return identity_of_pem(certs[0])


PolicySource = Callable[[], Policy]


class FederationServicer:
    """The ``borderlink.v1.Federation`` service over a store and a policy source.

    *policy* is called once per page (hold the current :class:`Policy`; a new one applies to
    open streams at their next page). *identify* maps a call to the peer identity (the server
    may pass one that also checks its CRL). *notifier* wakes following streams at once; else
    they poll every *poll_interval_s*.
    """

    def __init__(
        self,
        storage: Storage,
        policy: PolicySource | Policy = DENY_ALL,
        *,
        identify: Callable[[grpc.ServicerContext], Identity] = peer_identity,
        notifier: LogNotifier | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        page_records: int = PAGE_RECORDS,
        prefetch_pages: int = PREFETCH_PAGES,
        slots: StreamSlots | None = None,
    ) -> None:
        self.storage = storage
        #: Subscribe/SubscribeBatches streams open at once per agency (both count together).
        self.slots = slots or StreamSlots(
            "Subscribe", MAX_STREAMS_PER_AGENCY, HubMetrics(), who="agency"
        )
        self._policy: PolicySource = policy if callable(policy) else (lambda: policy)
        self._identify = identify
        self.notifier = notifier or LogNotifier()
        self._poll_s = poll_interval_s
        self._page_records = page_records
        self._prefetch = prefetch_pages
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Ends following streams at their next wake-up (graceful shutdown)."""
        self._stopping.set()
        self.notifier.notify()

    def _agency(self, context: grpc.ServicerContext) -> str:
        try:
            identity = self._identify(context)
        except IdentityError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"federation: {exc}")
        if identity.role is not Role.AGENCY:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"federation is for agency certificates; {identity.uri} is a {identity.role.value}",
            )
        return identity.name

    def Subscribe(
        self, request: federation_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        """One ``FederatedRecord`` per stream message."""
        return self._subscribe(request, context, batched=False)

    def SubscribeBatches(
        self, request: federation_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        """One ``FederatedBatch`` (a storage page) per stream message. A page whose records
        the agency may not see yields an empty batch that only moves the cursor on."""
        return self._subscribe(request, context, batched=True)

    def _subscribe(
        self,
        request: federation_pb2.SubscribeRequest,
        context: grpc.ServicerContext,
        *,
        batched: bool,
    ) -> Iterator[bytes]:
        agency = self._agency(context)
        with self.slots.hold(agency, context):
            yield from self._stream(agency, request, context, batched=batched)

    def _stream(
        self,
        agency: str,
        request: federation_pb2.SubscribeRequest,
        context: grpc.ServicerContext,
        *,
        batched: bool,
    ) -> Iterator[bytes]:
        view = FederationView(self.storage, agency, page_records=self._page_records)
        try:
            snapshot_end = view.check_cursor(request.cursor)
        except CursorError as exc:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, str(exc))
        log.info(
            "agency %s subscribes from %d (follow=%s, batched=%s)",
            agency,
            request.cursor,
            request.follow,
            batched,
        )
        cursor = request.cursor  # after the last page handed to gRPC
        pages = _Prefetch(self._pages(view, request, context, snapshot_end), self._prefetch)
        try:
            for page in pages:
                if batched:
                    if page.next_cursor > cursor or page.records:
                        yield encode_federated_batch(page.records, page.next_cursor)
                else:
                    yield from page.records
                cursor = page.next_cursor
        except (FederationError, StorageError) as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{exc}; resume from {cursor}")
        finally:
            pages.close()
        if self._stopping.is_set() and context.is_active():
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"hub shutting down; resume from cursor {cursor} (here or on another replica)",
            )

    def _pages(
        self,
        view: FederationView,
        request: federation_pb2.SubscribeRequest,
        context: grpc.ServicerContext,
        snapshot_end: int,
    ) -> Iterator[Page]:
        """The pages of one subscription, following the log when asked (no gRPC calls here
        but ``is_active``: this may run on the prefetch thread)."""
        cursor, notifier = request.cursor, self.notifier
        while context.is_active() and not self._stopping.is_set():
            generation = notifier.generation
            checkpoint = None
            if request.include_inclusion_proof:
                checkpoint = view.proof_checkpoint()
                end = min(snapshot_end, checkpoint.tree_size) if checkpoint else cursor
            else:
                end = snapshot_end
            if cursor < end:
                page = view.page(self._policy(), request.filter, cursor, end, checkpoint=checkpoint)
                cursor = page.next_cursor
                yield page
                continue
            if not request.follow:
                return
            notifier.wait(generation, self._poll_s)
            snapshot_end = view.log_size()

    def Query(self, request: federation_pb2.QueryRequest, context: grpc.ServicerContext) -> bytes:
        agency = self._agency(context)
        view = FederationView(self.storage, agency, page_records=self._page_records)
        cursor = request.cursor
        try:
            end = view.check_cursor(cursor)
        except CursorError as exc:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, str(exc))
        limit = request.limit if 0 < request.limit <= MAX_QUERY_LIMIT else MAX_QUERY_LIMIT
        checkpoint = None
        if request.include_inclusion_proof:
            checkpoint = view.proof_checkpoint()
            end = min(end, checkpoint.tree_size) if checkpoint else cursor
        policy = self._policy()
        records: list[bytes] = []
        pages = 0
        while cursor < end and len(records) < limit and pages < QUERY_MAX_PAGES:
            try:
                page = view.page(
                    policy,
                    request.filter,
                    cursor,
                    end,
                    checkpoint=checkpoint,
                    limit=limit - len(records),
                )
            except (FederationError, StorageError) as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            records.extend(page.records)
            cursor = page.next_cursor
            pages += 1
        log_size = view.log_size()
        return encode_query_response(records, cursor, cursor < max(end, log_size))


def federation_handler(servicer: FederationServicer) -> grpc.GenericRpcHandler:
    """The method handlers of ``borderlink.v1.Federation``: requests parsed by the generated
    classes, responses passed through as the pre-encoded bytes the servicer returns."""
    handlers = {
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            servicer.Subscribe,
            request_deserializer=federation_pb2.SubscribeRequest.FromString,
            response_serializer=_identity_bytes,
        ),
        "SubscribeBatches": grpc.unary_stream_rpc_method_handler(
            servicer.SubscribeBatches,
            request_deserializer=federation_pb2.SubscribeRequest.FromString,
            response_serializer=_identity_bytes,
        ),
        "Query": grpc.unary_unary_rpc_method_handler(
            servicer.Query,
            request_deserializer=federation_pb2.QueryRequest.FromString,
            response_serializer=_identity_bytes,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def add_federation_servicer(servicer: FederationServicer, server: grpc.Server) -> None:
    """Register *servicer* on *server* (use this, not the generated add function)."""
    handler = federation_handler(servicer)
    server.add_generic_rpc_handlers((handler,))


__all__ = [
    "PAGE_RECORDS",
    "SERVICE",
    "FederationServicer",
    "FederationView",
    "LogNotifier",
    "Page",
    "add_federation_servicer",
    "agency_filter",
    "encode_federated_batch",
    "encode_federated_record",
    "encode_query_response",
    "federation_handler",
    "peer_identity",
]
