//! The domain crates speak no HTTP or SMTP and know no cluster or Wasm engine: their normal
//! dependencies hold no axum, hyper, lettre, kube or wasmtime (the edges, `marquee-host`,
//! `marquee-trigger-http`, `marquee-control`, `marquee-mail` and `runtime/`, are where those are).

use std::process::Command;

const DOMAIN: &[&str] = &[
    "marquee-store",
    "marquee-api",
    "marquee-identity",
    "marquee-ticketing",
    "marquee-deployments",
    "marquee-telemetry",
    "marquee-limits",
];

#[test]
fn no_domain_crate_links_a_web_framework_a_mail_client_kube_or_the_wasm_engine() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for krate in DOMAIN {
        let output = Command::new(env!("CARGO"))
            .args(["tree", "--offline", "--locked", "-e", "normal", "-p", krate, "--prefix", "none"])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(output.status.success(), "cargo tree -p {krate}: {}", String::from_utf8_lossy(&output.stderr));
        let tree = String::from_utf8(output.stdout).unwrap();
        assert!(tree.lines().next().is_some_and(|l| l.starts_with(&format!("{krate} "))), "{tree}");
        let forbidden = ["axum ", "hyper ", "lettre ", "kube ", "kube-core ", "k8s-openapi ", "wasmtime "];
        let found: Vec<&str> = tree.lines().filter(|l| forbidden.iter().any(|f| l.starts_with(f))).collect();
        assert!(found.is_empty(), "{krate} links {found:?}");
    }
}
