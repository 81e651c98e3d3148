//! `VecSource`: a finite source over ticks in memory (tests, examples, canned scenarios).

use crate::error::SourceError;
use crate::source::{Capabilities, SourceCore, SourcePoll, SourceStatus, TickSource};
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
    core: SourceCore,
    ticks: Vec<Tick>,
    pos: usize,
    stamp_recv: bool,
}

impl VecSource {
    /// A source named `name` over `ticks`, declaring `symbols`.
    pub fn new<S: AsRef<str>>(name: &str, ticks: Vec<Tick>, symbols: &[S]) -> VecSource {
        let capabilities = Capabilities {
            trades: true,
            quotes: true,
            replay: true,
            ..Capabilities::default()
        };
        VecSource {
            core: SourceCore::new(name, symbols, capabilities),
            ticks,
            pos: 0,
            stamp_recv: true,
        }
    }

    /// Keep each tick's own `ts_recv` instead of stamping the poll time.
    pub fn keep_recv(mut self) -> VecSource {
        self.stamp_recv = false;
        self
    }
}

impl TickSource for VecSource {
    fn core(&self) -> Option<&SourceCore> {
        Some(&self.core)
    }

    fn start(&mut self, _now_ns: u64) -> Result<(), SourceError> {
        self.core.status = SourceStatus::Running;
        Ok(())
    }

    fn poll(&mut self, now_ns: u64, out: &mut [Tick]) -> Result<SourcePoll, SourceError> {
        if self.core.status == SourceStatus::Idle {
            return Err(SourceError::NotRunning {
                source_name: self.core.name.clone(),
                state: "not started",
            });
        }
        let n = (self.ticks.len() - self.pos).min(out.len());
        if n == 0 || self.core.status == SourceStatus::Closed {
            if self.core.status == SourceStatus::Running {
                self.core.status = SourceStatus::Ended;
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
        self.core.produced(n, now_ns);
        Ok(SourcePoll::Ready(n))
    }

    fn close(&mut self) {
        self.core.status = SourceStatus::Closed;
    }
}
