//! Builds and runs the C and C++ examples (examples/c/run.sh: gcc/g++ with -Werror, the C
//! one also under AddressSanitizer) against the libraries the test builds first.
//! Without gcc/g++ it says so loudly and passes: `.ci/run` runs the script on its own too.

use std::path::{Path, PathBuf};
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `cargo test` builds the crate only as an rlib for its tests, never `libmdp_ffi.a`/`.so`, so
/// the test builds them: always (a stale library from an older build would test old code),
/// with the cargo that runs it, into a target directory of its own (the running `cargo test`
/// holds the lock of its own), `target/c-abi`, which `.ci/run`'s C ABI step shares.
/// Returns the directory holding the libraries.
fn build_the_libraries(root: &Path) -> PathBuf {
    // target/<profile>/deps/c_examples-* -> target.
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    let dir = target.join("c-abi");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["build", "-p", "mdp-ffi", "--target-dir"])
        .arg(&dir)
        .output()
        .expect("run cargo build -p mdp-ffi");
    assert!(
        out.status.success(),
        "cargo build -p mdp-ffi --target-dir {} failed ({})\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("debug")
}

#[test]
fn the_c_and_cpp_examples_build_without_warnings_and_run_clean_under_asan() {
    if !have("gcc") || !have("g++") {
        eprintln!("\n*** SKIPPED: gcc not found (or g++): the C/C++ examples were not built ***\n");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let libdir = build_the_libraries(&root);
    let out = Command::new("bash")
        .arg(root.join("examples/c/run.sh"))
        .arg(libdir)
        .output()
        .expect("run examples/c/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "examples/c/run.sh failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains("c quickstart: ok"), "{stdout}");
    assert!(stdout.contains("cpp quickstart: ok"), "{stdout}");
    assert!(stdout.contains("asan: no error, no leak"), "{stdout}");
}
