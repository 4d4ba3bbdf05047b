"""Small helpers for end-to-end tests over real gRPC (raw stubs, no client library)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from fila.v1 import admin_pb2, admin_pb2_grpc, messages_pb2, service_pb2, service_pb2_grpc


class Stubs:
    def __init__(self, addr: str, *, own_connection: bool = False) -> None:
        # gRPC shares one TCP connection between channels to the same target in a
        # process; own_connection gives this one its own, as a separate process would have.
        options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
        self.channel = grpc.insecure_channel(addr, options=options)
        self.svc = service_pb2_grpc.FilaServiceStub(self.channel)
        self.admin = admin_pb2_grpc.FilaAdminStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def create(self, name: str, on_enqueue: str = "", on_failure: str = "",
               visibility_timeout_ms: int = 0) -> None:
        self.admin.CreateQueue(admin_pb2.CreateQueueRequest(
            name=name, config=admin_pb2.QueueConfig(
                on_enqueue_script=on_enqueue, on_failure_script=on_failure,
                visibility_timeout_ms=visibility_timeout_ms)), timeout=10)

    def enqueue(self, queue_name: str, payload: bytes = b"x", headers: dict[str, str] | None = None,
                delay_ms: int = 0) -> str:
        resp = self.svc.Enqueue(service_pb2.EnqueueRequest(
            queue=queue_name, headers=headers or {}, payload=payload, delay_ms=delay_ms),
            timeout=10)
        return str(resp.message_id)

    def ack(self, queue_name: str, msg_id: str) -> None:
        self.svc.Ack(service_pb2.AckRequest(queue=queue_name, message_id=msg_id), timeout=10)

    def nack(self, queue_name: str, msg_id: str, error: str = "boom") -> None:
        self.svc.Nack(service_pb2.NackRequest(queue=queue_name, message_id=msg_id, error=error),
                      timeout=10)

    def stats(self, queue_name: str) -> admin_pb2.GetStatsResponse:
        return self.admin.GetStats(admin_pb2.GetStatsRequest(queue=queue_name), timeout=10)


class Stream:
    """A consume stream read on a thread, so tests can wait for messages with deadlines."""

    def __init__(self, stubs: Stubs, queue_name: str, prefetch: int = 0) -> None:
        self.call = stubs.svc.Consume(service_pb2.ConsumeRequest(queue=queue_name,
                                                                 prefetch=prefetch))
        self.inbox: queue.Queue[messages_pb2.Message | BaseException] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self.call:
                if frame.HasField("message"):
                    self.inbox.put(frame.message)
        except BaseException as exc:
            self.inbox.put(exc)

    def get(self, timeout: float = 10.0) -> messages_pb2.Message:
        item = self.inbox.get(timeout=timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    def take(self, n: int, timeout: float = 20.0) -> list[messages_pb2.Message]:
        deadline = time.monotonic() + timeout
        return [self.get(max(0.01, deadline - time.monotonic())) for _ in range(n)]

    def nothing_within(self, seconds: float) -> bool:
        try:
            item = self.inbox.get(timeout=seconds)
        except queue.Empty:
            return True
        self.inbox.put(item)
        return False

    def cancel(self) -> None:
        self.call.cancel()
        self._thread.join(timeout=5)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)  # polling a condition, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")


def code_of(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    raise AssertionError("expected an RPC error")


def iter_all(stream: Iterator[Any]) -> list[Any]:
    return list(stream)
