"""RPC fuzz (docs/security.md, "Requests"): every RPC with random and mutated fields.

One real ``fila-server`` for the whole module. After every Hypothesis example:

* the process is alive (if an example killed it, the example fails and the server is
  restarted before the next one, so shrinking still works);
* every answer had a documented status (OK, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
  FAILED_PRECONDITION, RESOURCE_EXHAUSTED, UNAVAILABLE, UNIMPLEMENTED); for bytes that do not
  decode, the UNKNOWN grpc gives for a DecodeError. Never INTERNAL or UNKNOWN from our
  handlers (an unhandled exception), and no "unexpected error in RPC" in the server log;
* the read paths still answer for the pool queues (GetStats, ListMessages, GetQueue,
  ListQueues, the first WatchStats frame);
* on a control queue the fuzz never names: depth = pending + in flight (+ delayed) in GetStats
  and ListQueues, the leases of its consumer are intact, and the control messages enqueued at
  the start are all still there.

Sized for CI by ``FILA_FUZZ_EXAMPLES`` (default 60 per test); ``scripts/fuzz_rpc.py --seconds N``
runs the same strategies for longer. Shrinking is off unless ``FILA_FUZZ_SHRINK=1``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from e2e.server_process import ServerProcess
from fila.v1 import admin_pb2, admin_pb2_grpc, service_pb2, service_pb2_grpc

S = grpc.StatusCode
DOCUMENTED = frozenset({S.OK, S.INVALID_ARGUMENT, S.NOT_FOUND, S.ALREADY_EXISTS,
                        S.FAILED_PRECONDITION, S.RESOURCE_EXHAUSTED, S.UNAVAILABLE,
                        S.UNIMPLEMENTED})
UNHANDLED_MARKS = ("unexpected error in RPC", "Traceback")
CONTROL = "fuzz-control"
CONTROL_MESSAGES = 12
CONTROL_LEASES = 3
POOL = ["fz-plain", "fz-hooked", "fz-short"]
HOOKED = """
function on_enqueue(msg)
  local h = msg.headers
  local keys = {}
  if h.tk then keys[1] = h.tk end
  if h.tk2 then keys[2] = h.tk2 end
  return { fairness_key = h.fk, weight = tonumber(h.w), throttle_keys = keys,
           delay_ms = tonumber(h.d) }
end
function on_failure(msg)
  if string.sub(msg.error, 1, 3) == "dlq" then return { action = "dlq" } end
  return { action = "retry", delay_ms = tonumber(string.sub(msg.error, 1, 40)) }
end
"""
POOL_CONFIG = {
    "fz-plain": admin_pb2.QueueConfig(),
    "fz-hooked": admin_pb2.QueueConfig(on_enqueue_script=HOOKED, on_failure_script=HOOKED),
    "fz-short": admin_pb2.QueueConfig(visibility_timeout_ms=1000),
}
RESET_KEYS = ["throttle.k", "throttle.k2", "concurrency.k", "concurrency.k2", "myapp.region"]
EXAMPLES = int(os.environ.get("FILA_FUZZ_EXAMPLES", "60"))
PHASES = (list(Phase) if os.environ.get("FILA_FUZZ_SHRINK")
          else [Phase.explicit, Phase.reuse, Phase.generate])
FUZZ = settings(max_examples=EXAMPLES, deadline=None, phases=PHASES, print_blob=True,
                suppress_health_check=list(HealthCheck))


class RpcFailure(AssertionError):
    pass


def _fold(text: str) -> str:
    """A failure's key: numbers and long quoted strings folded, so repeats collapse."""
    text = re.sub(r"^\d{4}-\d\d-\d\d [\d:,]+ ", "", text.strip())
    text = re.sub(r"'[^']{24,}'|\"[^\"]{24,}\"", "<str>", text)
    return re.sub(r"\d+", "N", text)[:160]


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


# ---- the target: one server, its control queue, the checks ---------------------------------

class Target:
    """A running fila-server with a control queue; restarts the server if an example kills it."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.log_offset = 0
        self.crashes: list[str] = []
        self.recent_ids: list[str] = []
        self.queue_counter = 0
        self.created_queues: set[str] = set()  # by the fuzz: deleted before the next example
        self.touched_keys: set[str] = set()  # config keys set by the fuzz: cleared likewise
        self._sweeps = 0
        self.soft = False  # True: record failures and go on (scripts/fuzz_rpc.py)
        self.failures: dict[str, dict[str, Any]] = {}
        self.current_example = ""
        self._dead_reported = False
        self._death_key = ""
        self._control_call: Any = None
        self._connect()
        self._setup_control()

    # -- connection and set-up

    def _connect(self) -> None:
        self.channel = grpc.insecure_channel(self.server.addr, options=[
            ("grpc.max_send_message_length", 64 * 2**20),
            ("grpc.max_receive_message_length", 64 * 2**20)])
        self.svc = service_pb2_grpc.FilaServiceStub(self.channel)
        self.admin = admin_pb2_grpc.FilaAdminStub(self.channel)
        # A second connection for the control consumer: its stream must not share fate
        # with a fuzzed call that breaks the main channel.
        self.control_channel = grpc.insecure_channel(
            self.server.addr, options=[("grpc.use_local_subchannel_pool", 1)])

    def _setup_control(self) -> None:
        admin = self.admin
        existing = {q.name for q in admin.ListQueues(admin_pb2.ListQueuesRequest(),
                                                     timeout=10).queues}
        if CONTROL not in existing:
            admin.CreateQueue(admin_pb2.CreateQueueRequest(
                name=CONTROL, config=admin_pb2.QueueConfig(visibility_timeout_ms=3_600_000)),
                timeout=10)
            for i in range(CONTROL_MESSAGES):
                self.svc.Enqueue(service_pb2.EnqueueRequest(
                    queue=CONTROL, headers={"n": str(i)}, payload=f"control-{i}".encode()),
                    timeout=10)
        listed = admin.ListMessages(admin_pb2.ListMessagesRequest(queue=CONTROL, limit=1000),
                                    timeout=10)
        self.control_ids = {m.message.id for m in listed.messages}
        assert len(self.control_ids) == CONTROL_MESSAGES
        self._open_control_consumer()
        self.ensure_pool()

    def _open_control_consumer(self) -> None:
        # Leases survive a restart until their (1 h) timeout: after a crash the old stream's
        # leases are still held, and the new stream takes CONTROL_LEASES more.
        stale = self._control_stats()[1]
        self.control_leases = min(CONTROL_MESSAGES, stale + CONTROL_LEASES)
        stub = service_pb2_grpc.FilaServiceStub(self.control_channel)
        self._control_call = stub.Consume(service_pb2.ConsumeRequest(
            queue=CONTROL, prefetch=CONTROL_LEASES))
        self._wait(lambda: self._control_stats()[1] == self.control_leases, 10,
                   f"the control queue to hold {self.control_leases} leases")

    def ensure_pool(self) -> None:
        existing = {q.name for q in self.admin.ListQueues(admin_pb2.ListQueuesRequest(),
                                                          timeout=10).queues}
        for name in POOL:
            if name not in existing:
                self.admin.CreateQueue(admin_pb2.CreateQueueRequest(
                    name=name, config=POOL_CONFIG[name]), timeout=10)

    @staticmethod
    def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)  # polling a condition, bounded by the deadline
        raise AssertionError(f"timed out waiting for {what}")

    def close(self) -> None:
        if self._control_call is not None:
            self._control_call.cancel()
        self.channel.close()
        self.control_channel.close()

    # -- per example

    def begin(self) -> None:
        """Before an example: a live server (restarted if the previous example killed it)."""
        self.new_log()  # what an earlier, failed example left in the log is not ours
        proc = self.server.proc
        if proc is None or proc.poll() is not None:
            self.close()
            try:
                self.server.start()
            except RuntimeError:
                # It does not come back on its data: keep fuzzing on a fresh directory.
                self.server.data_dir.rename(self.server.data_dir.with_name(
                    f"db.crashed.{len(self.crashes)}"))
                self.server.start()
            self.log_offset = len(self.server.log())
            self._dead_reported = False
            self._connect()
            self._setup_control()
        self.reset()

    def reset(self) -> None:
        """Fresh pool queues and no fuzz config, so that examples do not depend on each other."""
        for name in POOL:
            try:
                self.admin.DeleteQueue(admin_pb2.DeleteQueueRequest(queue=name), timeout=10)
            except grpc.RpcError as exc:
                if exc.code() != S.NOT_FOUND:
                    raise
        for name in sorted(self.created_queues):
            with contextlib.suppress(grpc.RpcError):
                self.admin.DeleteQueue(admin_pb2.DeleteQueueRequest(queue=name), timeout=10)
        self.created_queues.clear()
        for key in sorted(set(RESET_KEYS) | self.touched_keys):
            with contextlib.suppress(grpc.RpcError):  # a key that was never valid
                self.admin.SetConfig(admin_pb2.SetConfigRequest(key=key, value=""), timeout=10)
        self.touched_keys.clear()
        self.ensure_pool()

    def new_log(self) -> str:
        text = self.server.log()
        new = text[self.log_offset:]
        self.log_offset = len(text)
        return new

    def died(self) -> str | None:
        proc = self.server.proc
        if proc is not None and proc.poll() is not None and not self._dead_reported:
            self._dead_reported = True
            tail = self.new_log()[-3000:]
            lines = [ln for ln in tail.splitlines() if ln.strip()]
            self._death_key = f"server died (exit {proc.returncode}): " \
                f"{_fold(lines[-1] if lines else '')}"
            msg = f"fila-server died (exit {proc.returncode}); log tail:\n{tail}"
            self.crashes.append(msg)
            return msg
        return None

    def fail(self, what: str, key: str | None = None) -> None:
        """A failure: raised (tests), or recorded and the example goes on (``soft``, the script)."""
        proc = self.server.proc
        if "UNAVAILABLE" in what and proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)  # the connection broke: was it the process dying?
        dead = self.died()
        if dead:
            what, key = f"{what}\n{dead}", self._death_key
        if not self.soft:
            raise RpcFailure(what)
        if self._dead_reported and not dead:
            return  # a consequence of the crash already recorded
        self.record(key or _fold(what.splitlines()[0]), what)

    def record(self, key: str, what: str) -> None:
        entry = self.failures.setdefault(key, {"count": 0, "message": what[:3000],
                                               "example": self.current_example})
        entry["count"] += 1
        if len(self.current_example) < len(entry["example"]):  # keep the smallest reproducer
            entry["example"], entry["message"] = self.current_example, what[:3000]

    def check(self, rpc: str, request: Any, code: S, details: str, *,
              extra: frozenset[S] = frozenset()) -> None:
        """An answer must have a documented status; INTERNAL/UNKNOWN mean an unhandled error."""
        if code in DOCUMENTED or code in extra:
            return
        self.fail(f"{rpc} answered {code.name}: {details[:500]}\nrequest: {_short(request)}",
                  key=f"{rpc} -> {code.name}: {_fold(details)}")

    def call(self, rpc: str, fn: Callable[..., Any], request: Any, timeout: float = 30,
             *, extra: frozenset[S] = frozenset()) -> tuple[S, Any]:
        try:
            return S.OK, fn(request, timeout=timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            self.check(rpc, request, code, details, extra=extra)
            return code, None

    def read_first(self, rpc: str, call: Any, request: Any, *, limit: int = 1,
                   ok_deadline: bool = False) -> tuple[list[Any], S]:
        """Read up to ``limit`` frames of a server stream, then cancel it."""
        frames: list[Any] = []
        code = S.OK
        try:
            for frame in call:
                frames.append(frame)
                if len(frames) >= limit:
                    break
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            extra = frozenset({S.DEADLINE_EXCEEDED}) if ok_deadline else frozenset()
            self.check(rpc, request, code, details, extra=extra)
        finally:
            call.cancel()
        return frames, code

    def first_snapshot(self, request: admin_pb2.WatchStatsRequest) -> None:
        """WatchStats sends its first snapshot at once (or an error status)."""
        frames, code = self.read_first("WatchStats", self.admin.WatchStats(request, timeout=10),
                                       request)
        if code == S.OK and not frames:
            self.fail(f"WatchStats({_short(request)}) ended without a snapshot")

    def _control_stats(self) -> tuple[int, int]:
        s = self.admin.GetStats(admin_pb2.GetStatsRequest(queue=CONTROL), timeout=10)
        return s.depth, s.in_flight

    def end(self) -> None:
        """After an example: alive, no unhandled error logged, reads work, control intact."""
        dead = self.died()
        if dead:
            self.fail(dead, key=self._death_key)
            return
        if self._dead_reported:
            return  # reported during the example; the next example restarts it
        log = self.new_log()
        for mark in UNHANDLED_MARKS:
            if mark in log:
                i = log.find(mark)
                excerpt = log[max(0, i - 200):i + 2500]
                errors = re.findall(r"^\w*(?:Error|Exception|Exit)\w*:.*$", log[i:], re.M)
                self.fail(f"server logged {mark!r}:\n{excerpt}",
                          key=f"logged {_fold(errors[0] if errors else mark)}")
                break
        try:
            self.sweep()
            self.check_control()
        except grpc.RpcError as exc:
            self.fail(f"a read after the example failed: {exc.code().name} "
                      f"{exc.details()}")

    def sweep(self) -> None:
        """The read paths answer for every pool queue and its DLQ (catches poisoned state)."""
        self.call("ListQueues", self.admin.ListQueues, admin_pb2.ListQueuesRequest())
        for name in POOL:
            for q in (name, f"{name}.dlq"):
                self.call("GetStats", self.admin.GetStats, admin_pb2.GetStatsRequest(queue=q))
                self.call("ListMessages", self.admin.ListMessages,
                          admin_pb2.ListMessagesRequest(queue=q, limit=1000))
            self.call("GetQueue", self.admin.GetQueue, admin_pb2.GetQueueRequest(name=name))
        # WatchStats shares a snapshot for 100 ms between asks with the same (queue, top_keys):
        # a top_keys of its own each time, so this one is always taken fresh.
        self._sweeps += 1
        self.first_snapshot(admin_pb2.WatchStatsRequest(top_keys=1000 + self._sweeps % 60))

    def check_control(self) -> None:
        s = self.admin.GetStats(admin_pb2.GetStatsRequest(queue=CONTROL), timeout=10)
        snap = s.snapshot
        assert s.depth == CONTROL_MESSAGES, f"control depth {s.depth} != {CONTROL_MESSAGES}"
        assert s.in_flight == self.control_leases, \
            f"control in flight {s.in_flight} != {self.control_leases}"
        assert snap.depth == snap.pending + snap.in_flight + snap.delayed, \
            f"control snapshot depth {snap.depth} != pending {snap.pending} + in flight " \
            f"{snap.in_flight} + delayed {snap.delayed}"
        assert snap.in_flight == s.in_flight and snap.delayed == 0
        listed = {q.name: q for q in self.admin.ListQueues(admin_pb2.ListQueuesRequest(),
                                                           timeout=10).queues}
        info = listed[CONTROL]
        assert (info.depth, info.in_flight) == (s.depth, s.in_flight), \
            f"ListQueues {info.depth}/{info.in_flight} vs GetStats {s.depth}/{s.in_flight}"
        msgs = self.admin.ListMessages(admin_pb2.ListMessagesRequest(queue=CONTROL, limit=1000),
                                       timeout=10).messages
        ids = {m.message.id for m in msgs}
        assert ids == self.control_ids, f"control messages changed: lost " \
            f"{sorted(self.control_ids - ids)}, new {sorted(ids - self.control_ids)}"
        states = sorted(m.state for m in msgs)
        assert states.count("leased") == self.control_leases, f"control states {states}"

    def run(self, body: Callable[[], None]) -> None:
        self.begin()
        try:
            body()
        except grpc.RpcError as exc:  # a set-up call of ours failed
            self.fail(f"unexpected RPC error {exc.code().name}: {exc.details()}")
        if not self.soft:
            self.end()
            return
        try:
            self.end()
        except (AssertionError, grpc.RpcError) as exc:
            self.record(_fold(str(exc).splitlines()[0] if str(exc) else repr(exc)), str(exc))


# ---- strategies -----------------------------------------------------------------------------

_chars = st.characters(exclude_categories=["Cs"])  # protobuf cannot carry lone surrogates
small_text = st.text(_chars, max_size=24)
weird_text = st.sampled_from([
    "", " ", ".", "..", "/", "*", ".dlq", "x.dlq", "fz-plain.dlq.dlq", "\x00", "a\x00b", "é",
    "\U0001d518", "\u202e", "a\nb", "%s%n", "\ufeff", "\x7f", "\U0001f525" * 64, "\\", '"',
    "fz-plain ", " fz-plain", "FZ-PLAIN", "throttle.", "concurrency.", "-1", "0", "nan"])
huge_text = st.sampled_from([256, 257, 1024, 1025, 65_536, 70_000, 1_048_577, 2_097_153]).map(
    lambda n: "x" * n)
any_text = st.one_of(small_text, small_text, weird_text, weird_text, huge_text)

U32 = [0, 1, 2, 999, 1000, 2**31 - 1, 2**31, 2**32 - 1]
U64 = [*U32, 2**32, 2**53, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1]
uint32 = st.one_of(st.sampled_from(U32), st.integers(0, 2**32 - 1))
uint64 = st.one_of(st.sampled_from(U64), st.integers(0, 2**64 - 1))


def _not_control(name: str) -> bool:
    return not name.startswith(CONTROL)


pool_name = st.sampled_from([*POOL, *(f"{p}.dlq" for p in POOL)])
queue_name = st.one_of(pool_name, pool_name, pool_name, any_text).filter(_not_control)
RECENT = "@recent"  # replaced at run time by an id the server handed out recently
message_id = st.one_of(st.just(RECENT), st.just(RECENT), st.uuids().map(str), any_text)

NUMBERS = ["0", "1", "-1", "2", "1000", "4294967295", "4294967296", "2^32", "1e308", "-1e308",
           "nan", "inf", "-inf", "0x7fffffffffffffff", "9223372036854775807",
           "9223372036854775808", "4611686018427387904", "18446744073709551616", "1.5", "x", ""]
hook_headers = st.fixed_dictionaries({}, optional={
    "fk": st.one_of(st.sampled_from(["a", "b", ""]), any_text),
    "tk": st.sampled_from(["k", "k2", "", "k" * 300]),
    "tk2": st.sampled_from(["k", "k2"]),
    "w": st.sampled_from(NUMBERS),
    "d": st.sampled_from(NUMBERS),
})
headers = st.one_of(
    hook_headers, hook_headers,
    st.dictionaries(any_text, any_text, max_size=4),
    st.sampled_from([256, 257, 10_000]).map(lambda n: {f"h{i}": "v" for i in range(n)}),
    st.sampled_from([65_536, 70_000]).map(lambda n: {"big": "v" * n}),
)
payload = st.one_of(st.binary(max_size=64), st.binary(max_size=64),
                    st.sampled_from([4 * 2**20 - 64, 4 * 2**20 + 1]).map(lambda n: b"p" * n))
config_key = st.one_of(st.sampled_from(["throttle.k", "throttle.k2", "concurrency.k",
                                        "concurrency.k2", "myapp.region", "throttle.",
                                        "concurrency."]), any_text)
config_value = st.one_of(
    st.sampled_from(["", "1,1", "0,0", "0,5", "1e-20,1", "1e-300,1", "1e308,1e308", "nan,1",
                     "inf,1", "1,inf", "-1,1", "1,-1", "1,", ",1", "1,2,3", "5", "0", "-1",
                     "1e30", "1" + "0" * 30, "4294967296", "18446744073709551616",
                     "1" * 5000, "1000000,1000000", "0.000001,1", " 2 , 3 "]),
    any_text)
script = st.one_of(st.just(""), st.just(HOOKED), any_text,
                   st.sampled_from(["function on_enqueue(m) return {} end",
                                    "function on_enqueue(m", "return 1",
                                    "function on_failure(m) return {action='dlq'} end",
                                    "-- " + "x" * (2**20 + 10),
                                    "function on_enqueue(m) return {} end --" + "y" * 2**20]))

nack_error = st.one_of(any_text, st.sampled_from(["dlq", *NUMBERS]))


@st.composite
def update_queue(draw: st.DrawFn) -> admin_pb2.UpdateQueueRequest:
    kwargs: dict[str, Any] = {"name": draw(queue_name)}
    for field, strat in (("on_enqueue_script", script), ("on_failure_script", script),
                         ("visibility_timeout_ms", uint64)):
        if draw(st.booleans()):
            kwargs[field] = draw(strat)
    return admin_pb2.UpdateQueueRequest(**kwargs)


class Op(tuple):  # type: ignore[type-arg]
    """(rpc name, request) with a short repr, so failing examples stay readable."""

    def __repr__(self) -> str:
        name, request = self
        extra = ""
        if isinstance(request, tuple):
            request, settle = request
            extra = f" then {_short(settle, 200)}"
        fields = ", ".join(f"{f.name}={_short(v, 120)}" for f, v in request.ListFields())
        return f"{name}({fields}){extra}"


def op(name: str, strat: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
    return strat.map(lambda req: Op((name, req)))


ops = st.one_of(
    op("Enqueue", st.builds(service_pb2.EnqueueRequest, queue=queue_name, headers=headers,
                            payload=payload, delay_ms=uint64)),
    op("Enqueue", st.builds(service_pb2.EnqueueRequest, queue=st.just("fz-hooked"),
                            headers=hook_headers, delay_ms=st.sampled_from([0, 0, 2**62]))),
    op("Consume", st.tuples(
        st.builds(service_pb2.ConsumeRequest, queue=queue_name, prefetch=uint32),
        st.lists(st.tuples(st.sampled_from(["ack", "nack", "leave"]), nack_error), max_size=3))),
    op("Ack", st.builds(service_pb2.AckRequest, queue=queue_name, message_id=message_id)),
    op("Nack", st.builds(service_pb2.NackRequest, queue=queue_name, message_id=message_id,
                         error=nack_error)),
    op("CreateQueue", st.builds(admin_pb2.CreateQueueRequest, name=queue_name,
                                config=st.builds(admin_pb2.QueueConfig,
                                                 on_enqueue_script=script,
                                                 on_failure_script=script,
                                                 visibility_timeout_ms=uint64))),
    op("DeleteQueue", st.builds(admin_pb2.DeleteQueueRequest, queue=queue_name)),
    op("SetConfig", st.builds(admin_pb2.SetConfigRequest, key=config_key, value=config_value)),
    op("SetConfig", st.builds(admin_pb2.SetConfigRequest, key=config_key, value=config_value)),
    op("GetConfig", st.builds(admin_pb2.GetConfigRequest, key=config_key)),
    op("ListConfig", st.builds(admin_pb2.ListConfigRequest, prefix=any_text)),
    op("GetStats", st.builds(admin_pb2.GetStatsRequest, queue=queue_name)),
    op("Redrive", st.builds(admin_pb2.RedriveRequest, dlq_queue=queue_name, count=uint64,
                            fairness_key=any_text, dry_run=st.booleans())),
    op("ListQueues", st.just(admin_pb2.ListQueuesRequest())),
    op("GetQueue", st.builds(admin_pb2.GetQueueRequest, name=queue_name)),
    op("UpdateQueue", update_queue()),
    op("TestHook", st.builds(admin_pb2.TestHookRequest,
                             hook=st.one_of(st.sampled_from(["on_enqueue", "on_failure"]),
                                            any_text),
                             script=script, headers=headers, payload_size=uint64,
                             queue=any_text, attempts=uint32, error=any_text,
                             message_id=any_text)),
    op("ListMessages", st.builds(admin_pb2.ListMessagesRequest, queue=queue_name,
                                 fairness_key=any_text, limit=uint32, page_token=any_text)),
    op("WatchStats", st.builds(admin_pb2.WatchStatsRequest, queue=queue_name,
                               interval_ms=uint32, top_keys=uint32)),
    op("GetServerInfo", st.just(admin_pb2.GetServerInfoRequest())),
    op("CreateApiKey", st.builds(admin_pb2.CreateApiKeyRequest, name=any_text,
                                 expires_at_ms=uint64, is_superadmin=st.booleans())),
    op("RevokeApiKey", st.builds(admin_pb2.RevokeApiKeyRequest, key_id=any_text)),
    op("ListApiKeys", st.just(admin_pb2.ListApiKeysRequest())),
    op("SetAcl", st.builds(admin_pb2.SetAclRequest, key_id=any_text, permissions=st.lists(
        st.builds(admin_pb2.AclPermission, kind=any_text, pattern=any_text), max_size=3))),
    op("GetAcl", st.builds(admin_pb2.GetAclRequest, key_id=any_text)),
)
API_KEY_RPCS = {"CreateApiKey", "RevokeApiKey", "ListApiKeys", "SetAcl", "GetAcl"}
API_KEY_CODES = {S.OK, S.INVALID_ARGUMENT, S.NOT_FOUND}


def run_ops(t: Target, sequence: list[tuple[str, Any]]) -> None:
    for name, request in sequence:
        run_op(t, name, request)


def _with_recent(t: Target, request: Any) -> Any:
    if getattr(request, "message_id", None) == RECENT:
        request = type(request).FromString(request.SerializeToString())
        request.message_id = t.recent_ids[-1] if t.recent_ids else ""
    return request


def run_op(t: Target, name: str, request: Any) -> None:
    request = _with_recent(t, request)
    if name == "Consume":
        request, settle = request
        frames, _ = t.read_first(name, t.svc.Consume(request, timeout=0.5), request,
                                 limit=max(1, len(settle)), ok_deadline=True)
        for frame, (how, error) in zip(frames, settle, strict=False):
            if not frame.HasField("message"):
                t.fail("Consume sent a frame without a message")
            msg = frame.message
            t.recent_ids.append(msg.id)
            if how == "ack":
                t.call("Ack", t.svc.Ack,
                       service_pb2.AckRequest(queue=request.queue, message_id=msg.id))
            elif how == "nack":
                t.call("Nack", t.svc.Nack, service_pb2.NackRequest(
                    queue=request.queue, message_id=msg.id, error=error))
        return
    if name == "WatchStats":
        t.first_snapshot(request)
        return
    stub = t.svc if name in ("Enqueue", "Ack", "Nack") else t.admin
    code, resp = t.call(name, getattr(stub, name), request)
    # Auth is off on the fuzz target: the key RPCs work and refuse bad input cleanly.
    if name in API_KEY_RPCS and code not in API_KEY_CODES:
        t.fail(f"{name} answered {code.name}, expected one of OK, INVALID_ARGUMENT, NOT_FOUND")
    if name == "CreateQueue" and code == S.OK:
        t.created_queues.add(request.name)
    if name == "SetConfig":
        t.touched_keys.add(request.key)
    if name == "Enqueue" and code == S.OK:
        t.recent_ids.append(resp.message_id)
        del t.recent_ids[:-20]


# ---- raw bytes ------------------------------------------------------------------------------

UNARY_PATHS = [f"/fila.v1.FilaService/{m}" for m in ("Enqueue", "Ack", "Nack")] + [
    f"/fila.v1.FilaAdmin/{m}" for m in (
        "CreateQueue", "DeleteQueue", "SetConfig", "GetConfig", "ListConfig", "GetStats",
        "Redrive", "ListQueues", "CreateApiKey", "RevokeApiKey", "ListApiKeys", "SetAcl",
        "GetAcl", "GetQueue", "UpdateQueue", "TestHook", "ListMessages", "GetServerInfo")]
STREAM_PATHS = ["/fila.v1.FilaService/Consume", "/fila.v1.FilaAdmin/WatchStats"]
CRAFTED = [
    b"\x0a\x02\xc3\x28",                      # field 1: invalid UTF-8
    b"\x0a\x03fz-\xff",                       # field 1: invalid UTF-8 after a valid prefix
    b"\x08\x01",                              # field 1 as a varint (wrong wire type)
    b"\x0d\x00\x00\x00\x00",                  # field 1 as fixed32
    b"\x0a\xff\xff\xff\xff\x0f",              # field 1 with a 4 GiB length
    b"\x18" + b"\xff" * 9 + b"\x01",          # field 3: a varint past 64 bits
    b"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x12\x04\x0a\x02\xc3\x28",              # a nested message with bad UTF-8 inside
    b"\x0a\x08fz-plain\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # delay_ms = 2^64 - 1
    b"\x0a\x08fz-plain\x18\xff\xff\xff\xff\x0f",                      # prefetch = 2^32 - 1
    b"\xf8\xff\xff\xff\x0f\x01",              # field 2^29 - 1
    b"\x00", b"\x07", b"\x0c", b"",           # field 0, end-group, group without start
]


def _request(o: tuple[str, Any]) -> Any:
    return o[1][0] if isinstance(o[1], tuple) else o[1]


def _mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, pos, chunk in edits:
        i = pos % (len(out) + 1)
        if kind == "flip" and out:
            out[i % len(out)] ^= chunk[0] or 0xFF
        elif kind == "truncate":
            del out[i:]
        elif kind == "insert":
            out[i:i] = chunk
        elif kind == "delete":
            del out[i:i + len(chunk)]
    return bytes(out)


raw_body = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(CRAFTED),
    st.builds(_mutate, ops.map(lambda o: _request(o).SerializeToString()).filter(
        lambda b: len(b) < 100_000),
              st.lists(st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete"]),
                                 st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
                       min_size=1, max_size=3)),
)
RAW_EXTRA = frozenset({S.UNKNOWN, S.INTERNAL})


def _identity(b: bytes) -> bytes:
    return b


def run_raw(t: Target, path: str, body: bytes) -> None:
    def check_raw(code: S, details: str) -> None:
        # grpc answers UNKNOWN "Unexpected <class 'DecodeError'>" for bytes that do not decode;
        # any other UNKNOWN/INTERNAL came out of our handler.
        decode = code in RAW_EXTRA and "DecodeError" in details
        if not decode:
            t.check(path, body, code, details,
                    extra=frozenset({S.DEADLINE_EXCEEDED}) if path in STREAM_PATHS
                    else frozenset())

    if path in STREAM_PATHS:
        call = t.channel.unary_stream(path, request_serializer=_identity,
                                      response_deserializer=_identity)(body, timeout=0.5)
        try:
            for _frame in call:
                break
        except grpc.RpcError as exc:
            check_raw(exc.code(), exc.details() or "")
        finally:
            call.cancel()  # type: ignore[no-untyped-call]
        return
    fn = t.channel.unary_unary(path, request_serializer=_identity,
                               response_deserializer=_identity)
    try:
        fn(body, timeout=30)
    except grpc.RpcError as exc:
        check_raw(exc.code(), exc.details() or "")


# ---- Lua return values ----------------------------------------------------------------------

LUA_SCALARS = [
    "nil", "true", "false", "0", "1", "-1", "0.5", "-0.0", "3.7", "2^31", "2^32", "2^32 - 1",
    "2^53", "2^62", "2^63", "2^64", "-2^63", "1e308", "-1e308", "1e400", "0/0", "1/0", "-1/0",
    "math.huge", "-math.huge", "math.maxinteger", "math.mininteger", "math.maxinteger + 1",
    "4294967296", "4611686018427387904", '""', '"retry"', '"dlq"', '"DLQ"', '"x"',
    '"\\0"', '"\\255\\254"', '"é"', "string.rep('k', 256)", "string.rep('k', 257)",
    "string.rep('k', 100000)", "string.rep('k', 900000)", "function() end",
    "coroutine.create(function() end)",
    "setmetatable({}, {__tostring = function() error('x') end})",
    "(function() local t = {} for i = 1, 65 do t[i] = 'k' .. i end return t end)()",
    "(function() local t = {} for i = 1, 20000 do t[i] = 'k' .. i end return t end)()",
    "{[1] = 'a', [3] = 'c'}", "{[0] = 'z'}", "{1, 2, 3}", "{'a', {}, 'b'}", "{a = 1}",
]
HOOK_FIELDS = ["fairness_key", "weight", "throttle_keys", "delay_ms", "action"]


def lua_value(depth: int = 2) -> st.SearchStrategy[str]:
    scalar = st.sampled_from(LUA_SCALARS)
    if depth == 0:
        return scalar
    child = lua_value(depth - 1)
    table = st.lists(st.one_of(child, st.tuples(st.sampled_from([*HOOK_FIELDS, "x", "1"]), child)
                               .map(lambda kv: f'["{kv[0]}"] = {kv[1]}')), max_size=4).map(
        lambda items: "{" + ", ".join(items) + "}")
    return st.one_of(scalar, scalar, table)


LUA_NUMBERS = [v for v in LUA_SCALARS if v[0] in "-0123456789m" or v.startswith("2^")]
LUA_STRINGS = [v for v in LUA_SCALARS if v.startswith(("'", '"', "string."))]
LUA_TABLES = [v for v in LUA_SCALARS if v.startswith(("{", "(function"))]
_typed = {  # mostly the right type with extreme values, sometimes anything at all
    "fairness_key": st.one_of(st.sampled_from(LUA_STRINGS), st.sampled_from(LUA_STRINGS),
                              lua_value(1)),
    "weight": st.one_of(st.sampled_from(LUA_NUMBERS), st.sampled_from(LUA_NUMBERS),
                        lua_value(1)),
    "throttle_keys": st.one_of(st.sampled_from(LUA_TABLES), st.sampled_from(LUA_TABLES),
                               lua_value(2)),
    "delay_ms": st.one_of(st.sampled_from(LUA_NUMBERS), st.sampled_from(LUA_NUMBERS),
                          lua_value(1)),
    "action": st.one_of(st.sampled_from(LUA_STRINGS), lua_value(1)),
}
typed_table = st.fixed_dictionaries({}, optional=_typed).map(
    lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}")
lua_return = st.one_of(
    typed_table, typed_table, typed_table,
    st.dictionaries(st.sampled_from(HOOK_FIELDS), lua_value(), max_size=5).map(
        lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"),
    lua_value(),
    st.tuples(lua_value(0), lua_value(0)).map(lambda p: f"{p[0]}, {p[1]}"),
    st.sampled_from(["error('boom')", "error({})", "error(nil)", "nil"]),
)


def lua_script(enqueue_ret: str, failure_ret: str) -> str:
    return (f"function on_enqueue(msg)\n  return {enqueue_ret}\nend\n"
            f"function on_failure(msg)\n  return {failure_ret}\nend\n")


def run_lua(t: Target, enqueue_ret: str, failure_ret: str, delay_ms: int) -> None:
    src = lua_script(enqueue_ret, failure_ret)
    for hook in ("on_enqueue", "on_failure"):
        req = admin_pb2.TestHookRequest(hook=hook, script=src, headers={"tenant": "a"},
                                        payload_size=10, queue="q", attempts=1, error="e",
                                        message_id="01a22f5e-473c-7000-b816-fe27c87cbba6")
        t.call("TestHook", t.admin.TestHook, req)
    t.queue_counter += 1
    q = f"fz-lua-{os.getpid()}-{t.queue_counter}"
    req_c = admin_pb2.CreateQueueRequest(name=q, config=admin_pb2.QueueConfig(
        on_enqueue_script=src, on_failure_script=src, visibility_timeout_ms=1000))
    code, _ = t.call("CreateQueue", t.admin.CreateQueue, req_c)
    if code != S.OK:
        return
    for i in range(2):
        t.call("Enqueue", t.svc.Enqueue, service_pb2.EnqueueRequest(
            queue=q, headers={"tenant": "a"}, payload=b"m%d" % i, delay_ms=delay_ms * i))
    creq = service_pb2.ConsumeRequest(queue=q, prefetch=1)
    frames, _ = t.read_first("Consume", t.svc.Consume(creq, timeout=0.5), creq,
                             ok_deadline=True)
    for frame in frames:
        if frame.HasField("message"):
            t.call("Nack", t.svc.Nack, service_pb2.NackRequest(
                queue=q, message_id=frame.message.id, error="fuzz"))
    for name in (q, f"{q}.dlq"):
        t.call("GetStats", t.admin.GetStats, admin_pb2.GetStatsRequest(queue=name))
        t.call("ListMessages", t.admin.ListMessages, admin_pb2.ListMessagesRequest(queue=name))
    t.first_snapshot(admin_pb2.WatchStatsRequest(queue=q))
    code, _ = t.call("DeleteQueue", t.admin.DeleteQueue, admin_pb2.DeleteQueueRequest(queue=q))
    if code != S.OK:
        t.fail(f"DeleteQueue({q!r}) answered {code.name}")


# ---- the tests ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    workdir: Path = tmp_path_factory.mktemp("fuzz-server")
    server = ServerProcess(workdir).start()
    t = Target(server)
    yield t
    t.close()
    server.kill()


def _ops(*items: tuple[str, Any]) -> list[tuple[str, Any]]:
    return [Op(item) for item in items]


_hooked = "fz-hooked"
# Explicit examples: failures seen on main, so that every CI run tries them (cheap).
KNOWN_SEQUENCES = [
    _ops(("SetConfig", admin_pb2.SetConfigRequest(key="concurrency.k", value="1e30")),
         ("WatchStats", admin_pb2.WatchStatsRequest())),
    _ops(("SetConfig", admin_pb2.SetConfigRequest(key="throttle.k", value="1e-20,1")),
         ("Enqueue", service_pb2.EnqueueRequest(queue=_hooked, headers={"tk": "k"})),
         ("Enqueue", service_pb2.EnqueueRequest(queue=_hooked, headers={"tk": "k"})),
         ("Consume", (service_pb2.ConsumeRequest(queue=_hooked), [("leave", "")])),
         ("GetStats", admin_pb2.GetStatsRequest(queue=_hooked))),
    _ops(("SetConfig", admin_pb2.SetConfigRequest(key="concurrency.k", value="1" + "0" * 30)),
         ("Enqueue", service_pb2.EnqueueRequest(queue=_hooked, headers={"tk": "k"})),
         ("Consume", (service_pb2.ConsumeRequest(queue=_hooked), [("leave", "")])),
         ("WatchStats", admin_pb2.WatchStatsRequest(top_keys=7))),
    _ops(("Enqueue", service_pb2.EnqueueRequest(queue=_hooked, headers={"w": "4294967296"})),
         ("Consume", (service_pb2.ConsumeRequest(queue=_hooked), [("ack", "")]))),
    _ops(("Enqueue", service_pb2.EnqueueRequest(queue="fz-plain", delay_ms=2**62)),
         ("ListMessages", admin_pb2.ListMessagesRequest(queue="fz-plain"))),
    _ops(("Enqueue", service_pb2.EnqueueRequest(queue=_hooked)),
         ("Consume", (service_pb2.ConsumeRequest(queue=_hooked),
                      [("nack", "e" * (2 * 2**20 + 1))]))),
    _ops(("CreateQueue", admin_pb2.CreateQueueRequest(
        name="fz-big-script", config=admin_pb2.QueueConfig(
            on_enqueue_script="function on_enqueue(m) return {} end --" + "y" * 2**20)))),
    _ops(("TestHook", admin_pb2.TestHookRequest(
        hook="on_enqueue", script="function on_enqueue(m) return {} end --" + "y" * 2**20))),
    _ops(("UpdateQueue", admin_pb2.UpdateQueueRequest(
        name="fz-plain", on_failure_script="-- " + "y" * (2**20 + 10)))),
]


def _known(*examples: list[tuple[str, Any]]) -> Callable[[Any], Any]:
    def wrap(fn: Any) -> Any:
        for seq in reversed(examples):
            fn = example(sequence=seq)(fn)
        return fn
    return wrap


@FUZZ
@given(sequence=st.lists(ops, min_size=1, max_size=6))
@_known(*KNOWN_SEQUENCES)
def test_fuzz_rpc_sequences(target: Target, sequence: list[tuple[str, Any]]) -> None:
    target.run(lambda: run_ops(target, sequence))


@FUZZ
@given(path=st.sampled_from(UNARY_PATHS + STREAM_PATHS), body=raw_body)
def test_fuzz_raw_bytes(target: Target, path: str, body: bytes) -> None:
    target.run(lambda: run_raw(target, path, body))


@FUZZ
@given(enqueue_ret=lua_return, failure_ret=lua_return,
       delay_ms=st.sampled_from([0, 0, 1, 2**32, 2**62]))
@example(enqueue_ret="{weight = 2^32}", failure_ret="nil", delay_ms=0)
@example(enqueue_ret="{weight = math.maxinteger}", failure_ret="nil", delay_ms=0)
@example(enqueue_ret="{delay_ms = 2^62}", failure_ret="nil", delay_ms=0)
@example(enqueue_ret="{delay_ms = 0/0, weight = 1/0}", failure_ret="nil", delay_ms=0)
@example(enqueue_ret="{fairness_key = string.rep('k', 100000)}", failure_ret="nil", delay_ms=0)
@example(enqueue_ret="{throttle_keys = (function() local t = {} for i = 1, 20000 do "
                     "t[i] = 'k' .. i end return t end)()}", failure_ret="nil", delay_ms=0)
@example(enqueue_ret="nil", failure_ret="{action = 'retry', delay_ms = 2^62}", delay_ms=0)
@example(enqueue_ret="nil", failure_ret="{action = string.rep('k', 900000)}", delay_ms=0)
def test_fuzz_lua_return_values(target: Target, enqueue_ret: str, failure_ret: str,
                                delay_ms: int) -> None:
    target.run(lambda: run_lua(target, enqueue_ret, failure_ret, delay_ms))


def test_api_key_rpcs_answer_empty_requests_cleanly(target: Target) -> None:
    def body() -> None:
        for name in sorted(API_KEY_RPCS):
            request = getattr(admin_pb2, f"{name}Request")()
            run_op(target, name, request)
    target.run(body)


PREFETCH_CAP_PROBE = 1100  # more than the server's prefetch cap (max_prefetch, 1000)


def test_huge_prefetch_is_capped(target: Target) -> None:
    """ConsumeRequest.prefetch is "capped by a server limit": 2^32-1 must not lease everything."""
    def body() -> None:
        q = "fz-prefetch"
        t = target
        t.call("DeleteQueue", t.admin.DeleteQueue, admin_pb2.DeleteQueueRequest(queue=q))
        t.admin.CreateQueue(admin_pb2.CreateQueueRequest(name=q), timeout=10)
        for start in range(0, PREFETCH_CAP_PROBE, 50):  # 50 in flight at a time
            futures = [t.svc.Enqueue.future(service_pb2.EnqueueRequest(
                queue=q, payload=b"%d" % i), timeout=60)
                for i in range(start, min(start + 50, PREFETCH_CAP_PROBE))]
            for f in futures:
                f.result()
        req = service_pb2.ConsumeRequest(queue=q, prefetch=2**32 - 1)
        call = t.svc.Consume(req)
        try:
            # Wait until the stream holds as many leases as it is going to get.
            seen: list[int] = []

            def settled() -> bool:
                seen.append(t.admin.GetStats(admin_pb2.GetStatsRequest(queue=q),
                                             timeout=10).in_flight)
                return len(seen) >= 5 and seen[-1] > 0 and len(set(seen[-5:])) == 1
            t._wait(settled, 30, "the consume stream's leases to settle")
            assert seen[-1] < PREFETCH_CAP_PROBE, \
                f"prefetch 2^32-1 leased all {seen[-1]} messages: no server cap"
        finally:
            call.cancel()
        t.call("DeleteQueue", t.admin.DeleteQueue, admin_pb2.DeleteQueueRequest(queue=q))
    target.run(body)


def test_no_server_crash_during_the_module(target: Target) -> None:
    """Crashes are also failures of the example that caused them; this lists them all."""
    target.begin()
    target.end()
    assert not target.crashes, "\n\n".join(target.crashes)
