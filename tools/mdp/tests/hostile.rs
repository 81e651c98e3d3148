//! The hostile-CLI table (issue 7): every subcommand (`run`, `run --bars`, `run --config`,
//! `gen`, `replay`, `bench` with tiny sizes, `feed read`/`serve`) against special files,
//! hostile numbers, outputs that are links, FIFOs, devices, directories or the input, and
//! truncated or corrupt tick files, CSV and TOML.
//!
//! Each numbered case asserts: the exit code (2 for usage and input errors), a fragment of
//! the message naming what and where, no panic, a bounded run time (past
//! [`common::BOUND`] the child is killed and the case fails), and that nothing in the work
//! directory changed except the case's named outputs (names, types, sizes, mtimes and the
//! bytes of every regular file; inputs included).

mod common;

use std::path::Path;

use common::{changes, mkfifo, snapshot, Env, Feeder};

/// One row: number, arguments (`@name`: in the work directory; `{n}`: the case number),
/// expected exit code, a fragment the message must hold (stderr for failures, stdout for
/// successes), the outputs it may create or change (each also as `<name>.partial`), and an
/// optional FIFO to feed from a source while it runs.
struct Case {
    n: u32,
    args: &'static str,
    code: i32,
    want: &'static str,
    outputs: &'static [&'static str],
    feed: Option<(&'static str, &'static str)>,
}

const fn case(n: u32, args: &'static str, code: i32, want: &'static str) -> Case {
    Case {
        n,
        args,
        code,
        want,
        outputs: &[],
        feed: None,
    }
}

const fn writes(
    n: u32,
    args: &'static str,
    code: i32,
    want: &'static str,
    outputs: &'static [&'static str],
) -> Case {
    Case {
        n,
        args,
        code,
        want,
        outputs,
        feed: None,
    }
}

const fn fed(
    n: u32,
    args: &'static str,
    want: &'static str,
    source: &'static str,
    fifo: &'static str,
) -> Case {
    Case {
        n,
        args,
        code: 2,
        want,
        outputs: &[],
        feed: Some((source, fifo)),
    }
}

const MAPPED: &str = "not a regular file (a tick file is memory-mapped)";
const LINK_OUT: &str = "a symbolic link is at the output path";
const IS_INPUT: &str = "the output is the input";
const UNFINISHED: &str = "unfinished recording";
const RUN: &str = "run --duration 0.1";
const TINY_BENCH: &str = "bench --ticks 2000 --runs 1 --chunk 64 --ring 1024 --latency-secs 0.02";

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // ---- replay: special files as the input (refused before opening: a FIFO never blocks)
        case(1, "replay /dev/zero", 2, "/dev/zero: refused: a character device"),
        case(2, "replay /dev/null", 2, "/dev/null: refused: a character device"),
        case(3, "replay /dev/urandom", 2, MAPPED),
        case(4, "replay @fifo", 2, "fifo: refused: a FIFO (named pipe)"),
        fed(5, "replay @fifo_fed", "fifo_fed: refused: a FIFO", "/dev/urandom", "fifo_fed"),
        case(6, "replay @sub", 2, "sub: refused: a directory"),
        case(7, "replay @sock", 2, "sock: refused: a socket"),
        case(8, "replay @missing.mdt", 2, "missing.mdt: I/O error (NotFound)"),
        case(9, "replay @link_good --quiet", 0, "replayed 2000 ticks"),
        case(10, "replay @dangling", 2, "dangling: I/O error (NotFound)"),
        // ---- replay: truncated and corrupt tick files (offset named)
        case(11, "replay @empty.mdt", 2, "empty.mdt: byte offset 0: truncated"),
        case(12, "replay @short.mdt", 2, "short.mdt: byte offset 10: truncated"),
        case(13, "replay @trunc.mdt", 2, "trunc.mdt: byte offset 1000: truncated"),
        case(14, "replay @magic.mdt", 2, "magic.mdt: byte offset 0: wrong magic"),
        case(15, "replay @version.mdt", 2, "version.mdt: byte offset 8: unsupported version"),
        case(16, "replay @recsize.mdt", 2, "recsize.mdt: byte offset 12: record size"),
        case(17, "replay @corrupt.mdt --quiet", 2, "corrupt.mdt: byte offset 704: bad record"),
        case(18, "replay @badsym.mdt --quiet", 2, "badsym.mdt: byte offset 704: unknown symbol"),
        case(19, "replay @flags.mdt --quiet", 2, "flags.mdt: byte offset 704: bad record"),
        case(20, "replay @trailing.mdt", 2, "unexpected bytes after the symbol table"),
        case(21, "replay @hugecount.mdt", 2, "hugecount.mdt: byte offset 24: bad header"),
        case(22, "replay @unfinished.mdt", 2, "unfinished.mdt: byte offset 32: unfinished recording"),
        case(23, "replay @left.mdt.partial", 2, UNFINISHED),
        case(24, "replay @text.mdt", 2, "text.mdt: byte offset 0: wrong magic"),
        case(25, "replay @symtab.mdt", 2, "symtab.mdt: byte offset"),
        // ---- replay: outputs that are the input, links, FIFOs, devices, directories
        case(26, "replay @good.mdt --out @good.mdt", 2, IS_INPUT),
        case(27, "replay @good.mdt --csv @good.mdt", 2, IS_INPUT),
        case(28, "replay @good.mdt --out @sub/../good.mdt", 2, IS_INPUT),
        case(29, "replay @good.mdt --out @hard_good", 2, IS_INPUT),
        case(30, "replay @good.mdt --csv @hard_good", 2, IS_INPUT),
        case(31, "replay @good.mdt --out @link_good", 2, LINK_OUT),
        case(32, "replay @good.mdt --csv @link_good", 2, LINK_OUT),
        case(33, "replay @link_good --out @good.mdt", 2, IS_INPUT),
        case(34, "replay @good.mdt --out @dangling", 2, LINK_OUT),
        case(35, "replay @good.mdt --out @fifo", 2, "a FIFO (named pipe) is at the output path"),
        case(36, "replay @good.mdt --csv @fifo", 2, "a FIFO (named pipe) is at the output path"),
        case(37, "replay @good.mdt --out @sub", 2, "a directory is at the output path"),
        case(38, "replay @good.mdt --out @sock", 2, "a socket is at the output path"),
        case(39, "replay @good.mdt --out /dev/null", 2, "a character device is at the output path"),
        case(40, "replay @good.mdt --csv /dev/full", 2, "a character device is at the output path"),
        case(41, "replay @good.mdt --out @x.mdt.partial", 2, "must not end in `.partial`"),
        case(42, "replay @good.mdt --out @nodir/x.mdt", 2, "checking its directory"),
        case(43, "replay @good.mdt --out @good.csv/x.mdt", 2, "good.csv/x.mdt: I/O error (NotADirectory)"),
        // ---- replay: a failed run never leaves a finished recording
        writes(44, "replay @corrupt.mdt --out @out{n}.mdt --quiet", 2, "out44.mdt.partial", &["out44.mdt"]),
        writes(45, "replay @corrupt.mdt --csv @out{n}.csv --quiet", 2, "out45.csv.partial", &["out45.csv"]),
        writes(46, "replay @good.mdt --out @out{n}.mdt --quiet", 0, "recorded 2000 records", &["out46.mdt"]),
        writes(47, "replay @good.mdt --csv @out{n}.csv --quiet --bars-ms 1", 0, "recorded", &["out47.csv"]),
        writes(48, "replay @good.mdt --bars-ms 1 --out @out{n}.mdt --quiet", 2, "tick file holds ticks", &["out48.mdt"]),
        // ---- replay: hostile numbers
        case(49, "replay @good.mdt --loops 0", 2, "--loops"),
        case(50, "replay @good.mdt --loops -1", 2, "'-1'"),
        case(51, "replay @good.mdt --loops 4294967296", 2, "--loops"),
        case(52, "replay @good.mdt --loops nan", 2, "--loops"),
        case(53, "replay @good.mdt --speed 0x", 2, "--speed"),
        case(54, "replay @good.mdt --speed -1x", 2, "--speed \"-1x\""),
        case(55, "replay @good.mdt --speed 4294967296x", 2, "--speed"),
        case(56, "replay @good.mdt --speed nanx", 2, "--speed"),
        case(57, "replay @good.mdt --speed infx", 2, "--speed"),
        case(58, "replay @good.mdt --speed 1e3x", 2, "--speed"),
        case(59, "replay @good.mdt --speed x", 2, "--speed"),
        case(60, "replay @good.mdt --bars-ms -1", 2, "'-1'"),
        case(61, "replay @good.mdt --bars-ms 18446744073709551616", 2, "--bars-ms"),
        case(62, "replay @good.mdt --bars-ms 1e3", 2, "--bars-ms"),
        case(63, "replay @good.mdt --symbols NOPE", 2, "\"NOPE\" is not in the file"),
        case(64, "replay @good.mdt --speed 4294967295x --quiet", 0, "replayed 2000 ticks"),
        // ---- gen: outputs
        case(65, "gen @link_good --ticks 10", 2, LINK_OUT),
        case(66, "gen @dangling --ticks 10", 2, LINK_OUT),
        case(67, "gen @fifo --ticks 10", 2, "a FIFO (named pipe) is at the output path"),
        case(68, "gen @sub --ticks 10", 2, "a directory is at the output path"),
        case(69, "gen @sock --ticks 10", 2, "a socket is at the output path"),
        case(70, "gen /dev/full --ticks 10", 2, "/dev/full: refused: a character device"),
        case(71, "gen /dev/null --ticks 10", 2, "/dev/null: refused: a character device"),
        case(72, "gen @x.csv.partial --ticks 10", 2, "must not end in `.partial`"),
        case(73, "gen @nodir/x.csv --ticks 10", 2, "nodir/x.csv"),
        case(74, "gen @link_csv --ticks 10", 2, LINK_OUT),
        writes(75, "gen @out{n}.csv --ticks 10 --quiet", 0, "wrote 10 ticks", &["out75.csv"]),
        writes(76, "gen @out{n}.mdt --ticks 1 --quiet --seed 18446744073709551615", 0, "wrote 1 ticks", &["out76.mdt"]),
        writes(77, "gen @good.csv --ticks 10 --quiet", 0, "wrote 10 ticks", &["good.csv"]),
        // ---- gen: hostile numbers
        case(78, "gen @g.mdt --ticks 0", 2, "--ticks"),
        case(79, "gen @g.mdt --ticks -1", 2, "'-1'"),
        case(80, "gen @g.mdt --ticks 18446744073709551616", 2, "--ticks"),
        case(81, "gen @g.mdt --ticks nan", 2, "--ticks"),
        case(82, "gen @g.mdt --ticks 1e3", 2, "--ticks"),
        case(83, "gen @g.mdt --seed -1", 2, "'-1'"),
        case(84, "gen @g.mdt --seed 18446744073709551616", 2, "--seed"),
        case(85, "gen @g.mdt --interval-ns -1", 2, "'-1'"),
        case(86, "gen @g.mdt --interval-ns inf", 2, "--interval-ns"),
        case(87, "gen @g.mdt --start-ns -1", 2, "'-1'"),
        case(88, "gen @g.mdt --start-ns 18446744073709551616", 2, "--start-ns"),
        case(89, "gen @g.mdt --symbols , --ticks 10", 2, "empty symbol name"),
        // ---- run --config: special files, caps, bad TOML
        case(90, "run --config /dev/zero --duration 0.1", 2, "/dev/zero: byte offset 16777216: larger than the limit of 16777216 bytes"),
        fed(91, "run --config @fifo_fed --duration 0.1", "limit of 16777216 bytes", "/dev/zero", "fifo_fed"),
        fed(92, "run --config @fifo_fed --duration 0.1", "fifo_fed", "/dev/urandom", "fifo_fed"),
        case(93, "run --config @sub --duration 0.1", 2, "sub: refused: a directory"),
        case(94, "run --config @missing.toml --duration 0.1", 2, "missing.toml: "),
        case(95, "run --config /dev/null --duration 0.1", 2, "symbols"),
        case(96, "run --config @binary.toml --duration 0.1", 2, "binary.toml: byte offset 0: not UTF-8"),
        case(97, "run --config @syntax.toml --duration 0.1", 2, "syntax.toml: line 1"),
        case(98, "run --config @unknown.toml --duration 0.1", 2, "unknown.toml: line 1"),
        case(99, "run --config @wrongtype.toml --duration 0.1", 2, "wrongtype.toml: line 1"),
        case(100, "run --config @negative.toml --duration 0.1", 2, "negative.toml: line 1"),
        case(101, "run --config @huge.toml --duration 0.1", 2, "huge.toml: line 1"),
        case(102, "run --config @nan.toml --duration 0.1", 2, "circuit_breaker_timeout_sec: NaN"),
        case(103, "run --config @inf.toml --duration 0.1", 2, "circuit_breaker_timeout_sec: inf"),
        case(104, "run --config @zero.toml --duration 0.1", 2, "max_concurrent_pipelines"),
        case(105, "run --config @replay_zero.toml --duration 0.1", 2, "/dev/zero: refused: a character device"),
        case(106, "run --config @replay_fifo.toml --duration 0.1", 2, "fifo: refused: a FIFO"),
        case(107, "run --config @replay_dir.toml --duration 0.1", 2, "sub: refused: a directory"),
        case(108, "run --config @replay_missing.toml --duration 0.1", 2, "replay_missing.toml:1: source r: "),
        case(109, "run --config @replay_trunc.toml --duration 0.1", 2, "trunc.mdt: byte offset 1000: truncated"),
        case(110, "run --config @replay_partial.toml --duration 0.1", 2, UNFINISHED),
        case(111, "run --config @kind.toml --duration 0.1", 2, "nope"),
        case(112, "run --config @ok.toml --duration 0.1 --json", 0, "\"pipelines\""),
        case(113, "run --config @good.mdt --duration 0.1", 2, "good.mdt: "),
        // ---- run and run --bars: hostile numbers
        case(114, "run --duration 0", 2, "--duration"),
        case(115, "run --duration -1", 2, "--duration -1"),
        case(116, "run --duration nan", 2, "--duration"),
        case(117, "run --duration inf", 2, "--duration"),
        case(118, "run --bars --duration nan", 2, "--duration"),
        case(119, "run --bars --duration inf", 2, "--duration"),
        case(120, "run --bars --duration 0", 2, "--duration"),
        case(121, "run --bars --duration 1e-300 --json", 0, "\"ticks_produced\""),
        case(122, "run --bars --bar-ms 0 --duration 0.1", 2, "--bar-ms 0"),
        case(123, "run --bars --bar-ms -1", 2, "'-1'"),
        case(124, "run --bars --bar-ms 18446744073709551616", 2, "--bar-ms"),
        case(125, "run --bars --rate 18446744073709551615 --duration 0.1", 2, "--rate 18446744073709551615"),
        case(126, "run --bars --rate 18446744073709551616", 2, "--rate"),
        case(127, "run --bars --rate -1", 2, "'-1'"),
        case(128, "run --bars --seed 18446744073709551615 --duration 0.1 --json", 0, "\"bars\""),
        case(129, "run --bars --symbols , --duration 0.1", 2, "empty symbol name"),
        case(130, RUN, 0, ""),
        // ---- bench with tiny sizes
        case(131, "bench --ticks 0 --runs 1", 2, "--ticks"),
        case(132, "bench --ticks 2000 --runs 0", 2, "--runs"),
        case(133, "bench --ticks 2000 --runs 1 --chunk 0", 2, "--chunk"),
        case(134, "bench --ticks 2000 --runs 1 --ring 0", 2, "--ring"),
        case(135, "bench --ticks 2000 --runs 1 --chunk 64 --ring 1", 2, "--ring"),
        case(136, "bench --ticks 2000 --runs 1 --chunk 18446744073709551615", 2, "--chunk"),
        case(137, "bench --ticks 2000 --runs 1 --latency-rate 0", 2, "--latency-rate"),
        case(138, "bench --ticks 2000 --runs 1 --producer-core 4096", 2, "--producer-core"),
        case(139, "bench --ticks 2000 --runs 1 --consumer-core 18446744073709551615", 2, "--consumer-core"),
        case(140, "bench --ticks 2000 --runs 1 --ring 18446744073709551616", 2, "--ring"),
        case(141, "bench --ticks 2000 --runs 1 --latency-secs -1", 2, "--latency-secs -1"),
        case(142, "bench --ticks -1", 2, "'-1'"),
        case(143, "bench --ticks 2000 --runs 1 --chunk 64 --ring 1024 --latency-secs 0.02 --hgrm @hg", 2, LINK_OUT),
        case(144, "bench --ticks 2000 --runs 1 --chunk 64 --ring 1024 --latency-secs 0.02 --hgrm @nodir/h", 2, "checking its directory"),
        writes(145, "bench --ticks 2000 --runs 1 --chunk 64 --ring 1024 --latency-secs 0.02 --hgrm @h{n}", 0, "", &["h145.ring.hgrm", "h145.pipeline.hgrm"]),
        case(146, TINY_BENCH, 0, ""),
        // ---- feed read against a closed port or a bad address; feed serve
        case(147, "feed read 127.0.0.1:1 --timeout-s 1", 2, "timed out after 1 s"),
        case(148, "feed read 127.0.0.1:1 --timeout-s 0", 2, "--timeout-s 0"),
        case(149, "feed read notanaddr", 2, "<ADDR>"),
        case(150, "feed read 256.0.0.1:80", 2, "<ADDR>"),
        case(151, "feed read 127.0.0.1:99999", 2, "<ADDR>"),
        case(152, "feed read 127.0.0.1:1 --timeout-s -1", 2, "'-1'"),
        case(153, "feed read 127.0.0.1:1 --ticks 18446744073709551616", 2, "--ticks"),
        case(154, "feed read 127.0.0.1:1 --symbols , --timeout-s 1", 2, "empty symbol name"),
        case(155, "feed serve --accept-timeout-s 0", 2, "--accept-timeout-s 0"),
        case(156, "feed serve --addr notanaddr", 2, "--addr"),
        case(157, "feed serve --ticks -1", 2, "'-1'"),
        // ---- more inputs: a socket as settings, CSV as settings, a sparse 64 GiB tick file
        case(158, "run --config @sock --duration 0.1", 2, "sock: "),
        case(159, "run --config @good.csv --duration 0.1", 2, "good.csv: line 1"),
        case(160, "replay @sparse.mdt", 2, "sparse.mdt: byte offset 0: wrong magic"),
        case(161, "run --config @replay_sparse.toml --duration 0.1", 2, "sparse.mdt: byte offset 0: wrong magic"),
        // ---- an output that replaces a regular file (not an input) is fine, and last
        writes(162, "replay @good.mdt --exact --out @good.csv --quiet", 0, "recorded 2000 records", &["good.csv"]),
    ]
}

/// Tick-file fixtures derived from a good file: (name, byte to change, new byte), each
/// naming a different problem. Record 10 starts at byte 64 + 10 × 64 = 704.
const CORRUPTIONS: &[(&str, usize, u8)] = &[
    ("magic.mdt", 0, b'X'),
    ("version.mdt", 8, 2),
    ("recsize.mdt", 12, 32),
    ("corrupt.mdt", 704 + 62, 9),   // kind
    ("flags.mdt", 704 + 63, 0xff),  // flags
    ("badsym.mdt", 704 + 56, 0xee), // symbol id
    ("hugecount.mdt", 31, 0x1f),    // record count high byte
];

const TOMLS: &[(&str, &str)] = &[
    ("ok.toml", "[providers.s]\nkind = \"synthetic\"\nsymbols = [\"AAPL\"]\nrate = 10000\n\n[[pipelines]]\ntenant_id = \"t\"\npipeline_id = \"p\"\nsources = [\"s\"]\n"),
    ("syntax.toml", "max_concurrent_pipelines = \n"),
    ("unknown.toml", "bogus_key = 1\n"),
    ("wrongtype.toml", "max_concurrent_pipelines = \"four\"\n"),
    ("negative.toml", "max_concurrent_pipelines = -1\n"),
    ("huge.toml", "max_concurrent_pipelines = 99999999999999999999\n"),
    ("nan.toml", "circuit_breaker_timeout_sec = nan\n"),
    ("inf.toml", "circuit_breaker_timeout_sec = inf\n"),
    ("zero.toml", "max_concurrent_pipelines = 0\n"),
    ("kind.toml", "[providers.x]\nkind = \"nope\"\n\n[[pipelines]]\ntenant_id = \"t\"\npipeline_id = \"p\"\nsources = [\"x\"]\nsymbols = [\"AAPL\"]\n"),
];

/// A replay provider reading `path` (`@name`: in the work directory).
fn replay_toml(path: &str) -> String {
    format!(
        "[providers.r]\nkind = \"replay\"\npath = \"{path}\"\n\n[[pipelines]]\ntenant_id = \"t\"\npipeline_id = \"p\"\nsources = [\"r\"]\nsymbols = [\"AAPL\"]\n"
    )
}

fn setup(env: &Env) -> std::os::unix::net::UnixListener {
    let p = |n: &str| env.p(n);
    let s = |n: &str| p(n).display().to_string();
    for (name, ticks) in [("good.mdt", "2000"), ("good.csv", "200")] {
        let out = env.run(&[
            "gen".into(),
            s(name),
            "--ticks".into(),
            ticks.into(),
            "--quiet".into(),
        ]);
        assert_eq!(out.code(), Some(0), "{out:?}");
    }
    let good = std::fs::read(p("good.mdt")).unwrap();
    for &(name, at, byte) in CORRUPTIONS {
        let mut b = good.clone();
        b[at] = byte;
        std::fs::write(p(name), b).unwrap();
    }
    let mut unfinished = good.clone();
    unfinished[32..40].fill(0);
    std::fs::write(p("unfinished.mdt"), unfinished).unwrap();
    let mut symtab = good.clone();
    let last = symtab.len() - 1;
    symtab[last] = 0xff; // not UTF-8 in the last symbol name
    std::fs::write(p("symtab.mdt"), symtab).unwrap();
    let mut trailing = good.clone();
    trailing.push(0);
    std::fs::write(p("trailing.mdt"), trailing).unwrap();
    std::fs::write(p("trunc.mdt"), &good[..1000]).unwrap();
    std::fs::write(p("short.mdt"), &good[..10]).unwrap();
    std::fs::write(p("empty.mdt"), b"").unwrap();
    std::fs::write(p("left.mdt.partial"), &good).unwrap();
    std::fs::copy(p("good.csv"), p("text.mdt")).unwrap();
    std::fs::create_dir(p("sub")).unwrap();
    mkfifo(&p("fifo"));
    mkfifo(&p("fifo_fed"));
    let listener = std::os::unix::net::UnixListener::bind(p("sock")).unwrap();
    std::os::unix::fs::symlink(p("good.mdt"), p("link_good")).unwrap();
    std::os::unix::fs::symlink(p("good.csv"), p("link_csv")).unwrap();
    std::os::unix::fs::symlink(p("nowhere"), p("dangling")).unwrap();
    std::os::unix::fs::symlink(p("good.csv"), p("hg.ring.hgrm")).unwrap();
    std::fs::hard_link(p("good.mdt"), p("hard_good")).unwrap();
    for &(name, text) in TOMLS {
        std::fs::write(p(name), text).unwrap();
    }
    std::fs::write(p("binary.toml"), b"\xff\xfe = 1\n").unwrap();
    // Sparse: mapping it reads nothing, so its size costs nothing (and it is not hashed).
    std::fs::File::create(p("sparse.mdt"))
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    for (name, target) in [
        ("replay_zero.toml", "/dev/zero".to_string()),
        ("replay_fifo.toml", s("fifo")),
        ("replay_dir.toml", s("sub")),
        ("replay_missing.toml", s("missing.mdt")),
        ("replay_trunc.toml", s("trunc.mdt")),
        ("replay_partial.toml", s("left.mdt.partial")),
        ("replay_sparse.toml", s("sparse.mdt")),
    ] {
        std::fs::write(p(name), replay_toml(&target)).unwrap();
    }
    listener
}

fn check(env: &Env, c: &Case) -> Result<(), String> {
    let args: Vec<String> = c.args.split(' ').map(|t| env.arg(t, c.n)).collect();
    let before = snapshot(&env.dir);
    let feeder = c
        .feed
        .map(|(source, fifo)| Feeder::start(source, &env.p(fifo)));
    let out = env.run(&args);
    drop(feeder);
    let after = snapshot(&env.dir);
    let shown = format!("case {} `mdp {}`: {out:?}", c.n, c.args);
    if out.hung() {
        return Err(format!("hung (killed after {:?}): {shown}", common::BOUND));
    }
    if out.stderr.contains("panicked") {
        return Err(format!("panicked: {shown}"));
    }
    if out.code() != Some(c.code) {
        return Err(format!(
            "exit {:?}, expected {}: {shown}",
            out.code(),
            c.code
        ));
    }
    let text = if c.code == 0 {
        &out.stdout
    } else {
        &out.stderr
    };
    if c.code != 0 && !out.stderr.starts_with("error: ") {
        return Err(format!("no `error: ` line: {shown}"));
    }
    if !text.contains(c.want) {
        return Err(format!("message lacks {:?}: {shown}", c.want));
    }
    let allowed: Vec<String> = c
        .outputs
        .iter()
        .flat_map(|o| [o.to_string(), format!("{o}.partial")])
        .collect();
    let stray: Vec<_> = changes(&before, &after)
        .into_iter()
        .filter(|p| !allowed.iter().any(|a| Path::new(a) == p))
        .collect();
    if !stray.is_empty() {
        return Err(format!("changed outside its outputs: {stray:?}: {shown}"));
    }
    Ok(())
}

#[test]
fn hostile_cli_table() {
    let env = Env::new("hostile");
    let _listener = setup(&env);
    let cases = cases();
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(c.n as usize, i + 1, "cases are numbered in order");
    }
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| check(&env, c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("hostile CLI table: {} cases passed", cases.len());
}
