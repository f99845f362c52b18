"""The Transparency service: checkpoints and RFC 9162 proofs over the hub's log.

Any client with a valid certificate of the hub's CA (node, agency, admin) may call it; a
revoked certificate may not. Proofs are read from stored perfect subtrees
(:class:`~borderlink.hub.log.LogReader`), O(log n) rows per proof. ``tree_size`` 0 means the
latest checkpoint's size; a size beyond the integrated log is ``OUT_OF_RANGE``, an unknown
leaf or checkpoint ``NOT_FOUND``.
"""

from __future__ import annotations

import grpc

from borderlink.hub.auth import PeerAuth
from borderlink.hub.log import LogError, LogReader, ProofRangeError
from borderlink.hub.storage import CheckpointRow, Storage
from borderlink.proto.checkpoint import parse_checkpoint, parse_note
from borderlink.proto.v1 import common_pb2, transparency_pb2, transparency_pb2_grpc


def checkpoint_pb(row: CheckpointRow) -> common_pb2.Checkpoint:
    origin = parse_checkpoint(parse_note(row.signed_note).text).origin
    return common_pb2.Checkpoint(
        signed_note=row.signed_note,
        origin=origin,
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        time_unix_ms=row.time_ms,
    )


class TransparencyServicer(transparency_pb2_grpc.TransparencyServicer):
    def __init__(self, storage: Storage, auth: PeerAuth) -> None:
        self.storage = storage
        self.auth = auth
        self.reader = LogReader(storage)

    def GetCheckpoint(
        self, request: transparency_pb2.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> common_pb2.Checkpoint:
        self.auth.identify(context)
        if request.tree_size:
            row = self.storage.get_checkpoint(request.tree_size)
            if row is None:
                context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"no checkpoint was published at size {request.tree_size}",
                )
        else:
            row = self.storage.latest_checkpoint()
            if row is None:
                context.abort(grpc.StatusCode.NOT_FOUND, "no checkpoint has been published yet")
        assert row is not None  # context.abort raised otherwise
        return checkpoint_pb(row)

    def GetInclusionProof(
        self, request: transparency_pb2.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> common_pb2.InclusionProof:
        self.auth.identify(context)
        which = request.WhichOneof("leaf")
        if which is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "give log_index or leaf_hash")
        try:
            if which == "log_index":
                answer = self.reader.inclusion(request.tree_size, log_index=request.log_index)
            else:
                if len(request.leaf_hash) != 32:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"leaf_hash must be 32 bytes, got {len(request.leaf_hash)}",
                    )
                answer = self.reader.inclusion(request.tree_size, leaf_hash=request.leaf_hash)
        except ProofRangeError as exc:
            code = (
                grpc.StatusCode.NOT_FOUND
                if "no leaf" in str(exc) or "no checkpoint" in str(exc)
                else grpc.StatusCode.OUT_OF_RANGE
            )
            context.abort(code, str(exc))
        except LogError as exc:
            context.abort(grpc.StatusCode.INTERNAL, str(exc))
        proof = common_pb2.InclusionProof(
            log_index=answer.log_index,
            tree_size=answer.tree_size,
            leaf_hash=answer.leaf_hash,
            hashes=answer.hashes,
        )
        if answer.checkpoint is not None:
            proof.checkpoint.CopyFrom(checkpoint_pb(answer.checkpoint))
        return proof

    def GetConsistencyProof(
        self, request: transparency_pb2.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> transparency_pb2.ConsistencyProof:
        self.auth.identify(context)
        try:
            first, second, hashes = self.reader.consistency(request.first_size, request.second_size)
        except ProofRangeError as exc:
            code = (
                grpc.StatusCode.NOT_FOUND
                if "no checkpoint" in str(exc)
                else grpc.StatusCode.OUT_OF_RANGE
            )
            context.abort(code, str(exc))
        except LogError as exc:
            context.abort(grpc.StatusCode.INTERNAL, str(exc))
        return transparency_pb2.ConsistencyProof(
            first_size=first, second_size=second, hashes=hashes
        )


__all__ = ["TransparencyServicer", "checkpoint_pb"]
