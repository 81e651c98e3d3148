"""Python throughput against the engine's own Rust consumer, in the same run.

    python bench/throughput.py [--n 2000000] [--runs 5]

Each run measures, on fresh runtimes (default settings: one unpaced synthetic provider,
`stream_quotes(["AAPL"])`):

- quotes/s through the sync iterator (`for quote in stream`) and through `async for` (the
  native `__anext__`), vs the Rust quote iterator (`for quote in stream`: symbol name and
  price per tick); and, for comparison, `async for` through the previous path: an async
  generator over `read_quotes()` batches (one generator step per quote);
- ticks/s through `stream.read_ticks()` (NumPy structured arrays, one copy per batch; the
  script touches every tick with a vectorised sum), vs a Rust bulk reader checksumming each
  tick;
- the cost of `await coordinator.acquire("ibkr")` and of the sync call, vs Rust's
  `coordinator.acquire("ibkr")`, on a budget that never refuses.

Medians over the runs; ratios are Python / Rust of rates (or Rust / Python of costs).
"""

import argparse
import asyncio
import platform
import statistics
import time

import numpy as np

from market_data_pipeline import _native
from market_data_pipeline.orchestration import PipelineRuntime, RateCoordinator


def py_sync_quotes(n):
    with PipelineRuntime() as rt:
        stream = rt.stream_quotes(["AAPL"])
        it = iter(stream)
        next(it)
        t = time.perf_counter()
        k = 0
        s = 0.0
        for q in it:
            s += q.price
            k += 1
            if k >= n:
                break
        dt = time.perf_counter() - t
        stream.close()
    return n / dt


async def agen_quotes(native, wait_sec=0.05):
    """The previous `async for` path (before the native `__anext__`): batches of ready quotes
    yielded one by one by an async generator; an executor thread waits when none is ready."""
    loop = asyncio.get_running_loop()
    while True:
        batch = native.read_quotes()
        if batch is None:
            return
        if batch:
            for quote in batch:
                yield quote
        else:
            await loop.run_in_executor(None, native.wait, wait_sec)


class AgenStream:
    def __init__(self, stream):
        self.stream = stream

    def __aiter__(self):
        return agen_quotes(self.stream._native)


def py_async_quotes(n, through_generator=False):
    async def main():
        async with PipelineRuntime() as rt:
            stream = rt.stream_quotes(["AAPL"])
            it = AgenStream(stream) if through_generator else stream
            k = 0
            s = 0.0
            t = None
            async for q in it:
                if t is None:
                    t = time.perf_counter()
                    continue
                s += q.price
                k += 1
                if k >= n:
                    break
            dt = time.perf_counter() - t
            await stream.close()
            return n / dt

    return asyncio.run(main())


def py_numpy_ticks(n):
    with PipelineRuntime() as rt:
        stream = rt.stream_quotes(["AAPL"])
        stream.read_ticks(1, timeout=5.0)
        t = time.perf_counter()
        k = 0
        s = 0
        while k < n:
            a = stream.read_ticks(min(65536, n - k), timeout=5.0)
            if a is None:
                break
            s += int(a["price"].sum()) + int(a["bid"].sum())
            k += len(a)
        dt = time.perf_counter() - t
        stream.close()
    return k / dt


def acquire_costs(n):
    c = RateCoordinator()
    c.register_provider("ibkr", capacity=10 * n, refill_rate=1_000_000_000)

    t = time.perf_counter()
    for _ in range(n):
        c.acquire("ibkr")
    sync_ns = (time.perf_counter() - t) / n * 1e9

    async def main():
        t = time.perf_counter()
        for _ in range(n):
            await c.acquire("ibkr")
        return (time.perf_counter() - t) / n * 1e9

    async_ns = asyncio.run(main())
    rust_ns = _native.rust_acquire(n) / n * 1e9
    return sync_ns, async_ns, rust_ns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    n = args.n
    rows = {k: [] for k in ["rust_q", "sync_q", "async_q", "agen_q", "rust_t", "numpy_t", "acq_sync", "acq_async", "acq_rust"]}
    for r in range(args.runs):
        rows["rust_q"].append(n / _native.rust_stream_quotes(n))
        rows["sync_q"].append(py_sync_quotes(n))
        rows["async_q"].append(py_async_quotes(n))
        rows["agen_q"].append(py_async_quotes(n, through_generator=True))
        rows["rust_t"].append(n / _native.rust_stream_ticks(n))
        rows["numpy_t"].append(py_numpy_ticks(n))
        s, a, rr = acquire_costs(200_000)
        rows["acq_sync"].append(s)
        rows["acq_async"].append(a)
        rows["acq_rust"].append(rr)
        print(
            f"run {r}: rust quotes {rows['rust_q'][-1]/1e6:.2f} M/s, sync {rows['sync_q'][-1]/1e6:.2f}, "
            f"async {rows['async_q'][-1]/1e6:.2f}, async via generator {rows['agen_q'][-1]/1e6:.2f}; rust ticks {rows['rust_t'][-1]/1e6:.1f} M/s, "
            f"numpy {rows['numpy_t'][-1]/1e6:.1f}; acquire rust {rr:.0f} ns, sync {s:.0f} ns, await {a:.0f} ns",
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in rows.items()}
    ratio = lambda a, b: statistics.median([x / y for x, y in zip(rows[a], rows[b])])
    print()
    print(f"python {platform.python_version()}, numpy {np.__version__}, n={n}, runs={args.runs} (medians)")
    print(f"quotes/s  rust iterator   {med['rust_q']/1e6:8.2f} M/s")
    print(f"quotes/s  python for      {med['sync_q']/1e6:8.2f} M/s   ratio {ratio('sync_q','rust_q'):.2f}")
    print(f"quotes/s  python async for{med['async_q']/1e6:8.2f} M/s   ratio {ratio('async_q','rust_q'):.2f}")
    print(f"quotes/s  async generator {med['agen_q']/1e6:8.2f} M/s   ratio {ratio('agen_q','rust_q'):.2f}   (previous async for)")
    print(f"async for native / generator          ratio {ratio('async_q','agen_q'):.2f}")
    print(f"ticks/s   rust bulk read  {med['rust_t']/1e6:8.1f} M/s")
    print(f"ticks/s   numpy batches   {med['numpy_t']/1e6:8.1f} M/s   ratio {ratio('numpy_t','rust_t'):.2f}")
    print(f"acquire   rust            {med['acq_rust']:8.0f} ns")
    print(f"acquire   python sync     {med['acq_sync']:8.0f} ns   ratio {ratio('acq_sync','acq_rust'):.1f}x")
    print(f"acquire   python await    {med['acq_async']:8.0f} ns   ratio {ratio('acq_async','acq_rust'):.1f}x")


if __name__ == "__main__":
    main()
