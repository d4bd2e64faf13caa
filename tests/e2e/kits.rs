//! Starter kits: each builds with its own language's toolchain (cargo, ComponentizeJS from
//! npm, componentize-py from PyPI), and its component is uploaded, deployed in place of a
//! performance's listing, and called through the platform.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::isolation::upload;
use crate::testkit::{DataDir, Server, gala_params};

fn kit(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates").join(name)
}

/// Runs one build step in a kit, failing the test with its output.
fn run(dir: &Path, program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} (needed to build {}): {e}", dir.display()));
    assert!(
        output.status.success(),
        "{program} {args:?} in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Uploads a kit's component, deploys a performance with it as the listing, and checks its
/// page and calls, and that booking still goes through the platform.
fn serves(wasm: &Path, theme: &str) {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let uploaded = upload(&server, &seller, "my-storefront", &std::fs::read(wasm).unwrap()).expect(201).json();
    assert_eq!(uploaded["world"], "listing");
    server.post(
        "/api/v1/performances",
        Some(&seller),
        &json!({"namespace": "kit", "template": "seated", "params": gala_params(), "components": {"listing": "my-storefront@1.0.0"}}),
    )
    .expect(201);
    let page = server.get("/p/kit/", None).expect(200).text;
    assert!(page.contains("<h1 class=\"starter\">Spring Gala</h1>"), "{page}");
    assert_eq!(server.get("/p/kit/api/info", None).expect(200).json()["theme"], theme);
    assert_eq!(server.get("/p/kit/api/sessions/s1/availability", None).expect(200).json()["sections"][0]["available"], 200);
    assert_eq!(server.get("/p/kit/api/sessions/nope/availability", None).expect(404).json()["error"], "unknown_session");
    let buyer = server.account("buyer@example.com", "buyer");
    server.post("/p/kit/api/holds", Some(&buyer), &json!({"session": "s1", "seats": ["R-1-1"]})).expect(201);
    assert_eq!(server.get("/p/kit/api/sessions/s1/availability", None).expect(200).json()["taken"], json!(["R-1-1"]));
}

#[test]
fn the_rust_starter_kit_builds_uploads_deploys_and_serves() {
    // runtime/build.rs builds it with cargo, as its README says.
    serves(Path::new(env!("MARQUEE_STARTER_RUST_WASM")), "starter");
}

#[test]
fn the_javascript_starter_kit_builds_uploads_deploys_and_serves() {
    let dir = kit("starter-js");
    if !dir.join("node_modules").exists() {
        run(&dir, "npm", &["ci", "--no-audit", "--no-fund"]);
    }
    run(&dir, "npm", &["run", "build"]);
    serves(&dir.join("storefront.wasm"), "starter-js");
}

#[test]
fn the_python_starter_kit_builds_uploads_deploys_and_serves() {
    let dir = kit("starter-python");
    run(&dir, "bash", &["build.sh"]);
    serves(&dir.join("storefront.wasm"), "starter-python");
}
