//! Builds and runs the C and C++ examples (examples/c/run.sh: gcc/g++ with -Werror, the C
//! one also under AddressSanitizer) against the libraries this `cargo test` just built.
//! Without gcc/g++ it says so loudly and passes: `.ci/run` runs the script on its own too.

use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_c_and_cpp_examples_build_without_warnings_and_run_clean_under_asan() {
    if !have("gcc") || !have("g++") {
        eprintln!("\n*** SKIPPED: gcc not found (or g++): the C/C++ examples were not built ***\n");
        return;
    }
    // target/<profile>/deps/c_examples-* -> target/<profile>, where the libraries are.
    let exe = std::env::current_exe().expect("test binary path");
    let libdir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
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
