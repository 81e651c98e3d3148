//! Issue 8: the API gaps a user translating the seed's examples met, one test (or two) per gap,
//! named after it. The seed's examples themselves are doctests in `src/seed.md`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::TempDir;
use market_data_pipeline::flow::{BreakerState, CoordinatorError, Pressure, ProviderLimits};
use market_data_pipeline::pipeline::{create_pipeline_with, PipelineSettings};
use market_data_pipeline::registry::{standin, SourceContext, SourceFactory, SourceSpec};
use market_data_pipeline::runtime::{
    PipelineRuntime, PipelineRuntimeSettings, PipelineSpec, ProviderSettings,
};
use market_data_pipeline::source::{SyntheticConfig, SyntheticSource};
use market_data_pipeline::{
    create_pipeline, CircuitBreaker, ManualClock, Price, RateCoordinator, RoutingStrategy,
    SourcePoll, SourceRegistry, SourceRouter, SymbolTable, Tick, TickFileWriter, TickKind,
};

/// A registry with the IBKR and Polygon stand-ins registered under the seed's names.
fn registry_with_standins() -> SourceRegistry {
    let registry = SourceRegistry::empty();
    registry.register("ibkr", SourceFactory::new(standin::ibkr));
    registry.register("polygon", SourceFactory::new(standin::polygon));
    registry
}

#[test]
fn gap_1_registry_sources_are_named_after_the_provider_with_unique_ids_and_shared_symbols() {
    let registry = registry_with_standins();
    let ibkr = registry.load("ibkr").unwrap();
    let polygon = registry.load("polygon").unwrap();
    let ibkr_source = ibkr.create(&["AAPL"]).unwrap();
    let polygon_source = polygon.create(&["MSFT", "AAPL"]).unwrap();
    assert_eq!(ibkr_source.name(), "ibkr");
    assert_eq!(polygon_source.name(), "polygon");
    for s in [&ibkr_source, &polygon_source] {
        assert!(Arc::ptr_eq(s.symbol_table().unwrap(), registry.symbols()));
    }
    // A second source of one provider keeps the name but gets its own id.
    let again = ibkr.create(&["AAPL"]).unwrap();
    assert_eq!(again.name(), "ibkr");

    // The seed's Example 2: the router accepts them (it refused duplicate "source" names).
    let router = SourceRouter::new(vec![ibkr_source, polygon_source], "first").unwrap();
    let quotes: Vec<_> = router.stream().take(64).collect();
    assert_eq!(quotes.len(), 64);
    assert!(quotes.iter().all(|q| q.source == 1 && &*q.symbol == "AAPL"));
    // One table: AAPL has one id whichever source interned it first.
    assert_eq!(registry.symbols().get("AAPL"), Some(quotes[0].tick.symbol));
    assert_eq!(registry.symbols().len(), 2);

    // Unless the caller says otherwise: an explicit spec and context are used as given.
    let ctx = SourceContext {
        symbols: Arc::new(SymbolTable::new()),
        source_id: 9,
    };
    let mine = ibkr
        .build(&SourceSpec::named("mine", "ibkr", &["AAPL"]), &ctx)
        .unwrap();
    assert_eq!(mine.name(), "mine");
    assert!(Arc::ptr_eq(mine.symbol_table().unwrap(), &ctx.symbols));

    // A runtime's pipelines and its registry's sources share one table.
    let runtime = PipelineRuntime::start(Default::default()).unwrap();
    assert!(Arc::ptr_eq(runtime.symbols(), runtime.registry().symbols()));
}

#[test]
fn gap_1_registry_source_ids_are_1_2_3_in_creation_order() {
    let registry = registry_with_standins();
    let mut ids = Vec::new();
    for name in ["ibkr", "polygon", "ibkr"] {
        let mut s = registry.load(name).unwrap().create(&["AAPL"]).unwrap();
        s.start(0).unwrap();
        let mut buf = [Tick::default(); 4];
        let Ok(SourcePoll::Ready(n)) = s.poll(0, &mut buf) else {
            panic!("{name} produced nothing");
        };
        assert!(buf[..n].iter().all(|t| t.source == buf[0].source));
        ids.push(buf[0].source);
    }
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn gap_2_stream_quotes_yields_quotes_with_a_printable_symbol_and_a_meaningful_price() {
    let runtime = PipelineRuntime::start(Default::default()).unwrap();
    let mut stream = runtime.stream_quotes(&["AAPL"]).unwrap();
    let quotes: Vec<_> = stream.by_ref().take(2_000).collect();
    let quote_only = quotes.iter().filter(|q| q.kind == TickKind::Quote).count();
    assert!(quote_only > 0, "the synthetic stream has quote-only ticks");
    let mut last_trade = None;
    for q in &quotes {
        assert_eq!(&*q.symbol, "AAPL");
        assert!(q.price > Price::ZERO, "{q}");
        let line = format!("{}: ${}", q.symbol, q.price);
        assert!(line.starts_with("AAPL: $") && line != "AAPL: $0", "{line}");
        // The price: the trade, else the last trade, else the mid.
        if q.kind.has_trade() {
            assert_eq!(q.price, q.tick.price);
            last_trade = Some(q.price);
        } else {
            assert_eq!(q.price, last_trade.unwrap_or(q.mid()));
            assert!(q.bid > Price::ZERO && q.ask > q.bid && q.bid_size > 0);
        }
        assert_eq!((q.ts_event, q.ts_recv), (q.tick.ts_event, q.tick.ts_recv));
    }
    // The raw path is still there, unconverted: quote-only ticks carry no trade price.
    let raw: Vec<Tick> = stream.ticks().take(2_000).collect();
    assert!(raw
        .iter()
        .filter(|t| t.kind == TickKind::Quote)
        .all(|t| t.price == Price::ZERO));
}

#[test]
fn gap_3_one_pipeline_settings_type_for_create_pipeline_with_and_the_runtime() {
    let settings = PipelineSettings {
        source_rate: None,
        max_ticks: Some(500),
        bar_window: Duration::from_millis(10),
        batch_rows: 7,
        ..Default::default()
    };
    let report = create_pipeline_with("t", "p", "synthetic", &["AAPL"], &settings)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.stats.ticks_in, 500);
    // The same type in the runtime's settings (the seed's `pipeline=PipelineSettings(...)`).
    let runtime_settings = PipelineRuntimeSettings {
        pipeline: settings.clone(),
        ..Default::default()
    };
    assert!(runtime_settings.validate().is_ok());
    let runtime = PipelineRuntime::start(runtime_settings).unwrap();
    let key = runtime
        .run_pipeline(
            PipelineSpec::new("t", "p")
                .symbols(&["AAPL"])
                .max_ticks(100),
        )
        .unwrap();
    assert!(runtime.stop_pipeline(&key).unwrap().stats.is_conserved());
    // Invalid values are refused by both, naming the field.
    let bad = PipelineSettings {
        chunk_size: 0,
        ..Default::default()
    };
    let e = PipelineRuntimeSettings {
        pipeline: bad.clone(),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.field, "pipeline.chunk_size");
    assert!(create_pipeline_with("t", "p", "synthetic", &["AAPL"], &bad).is_err());
}

#[test]
fn gap_4_run_for_returns_the_report_of_an_endless_pipeline() {
    let pipeline = create_pipeline("t", "p", "synthetic", &["AAPL"]).unwrap();
    let report = pipeline.run_for(Duration::from_millis(20)).unwrap();
    assert!(report.error.is_none());
    assert!(report.stats.is_conserved());
    // A stream that ends first returns as soon as it has ended, with everything delivered.
    let settings = PipelineSettings {
        source_rate: None,
        max_ticks: Some(1_000),
        ..Default::default()
    };
    let pipeline = create_pipeline_with("t", "p", "synthetic", &["AAPL"], &settings).unwrap();
    let report = pipeline.run_for(Duration::from_secs(3_600)).unwrap();
    assert_eq!(report.stats.ticks_in, 1_000);
}

#[test]
fn gap_4_runtime_shutdown_returns_the_final_reports() {
    let runtime = PipelineRuntime::start(Default::default()).unwrap();
    let a = runtime
        .run_pipeline(PipelineSpec::new("t", "a").symbols(&["AAPL"]))
        .unwrap();
    let b = runtime
        .run_pipeline(
            PipelineSpec::new("t", "b")
                .symbols(&["AAPL"])
                .max_ticks(100),
        )
        .unwrap();
    let mut stream = runtime.stream_quotes(&["MSFT"]).unwrap();
    assert!(stream.next().is_some());
    let reports = runtime.shutdown();
    assert_eq!(reports.keys().cloned().collect::<Vec<_>>(), [a, b]);
    assert!(reports.values().all(|r| r.stats.is_conserved()));
    // The stream's pipeline was stopped too: what is in flight is finite.
    assert!(stream.by_ref().count() < 1 << 20);
}

#[test]
fn gap_5_router_stream_needs_no_clock_and_yields_quotes_and_new_needs_no_box() {
    let table = Arc::new(SymbolTable::new());
    let feed = |name: &str| {
        SyntheticSource::new(
            SyntheticConfig {
                name: name.into(),
                max_ticks: Some(50),
                ..SyntheticConfig::new(&["AAPL"])
            },
            table.clone(),
        )
        .unwrap()
    };
    // No Box::new, the default strategy ("first").
    let router = SourceRouter::new(
        vec![feed("ibkr"), feed("polygon")],
        RoutingStrategy::default(),
    )
    .unwrap();
    assert_eq!(router.config().strategy, RoutingStrategy::First);
    let mut stream = router.stream();
    let quotes: Vec<_> = stream.by_ref().collect();
    assert_eq!(quotes.len(), 100); // ibkr ends → polygon, then both have ended
    assert!(quotes
        .iter()
        .all(|q| &*q.symbol == "AAPL" && q.price > Price::ZERO));
    assert!(stream.error().is_none());
    // The strategy by name, as in the seed; an unknown one names the field.
    let e = SourceRouter::new(vec![feed("a")], "fallback").unwrap_err();
    assert_eq!(e.field, "router.strategy");
    assert!(SourceRouter::new(vec![feed("a")], "first").is_ok());
}

#[test]
fn gap_6_coordinator_seed_calls_are_one_call_each_with_fractional_seconds() {
    let clock = ManualClock::shared(1_000);
    let coordinator = RateCoordinator::with_clock(clock.clone());
    // register_provider("ibkr"): the defaults.
    let ibkr = coordinator.register_provider("ibkr").unwrap();
    assert_eq!(ibkr.limits(), ProviderLimits::default());
    // The seed's keyword values, one call.
    let limits = ProviderLimits::new()
        .capacity(60)
        .refill_rate(60)
        .cooldown_sec(600)
        .breaker_threshold(5)
        .breaker_timeout(60.0);
    let polygon = coordinator
        .register_provider_with("polygon", limits.clone())
        .unwrap();
    assert_eq!(polygon.limits(), limits);
    // trigger_cooldown without a Duration: the provider's configured cooldown.
    let until = coordinator.trigger_cooldown("ibkr", "market_data").unwrap();
    assert_eq!(until, 1_000 + 600_000_000_000);
    // Fractional seconds wherever the seed's values are seconds.
    coordinator
        .register_provider_with(
            "fast",
            ProviderLimits::new()
                .cooldown_sec(0.5)
                .breaker_timeout(0.25),
        )
        .unwrap();
    assert_eq!(
        coordinator.trigger_cooldown("fast", "a").unwrap(),
        1_000 + 500_000_000
    );
    assert_eq!(
        coordinator.trigger_cooldown_for("fast", "b", 0.25).unwrap(),
        1_000 + 250_000_000
    );
    assert_eq!(
        coordinator
            .trigger_cooldown_for("fast", "c", Duration::from_secs(2))
            .unwrap(),
        1_000 + 2_000_000_000
    );
    let b = CircuitBreaker::new(5, 0.5).unwrap();
    assert_eq!(b.limits().2, Duration::from_millis(500));
    assert_eq!(
        CircuitBreaker::new(5, 60).unwrap().limits().2,
        Duration::from_secs(60)
    );
    // Settings files too.
    let settings = PipelineRuntimeSettings::from_toml_str(
        "[providers.fast]\nkind = \"synthetic\"\ncooldown_sec = 0.5\nbreaker_timeout = 2\n",
    )
    .unwrap();
    let limits = settings.provider_limits("fast").unwrap();
    assert_eq!((limits.cooldown_sec, limits.breaker_timeout), (0.5, 2.0));
    let e = PipelineRuntimeSettings::from_toml_str(
        "[providers.fast]\nkind = \"synthetic\"\ncooldown_sec = \"soon\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("providers.fast.cooldown_sec"), "{e}");
    // Bad seconds are errors naming the field, never a panic.
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(CircuitBreaker::new(5, bad).unwrap_err().field, "timeout");
        let e = coordinator
            .trigger_cooldown_for("fast", "d", bad)
            .unwrap_err();
        assert!(
            matches!(e, CoordinatorError::Config(ref c) if c.field == "duration"),
            "{e}"
        );
        let e = ProviderLimits::new()
            .cooldown_sec(bad)
            .validate("x")
            .unwrap_err();
        assert_eq!(e.field, "providers.x.cooldown_sec");
        let e = ProviderLimits::new()
            .breaker_timeout(bad)
            .validate("x")
            .unwrap_err();
        assert_eq!(e.field, "providers.x.breaker_timeout");
    }
}

/// The seed's loop body, for one caller: `None` when `is_open()` sent it away, else whether
/// its call was let through.
fn seed_loop_step(breaker: &CircuitBreaker) -> Option<()> {
    if breaker.is_open() {
        return None; // await asyncio.sleep(1); continue
    }
    Some(())
}

#[test]
fn gap_7_the_seed_breaker_loop_lets_one_probe_through_in_half_open() {
    let clock = ManualClock::shared(0);
    let breaker = CircuitBreaker::with_clock(1, Duration::from_secs(60), clock.clone()).unwrap();
    breaker.record_failure();
    assert!(breaker.is_open());
    clock.advance(Duration::from_secs(60));
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // Ten callers run the loop: only the first is let through while its call runs.
    let through: Vec<_> = (0..10).map(|_| seed_loop_step(&breaker)).collect();
    assert_eq!(through.iter().filter(|t| t.is_some()).count(), 1);
    assert!(through[0].is_some());
    // The probe fails: open again for a full timeout.
    breaker.record_failure();
    assert!(breaker.peek_is_open());
    assert!(seed_loop_step(&breaker).is_none());
    clock.advance(Duration::from_secs(60));
    // The next probe succeeds: closed, and everyone goes through.
    assert!(seed_loop_step(&breaker).is_some());
    assert!(seed_loop_step(&breaker).is_none());
    breaker.record_success();
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert!((0..10).all(|_| seed_loop_step(&breaker).is_some()));
}

#[test]
fn gap_7_is_open_hands_out_exactly_one_probe_under_contention() {
    let clock = ManualClock::shared(0);
    let breaker =
        Arc::new(CircuitBreaker::with_clock(1, Duration::from_secs(1), clock.clone()).unwrap());
    breaker.record_failure();
    clock.advance(Duration::from_secs(1));
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (b, barrier) = (breaker.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                !b.is_open()
            })
        })
        .collect();
    let let_through = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&t| t)
        .count();
    assert_eq!(let_through, 1);
    assert_eq!(breaker.stats().probes_in_flight, 1);
}

#[test]
fn gap_8_the_originals_names_are_aliases() {
    let clock = ManualClock::shared(0);
    let coordinator = RateCoordinator::with_clock(clock.clone());
    coordinator.register_provider("ibkr").unwrap();
    assert_eq!(
        coordinator.get_provider_state("ibkr").unwrap(),
        coordinator.provider_state("ibkr").unwrap()
    );
    // set_budget_scale clamps like the original; set_scale still refuses.
    assert_eq!(coordinator.set_budget_scale("ibkr", 1.7).unwrap(), 1.0);
    assert_eq!(coordinator.set_budget_scale("ibkr", -3.0).unwrap(), 0.0);
    assert_eq!(coordinator.provider_state("ibkr").unwrap().scale, 0.0);
    assert_eq!(coordinator.set_budget_scale("ibkr", 0.5).unwrap(), 0.5);
    assert!(coordinator.set_budget_scale("ibkr", f64::NAN).is_err());
    assert!(coordinator.set_scale("ibkr", 1.7).is_err());
    // set_global_pressure records the level.
    assert_eq!(coordinator.pressure("ibkr").unwrap(), Pressure::Ok);
    coordinator.set_global_pressure("ibkr", "SOFT").unwrap();
    assert_eq!(coordinator.pressure("ibkr").unwrap(), Pressure::Soft);
    let e = coordinator
        .set_global_pressure("ibkr", "medium")
        .unwrap_err();
    assert!(e.to_string().contains("medium"), "{e}");
    assert!(matches!(
        coordinator.set_global_pressure("nope", "hard"),
        Err(CoordinatorError::UnknownProvider { .. })
    ));
    // is_cooling_down, per scope and global.
    assert!(!coordinator.is_cooling_down("ibkr", "market_data").unwrap());
    coordinator.trigger_cooldown("ibkr", "market_data").unwrap();
    assert!(coordinator.is_cooling_down("ibkr", "market_data").unwrap());
    assert!(!coordinator.is_cooling_down("ibkr", "historical").unwrap());
    coordinator.trigger_cooldown("ibkr", "global").unwrap();
    assert!(coordinator.is_cooling_down("ibkr", "historical").unwrap());
    clock.advance(Duration::from_secs(600));
    assert!(!coordinator.is_cooling_down("ibkr", "market_data").unwrap());
    // get_state(): the original's lower-case strings.
    let breaker = CircuitBreaker::with_clock(1, 1, clock.clone()).unwrap();
    assert_eq!(breaker.get_state(), "closed");
    breaker.record_failure();
    assert_eq!(breaker.get_state(), "open");
    clock.advance(Duration::from_secs(1));
    assert_eq!(breaker.get_state(), "half_open");
    assert_eq!(breaker.state().to_string(), "HALF_OPEN");
    // SourceRegistry(): empty; new() comes with the built-ins.
    assert!(SourceRegistry::empty().list_sources().is_empty());
    assert_eq!(
        SourceRegistry::new().list_sources(),
        ["replay", "synthetic", "tcp"]
    );
}

#[test]
fn gap_9_a_provider_in_the_settings_map_need_not_repeat_its_key() {
    let settings = PipelineRuntimeSettings {
        providers: BTreeMap::from([
            (
                "ibkr".into(),
                ProviderSettings::kind("synthetic").param("seed", 1),
            ),
            (
                "polygon".into(),
                ProviderSettings::kind("synthetic").param("seed", 2),
            ),
        ]),
        default_sources: vec!["ibkr".into(), "polygon".into()],
        ..Default::default()
    };
    settings.validate().unwrap();
    let runtime = PipelineRuntime::start(settings.clone()).unwrap();
    let mut stream = runtime.stream_quotes(&["AAPL"]).unwrap();
    assert!(stream.next().is_some());
    assert_eq!(runtime.list_pipelines()[0].sources, ["ibkr", "polygon"]);
    drop(stream);
    // A name that is given must still match its key.
    let mut wrong = settings;
    wrong.providers.insert(
        "ibkr".into(),
        ProviderSettings::new(SourceSpec::named::<&str>("polygon", "synthetic", &[])),
    );
    assert_eq!(wrong.validate().unwrap_err().field, "providers.ibkr");
}

#[test]
fn gap_9_replay_has_one_default_speed_as_fast_as_possible() {
    let dir = TempDir::new("gap_9_replay_speed");
    let table = Arc::new(SymbolTable::new());
    let aapl = table.intern("AAPL").unwrap();
    let path = dir.path("hour.ticks");
    let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
    // Ten ticks an hour apart: at real time, only the first is due at the start.
    for i in 0..10u64 {
        let t = Tick::trade(aapl, (i + 1) * 3_600_000_000_000, Price::from_units(100), 1);
        w.write(&t).unwrap();
    }
    w.finish().unwrap();
    let spec = SourceSpec::new("replay", &["AAPL"]).param("path", path.display().to_string());
    let mut source = SourceRegistry::new()
        .build(&spec, &SourceContext::new(table))
        .unwrap();
    source.start(0).unwrap();
    let mut buf = [Tick::default(); 16];
    assert_eq!(source.poll(0, &mut buf).unwrap(), SourcePoll::Ready(10));
    assert_eq!(
        market_data_pipeline::ReplayConfig::default().speed,
        market_data_pipeline::ReplaySpeed::default()
    );
}
