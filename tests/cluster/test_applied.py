"""A replica's applied state (pure): entries and the last applied sequence in one batch."""

from __future__ import annotations

import pytest

from fila.cluster.applied import applied_key, entries_batch, read_applied
from fila.server.store import MemoryStore


def test_entries_and_sequence_land_together() -> None:
    store = MemoryStore()
    assert read_applied(store, "orders") == 0
    store.write(entries_batch("orders", [(1, [(b"a", b"1"), (b"b", b"2")]), (2, [(b"a", None)])]))
    assert store.get(b"a") is None and store.get(b"b") == b"2"
    assert read_applied(store, "orders") == 2
    assert read_applied(store, "other") == 0
    assert store.get(applied_key("orders")) == (2).to_bytes(8, "big")


def test_out_of_order_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="out of order"):
        entries_batch("q", [(2, []), (2, [])])


def test_no_entries_write_nothing() -> None:
    assert len(entries_batch("q", [])) == 0
