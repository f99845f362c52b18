"""The transparency log: a sequencer that integrates leaves and signs C2SP checkpoints, and proofs.

Appended records are durable at once; their log indexes come from the one sequencer of a
store (``Storage.acquire_sequencer``: an exclusive file lock for SQLite, a PostgreSQL advisory
lock across replicas). Each round it numbers the stored records that have no index yet
(``Storage.assign_log_indexes``, in batches; SQLite numbers them at append already), reads
the leaf hashes past the integrated size, folds them into a :class:`~borderlink.proto.merkle.CompactRange`,
stores every perfect subtree they complete (``put_merkle_nodes``) and signs a checkpoint of the
new size. Because every perfect subtree is stored, a proof at any checkpointed size costs one
batched read of O(log n) nodes (:class:`LogReader`) — at 10^8 leaves a proof reads at most
~54 rows, whatever the size.

Checkpoints are C2SP signed notes (https://c2sp.org/tlog-checkpoint) signed with the hub's
Ed25519 note key, whose name is the log origin, plus a timestamped cosignature by the hub's
clock key (:func:`clock_signer`, c2sp.org/tlog-cosignature) so the signing time is signed too. Why C2SP rather than COSE
Receipts: the witnesses and monitors that exist today (transparency-dev, sigsum, the Go sumdb
clients) read checkpoints; see ``docs/`` and ``borderlink.proto.checkpoint``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from borderlink.hub.errors import HubError
from borderlink.hub.storage import CheckpointRow, Storage
from borderlink.proto.checkpoint import (
    Checkpoint,
    CosignatureSigner,
    NoteSigner,
    sign_checkpoint,
)
from borderlink.proto.merkle import (
    CompactRange,
    NodeID,
    consistency_plan,
    inclusion_plan,
    range_nodes,
)

log = logging.getLogger("borderlink.hub.log")


class LogError(HubError):
    """A log operation that cannot be done (proof beyond the integrated tree, lost node)."""


class ProofRangeError(LogError, ValueError):
    """A proof asked for a leaf or size outside the integrated log."""


class LogCorruptError(LogError):
    """Stored Merkle nodes that do not agree with the stored checkpoint."""


def _fetch(storage: Storage, nodes: tuple[NodeID, ...] | list[NodeID]) -> list[bytes]:
    got = storage.get_merkle_nodes([(n.level, n.index) for n in nodes])
    try:
        return [got[(n.level, n.index)] for n in nodes]
    except KeyError as exc:
        raise LogError(f"Merkle node {exc.args[0]} is not stored") from None


@dataclass(frozen=True)
class InclusionAnswer:
    log_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]
    checkpoint: CheckpointRow | None


class LogReader:
    """Proofs from stored perfect subtrees: one batched read per proof."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # The integrated size only grows: re-read it only for a size beyond the last seen.
        self._integrated = 0

    def _size(self, tree_size: int) -> int:
        """*tree_size*, or the latest checkpoint's size for 0; checked against the log."""
        if tree_size == 0:
            cp = self.storage.latest_checkpoint()
            if cp is None:
                raise ProofRangeError("no checkpoint has been published yet")
            return cp.tree_size
        if tree_size > self._integrated:
            self._integrated = self.storage.log_state().integrated_size
        integrated = self._integrated
        if tree_size > integrated:
            raise ProofRangeError(
                f"tree size {tree_size} is beyond the integrated log ({integrated} leaves)"
            )
        return tree_size

    def inclusion(
        self, tree_size: int, *, log_index: int | None = None, leaf_hash: bytes | None = None
    ) -> InclusionAnswer:
        size = self._size(tree_size)
        if log_index is None:
            if leaf_hash is None or len(leaf_hash) != 32:
                raise ProofRangeError("give a log index or a 32-byte leaf hash")
            found = self.storage.find_leaf(leaf_hash)
            if found is None:
                raise ProofRangeError(f"no leaf with hash {leaf_hash.hex()} in the log")
            log_index = found
        if not 0 <= log_index < size:
            raise ProofRangeError(f"leaf {log_index} is not in a tree of {size} leaves")
        plan = inclusion_plan(log_index, size)
        nodes = [NodeID(0, log_index), *plan.nodes]
        hashes = _fetch(self.storage, nodes)
        return InclusionAnswer(
            log_index, size, hashes[0], plan.assemble(hashes[1:]), self.storage.get_checkpoint(size)
        )

    def consistency(self, first_size: int, second_size: int) -> tuple[int, int, list[bytes]]:
        second = self._size(second_size)
        if first_size > second:
            raise ProofRangeError(f"first size {first_size} is larger than second size {second}")
        plan = consistency_plan(first_size, second)
        return first_size, second, plan.assemble(_fetch(self.storage, plan.nodes))


class Sequencer:
    """Integrates leaves and publishes checkpoints while it holds the store's sequencer lock.

    :meth:`step` does one round (testable without threads); :meth:`start` runs rounds every
    *interval_s* on a thread until :meth:`stop`, which runs a last round so the final batch
    is checkpointed.
    """

    def __init__(
        self,
        storage: Storage,
        signer: NoteSigner,
        *,
        origin: str,
        interval_s: float = 0.25,
        max_leaves_per_round: int = 65536,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_checkpoint: Callable[[CheckpointRow], None] | None = None,
    ) -> None:
        if signer.name != origin:
            raise LogError(f"the log key is named {signer.name!r}, the log origin is {origin!r}")
        self.storage = storage
        self.signer = signer
        self.origin = origin
        self.interval_s = interval_s
        self.max_leaves_per_round = max_leaves_per_round
        self.clock_ms = clock_ms
        self.on_checkpoint = on_checkpoint
        self._cosigner = clock_signer(signer)
        self._range: CompactRange | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.holder = False
        #: While another process sequences, how often to try for the lock (s).
        self.standby_retry_s = 1.0
        self._last_attempt = -1e9
        self._seen_size: int | None = None

    # -- one round --------------------------------------------------------------------------

    def _restore(self) -> CompactRange:
        integrated = self.storage.log_state().integrated_size
        nodes = range_nodes(0, integrated)
        compact = CompactRange(integrated, _fetch(self.storage, nodes))
        cp = self.storage.latest_checkpoint()
        if cp is not None and cp.tree_size == integrated and cp.root_hash != compact.root():
            raise LogCorruptError(
                f"stored nodes give root {compact.root().hex()} at {integrated}, the checkpoint "
                f"says {cp.root_hash.hex()}"
            )
        return compact

    def step(self) -> CheckpointRow | None:
        """Integrate what is new and sign a checkpoint; None when not the sequencer or idle."""
        with self._lock:
            if not self.holder:
                now = time.monotonic()
                if now - self._last_attempt < self.standby_retry_s:
                    return None
                self._last_attempt = now
                if not self.storage.acquire_sequencer():
                    # Standby: follow the other sequencer's checkpoints (for metrics).
                    cp = self.storage.latest_checkpoint()
                    fresh = cp is not None and self._seen_size != cp.tree_size
                    if cp is not None and fresh and self.on_checkpoint is not None:
                        self._seen_size = cp.tree_size
                        self.on_checkpoint(cp)
                    return None
                self.holder = True
                self._range = None
                log.info("sequencer lock acquired", extra={"origin": self.origin})
            if self._range is None:
                self._range = self._restore()
            compact = self._range
            numbered = self.storage.assign_log_indexes(self.max_leaves_per_round)
            size = self.storage.log_state().size
            cp = self.storage.latest_checkpoint()
            if size == compact.size and cp is not None and cp.tree_size == size:
                return None
            published: CheckpointRow | None = None
            while True:
                end = min(size, compact.size + self.max_leaves_per_round)
                if end > compact.size:
                    leaves = self.storage.leaf_hashes(compact.size, end)
                    if len(leaves) != end - compact.size:
                        raise LogError(
                            f"leaves {compact.size}..{end} read back {len(leaves)} hashes"
                        )
                    done = compact.extend(leaves)
                    self.storage.put_merkle_nodes(
                        [((n.level, n.index), h) for n, h in done if n.level > 0],
                        integrated_size=compact.size,
                    )
                published = self._publish(compact)
                if compact.size < size:
                    continue
                if numbered < self.max_leaves_per_round:
                    return published
                # A full batch was numbered: more may be pending (a backlog).
                numbered = self.storage.assign_log_indexes(self.max_leaves_per_round)
                size = self.storage.log_state().size
                if size == compact.size:
                    return published

    def _publish(self, compact: CompactRange) -> CheckpointRow:
        now = self.clock_ms()
        checkpoint = Checkpoint(self.origin, compact.size, compact.root())
        note = sign_checkpoint(
            checkpoint, self.signer, cosigner=self._cosigner, timestamp=now // 1000
        )
        row = CheckpointRow(compact.size, checkpoint.root_hash, now, note)
        self.storage.add_checkpoint(row)
        if self.on_checkpoint is not None:
            self.on_checkpoint(row)
        return row

    # -- thread -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("sequencer round failed; retrying")
                with self._lock:
                    self._range = None
                    if self.holder:
                        try:
                            self.storage.release_sequencer()
                        except Exception:
                            log.exception("releasing the sequencer lock failed")
                        self.holder = False
            self._stop.wait(self.interval_s)

    def stop(self, *, final_round: bool = True) -> CheckpointRow | None:
        """Stop the thread; with *final_round*, integrate and checkpoint what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        last = None
        if final_round and self.holder:
            try:
                last = self.step()
            except Exception:
                log.exception("final sequencer round failed")
        with self._lock:
            if self.holder:
                self.storage.release_sequencer()
                self.holder = False
        return last


def clock_signer(signer: NoteSigner) -> CosignatureSigner:
    """The hub's "clock" key, named ``<origin>/clock``: it adds a timestamped cosignature
    (c2sp.org/tlog-cosignature) to each checkpoint, stating when it was signed. Derived from
    the log key's seed with a domain-separating hash, so no key is used for two algorithms
    and no second key file is needed; auditors pin its vkey (``clock_signer(s).verifier``)."""
    import base64
    import hashlib

    seed = base64.b64decode(signer.skey.split("+", 4)[4])[1:]
    derived = hashlib.sha256(b"borderlink checkpoint clock key v1\x00" + seed).digest()
    return CosignatureSigner(f"{signer.name}/clock", derived)


__all__ = [
    "InclusionAnswer",
    "LogCorruptError",
    "LogError",
    "LogReader",
    "ProofRangeError",
    "Sequencer",
    "clock_signer",
]
