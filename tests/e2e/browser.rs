//! Split-token browser sessions in a real headless Chromium (Debian's, driven by
//! playwright-core from tests/browser; `.ci/run` installs both).

use std::process::Command;

use serde_json::{Value, json};

use crate::testkit::{DataDir, Server, gala_params};

#[test]
fn split_token_sessions_work_in_chromium_and_either_half_alone_fails() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    server.deploy(&seller, "gala", "seated", gala_params());

    let browser_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/browser");
    let output = Command::new("node")
        .arg("split-token.mjs")
        .current_dir(browser_dir)
        .env("MARQUEE_URL", &server.base)
        .env("NS", "gala")
        .env("EMAIL", "seller@example.com")
        .env("PASSWORD", "a-good-password")
        .output()
        .expect("node must be installed (bash .ci/run installs the browser test's packages)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser script failed (run `npm ci` in tests/browser and install chromium):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("the script prints one JSON object");
    assert_eq!(seen["login"], 200);
    assert_eq!(seen["pageTokenParts"], 2, "the page holds header.payload only");
    assert_eq!(seen["scriptVisibleCookies"], "", "session cookies are HttpOnly");
    assert_eq!(seen["bothHalves"], 200);
    assert_eq!(seen["cookieOnly"], 401, "the cookie alone cannot act");
    assert_eq!(seen["pagePartOnly"], 401, "the page-held part alone cannot act");
    assert_eq!(seen["refresh"], 200);
    assert_eq!(seen["fresh"], 200);
    assert_eq!(seen["crossSiteRefresh"], 401, "SameSite=Strict keeps cross-site forms out");
    assert_eq!(seen["logout"], 204);
    assert_eq!(seen["refreshAfterLogout"], 401);
    assert_eq!(seen["consoleErrors"], json!([]) , "console errors: {}", seen["consoleErrors"]);
}
