//! A sink the test holds: every write and close waits until the test releases it, and close
//! says so, so a test can keep a stage stuck for as long as it needs (no timing involved).

use crossbeam::channel::{unbounded, Receiver, Sender};
use market_data_pipeline::{Record, Sink, SinkError};

/// See the module docs.
pub struct HeldSink {
    gate: Receiver<()>,
    done: Sender<()>,
}

/// What the test keeps: drop `release` to let the sink go; `closed` receives once the sink has
/// been closed.
pub struct Held {
    pub release: Sender<()>,
    pub closed: Receiver<()>,
}

impl HeldSink {
    /// A held sink and the test's side of it.
    pub fn new() -> (HeldSink, Held) {
        let (release, gate) = unbounded();
        let (done, closed) = unbounded();
        (HeldSink { gate, done }, Held { release, closed })
    }
}

impl Sink for HeldSink {
    fn name(&self) -> &'static str {
        "held"
    }

    fn write(&mut self, _batch: &[Record]) -> Result<(), SinkError> {
        // Err once released (the sender is dropped): go on.
        let _ = self.gate.recv();
        Ok(())
    }

    fn close(&mut self) -> Result<(), SinkError> {
        let _ = self.gate.recv();
        let _ = self.done.send(());
        Ok(())
    }
}
