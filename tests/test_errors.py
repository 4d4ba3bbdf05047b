"""The error table: reasons decide the class; without one, the status code does."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from fila import errors
from fila._client_common import CONNECT_FAILURE_PREFIX, _map_error
from fila.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    FilaError,
    InvalidArgumentError,
    MessageNotFoundError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    QueueNotFoundError,
    RPCError,
    StorageError,
    UnauthenticatedError,
    UnavailableError,
    from_status,
)
from fila.server.model import IllegalTransition

# every class a server can name by reason
NAMED = [InvalidArgumentError, NotFoundError, QueueNotFoundError, MessageNotFoundError,
         AlreadyExistsError, FailedPreconditionError, OverloadedError, UnavailableError,
         StorageError, UnauthenticatedError, PermissionDeniedError]


def test_every_error_class_in_the_module_is_covered() -> None:
    classes = {v for v in vars(errors).values()
               if isinstance(v, type) and issubclass(v, FilaError)}
    assert classes == {*NAMED, FilaError, RPCError}  # the two bases send no reason


def test_reasons_are_distinct_and_only_the_bases_have_none() -> None:
    reasons = [cls.reason for cls in NAMED]
    assert all(reasons) and len(set(reasons)) == len(reasons)
    assert FilaError.reason == RPCError.reason == ""


@pytest.mark.parametrize("cls", NAMED, ids=lambda c: c.__name__)
@pytest.mark.parametrize("scoped", [False, True], ids=["queue-rpc", "message-rpc"])
def test_the_reason_decides_the_class_whatever_the_text(cls: type[FilaError],
                                                        scoped: bool) -> None:
    for text in ('queue "q" does not exist', "message gone", ""):
        err = from_status(cls.code_name, text, reason=cls.reason, message_scoped=scoped)
        assert type(err) is cls
        assert err.message == text


@pytest.mark.parametrize(("code", "text", "scoped", "expected"), [
    ("NOT_FOUND", 'queue "q" does not exist', False, QueueNotFoundError),
    ("NOT_FOUND", 'queue "q" does not exist', True, QueueNotFoundError),
    ("NOT_FOUND", 'message "m" is not leased', False, QueueNotFoundError),
    ("NOT_FOUND", 'message "m" is not leased', True, MessageNotFoundError),
    ("INVALID_ARGUMENT", "bad", False, InvalidArgumentError),
    ("ALREADY_EXISTS", "dup", False, AlreadyExistsError),
    ("FAILED_PRECONDITION", "no", False, FailedPreconditionError),
    ("RESOURCE_EXHAUSTED", "busy", False, OverloadedError),
    ("UNAVAILABLE", "down", False, UnavailableError),
    ("INTERNAL", "disk", False, StorageError),
    ("UNAUTHENTICATED", "who", False, UnauthenticatedError),
    ("PERMISSION_DENIED", "no", False, PermissionDeniedError),
])
def test_without_a_reason_the_status_code_decides_as_in_the_published_sdk(
        code: str, text: str, scoped: bool, expected: type[FilaError]) -> None:
    for reason in ("", "SOMETHING_NEWER"):  # none, or one this client does not know
        err = from_status(code, text, reason=reason, message_scoped=scoped)
        assert type(err) is expected and err.message == text


def test_a_reason_that_contradicts_the_status_code_is_ignored() -> None:
    # e.g. another server using the same key for something else
    err = from_status("UNAVAILABLE", "x", reason=QueueNotFoundError.reason)
    assert type(err) is UnavailableError


def test_unknown_status_codes_stay_rpc_errors_with_their_code() -> None:
    err = from_status("UNIMPLEMENTED", "not here")
    assert type(err) is RPCError and err.code == grpc.StatusCode.UNIMPLEMENTED


def test_illegal_transition_is_a_failed_precondition() -> None:
    exc = IllegalTransition("cannot ack a message that is ready")
    assert isinstance(exc, FailedPreconditionError)
    assert (exc.code_name, exc.reason) == ("FAILED_PRECONDITION", "FAILED_PRECONDITION")


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any = None) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing


def test_map_error_reads_the_reason_from_trailing_metadata() -> None:
    trailing = (("other", "x"), (errors.REASON_KEY, "MESSAGE_NOT_FOUND"))
    err = _map_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, 'queue "q" text', trailing), "a:1")
    assert type(err) is MessageNotFoundError and err.message == 'queue "q" text'
    # the same status without it: the text rule of the published SDK
    err = _map_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, 'queue "q" text'), "a:1",
                     message_scoped=True)
    assert type(err) is QueueNotFoundError


def test_map_error_keeps_the_transport_rules_when_there_is_no_reason() -> None:
    refused = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect; Connection refused")
    err = _map_error(refused, "h:1")
    assert type(err) is UnavailableError
    assert err.message == f"{CONNECT_FAILURE_PREFIX}h:1: connection refused"
    too_big = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "Sent message larger than max")
    assert type(_map_error(too_big, "h:1")) is InvalidArgumentError
    # the broker's own RESOURCE_EXHAUSTED says so, and stays an OverloadedError
    full = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "storage full: larger than max",
                        ((errors.REASON_KEY, "OVERLOADED"),))
    assert type(_map_error(full, "h:1")) is OverloadedError
