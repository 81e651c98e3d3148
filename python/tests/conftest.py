"""Test environment of the seed's examples.

- The seed's IBKR and Polygon are the engine's stand-ins registered under those names (the
  one replacement the examples need). IBKR fails at its 100th tick, to show the fallback;
  each produces at most 1,000 ticks.
- `finite_default_provider`: the runtime's default `synthetic` provider produces 2,000 ticks
  then ends (the seed's `stream_quotes` loops have no `break`).
"""

import pytest

from market_data_pipeline import orchestration
from market_data_pipeline.orchestration import register_source_provider
from market_data_pipeline.testing import IBKRStandIn, PolygonStandIn

IBKR_FAILS_AT = 100
STANDIN_TICKS = 1_000
DEFAULT_PROVIDER_TICKS = 2_000

register_source_provider(
    "ibkr", IBKRStandIn.with_params(fail_at_tick=IBKR_FAILS_AT, max_ticks=STANDIN_TICKS)
)
register_source_provider("polygon", PolygonStandIn.with_params(max_ticks=STANDIN_TICKS))


@pytest.fixture
def finite_default_provider(monkeypatch):
    fields = dict(orchestration.PipelineRuntimeSettings._fields)
    fields["providers"] = {"synthetic": {"kind": "synthetic", "max_ticks": DEFAULT_PROVIDER_TICKS}}
    monkeypatch.setattr(orchestration.PipelineRuntimeSettings, "_fields", fields)


class Finished(BaseException):
    """Ends a seed loop that never ends (not an `Exception`: the seed's `except Exception`
    does not catch it)."""


class Printed:
    """Stands in for `print`: keeps what the example prints; with `limit`, raises `Finished`
    at that many lines (a router's stream waits for a failed source to recover, forever)."""

    def __init__(self, limit=None):
        self.lines, self.objects, self.limit = [], [], limit

    def __call__(self, *args):
        self.objects.append(args[0] if args else None)
        self.lines.append(" ".join(str(a) for a in args))
        if self.limit is not None and len(self.lines) >= self.limit:
            raise Finished


@pytest.fixture
def printed():
    return Printed()


@pytest.fixture(params=["async", "sync"])
def mode(request):
    return request.param
