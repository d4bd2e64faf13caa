//! Builds the built-in guest components in `functions/` for `wasm32-wasip2` and exposes their
//! bytes to the host as `builtins.rs` in `OUT_DIR` (the test-programs pattern of wasmtime), so
//! a normal `cargo build` or `cargo test` always runs the components of this checkout.

use std::path::PathBuf;
use std::process::Command;

/// Guest crates in `functions/` that are components (the SDK is a library).
const GUESTS: &[&str] = &["listing", "booking", "auth", "presale"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let functions = root.join("functions");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out.join("functions-target");
    println!("cargo:rerun-if-changed={}", functions.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", functions.join("Cargo.lock").display());
    // Every crate of functions/ (components and the libraries they share), not its target/.
    for entry in std::fs::read_dir(&functions).unwrap().flatten() {
        if entry.path().is_dir() && entry.file_name() != "target" {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    build_guests(&functions, &target_dir);
    // The hostile component of the containment tests: built beside, never embedded.
    let hostile = root.join("tests/hostile");
    println!("cargo:rerun-if-changed={}", hostile.join("src").display());
    println!("cargo:rerun-if-changed={}", hostile.join("Cargo.toml").display());
    build_guests(&hostile, &target_dir);
    println!("cargo:rerun-if-changed={}", hostile.join("foreign").display());
    let built = |name: &str| target_dir.join("wasm32-wasip2/release").join(format!("{name}.wasm"));
    println!("cargo:rustc-env=MARQUEE_HOSTILE_WASM={}", built("hostile").display());
    println!("cargo:rustc-env=MARQUEE_FOREIGN_WASM={}", built("foreign").display());
    // The Rust starter kit, so its test builds exactly what a seller would.
    let starter = root.join("templates/starter-rust");
    println!("cargo:rerun-if-changed={}", starter.join("src").display());
    println!("cargo:rerun-if-changed={}", starter.join("Cargo.toml").display());
    build_guests(&starter, &target_dir);
    println!("cargo:rustc-env=MARQUEE_STARTER_RUST_WASM={}", built("my_storefront").display());

    let mut src = String::new();
    src.push_str("/// Built-in components: (name, component bytes).\npub const BUILTINS: &[(&str, &[u8])] = &[\n");
    for guest in GUESTS {
        let wasm = target_dir.join("wasm32-wasip2/release").join(format!("{guest}.wasm"));
        src.push_str(&format!("    ({guest:?}, include_bytes!({:?})),\n", wasm.display().to_string()));
    }
    src.push_str("];\n");
    std::fs::write(out.join("builtins.rs"), src).unwrap();
}

/// Builds a guest workspace for wasm32-wasip2 into `target_dir`.
fn build_guests(workspace: &std::path::Path, target_dir: &std::path::Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--workspace", "--release", "--locked", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's flags are for the host, not for the guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        // Under `cargo clippy` the guests are built, not linted: the wrapper and its
        // arguments stay with the outer workspace.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .status()
        .unwrap_or_else(|e| panic!("failed to run cargo for {}: {e}", workspace.display()));
    assert!(
        status.success(),
        "building {} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)",
        workspace.display()
    );
}
