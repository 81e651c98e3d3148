"""`async for` over the native stream: ready quotes come from a done awaitable, an empty ring
waits on an executor thread. Every stream here is bounded; nothing depends on timing."""

import asyncio
import threading

from market_data_pipeline import _native
from market_data_pipeline.orchestration import (
    PipelineRuntime,
    PipelineRuntimeSettings,
    SourceRegistry,
    SourceRouter,
)

N = 20_000


def finite_runtime(n=N):
    return PipelineRuntime(
        PipelineRuntimeSettings(providers={"synthetic": {"kind": "synthetic", "max_ticks": n}})
    )


def fields(q):
    return (q.symbol, q.seq, q.price, q.bid, q.ask, q.size, q.kind)


def test_async_for_yields_exactly_the_produced_quotes_in_order():
    with finite_runtime() as runtime:
        expected = [fields(q) for q in runtime.stream_quotes(["AAPL", "MSFT"])]

    async def main():
        async with finite_runtime() as runtime:
            return [fields(q) async for q in runtime.stream_quotes(["AAPL", "MSFT"])]

    got = asyncio.run(main())
    assert len(got) == N
    assert got == expected
    seqs = [f[1] for f in got]
    assert seqs == list(range(seqs[0], seqs[0] + N))


def test_ready_quotes_come_from_a_reused_done_awaitable():
    async def main():
        async with finite_runtime(1_000) as runtime:
            stream = runtime.stream_quotes(["AAPL"])
            native = stream.__aiter__()
            first = await native.__anext__()
            # Everything ahead is produced; once one is buffered the rest need no wait.
            seen = []
            while True:
                try:
                    aw = native.__anext__()
                except StopAsyncIteration:
                    break
                if isinstance(aw, _native.ReadyQuote):
                    seen.append(type(aw))
                seen.append(await aw)
            return first, seen

    first, seen = asyncio.run(main())
    quotes = [x for x in seen if not isinstance(x, type)]
    assert [q.seq for q in quotes] == list(range(first.seq + 1, first.seq + 1_000))
    assert seen.count(_native.ReadyQuote) >= 1


def test_two_pending_ready_awaitables_keep_their_own_quotes():
    async def main():
        async with finite_runtime(1_000) as runtime:
            native = runtime.stream_quotes(["AAPL"]).__aiter__()
            first = await native.__anext__()
            a, b = native.__anext__(), native.__anext__()
            return first, await b, await a

    first, b, a = asyncio.run(main())
    assert (a.seq, b.seq) == (first.seq + 1, first.seq + 2)


def test_break_mid_stream_then_runtime_shuts_down_cleanly():
    async def main():
        async with finite_runtime() as runtime:
            stream = runtime.stream_quotes(["AAPL"])
            seen = []
            async for q in stream:
                seen.append(q.seq)
                if len(seen) == 100:
                    break
            # The stream goes on where the loop left it.
            async for q in stream:
                after = q.seq
                break
            report = await stream.close()
            await runtime.shutdown()
            return seen, after, report, stream.finished

    seen, after, report, finished = asyncio.run(main())
    assert seen == list(range(seen[0], seen[0] + 100))
    assert after == seen[-1] + 1
    assert report is not None and finished


class Gated:
    """A Python source that produces nothing until `gate` is set, then `ticks` quotes, then
    ends: the consumer's ring is empty for sure until the test opens the gate."""

    gate = None

    def __init__(self, symbols, ticks=500, **params):
        self.symbol, self.left = symbols[0], ticks

    def poll(self, max_ticks):
        if not Gated.gate.is_set():
            return []
        if self.left == 0:
            return None
        n = min(max_ticks, self.left, 64)
        self.left -= n
        return [{"symbol": self.symbol, "bid": 10.0, "ask": 10.5} for _ in range(n)]


def gated_router(ticks):
    Gated.gate = threading.Event()
    registry = SourceRegistry()
    registry.register("gated", Gated)
    return SourceRouter(sources=[registry.load("gated")(symbols=["IBM"], ticks=ticks)])


def test_empty_ring_wait_completes_when_ticks_arrive():
    async def main():
        stream = gated_router(300).stream()
        native = stream.__aiter__()
        aw = native.__anext__()
        # Nothing was produced: a real wait, not a done awaitable.
        assert not isinstance(aw, _native.ReadyQuote)
        task = asyncio.ensure_future(aw)
        await asyncio.sleep(0)
        assert not task.done()
        Gated.gate.set()
        first = await task
        rest = [q async for q in stream]
        await stream.close()
        return first, rest

    first, rest = asyncio.run(main())
    assert first.symbol == "IBM" and first.bid == 10.0
    assert len(rest) == 299


def test_regression_cancelled_wait_leaves_the_stream_usable():
    """A cancelled `async for` wait used to return while the executor thread still held the
    stream in `wait`: the next call on the stream failed with "Already borrowed"."""

    async def main():
        stream = gated_router(10).stream()
        task = asyncio.ensure_future(stream.__aiter__().__anext__())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert not stream.finished
        Gated.gate.set()
        rest = [q async for q in stream]
        await stream.close()
        return task.cancelled(), rest

    cancelled, rest = asyncio.run(main())
    assert cancelled
    assert len(rest) == 10


def test_ready_awaitable_also_finishes_through_stop_iteration():
    """The iterator protocol (what CPython < 3.10 uses, and `yield from`) gives the same quote."""

    async def main():
        async with finite_runtime(1_000) as runtime:
            native = runtime.stream_quotes(["AAPL"]).__aiter__()
            first = await native.__anext__()
            aw = native.__anext__()
            assert isinstance(aw, _native.ReadyQuote)
            try:
                next(aw.__await__())
            except StopIteration as e:
                second = e.value
            try:
                next(aw.__await__())
            except StopIteration as e:
                again = e.value
            return first, second, again

    first, second, again = asyncio.run(main())
    assert second.seq == first.seq + 1 and again is None
