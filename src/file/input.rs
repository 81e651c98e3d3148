//! Opening inputs whose size the user controls: only regular files are memory-mapped, and
//! everything read into memory is read with a cap.
//!
//! A tick file is mapped, so it must be a regular file: a directory, FIFO, socket or device
//! (`/dev/zero`, a pipe fed from `/dev/urandom`) is refused before it is opened (opening a FIFO
//! would wait for a writer), with an error naming the path and what is there. Text read whole
//! (a settings file) is read with [`read_capped`]: any readable file, pipe or device, up to a
//! limit, past which the error names the limit instead of memory growing without end.
//!
//! No open waits: every input is opened with `O_NONBLOCK` (a FIFO with no writer would
//! otherwise block the open for ever, and a first SIGINT could not end it). A FIFO read as a
//! stream ([`open_stream`]: settings, CSV import) is then waited on with a bound
//! ([`FIFO_IDLE_LIMIT`]) that a signal also ends.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{DataError, DataErrorKind, DataLocation};

/// What a file type is, in words, for errors ("a FIFO (named pipe)").
pub fn describe(ft: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// A `Refused` error for `path`.
pub(crate) fn refused(path: &Path, reason: String) -> DataError {
    DataError::new(DataLocation::Unknown, DataErrorKind::Refused(reason)).in_file(path)
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |e| DataError::io(&e).in_file(path)
}

/// Refuse anything but a regular file, saying what `meta` is and why a regular file is needed.
fn require_regular(path: &Path, meta: &Metadata, why: &str) -> Result<(), DataError> {
    if meta.is_file() {
        return Ok(());
    }
    let what = describe(&meta.file_type());
    Err(refused(path, format!("{what}, not a regular file ({why})")))
}

/// Open `path` for reading when it is a regular file (after following links); give the file
/// and its length. Anything else is refused before it is opened, so a FIFO never blocks.
///
/// # Errors
/// `Refused` naming what is at `path` (a directory, FIFO, socket or device); `Io` with the
/// path.
pub fn open_regular(path: &Path, why: &str) -> Result<(File, u64), DataError> {
    let io = io_at(path);
    require_regular(path, &std::fs::metadata(path).map_err(&io)?, why)?;
    // Without waiting: the path may have been replaced by a FIFO since it was looked at.
    let file = open_nonblocking(path).map_err(&io)?;
    // Checked again on the open file: the path may have been replaced in between.
    let meta = file.metadata().map_err(&io)?;
    require_regular(path, &meta, why)?;
    Ok((file, meta.len()))
}

/// Read all of `path` (a file, pipe or device; not a directory) into memory, refusing more
/// than `limit` bytes.
///
/// # Errors
/// `TooLarge` (at the offset `limit`) when there is more; `Refused` for a directory; `Io`
/// with the path.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io = io_at(path);
    let meta = std::fs::metadata(path).map_err(&io)?;
    if meta.is_dir() {
        return Err(refused(path, "a directory, not a file".to_string()));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(path, limit));
    }
    let input = open_stream(path)?;
    read_to_limit(input, limit).map_err(|e| e.in_file(path))
}

/// How long a FIFO may stay silent (no writer yet, or a writer that sends nothing) before
/// reading it fails: a FIFO nobody writes to ends in an error, not a wait for ever.
pub const FIFO_IDLE_LIMIT: Duration = Duration::from_secs(30);

/// Open `path` for reading with `O_NONBLOCK`, so that opening a FIFO never waits for a
/// writer (on a regular file or `/dev/zero` the flag changes nothing).
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Open `path` to be read as a stream: a regular file, a device, or a FIFO, which is waited on
/// at most [`FIFO_IDLE_LIMIT`] at a time ([`Stream`]); a directory or socket is refused. The
/// open itself never waits.
///
/// # Errors
/// `Refused` naming what is at `path`; `Io` with the path.
pub fn open_stream(path: &Path) -> Result<Stream, DataError> {
    open_stream_waiting(path, FIFO_IDLE_LIMIT)
}

/// [`open_stream`] with the longest silence of a FIFO given.
pub(crate) fn open_stream_waiting(path: &Path, idle: Duration) -> Result<Stream, DataError> {
    let io = io_at(path);
    let file = open_nonblocking(path).map_err(&io)?;
    let ft = file.metadata().map_err(&io)?.file_type();
    if ft.is_dir() {
        return Err(refused(path, "a directory, not a file".to_string()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            let waiter = FifoWaiter::new(&file).map_err(&io)?;
            return Ok(Stream {
                file,
                fifo: Some(waiter),
                idle,
                path: path.to_path_buf(),
            });
        }
    }
    Ok(Stream {
        file,
        fifo: None,
        idle,
        path: path.to_path_buf(),
    })
}

/// An input opened by [`open_stream`]: reads of a FIFO wait (bounded, and a signal ends the
/// wait with an error) for its writer and its bytes; other files are read as they are.
pub struct Stream {
    file: File,
    fifo: Option<FifoWaiter>,
    idle: Duration,
    path: PathBuf,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("path", &self.path)
            .field("fifo", &self.fifo.is_some())
            .finish()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(waiter) = &mut self.fifo else {
            return self.file.read(buf);
        };
        loop {
            match self.file.read(buf) {
                Ok(0) if !waiter.woken && !buf.is_empty() => {} // no writer has come yet
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                done => return done,
            }
            waiter.wait(self.idle)?;
        }
    }
}

/// Waits for a FIFO opened without blocking to become readable (bytes, or its writer gone).
struct FifoWaiter {
    poll: mio::Poll,
    events: mio::Events,
    /// Set once a wait ended with an event: from then on, nothing to read means the end.
    woken: bool,
}

impl FifoWaiter {
    fn new(file: &File) -> std::io::Result<FifoWaiter> {
        use std::os::unix::io::AsRawFd;
        let poll = mio::Poll::new()?;
        let fd = file.as_raw_fd();
        poll.registry().register(
            &mut mio::unix::SourceFd(&fd),
            mio::Token(0),
            mio::Interest::READABLE,
        )?;
        Ok(FifoWaiter {
            poll,
            events: mio::Events::with_capacity(1),
            woken: false,
        })
    }

    /// Wait at most `idle`. Registered edge-triggered, which is sound because this is only
    /// called after a read found nothing.
    fn wait(&mut self, idle: Duration) -> std::io::Result<()> {
        match self.poll.poll(&mut self.events, Some(idle)) {
            // Not `Interrupted`: `read_to_end` would retry that, and the signal is meant to
            // stop the read.
            Err(e) if e.kind() == ErrorKind::Interrupted => Err(std::io::Error::other(
                "interrupted by a signal while waiting for the FIFO's writer",
            )),
            Err(e) => Err(e),
            Ok(()) if self.events.is_empty() => Err(std::io::Error::new(
                ErrorKind::TimedOut,
                format!(
                    "a FIFO (named pipe) that nothing was written to for {} s (no writer?)",
                    idle.as_secs()
                ),
            )),
            Ok(()) => {
                self.woken = true;
                Ok(())
            }
        }
    }
}

fn too_large(path: &Path, limit: u64) -> DataError {
    DataError::new(
        DataLocation::Offset(limit),
        DataErrorKind::TooLarge { limit },
    )
    .in_file(path)
}

/// Read `input` to its end, refusing more than `limit` bytes (without a path: the caller adds
/// it).
///
/// # Errors
/// `TooLarge` at the offset `limit`; `Io`.
pub fn read_to_limit(input: impl Read, limit: u64) -> Result<Vec<u8>, DataError> {
    let mut bytes = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(&e))?;
    if bytes.len() as u64 > limit {
        return Err(DataError::new(
            DataLocation::Offset(limit),
            DataErrorKind::TooLarge { limit },
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_to_limit_takes_exactly_the_limit_and_refuses_one_more_byte() {
        assert_eq!(read_to_limit(&[7u8; 10][..], 10).unwrap().len(), 10);
        let e = read_to_limit(&[7u8; 11][..], 10).unwrap_err();
        assert_eq!(e.kind, DataErrorKind::TooLarge { limit: 10 });
        assert_eq!(e.at, DataLocation::Offset(10));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_endless_device_is_read_up_to_the_cap_only() {
        let e = read_capped(Path::new("/dev/zero"), 4096).unwrap_err();
        assert_eq!(e.kind, DataErrorKind::TooLarge { limit: 4096 });
        assert!(e.to_string().starts_with("/dev/zero: "), "{e}");
    }

    /// A FIFO in a fresh directory (removed by the caller).
    #[cfg(unix)]
    fn fifo(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("mdp-input-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let _ = std::fs::remove_file(&path);
        let ok = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        (dir, path)
    }

    #[cfg(unix)]
    #[test]
    fn regression_a_fifo_with_no_writer_was_waited_on_for_ever() {
        // The old `read_capped` opened a FIFO with a blocking open: with no writer it never
        // returned, and a first SIGINT (handled with SA_RESTART) did not end it. Now the open
        // never waits, and the read waits at most the idle limit (none here).
        let (dir, path) = fifo("no-writer");
        let input = open_stream_waiting(&path, Duration::ZERO).unwrap();
        let e = read_to_limit(input, 64).unwrap_err();
        assert!(
            matches!(&e.kind, DataErrorKind::Io { kind, .. } if *kind == ErrorKind::TimedOut),
            "{e}"
        );
        assert!(e.to_string().contains("no writer?"), "{e}");
        // A tick file is never waited for either: the open itself does not block.
        assert!(open_nonblocking(&path).is_ok());
        let e = open_regular(&path, "it is mapped").unwrap_err();
        assert!(e.to_string().contains("a FIFO (named pipe)"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_read_to_its_end_once_its_writer_comes_and_goes() {
        let (dir, path) = fifo("writer");
        // Opened before the writer: the writer's open then does not wait either.
        let input = open_stream_waiting(&path, FIFO_IDLE_LIMIT).unwrap();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut f = OpenOptions::new().write(true).open(&path).unwrap();
                for _ in 0..100 {
                    f.write_all(&[b'x'; 1000]).unwrap();
                }
            })
        };
        assert_eq!(read_to_limit(input, 1 << 20).unwrap().len(), 100_000);
        writer.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_device_is_not_opened_as_a_regular_file() {
        let e = open_regular(Path::new("/dev/zero"), "it is mapped").unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = open_regular(Path::new("/"), "it is mapped").unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }
}
