"""The Admin service (technicians): enrol, revoke and list nodes, load the policy, publish downlinks.

Only a client certificate with an admin identity (``borderlink://admin/<name>``) may call it;
every call is logged with the admin's name.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import grpc
from cryptography import x509

from borderlink.hub.auth import PeerAuth
from borderlink.hub.errors import (
    DownlinkVersionError,
    NodeExistsError,
    PolicyError,
    UnknownNodeError,
)
from borderlink.hub.policy import parse_policy
from borderlink.hub.storage import (
    DownlinkAckRow,
    DownlinkItem,
    NodeEnrollment,
    NodeKeyRow,
    NodeRow,
    Storage,
)
from borderlink.hub.sync_service import KIND_TO_PB, PB_TO_KIND, DownlinkBus
from borderlink.proto.errors import KeyFileError
from borderlink.proto.identity import AGENCIES, IdentityError, Role, check_name, identity_of
from borderlink.proto.keys import key_id
from borderlink.proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2

log = logging.getLogger("borderlink.hub.admin")


def node_info(
    row: NodeRow, keys: Sequence[NodeKeyRow] = (), acks: Sequence[DownlinkAckRow] = ()
) -> admin_pb2.NodeInfo:
    """*row* as ``NodeInfo``, with the node's key history and its last downlink acks."""
    return admin_pb2.NodeInfo(
        node_id=row.node_id,
        public_key=row.public_key,
        kid=row.kid,
        site=row.site,
        agency=row.agency,
        hardware_profile=row.profile,
        enrolled_at_unix_ms=row.enrolled_at_ms,
        revoked_at_unix_ms=row.revoked_at_ms or 0,
        last_seq=row.last_seq,
        last_hash=row.last_hash,
        last_seen_unix_ms=row.last_seen_ms or 0,
        clock_skew_ms=row.clock_skew_ms or 0,
        backlog=row.backlog,
        record_types=list(row.record_types),
        keys=[
            common_pb2.NodeKey(
                node_id=k.node_id,
                public_key=k.public_key,
                kid=k.kid,
                enrolled_at_unix_ms=k.enrolled_at_ms,
                revoked_at_unix_ms=k.revoked_at_ms or 0,
            )
            for k in keys
        ],
        downlink_acks=[
            admin_pb2.DownlinkAckInfo(
                kind=KIND_TO_PB[a.kind],
                version=a.version,
                applied=a.applied,
                message=a.message,
                received_at_unix_ms=a.received_ms,
            )
            for a in acks
        ],
    )


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(
        self,
        storage: Storage,
        auth: PeerAuth,
        *,
        bus: DownlinkBus | None = None,
        on_policy: Callable[[bytes], None] | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.storage = storage
        self.auth = auth
        self.bus = bus or DownlinkBus()
        self.on_policy = on_policy
        self.clock_ms = clock_ms

    def _admin(self, context: grpc.ServicerContext, action: str, **fields: object) -> None:
        who = self.auth.identify(context, [Role.ADMIN])
        log.info("admin " + action, extra={"admin": who.name, **fields})

    def EnrollNode(
        self, request: admin_pb2.EnrollNodeRequest, context: grpc.ServicerContext
    ) -> admin_pb2.NodeInfo:
        self._admin(context, "enroll", node_id=request.node_id, site=request.site)
        try:
            check_name(Role.NODE, request.node_id)
            kid = key_id(request.public_key)
        except (IdentityError, KeyFileError, ValueError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if request.agency not in AGENCIES:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"agency {request.agency!r} is not one of {', '.join(AGENCIES)}",
            )
        if not request.site:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "site is required")
        # Fail closed: a node whose record types are not declared could sign any type.
        bad = [t for t in request.record_types if not t or t != t.strip() or " " in t]
        if not request.record_types or bad:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "record_types is required: the record types the node's hardware profile "
                f"produces (its records.produces){f', got {bad!r}' if bad else ''}",
            )
        if request.certificate_der:
            try:
                named = identity_of(x509.load_der_x509_certificate(request.certificate_der))
            except (ValueError, IdentityError) as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"certificate: {exc}")
            if named.role is not Role.NODE or named.name != request.node_id:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"certificate names {named.uri}, not borderlink://node/{request.node_id}",
                )
        try:
            row = self.storage.enroll_node(
                NodeEnrollment(
                    node_id=request.node_id,
                    public_key=bytes(request.public_key),
                    kid=kid,
                    site=request.site,
                    agency=request.agency,
                    profile=request.hardware_profile,
                    certificate_der=bytes(request.certificate_der) or None,
                    record_types=tuple(request.record_types),
                ),
                enrolled_at_ms=self.clock_ms(),
            )
        except NodeExistsError as exc:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        return node_info(row, self.storage.node_keys([row.node_id]))

    def RevokeNode(
        self, request: admin_pb2.RevokeNodeRequest, context: grpc.ServicerContext
    ) -> admin_pb2.NodeInfo:
        self._admin(context, "revoke", node_id=request.node_id, reason=request.reason)
        when = request.revoked_at_unix_ms or self.clock_ms()
        try:
            row = self.storage.revoke_node(
                request.node_id, revoked_at_ms=when, reason=request.reason
            )
        except UnknownNodeError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return node_info(row, self.storage.node_keys([row.node_id]))

    def ListNodes(
        self, request: admin_pb2.ListNodesRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListNodesResponse:
        self._admin(context, "list")
        rows = self.storage.list_nodes(
            site=request.site or None,
            agency=request.agency or None,
            include_revoked=request.include_revoked,
        )
        ids = [r.node_id for r in rows]
        keys: defaultdict[str, list[NodeKeyRow]] = defaultdict(list)
        acks: defaultdict[str, list[DownlinkAckRow]] = defaultdict(list)
        for k in self.storage.node_keys(ids):
            keys[k.node_id].append(k)
        for a in self.storage.latest_downlink_acks(ids):
            acks[a.node_id].append(a)
        return admin_pb2.ListNodesResponse(
            nodes=[node_info(r, keys[r.node_id], acks[r.node_id]) for r in rows]
        )

    def LoadPolicy(
        self, request: admin_pb2.LoadPolicyRequest, context: grpc.ServicerContext
    ) -> admin_pb2.LoadPolicyResponse:
        self._admin(context, "load policy", dry_run=request.dry_run)
        try:
            policy = parse_policy(request.policy_toml, source="LoadPolicy")
        except PolicyError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not request.dry_run:
            self.storage.put_policy(
                request.policy_toml, digest=policy.digest, loaded_at_ms=self.clock_ms()
            )
            if self.on_policy is not None:
                self.on_policy(request.policy_toml)
        return admin_pb2.LoadPolicyResponse(
            policy_digest=policy.digest, agencies=sorted(policy.agencies)
        )

    def PublishDownlink(
        self, request: admin_pb2.PublishDownlinkRequest, context: grpc.ServicerContext
    ) -> admin_pb2.PublishDownlinkResponse:
        d = request.downlink
        self._admin(context, "publish downlink", target=d.target, version=d.version)
        kind = PB_TO_KIND.get(d.kind)
        if kind is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown downlink kind {d.kind}")
        assert kind is not None  # context.abort raised otherwise
        if not d.target or d.version < 1 or not d.signed_payload:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "a downlink needs a target, a version >= 1 and a signed payload",
            )
        if len(d.signed_payload) > 1024 * 1024:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"signed payload is {len(d.signed_payload)} bytes, over 1 MiB",
            )
        item = DownlinkItem(kind, d.target, d.version, bytes(d.signed_payload), self.clock_ms())
        try:
            self.storage.put_downlink(item)
        except DownlinkVersionError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return admin_pb2.PublishDownlinkResponse(delivered_now=self.bus.publish(item))


__all__ = ["AdminServicer", "node_info"]
