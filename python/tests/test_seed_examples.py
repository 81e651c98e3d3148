"""Every Python example of the seed, verbatim (see `seed.py`), in asyncio and plain form."""

import asyncio

import pytest

import seed
from conftest import DEFAULT_PROVIDER_TICKS, IBKR_FAILS_AT, STANDIN_TICKS, Finished, Printed
from market_data_pipeline.orchestration import (
    CircuitBreakerOpen,
    PipelineRuntime,
    PipelineSettings,
    PipelineSpec,
    PipelineRuntimeSettings,
    SourceRegistry,
)


def run(mode, src, ns):
    return seed.run_async(src, ns) if mode == "async" else seed.run_sync(src, ns)


def test_existing_api_creates_a_pipeline_that_runs(mode):
    ns = run(mode, seed.EXISTING_API, {})
    report = ns["pipeline"].run(duration_sec=0.05)
    assert report.error is None and report.conserved


def test_opt_in_runtime_streams_quotes(mode, finite_default_provider):
    seen = []
    run(mode, seed.OPT_IN, {"process": seen.append})
    assert len(seen) == DEFAULT_PROVIDER_TICKS
    assert {q.symbol for q in seen} == {"AAPL"}
    assert all(q.price > 0 for q in seen)


def test_registry_registers_loads_and_discovers(mode):
    ns = run(mode, seed.REGISTRY, {})
    assert ns["source"].name == "synthetic" and ns["source"].symbols == ["AAPL"]
    assert {"ibkr", "polygon"} <= set(ns["registry"].discover_entrypoints())


def standin_classes():
    registry = SourceRegistry()
    registry.discover_entrypoints()
    return {"IBKRSource": registry.load("ibkr"), "PolygonSource": registry.load("polygon")}


def check_fallback(printed):
    # IBKR's ticks until it fails, then Polygon's (source ids 1 and 2).
    sources = [q.source for q in printed.objects]
    assert sources == [1] * IBKR_FAILS_AT + [2] * (FALLBACK_SEEN - IBKR_FAILS_AT)
    assert all(line.startswith("AAPL ") for line in printed.lines)


# The router keeps waiting for IBKR to recover once Polygon has ended: stop printing earlier.
FALLBACK_SEEN = 300


def test_router_streams_with_fallback(mode):
    printed = Printed(limit=FALLBACK_SEEN)
    ns = dict(standin_classes(), print=printed)
    with pytest.raises(Finished):
        run(mode, seed.ROUTER, ns)
    check_fallback(printed)


def test_router_as_pipeline_source(mode):
    from market_data_pipeline import (
        BarOperator,
        CountingSink,
        HybridBatcher,
        PipelineContext,
        StreamingPipeline,
    )
    from market_data_pipeline.orchestration import SourceRouter

    classes = standin_classes()
    ns = {
        "StreamingPipeline": StreamingPipeline,
        "router": SourceRouter(
            sources=[classes["IBKRSource"](symbols=["AAPL"]), classes["PolygonSource"](symbols=["AAPL"])],
            strategy="first",
        ),
        "operator": BarOperator(window_sec=1.0),
        "batcher": HybridBatcher(max_rows=500, max_age_sec=0.25),
        "sink": CountingSink(),
        "ctx": PipelineContext("my_tenant", "my_pipeline"),
    }
    ns = run(mode, seed.ROUTER_AS_PIPELINE_SOURCE, ns)
    # The router waits for IBKR to recover after Polygon ends: run for a while, then stop.
    report = ns["pipeline"].run(duration_sec=0.2)
    assert report.error is None and report.conserved
    assert report.produced == IBKR_FAILS_AT + STANDIN_TICKS


def test_coordinator_registers_acquires_records_and_cools_down(mode):
    ns = run(mode, seed.COORDINATOR, {})
    assert ns["coordinator"].is_cooling_down("ibkr", "market_data")


class Ibkr:
    def __init__(self, mode, fail=False):
        self.mode, self.fail, self.quotes = mode, fail, 0

    def connect(self):
        if self.mode == "async":
            return self._aconnect()
        if self.fail:
            raise ConnectionError("IBKR down")

    async def _aconnect(self):
        if self.fail:
            raise ConnectionError("IBKR down")

    def get_quote(self, symbol):
        self.quotes += 1
        if self.quotes > 50:
            raise Finished
        if self.mode == "async":
            return self._aquote()
        return 187.5

    async def _aquote(self):
        return 187.5


def test_breaker_gates_records_and_resets(mode):
    ns = run(mode, seed.BREAKER, {"ibkr": Ibkr(mode)})
    assert ns["breaker"].get_state() == "closed"


def test_breaker_example_reraises_a_failed_connect(mode):
    ns = {"ibkr": Ibkr(mode, fail=True)}
    with pytest.raises(ConnectionError):
        run(mode, seed.BREAKER, ns)
    assert ns["breaker"].peek_is_open() is False  # one failure of five


def test_breaker_example_raises_circuit_breaker_open_when_open(mode):
    src = seed.BREAKER.replace("# Check state", "for _ in range(5): breaker.record_failure()")
    with pytest.raises(CircuitBreakerOpen, match="IBKR"):
        run(mode, src, {"ibkr": Ibkr(mode)})


def test_runtime_streams_runs_lists_and_stops(mode, printed, finite_default_provider):
    ns = run(mode, seed.RUNTIME, {"print": printed, "PipelineSpec": PipelineSpec})
    assert len(printed.lines) == DEFAULT_PROVIDER_TICKS
    assert printed.lines[0].startswith(("AAPL: $", "MSFT: $"))
    assert ns["key"] == "default/default"
    assert [p["key"] for p in ns["pipelines"]] == ["default/default"]


def test_example_1_simple_quote_streaming(mode, printed):
    ns = run(mode, seed.EXAMPLE_1, {"print": printed, "__name__": "example"})
    assert len(printed.lines) == 100
    assert all(line.startswith("AAPL: $") for line in printed.lines)


def test_example_2_multi_provider_with_fallback(mode):
    printed = Printed(limit=FALLBACK_SEEN)
    with pytest.raises(Finished):
        run(mode, seed.EXAMPLE_2, {"print": printed})
    check_fallback(printed)


def test_example_3_rate_limited_pipeline(mode):
    ibkr = Ibkr(mode)
    ns = run(mode, seed.EXAMPLE_3, {"ibkr": ibkr, "asyncio": asyncio})
    with pytest.raises(Finished):
        if mode == "async":
            asyncio.run(ns["process_quotes"]())
        else:
            ns["process_quotes"]()
    assert ibkr.quotes == 51
    assert ns["breaker"].get_state() == "closed"


def test_pattern_1_add_orchestration_to_existing_pipeline(mode):
    ns = run(mode, seed.PATTERN_1, {})
    assert ns["router"] is not None and ns["coordinator"] is not None


def test_pattern_2_gradual_migration(mode):
    ns = run(mode, seed.PATTERN_2, {})
    assert ns["coordinator"].providers() == ["ibkr"]


def test_configuration_settings_start_a_runtime(mode):
    ns = run(mode, seed.CONFIGURATION, {"PipelineSettings": PipelineSettings})
    with PipelineRuntime(ns["settings"]) as runtime:
        quote = next(iter(runtime.stream_quotes(["AAPL"])))
        assert quote.symbol == "AAPL"


def test_migration_guide(mode):
    run(mode, seed.MIGRATION, {"PipelineRuntimeSettings": PipelineRuntimeSettings})
