"""asyncio helpers of the bindings: waiting on the engine without blocking the event loop,
and the adapter that lets a Python source object feed the engine's router."""

import asyncio
import inspect

__all__ = ["wait_quote", "acquire_later", "in_executor", "SourceDriver"]


async def wait_quote(native, wait_sec=0.05):
    """The rest of a native stream's `__anext__` when no quote was ready: an executor thread
    waits on the engine (GIL released) until one is, then the quote is taken on the loop's
    thread. Raises `StopAsyncIteration` once the stream has ended. Cancelled, it returns
    once the executor thread has let go of the stream."""
    loop = asyncio.get_running_loop()
    while True:
        waiting = loop.run_in_executor(None, native.wait, wait_sec)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The executor thread holds the stream until its wait (at most `wait_sec`) ends:
            # let it go before the cancellation reaches the caller, who may use the stream.
            await asyncio.wait([waiting])
            raise
        quote = native._take_ready()
        if quote is not None:
            return quote


async def acquire_later(coordinator, provider, n, delay):
    """A rate-limited acquire inside an event loop: sleep until the budget refills, retry."""
    while delay is not None:
        await asyncio.sleep(delay)
        delay = coordinator._try_acquire_delay(provider, n)


def in_executor(fn, *args):
    """Run `fn(*args)` (a blocking engine call that releases the GIL) on the loop's executor
    when called from a coroutine; else run it now. Returns an awaitable or the result."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args)
    return loop.run_in_executor(None, fn, *args)


def _fields(item):
    """A quote-like item as the tuple the engine reads."""
    if isinstance(item, tuple):
        return item
    get = item.get if isinstance(item, dict) else (lambda k, d=None: getattr(item, k, d))
    ts = get("ts_event")
    return (
        str(get("symbol")),
        float(get("price") or 0.0),
        float(get("bid") or 0.0),
        float(get("ask") or 0.0),
        int(get("size") or 0),
        int(get("bid_size") or 0),
        int(get("ask_size") or 0),
        None if ts is None else int(ts),
    )


class SourceDriver:
    """Adapts a Python source to one call, `poll(max)`: a list of tuples, `[]` when nothing is
    ready, `None` once the source has ended.

    The source provides either `poll(max)` (a list of quote-like items — objects or dicts with
    `symbol`, `price`, `bid`, `ask`, sizes, `ts_event` — `[]`, or `None` at the end), or
    `stream()`: a sync iterator or an async iterator of such items (an async one is driven by
    an event loop private to the engine thread that polls it). `start()` and `close()` are
    called when present (plain or `async def`)."""

    def __init__(self, source):
        self.source = source
        self.loop = None
        self.it = None
        self._call("start")
        if not hasattr(source, "poll"):
            it = source.stream()
            if hasattr(it, "__anext__"):
                self.loop = self.loop or asyncio.new_event_loop()
                self.it = it
                self.is_async = True
            else:
                self.it = iter(it)
                self.is_async = False

    def _call(self, name):
        fn = getattr(self.source, name, None)
        if fn is None:
            return None
        result = fn()
        if inspect.isawaitable(result):
            self.loop = self.loop or asyncio.new_event_loop()
            return self.loop.run_until_complete(result)
        return result

    def poll(self, max_items):
        if self.it is None:
            items = self.source.poll(max_items)
            if items is None:
                return None
            return [_fields(i) for i in items]
        out = []
        try:
            if self.is_async:
                out.append(_fields(self.loop.run_until_complete(self.it.__anext__())))
            else:
                for _ in range(min(max_items, 256)):
                    out.append(_fields(next(self.it)))
        except (StopIteration, StopAsyncIteration):
            if not out:
                return None
        return out

    def close(self):
        try:
            if self.is_async_gen():
                self.loop.run_until_complete(self.it.aclose())
            self._call("close")
        finally:
            if self.loop is not None:
                self.loop.close()

    def is_async_gen(self):
        return self.it is not None and getattr(self, "is_async", False) and hasattr(self.it, "aclose")
