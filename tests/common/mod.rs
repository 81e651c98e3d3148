//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod counting_alloc;
pub mod held_sink;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use market_data_pipeline::registry::SourceSpec;
use market_data_pipeline::runtime::{PipelineRuntimeSettings, ProviderSettings};
use market_data_pipeline::tick::flags;
use market_data_pipeline::{Price, SymbolTable, Tick, TickKind};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mdp-{test}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Six ticks over AAPL and MSFT, one second apart (event times 1 s .. 6 s), every field set.
pub fn sample_ticks(table: &SymbolTable) -> Vec<Tick> {
    let aapl = table.intern("AAPL").unwrap();
    let msft = table.intern("MSFT").unwrap();
    let kinds = [TickKind::Trade, TickKind::Quote, TickKind::Both];
    (0..6u32)
        .map(|i| Tick {
            ts_event: (i as u64 + 1) * 1_000_000_000,
            ts_recv: (i as u64 + 1) * 1_000_000_000 + 250,
            price: Price(101_250_000_000 + i as i64),
            bid: Price(-(i as i64) - 1),
            ask: Price(i64::MAX - i as i64),
            seq: 100 + i,
            size: 10 * i,
            bid_size: u32::MAX - i,
            ask_size: i,
            symbol: if i % 2 == 0 { aapl } else { msft },
            source: 7,
            kind: kinds[i as usize % 3],
            flags: if i == 4 { flags::GAP_BEFORE } else { 0 },
        })
        .collect()
}

/// Wait for `cond` at most `steps` × 1 ms; returns whether it held. Tests wait on conditions,
/// never on time: the step only bounds the loop.
pub fn wait_for(steps: u32, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..steps {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cond()
}

/// `primary` (with `faults`) and `backup`, routed in that order.
pub fn two_providers(faults: &str) -> PipelineRuntimeSettings {
    let mut primary =
        ProviderSettings::new(SourceSpec::named("primary", "synthetic", &["AAPL", "MSFT"]));
    primary.source.params = toml::from_str(faults).unwrap();
    let backup = ProviderSettings::new(
        SourceSpec::named("backup", "synthetic", &["AAPL", "MSFT"]).param("seed", 8),
    );
    PipelineRuntimeSettings {
        default_sources: vec!["primary".into(), "backup".into()],
        providers: [
            ("primary".to_string(), primary),
            ("backup".to_string(), backup),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}
