//! `Recording`: the caller's side of a file that a sink writes inside a pipeline.
//!
//! A pipeline calls its sink's `close` at the end of the stream whether the run succeeded or
//! not (a source that failed at record 50,000 still ends the stream), so a recording sink
//! cannot know on its own whether what it wrote is the whole run. Its `close` therefore only
//! pushes everything to `<path>.partial` (still marked unfinished) and hands the file to the
//! [`Recording`], a handle the caller took before giving the sink away. Whoever judges the run
//! decides, after `join`:
//!
//! - [`Recording::finish`] when the run succeeded, including a stop that drained the pipeline
//!   (e.g. after Ctrl-C, the caller stops the pipeline, joins, and finishes): the file is
//!   completed, synced and renamed to its path.
//! - [`Recording::leave_unfinished`] (or just dropping every handle) when the run failed, or
//!   was interrupted and not drained: `<path>.partial` stays, marked unfinished, and readers
//!   refuse it; nothing changes at the path.
//! - [`Recording::discard`] to remove the `.partial` file.
//!
//! ```
//! use std::sync::Arc;
//! use market_data_pipeline::sink::TickFileSink;
//! use market_data_pipeline::{Price, Record, Sink, SymbolTable, Tick, TickFile};
//!
//! let dir = std::env::temp_dir().join(format!("mdp-doc-rec-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("out.ticks");
//! let table = Arc::new(SymbolTable::with_symbols(&["AAPL"]).unwrap());
//! let aapl = table.get("AAPL").unwrap();
//! let mut sink = TickFileSink::create(&path, table)?;
//! let recording = sink.recording();
//! sink.write(&[Record::Tick(Tick::trade(aapl, 1, Price::from_units(5), 1))])?;
//! sink.close()?; // what a pipeline does at the end of the stream, success or not
//! assert!(TickFile::open(recording.partial_path()).is_err()); // still unfinished
//! let run_succeeded = true; // e.g. `report.error.is_none()`
//! if run_succeeded {
//!     assert_eq!(recording.finish()?.records, 1);
//!     assert_eq!(TickFile::open(&path).unwrap().len(), 1);
//! } else {
//!     recording.leave_unfinished();
//! }
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), market_data_pipeline::SinkError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{DataError, SinkError};
use crate::file::{CsvFileWriter, TickFileWriter};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a finished recording holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Records (ticks, or CSV rows) written.
    pub records: u64,
    /// Length of the file in bytes.
    pub bytes: u64,
}

/// A closed file waiting for the verdict.
#[derive(Debug)]
pub(crate) enum Pending {
    Ticks(TickFileWriter),
    Csv(CsvFileWriter),
}

impl Pending {
    fn finish(self) -> Result<RecordingSummary, DataError> {
        match self {
            Pending::Ticks(w) => w.finish().map(|s| RecordingSummary {
                records: s.records,
                bytes: s.bytes,
            }),
            Pending::Csv(w) => {
                let records = w.rows();
                w.finish().map(|bytes| RecordingSummary { records, bytes })
            }
        }
    }

    fn leave(self) {
        match self {
            Pending::Ticks(w) => drop(w.leave_unfinished()),
            Pending::Csv(w) => drop(w.leave_unfinished()),
        }
    }

    fn discard(self) -> Result<(), DataError> {
        match self {
            Pending::Ticks(w) => w.discard(),
            Pending::Csv(w) => w.discard(),
        }
    }
}

#[derive(Debug)]
enum State {
    /// The sink still has the file.
    Writing,
    /// The sink closed it; the verdict is pending.
    Closed(Pending),
    Finished(RecordingSummary),
    /// Left unfinished (or discarded): a late `close` leaves it too.
    Left,
}

/// The caller's handle on a file a sink writes; see the [module docs](self). Clones share
/// the file.
#[derive(Clone, Debug)]
pub struct Recording {
    sink: &'static str,
    path: PathBuf,
    partial: PathBuf,
    state: Arc<Mutex<State>>,
}

/// A [`DataError`] as the sink's [`SinkError::Io`], naming its file (or `path`).
pub(crate) fn sink_error(sink: &'static str, path: &Path, e: DataError) -> SinkError {
    let file = e.path.clone().unwrap_or_else(|| path.to_path_buf());
    let message = DataError { path: None, ..e }.to_string();
    SinkError::Io {
        sink,
        path: file.display().to_string(),
        message,
    }
}

impl Recording {
    pub(crate) fn new(sink: &'static str, path: &Path, partial: &Path) -> Recording {
        Recording {
            sink,
            path: path.to_path_buf(),
            partial: partial.to_path_buf(),
            state: Arc::new(Mutex::new(State::Writing)),
        }
    }

    /// The sink's end of stream: hand over the file (left at once when the caller already
    /// gave up on it).
    pub(crate) fn closed(&self, file: Pending) {
        let mut state = lock(&self.state);
        match *state {
            State::Writing => *state = State::Closed(file),
            _ => file.leave(),
        }
    }

    /// Where the finished file goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the file is until it is finished (and stays when left unfinished).
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// True once finished.
    pub fn is_finished(&self) -> bool {
        matches!(*lock(&self.state), State::Finished(_))
    }

    fn refused(&self, why: &str) -> SinkError {
        SinkError::Failed {
            sink: self.sink,
            message: format!(
                "{}: not finished: {why}; the unfinished recording is at {}",
                self.path.display(),
                self.partial.display()
            ),
        }
    }

    /// The run succeeded: complete the file, sync it and rename it to its path. Again after
    /// success: the same summary.
    ///
    /// # Errors
    /// [`SinkError::Failed`] when the sink was not closed (its pipeline never reached the end
    /// of the stream) or the recording was left; [`SinkError::Io`] when completing or
    /// renaming fails. The message says where the unfinished file is.
    pub fn finish(&self) -> Result<RecordingSummary, SinkError> {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, State::Left) {
            State::Closed(file) => {
                let done = file
                    .finish()
                    .map_err(|e| sink_error(self.sink, &self.path, e))?;
                *state = State::Finished(done);
                Ok(done)
            }
            State::Finished(done) => {
                *state = State::Finished(done);
                Ok(done)
            }
            State::Writing => {
                *state = State::Writing;
                Err(self.refused("the sink was never closed (the stream did not end)"))
            }
            State::Left => Err(self.refused("it was left unfinished")),
        }
    }

    /// The run failed or was interrupted: leave `<path>.partial` as it is, marked unfinished,
    /// and give its path (none when the recording was already finished).
    pub fn leave_unfinished(&self) -> Option<PathBuf> {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, State::Left) {
            State::Closed(file) => file.leave(),
            State::Finished(done) => {
                *state = State::Finished(done);
                return None;
            }
            State::Writing | State::Left => {}
        }
        Some(self.partial.clone())
    }

    /// Remove the `.partial` file (a finished file is kept).
    ///
    /// # Errors
    /// [`SinkError::Io`] naming the `.partial` file; [`SinkError::Failed`] when the sink still
    /// has it open.
    pub fn discard(&self) -> Result<(), SinkError> {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, State::Left) {
            State::Closed(file) => file
                .discard()
                .map_err(|e| sink_error(self.sink, &self.partial, e)),
            State::Finished(done) => {
                *state = State::Finished(done);
                Ok(())
            }
            State::Writing => {
                *state = State::Writing;
                Err(self.refused("the sink still has it open"))
            }
            State::Left => match std::fs::remove_file(&self.partial) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(sink_error(
                    self.sink,
                    &self.partial,
                    DataError::io(&e).in_file(&self.partial),
                )),
                _ => Ok(()),
            },
        }
    }
}
