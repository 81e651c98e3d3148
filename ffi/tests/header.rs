//! The checked-in header `include/mdp.h` is what cbindgen makes from the crate now.
//! `MDP_BLESS=1 cargo test -p mdp-ffi --test header` rewrites it.

use std::path::Path;

#[test]
fn the_checked_in_header_matches_the_sources() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen parses ffi/src");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = dir.join("include/mdp.h");
    if std::env::var_os("MDP_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write include/mdp.h");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "ffi/include/mdp.h is stale: the ffi sources changed. Regenerate it with\n    \
         MDP_BLESS=1 cargo test -p mdp-ffi --test header\nand commit it."
    );
}
