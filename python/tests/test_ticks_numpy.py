"""The batch path: raw ticks as NumPy structured arrays over the 64-byte layout."""

import asyncio

import numpy as np

from market_data_pipeline import PRICE_SCALE, TICK_DTYPE
from market_data_pipeline.orchestration import PipelineRuntime, PipelineRuntimeSettings

N = 50_000


def finite_runtime():
    return PipelineRuntime(
        PipelineRuntimeSettings(providers={"synthetic": {"kind": "synthetic", "max_ticks": N}})
    )


def test_dtype_is_the_64_byte_tick():
    assert TICK_DTYPE.itemsize == 64
    assert TICK_DTYPE.names[:3] == ("ts_event", "ts_recv", "price")


def test_batches_hold_every_tick_once_in_order():
    with finite_runtime() as runtime:
        stream = runtime.stream_quotes(["AAPL", "MSFT"])
        parts = []
        while (a := stream.read_ticks(8192, timeout=1.0)) is not None:
            assert a.dtype == TICK_DTYPE and len(a) <= 8192
            parts.append(a)
        ticks = np.concatenate(parts)
    assert len(ticks) == N
    assert np.all(np.diff(ticks["seq"].astype(np.int64)) == 1)
    assert set(np.unique(ticks["kind"])) <= {1, 2, 3}
    quotes = ticks[ticks["kind"] != 1]
    assert np.all(quotes["ask"] >= quotes["bid"]) and np.all(quotes["bid"] > 0)
    assert float(quotes["bid"][0]) / PRICE_SCALE > 0


def test_quotes_and_batches_mix_without_loss():
    with finite_runtime() as runtime:
        stream = runtime.stream_quotes(["AAPL"])
        it = iter(stream)
        first = [next(it) for _ in range(10)]
        rest = 0
        while (a := stream.read_ticks(4096, timeout=1.0)) is not None:
            rest += len(a)
    assert len(first) + rest == N


def test_async_batches():
    async def main():
        async with finite_runtime() as runtime:
            stream = runtime.stream_quotes(["AAPL"])
            n = 0
            while (a := await stream.aread_ticks(8192)) is not None:
                n += len(a)
            return n

    assert asyncio.run(main()) == N
