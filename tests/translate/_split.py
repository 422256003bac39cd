"""Hypothesis helpers: cut a byte stream into arbitrary reads."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def reads(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at arbitrary points (empty reads included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=min(len(data), 40))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def all_single_byte(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]
