//! The `marquee` client subcommands against a running platform.

use std::process::{Command, Output};

use crate::testkit::{DataDir, Server};

fn marquee(server: &Server, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_marquee"));
    command.args(args).env("MARQUEE_URL", &server.base).env_remove("MARQUEE_TOKEN");
    if let Some(token) = token {
        command.env("MARQUEE_TOKEN", token);
    }
    command.output().expect("the marquee binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_cli_logs_in_deploys_lists_and_pushes() {
    let dir = DataDir::new();
    // Links point where buyers go, which need not be the control plane's address.
    let server = Server::start_with(&dir.0, &[("MARQUEE_PUBLIC_URL", "https://tickets.example.com/")]);
    server.account("seller@example.com", "seller");
    let token = stdout(&marquee(&server, None, &["login", "--email", "seller@example.com", "--password", "a-good-password"]));
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "login prints an access token");

    let deployed = stdout(&marquee(
        &server,
        Some(token),
        &[
            "deploy", "--namespace", "cli-show", "--template", "standing",
            "--set", "title=CLI Show", "--set", "venue=Hall",
            "--set", "sessions[0].id=s1", "--set", "sessions[0].starts_at=2027-03-01T19:00:00Z",
            "--set", "sections[0].name=GA", "--set", "sections[0].price=1000", "--set", "sections[0].capacity=100",
        ],
    ));
    assert!(deployed.contains("deployed cli-show") && deployed.contains(": https://tickets.example.com/p/cli-show/"), "{deployed}");
    assert_eq!(server.get("/p/cli-show/api/info", None).expect(200).json()["title"], "CLI Show");

    assert!(stdout(&marquee(&server, None, &["templates", "list"])).contains("festival"));
    assert!(stdout(&marquee(&server, Some(token), &["performances", "list"])).contains("https://tickets.example.com/p/cli-show/"));
    let pushed = stdout(&marquee(&server, Some(token), &["components", "push", env!("MARQUEE_HOSTILE_WASM"), "--name", "page", "--version", "1"]));
    assert!(pushed.starts_with("pushed page@1:"), "{pushed}");
    assert!(stdout(&marquee(&server, Some(token), &["components", "list"])).contains("page"));

    // Errors are the API's, and the exit code says so.
    let bad = marquee(&server, Some(token), &["deploy", "--namespace", "bad", "--template", "standing", "--set", "title=x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("400 invalid_params"), "{}", String::from_utf8_lossy(&bad.stderr));
    let anonymous = marquee(&server, None, &["performances", "list"]);
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("MARQUEE_TOKEN"));
}
