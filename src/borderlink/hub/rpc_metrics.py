"""Per-RPC server metrics: a gRPC interceptor counting every finished call by method and
status code, and timing it (``borderlink_hub_rpcs_handled_total``,
``borderlink_hub_rpc_handling_seconds``; the names follow go-grpc-prometheus's
``grpc_server_handled_total`` / ``grpc_server_handling_seconds``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from borderlink.hub.metrics import HubMetrics

__all__ = ["RpcMetricsInterceptor"]


def _code_of(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()  # type: ignore[attr-defined]  # set by abort() or set_code()
    if code is None:
        return "UNKNOWN" if failed else "OK"
    return str(getattr(code, "name", code))


class RpcMetricsInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: HubMetrics) -> None:
        self.metrics = metrics

    def _done(self, method: str, context: grpc.ServicerContext, began: float,
              failed: bool) -> None:  # fmt: skip
        self.metrics.rpcs.labels(method, _code_of(context, failed)).inc()
        self.metrics.rpc_seconds.labels(method).observe(time.perf_counter() - began)

    def _unary(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            began, failed = time.perf_counter(), True
            try:
                response = behaviour(request, context)
                failed = False
                return response
            finally:
                self._done(method, context, began, failed)

        return call

    def _streaming(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            began, failed = time.perf_counter(), True
            try:
                yield from behaviour(request, context)
                failed = False
            finally:
                self._done(method, context, began, failed)

        return call

    def intercept_service(self, continuation: Callable[[Any], Any],
                          details: grpc.HandlerCallDetails) -> Any:  # fmt: skip
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method  # type: ignore[attr-defined]
        if handler.unary_unary:
            return handler._replace(unary_unary=self._unary(method, handler.unary_unary))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._unary(method, handler.stream_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._streaming(method, handler.unary_stream))
        if handler.stream_stream:
            return handler._replace(
                stream_stream=self._streaming(method, handler.stream_stream)
            )
        return handler
