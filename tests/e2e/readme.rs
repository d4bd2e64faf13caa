//! The README's curl tour, run as written against the real binary: a README that drifts from
//! the API fails here, not in a newcomer's first minute.

use std::process::Command;

use crate::testkit::{DataDir, Server};

/// The first `sh` block after `heading` in README.md.
fn block_after(heading: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme.find(heading).unwrap_or_else(|| panic!("no {heading:?} in README.md"))..];
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    section[start..][..section[start..].find("```").unwrap()].to_string()
}

#[test]
fn the_readme_curl_tour_runs_as_written() {
    let tour = block_after("## A tour with curl");
    let dir = DataDir::new();
    let server = Server::start(&dir);
    // The tour's one address line points at this server; every other line runs as written.
    assert!(tour.starts_with("M=http://127.0.0.1:8080\n"), "{tour}");
    let script = tour.replacen("M=http://127.0.0.1:8080", &format!("M={}", server.base), 1);
    // curl fails on any HTTP error (its body still printed), and so does the script.
    let home = dir.0.join("curl-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".curlrc"), "fail-with-body\nshow-error\n").unwrap();
    let run = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("CURL_HOME", &home)
        .output()
        .expect("bash, curl and jq must be installed (bash .ci/run installs them)");
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the tour failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(r#""status":"ready""#), "{stdout}");
    // Every answer is JSON, printed back to back: the last one is the buyer's orders.
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout).into_iter().collect::<Result<_, _>>().unwrap();
    let orders = answers.last().unwrap();
    assert_eq!(orders[0]["status"], "confirmed", "{orders}");
    assert_eq!(orders[0]["tickets"].as_array().unwrap().len(), 2, "{orders}");
}
