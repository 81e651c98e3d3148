"""The engine's 64-byte tick as a NumPy structured dtype (little-endian, no padding).

Prices (`price`, `bid`, `ask`) are fixed-point integers with 9 decimals: divide by
``PRICE_SCALE`` for floats. ``kind`` is 1 trade, 2 quote, 3 both; ``symbol`` is the id in the
stream's symbol table (``stream.symbol_names`` maps ids to names)."""

import numpy as np

from ._native import PRICE_SCALE, TICK_BYTES

TICK_DTYPE = np.dtype(
    [
        ("ts_event", "<u8"),
        ("ts_recv", "<u8"),
        ("price", "<i8"),
        ("bid", "<i8"),
        ("ask", "<i8"),
        ("seq", "<u4"),
        ("size", "<u4"),
        ("bid_size", "<u4"),
        ("ask_size", "<u4"),
        ("symbol", "<u4"),
        ("source", "<u2"),
        ("kind", "u1"),
        ("flags", "u1"),
    ]
)
assert TICK_DTYPE.itemsize == TICK_BYTES

EMPTY = np.empty(0, dtype=TICK_DTYPE)


def ticks_from_bytes(buf):
    """A tick array over `buf` (a bytearray of whole records) without copying."""
    return np.frombuffer(buf, dtype=TICK_DTYPE)


__all__ = ["TICK_DTYPE", "PRICE_SCALE", "ticks_from_bytes"]
