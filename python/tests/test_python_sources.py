"""A source written in Python behind the Rust router: registered, loaded, routed."""

import asyncio
import itertools

import pytest

from market_data_pipeline.orchestration import SourceRegistry, SourceRouter


class PollingProvider:
    """A provider with the engine's protocol: `poll(max)` returns ready quotes, `None` at the end."""

    def __init__(self, symbols, ticks=500, **params):
        self.symbols, self.left, self.started, self.closed = symbols, ticks, False, False

    def start(self):
        self.started = True

    def poll(self, max_ticks):
        if self.left == 0:
            return None
        n = min(max_ticks, self.left, 64)
        self.left -= n
        return [
            {"symbol": self.symbols[0], "bid": 100.0, "ask": 100.02, "bid_size": 5, "ask_size": 7}
            for _ in range(n)
        ]

    def close(self):
        self.closed = True


class Q:
    def __init__(self, symbol, price):
        self.symbol, self.price, self.size = symbol, price, 10


class StreamingProvider:
    """A provider in the original's style: `async def stream()` yields quote objects."""

    def __init__(self, symbols, ticks=50, **params):
        self.symbols, self.ticks = symbols, ticks

    async def stream(self):
        for i in range(self.ticks):
            await asyncio.sleep(0)
            yield Q(self.symbols[0], 200.0 + i)


def test_registered_python_class_is_routed_like_an_engine_source():
    registry = SourceRegistry()
    registry.register("mine", PollingProvider)
    source = registry.load("mine")(symbols=["MSFT"], ticks=300)
    assert source.name == "mine"
    quotes = list(SourceRouter(sources=[source], strategy="first").stream())
    assert len(quotes) == 300
    q = quotes[0]
    assert (q.symbol, q.bid, q.ask, q.bid_size, q.ask_size, q.kind) == ("MSFT", 100.0, 100.02, 5, 7, "quote")
    assert q.price == pytest.approx((100.0 + 100.02) / 2)


def test_python_async_stream_provider_behind_the_router_async():
    async def main():
        router = SourceRouter(sources=[StreamingProvider(["AAPL"])])
        return [q async for q in router.stream()]

    quotes = asyncio.run(main())
    assert [q.price for q in quotes] == [200.0 + i for i in range(50)]
    assert all(q.kind == "trade" and q.size == 10 for q in quotes)


def test_python_source_fails_over_to_an_engine_stand_in():
    class Broken(PollingProvider):
        def poll(self, max_ticks):
            raise RuntimeError("feed lost")

    registry = SourceRegistry()
    registry.discover_entrypoints()
    router = SourceRouter(
        sources=[Broken(["AAPL"]), registry.load("polygon")(symbols=["AAPL"], max_ticks=200)]
    )
    # The router keeps probing the failed source after Polygon ends: take Polygon's 200.
    stream = router.stream()
    quotes = list(itertools.islice(stream, 200))
    assert {q.symbol for q in quotes} == {"AAPL"} and {q.source for q in quotes} == {1}
    report = stream.close()
    assert report.conserved


def test_entry_point_providers_are_discovered(tmp_path, monkeypatch):
    # The seed's `[project.entry-points."market_data.providers"]`, as an installed package
    # declares it (a dist-info directory on sys.path).
    dist = tmp_path / "example_provider-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: example-provider\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[market_data.providers]\nexample = test_python_sources:PollingProvider\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = SourceRegistry()
    assert "example" in registry.discover_entrypoints()
    source = registry.load("example")(symbols=["IBM"], ticks=10)
    assert [q.symbol for q in SourceRouter(sources=[source]).stream()] == ["IBM"] * 10
