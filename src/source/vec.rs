//! `VecSource`: a finite source over ticks in memory (tests, examples, canned scenarios).

use crate::error::SourceError;
use crate::source::{Capabilities, SourceHealth, SourcePoll, SourceStatus, TickSource};
use crate::tick::Tick;

/// Replays a vector of ticks, `ts_recv` stamped with the poll time unless told to keep it.
///
/// ```
/// use market_data_pipeline::source::VecSource;
/// use market_data_pipeline::{SourcePoll, Tick, TickSource};
/// let mut s = VecSource::new("canned", vec![Tick::default(); 3], &["AAPL"]);
/// s.start(0).unwrap();
/// let mut buf = [Tick::default(); 2];
/// assert_eq!(s.poll(5, &mut buf).unwrap(), SourcePoll::Ready(2));
/// assert_eq!(buf[0].ts_recv, 5);
/// assert_eq!(s.poll(5, &mut buf).unwrap(), SourcePoll::Ready(1));
/// assert_eq!(s.poll(5, &mut buf).unwrap(), SourcePoll::Ended);
/// ```
#[derive(Debug, Clone)]
pub struct VecSource {
    name: String,
    ticks: Vec<Tick>,
    symbols: Vec<String>,
    pos: usize,
    stamp_recv: bool,
    status: SourceStatus,
    health: SourceHealth,
}

impl VecSource {
    /// A source named `name` over `ticks`, declaring `symbols`.
    pub fn new<S: AsRef<str>>(name: &str, ticks: Vec<Tick>, symbols: &[S]) -> VecSource {
        VecSource {
            name: name.to_string(),
            ticks,
            symbols: symbols.iter().map(|s| s.as_ref().to_string()).collect(),
            pos: 0,
            stamp_recv: true,
            status: SourceStatus::Idle,
            health: SourceHealth::default(),
        }
    }

    /// Keep each tick's own `ts_recv` instead of stamping the poll time.
    pub fn keep_recv(mut self) -> VecSource {
        self.stamp_recv = false;
        self
    }
}

impl TickSource for VecSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        self.status = SourceStatus::Running;
        Ok(())
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        if self.status == SourceStatus::Idle {
            return Err(SourceError::NotRunning {
                source_name: self.name.clone(),
                state: "not started",
            });
        }
        let n = (self.ticks.len() - self.pos).min(out.len());
        if n == 0 || self.status == SourceStatus::Closed {
            if self.status == SourceStatus::Running {
                self.status = SourceStatus::Ended;
            }
            return Ok(SourcePoll::Ended);
        }
        out[..n].copy_from_slice(&self.ticks[self.pos..self.pos + n]);
        if self.stamp_recv {
            for t in &mut out[..n] {
                t.ts_recv = now_ns;
            }
        }
        self.pos += n;
        self.health.produced += n as u64;
        self.health.last_tick_ns = Some(now_ns);
        Ok(SourcePoll::Ready(n))
    }

    fn close(&mut self) {
        self.status = SourceStatus::Closed;
    }

    fn status(&self) -> SourceStatus {
        self.status
    }

    fn health(&self) -> SourceHealth {
        self.health
    }

    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: true,
            quotes: true,
            replay: true,
            ..Capabilities::default()
        }
    }
}
