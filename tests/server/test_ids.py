"""Message ids: canonical UUIDv7 text that sorts in creation order (the store relies on it)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from fila.server.ids import Uuid7Generator, is_uuid


def test_ids_are_canonical_uuidv7_text() -> None:
    g = Uuid7Generator()
    for _ in range(100):
        text = g.new(1_764_560_000_000)
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
        assert is_uuid(text)


def test_the_timestamp_is_the_millisecond_passed_in() -> None:
    ms = 1_764_560_123_456
    text = Uuid7Generator().new(ms)
    assert int(text.replace("-", "")[:12], 16) == ms


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=3000))
def test_ids_sort_in_creation_order_even_when_the_clock_stalls_or_steps_back(
        steps: list[int]) -> None:
    # Steps of 0 pile many ids into one millisecond (past the 4096 counter), and a
    # step of 3 is taken as going back 2 ms: order and uniqueness must hold regardless.
    g = Uuid7Generator()
    ms = 1_764_560_000_000
    made = []
    for step in steps:
        ms += -2 if step == 3 else step
        made.append(g.new(ms))
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_more_than_4096_ids_in_one_millisecond_stay_ordered() -> None:
    g = Uuid7Generator()
    made = [g.new(1_764_560_000_000) for _ in range(10_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_a_seed_repeats_the_ids_and_different_seeds_do_not() -> None:
    # Tests seed the generator so a replayed Hypothesis example makes the same ids.
    a, b, c = Uuid7Generator(b"s"), Uuid7Generator(b"s"), Uuid7Generator(b"t")
    ids_a = [a.new(1_700_000_000_000) for _ in range(5)]
    assert ids_a == [b.new(1_700_000_000_000) for _ in range(5)]
    assert set(ids_a).isdisjoint(c.new(1_700_000_000_000) for _ in range(5))
