//! Specification of how files are read and written (issue 7, items 2–5): only regular files
//! are mapped, whole reads are capped, outputs replace only regular files and never an input,
//! and a recording is finished only when the caller says its run succeeded.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{sample_ticks, TempDir};
use market_data_pipeline::file::{
    check_output, check_outputs, csv_to_tick_file, partial_path, tick_file_to_csv, OutputFile,
};
use market_data_pipeline::pipeline::StreamingPipeline;
use market_data_pipeline::sink::{CsvSink, TickFileSink};
use market_data_pipeline::symbol::SymbolNames;
use market_data_pipeline::{
    DataError, DataErrorKind, HybridBatcher, Passthrough, PipelineRuntimeSettings, ReplayConfig,
    ReplaySource, SettingsError, Sink, SymbolTable, TickFile, TickFileWriter,
};

/// A finished tick file of the six sample ticks at `dir/name`.
fn sample_file(dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.path(name);
    let table = Arc::new(SymbolTable::new());
    let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
    w.write_all(&sample_ticks(&table)).unwrap();
    w.finish().unwrap();
    path
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(ok.success());
}

#[cfg(unix)]
/// A FIFO, a socket (kept bound by the listener) and a directory in `dir`, each with the
/// words an error must use for it.
fn special_files(dir: &TempDir) -> (std::os::unix::net::UnixListener, Vec<(PathBuf, &str)>) {
    let fifo = dir.path("fifo");
    mkfifo(&fifo);
    let sock = dir.path("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let sub = dir.path("sub");
    std::fs::create_dir(&sub).unwrap();
    let found = vec![(fifo, "a FIFO"), (sock, "a socket"), (sub, "a directory")];
    (listener, found)
}

/// A thread that opens the FIFO `path` for writing and feeds it `byte` until the reader goes
/// away (its write then fails); gives the bytes fed.
fn feed(path: &Path, byte: u8) -> std::thread::JoinHandle<u64> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let chunk = vec![byte; 1 << 16];
        let mut fed = 0u64;
        while f.write_all(&chunk).is_ok() {
            fed += chunk.len() as u64;
        }
        fed
    })
}

fn refused(e: &DataError) -> &str {
    match &e.kind {
        DataErrorKind::Refused(reason) => reason,
        other => panic!("expected Refused, got {other:?} ({e})"),
    }
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_as_tick_files_naming_the_path_and_what_is_there() {
    let dir = TempDir::new("guard-special");
    let (_listener, specials) = special_files(&dir);
    // (path, what the error must say). Opening the FIFO would wait for a writer for ever:
    // the refusal comes first.
    let mut cases = vec![
        (PathBuf::from("/dev/zero"), "a character device"),
        (PathBuf::from("/dev/null"), "a character device"),
    ];
    cases.extend(specials);
    for (case, (path, what)) in cases.into_iter().enumerate() {
        let e = TickFile::open(&path).unwrap_err();
        assert!(refused(&e).contains(what), "case {case}: {e}");
        assert_eq!(e.path.as_deref(), Some(path.as_path()), "case {case}");
        let table = Arc::new(SymbolTable::new());
        let e = ReplaySource::open(&path, table, ReplayConfig::default()).unwrap_err();
        assert!(e.to_string().contains(what), "case {case}: {e}");
    }
}

#[test]
fn settings_are_read_up_to_a_cap_from_endless_devices_and_fed_pipes() {
    let cap = market_data_pipeline::runtime::MAX_SETTINGS_BYTES;
    assert_eq!(cap, 16 << 20);
    let e = PipelineRuntimeSettings::from_file("/dev/zero").unwrap_err();
    assert!(matches!(e, SettingsError::Io { .. }), "{e}");
    assert!(e.to_string().contains("/dev/zero"), "{e}");
    assert!(
        e.to_string().contains(&format!("limit of {cap} bytes")),
        "{e}"
    );

    let dir = TempDir::new("guard-settings");
    let fifo = dir.path("settings.toml");
    mkfifo(&fifo);
    let feeder = feed(&fifo, b'#');
    let e = PipelineRuntimeSettings::from_file(&fifo).unwrap_err();
    assert!(e.to_string().contains("settings.toml"), "{e}");
    assert!(e.to_string().contains("limit of"), "{e}");
    let fed = feeder.join().unwrap();
    assert!(
        fed <= cap + (1 << 20),
        "read stopped near the cap, fed {fed}"
    );

    let e = PipelineRuntimeSettings::from_file(dir.path("")).unwrap_err();
    assert!(e.to_string().contains("a directory"), "{e}");
    let big = dir.path("big.toml");
    std::fs::write(&big, vec![b'#'; cap as usize + 1]).unwrap();
    let e = PipelineRuntimeSettings::from_file(&big).unwrap_err();
    assert!(e.to_string().contains("limit of"), "{e}");
    let bad = dir.path("bad.toml");
    std::fs::write(&bad, b"orchestration_enabled = true\n# \xff\n").unwrap();
    let e = PipelineRuntimeSettings::from_file(&bad).unwrap_err();
    assert!(e.to_string().contains("byte offset 31: not UTF-8"), "{e}");
}

#[cfg(unix)]
#[test]
fn an_output_that_is_the_input_by_any_name_is_refused_before_anything_is_written() {
    let dir = TempDir::new("guard-same");
    let input = sample_file(&dir, "in.ticks");
    let before = std::fs::read(&input).unwrap();
    let link = dir.path("link.ticks");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let hard = dir.path("hard.ticks");
    std::fs::hard_link(&input, &hard).unwrap();
    let dotted = dir.path("sub/../in.ticks");
    std::fs::create_dir(dir.path("sub")).unwrap();
    // (case, output, fragment): the link itself is refused as a link; the others as the input.
    let cases: Vec<(u32, &Path, &str)> = vec![
        (1, &input, "is the input"),
        (2, &hard, "is the input"),
        (3, &dotted, "is the input"),
        (4, &link, "a symbolic link"),
    ];
    for (case, out, want) in cases {
        let inputs = [input.as_path()];
        let table = Arc::new(SymbolTable::new());
        let e = TickFileWriter::create_excluding(out, table.clone(), &inputs).unwrap_err();
        assert!(refused(&e).contains(want), "case {case}: {e}");
        let e = TickFileSink::create_excluding(out, table.clone(), &inputs).unwrap_err();
        assert!(e.to_string().contains(want), "case {case}: {e}");
        let names = SymbolNames::new(table);
        let e = CsvSink::create_excluding(out, names, &inputs).unwrap_err();
        assert!(e.to_string().contains(want), "case {case}: {e}");
        let e = tick_file_to_csv(&input, out).unwrap_err();
        assert!(refused(&e).contains(want), "case {case}: {e}");
        assert!(
            !partial_path(out).exists(),
            "case {case}: nothing opened for writing"
        );
        assert_eq!(std::fs::read(&input).unwrap(), before, "case {case}");
    }
    // An input where the unfinished output would go is not removed to make room.
    let beside = dir.path("beside.ticks");
    std::fs::hard_link(&input, partial_path(&beside)).unwrap();
    let e = TickFileWriter::create_excluding(&beside, Arc::new(SymbolTable::new()), &[&input])
        .unwrap_err();
    assert!(refused(&e).contains("one of the inputs"), "{e}");
    assert!(partial_path(&beside).exists());
    let csv = dir.path("in.csv");
    tick_file_to_csv(&input, &csv).unwrap();
    let e = csv_to_tick_file(&csv, &csv, Arc::new(SymbolTable::new())).unwrap_err();
    assert!(refused(&e).contains("is the input"), "{e}");
}

#[cfg(unix)]
#[test]
fn outputs_replace_only_regular_files_and_say_what_is_there() {
    let dir = TempDir::new("guard-outputs");
    let target = dir.path("target.ticks");
    std::fs::write(&target, b"precious").unwrap();
    let link = dir.path("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.path("dangling");
    std::os::unix::fs::symlink(dir.path("nowhere"), &dangling).unwrap();
    let (_listener, specials) = special_files(&dir);
    let fifo = specials[0].0.clone();
    let mut cases = vec![
        (link.clone(), "a symbolic link"),
        (dangling.clone(), "a symbolic link"),
        (PathBuf::from("/dev/full"), "a character device"),
        (PathBuf::from("/dev/null"), "a character device"),
        (dir.path("x.ticks.partial"), "must not end in `.partial`"),
    ];
    cases.extend(specials);
    for (case, (out, want)) in cases.iter().enumerate() {
        let e = OutputFile::create(out, &[]).unwrap_err();
        assert!(refused(&e).contains(want), "case {case}: {e}");
        assert_eq!(e.path.as_deref(), Some(out.as_path()), "case {case}");
        let e = TickFileSink::create(out, Arc::new(SymbolTable::new())).unwrap_err();
        assert!(e.to_string().contains(want), "case {case}: {e}");
    }
    // Nothing was replaced: the links are links, the FIFO a FIFO, the target intact.
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!dir.path("nowhere").exists());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    assert!(!dir.path("link.partial").exists());
    // A regular file is replaced; a stale regular `.partial` too, but not a link there.
    check_output(&target, &[]).unwrap();
    std::fs::write(partial_path(&target), b"stale").unwrap();
    let w = TickFileWriter::create(&target, Arc::new(SymbolTable::new())).unwrap();
    w.finish().unwrap();
    assert!(TickFile::open(&target).unwrap().is_empty());
    let guarded = dir.path("guarded.ticks");
    std::os::unix::fs::symlink(&target, partial_path(&guarded)).unwrap();
    let e = OutputFile::create(&guarded, &[]).unwrap_err();
    assert!(refused(&e).contains("a symbolic link"), "{e}");
}

#[test]
fn two_outputs_that_are_one_file_are_refused() {
    let dir = TempDir::new("guard-two");
    std::fs::create_dir(dir.path("sub")).unwrap();
    let a = dir.path("a.csv");
    let same_new = dir.path("sub/../a.csv");
    let e = check_outputs(&[&a, &same_new], &[]).unwrap_err();
    assert!(refused(&e).contains("the same file as the output"), "{e}");
    std::fs::write(&a, b"x").unwrap();
    let hard = dir.path("hard.csv");
    std::fs::hard_link(&a, &hard).unwrap();
    let e = check_outputs(&[&a, &hard], &[]).unwrap_err();
    assert!(refused(&e).contains("the same file as the output"), "{e}");
    check_outputs(&[&a, &dir.path("b.csv")], &[]).unwrap();
}

#[test]
fn a_recording_is_finished_only_when_the_caller_says_the_run_succeeded() {
    let dir = TempDir::new("guard-recording");
    let path = dir.path("rec.ticks");
    let table = Arc::new(SymbolTable::new());
    let ticks = sample_ticks(&table);
    let records: Vec<_> = ticks.iter().copied().map(Into::into).collect();
    let mut sink = TickFileSink::create(&path, table.clone()).unwrap();
    let recording = sink.recording();
    sink.write(&records).unwrap();
    let e = recording.finish().unwrap_err();
    assert!(e.to_string().contains("never closed"), "{e}");
    sink.close().unwrap();
    // Closed is not finished: the `.partial` is refused, by name and by its header.
    assert!(!path.exists());
    let e = TickFile::open(recording.partial_path()).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::Unfinished(_)), "{e}");
    let copy = dir.path("copy.ticks");
    std::fs::copy(recording.partial_path(), &copy).unwrap();
    let e = TickFile::open(&copy).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::Unfinished(_)), "{e}");
    assert!(
        e.to_string()
            .contains("byte offset 32: unfinished recording"),
        "{e}"
    );
    let done = recording.finish().unwrap();
    assert_eq!(done.records, ticks.len() as u64);
    assert_eq!(
        recording.finish().unwrap(),
        done,
        "finishing twice is the same"
    );
    assert_eq!(TickFile::open(&path).unwrap().len(), ticks.len() as u64);
    assert!(!recording.partial_path().exists());
}

#[test]
fn a_rename_that_fails_leaves_the_partial_unfinished_and_says_where() {
    // A directory at the destination makes the rename fail even for root.
    let dir = TempDir::new("guard-rename");
    let path = dir.path("out.ticks");
    let table = Arc::new(SymbolTable::new());
    let mut w = TickFileWriter::create(&path, table.clone()).unwrap();
    w.write_all(&sample_ticks(&table)).unwrap();
    std::fs::create_dir(&path).unwrap();
    let e = w.finish().unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("a directory"), "{shown}");
    assert!(
        shown.contains(&format!("left at {}", partial_path(&path).display())),
        "{shown}"
    );
    // The `.partial` is left with its "unfinished" header back: refused under any name.
    let copy = dir.path("copy.ticks");
    std::fs::copy(partial_path(&path), &copy).unwrap();
    let e = TickFile::open(&copy).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::Unfinished(_)), "{e}");
    assert!(path.is_dir());

    // The same for a CSV recording through a sink.
    let csv = dir.path("out.csv");
    let mut sink = CsvSink::create(&csv, SymbolNames::new(table.clone())).unwrap();
    let recording = sink.recording();
    let records: Vec<_> = sample_ticks(&table).into_iter().map(Into::into).collect();
    sink.write(&records).unwrap();
    sink.close().unwrap();
    std::fs::create_dir(&csv).unwrap();
    let e = recording.finish().unwrap_err().to_string();
    assert!(e.contains("out.csv.partial"), "{e}");
    assert_eq!(
        std::fs::read_to_string(recording.partial_path())
            .unwrap()
            .lines()
            .count(),
        7
    );
}

/// Regression (issue 7, item 5): a replay that stopped at a corrupt record left a finished,
/// valid-looking recording of the ticks before it.
#[test]
fn regression_failed_pipeline_left_a_finished_recording() {
    let dir = TempDir::new("guard-failed-run");
    let input = sample_file(&dir, "in.ticks");
    let mut bytes = std::fs::read(&input).unwrap();
    bytes[64 + 3 * 64 + 62] = 9; // record 3: invalid kind
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.path("out.ticks");
    let table = Arc::new(SymbolTable::new());
    let source = ReplaySource::open(&input, table.clone(), ReplayConfig::default()).unwrap();
    let sink = TickFileSink::create_excluding(&out, table, &[input.as_path()]).unwrap();
    let recording = sink.recording();
    let report = StreamingPipeline::builder()
        .source(source)
        .operator(Passthrough::new())
        .batcher(HybridBatcher::new(2, Duration::from_millis(1)).unwrap())
        .sink(sink)
        .build()
        .unwrap()
        .start()
        .unwrap()
        .join();
    let error = report.error.expect("the replay fails at record 3");
    assert!(error.to_string().contains("byte offset 256"), "{error}");
    // The pipeline closed its sink (end of stream) but nothing is finished.
    assert!(!out.exists());
    let left = recording.leave_unfinished().unwrap();
    assert_eq!(left, partial_path(&out));
    let e = TickFile::open(&left).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::Unfinished(_)), "{e}");
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn csv_import_streams_devices_and_pipes_in_bounded_memory_and_leaves_no_output() {
    let dir = TempDir::new("guard-csv-import");
    let out = dir.path("out.ticks");
    let fifo = dir.path("fed.csv");
    mkfifo(&fifo);
    // Bytes that are never a newline: a reader that did not cap lines would grow for ever.
    let feeder = feed(&fifo, b'7');
    std::fs::write(dir.path("left.csv.partial"), "ts_event\n").unwrap();
    // (case, input, what the error must say)
    let cases: Vec<(u32, PathBuf, &str)> = vec![
        (
            1,
            fifo,
            "line 1: bad header: line is longer than 1024 bytes",
        ),
        (
            2,
            PathBuf::from("/dev/zero"),
            "line 1: bad header: line is longer than 1024 bytes",
        ),
        (
            3,
            PathBuf::from("/dev/null"),
            "line 1: bad header: empty input",
        ),
        (4, dir.path(""), "refused: a directory"),
        (5, dir.path("left.csv.partial"), "unfinished recording"),
        (6, dir.path("missing.csv"), "I/O error (NotFound)"),
    ];
    for (case, input, want) in cases {
        let e = csv_to_tick_file(&input, &out, Arc::new(SymbolTable::new())).unwrap_err();
        assert!(e.to_string().contains(want), "case {case}: {e}");
        assert_eq!(e.path.as_deref(), Some(input.as_path()), "case {case}: {e}");
        assert!(!out.exists() && !partial_path(&out).exists(), "case {case}");
    }
    feeder.join().unwrap();
}

#[cfg(unix)]
#[test]
fn regression_a_runtime_started_from_a_fifo_read_it_twice_and_waited_for_a_second_writer() {
    // A start error is located by its key's line; the old code read the file again to find
    // it, and a FIFO whose writer had gone made that second open wait for ever.
    let dir = TempDir::new("guard-runtime-fifo");
    let fifo = dir.path("runtime.toml");
    mkfifo(&fifo);
    let missing = dir.path("missing.ticks");
    let text = format!(
        "[providers.file]\nkind = \"replay\"\npath = {:?}\n",
        missing.display().to_string()
    );
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        })
    };
    let e = market_data_pipeline::PipelineRuntime::start_from_file(&fifo).unwrap_err();
    writer.join().unwrap();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}:1:", fifo.display())),
        "{text}"
    );
    assert!(text.contains("missing.ticks"), "{text}");
}
