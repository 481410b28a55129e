//! The demo (`make demo`, docs/DEMO.md) in CI mode, once with each router: one ECMP route
//! through three speakerd nodes, BFD failover, recovery, clean stop, cleanup (and once with
//! BIRD on the nodes, the demo's comparison mode). The demo
//! binary checks each step itself (`--ci`) and exits non-zero with the router's view when
//! one fails; this test runs it and adds that nothing it created is left behind.
//!
//! Skips (saying why) when not root or FRR/BIRD/curl/python3 are missing, unless
//! `SPEAKERD_INTEROP=require`. speakerd is built with [`interop::speakerd_binary`].

use std::process::Command;
use std::sync::Mutex;

use interop::demo::namespaces_with_prefix;
use interop::{Peer, REQUIRE_ENV, find_binary, missing_prerequisites, speakerd_binary};

/// The two runs measure timings: never both at once on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn ready() -> bool {
    let mut missing = missing_prerequisites(&[Peer::Frr, Peer::Bird]);
    for b in ["curl", "python3"] {
        if find_binary(b).is_none() {
            missing.push(format!("binary `{b}`"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("require") {
        panic!("demo test required ({REQUIRE_ENV}=require) but missing: {missing}");
    }
    eprintln!("skipping: demo needs {missing} (set {REQUIRE_ENV}=require to make this an error)");
    false
}

fn run_demo(router: &str, nodes: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready() {
        return;
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.args(["--ci", "--no-install", "--router", router, "--nodes", nodes]);
    if nodes == "speakerd" {
        let bin = speakerd_binary().expect("build speakerd");
        cmd.arg("--speakerd").arg(bin);
    }
    let out = cmd.output().expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(
        out.status.success(),
        "demo --ci --router {router} --nodes {nodes} failed ({}):\n{all}",
        out.status
    );
    // The summary's machine-readable line, and every figure present.
    let result = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{all}"));
    assert!(result.ends_with("ok=true"), "{result}\n{all}");
    for key in ["failover_ms=", "recovery_ms=", "clean_stop_ms="] {
        assert!(
            result.contains(key) && !result.contains(&format!("{key}-")),
            "{key} missing in {result}"
        );
    }
    // Nothing left behind: the lab's namespaces (`namespaces: <prefix>-sw ...`) are gone.
    let prefix = stdout
        .lines()
        .find_map(|l| l.strip_prefix("namespaces: "))
        .and_then(|l| l.split('-').next())
        .unwrap_or_else(|| panic!("no namespaces line:\n{all}"));
    assert!(
        namespaces_with_prefix(prefix).is_empty(),
        "namespaces {prefix}-* left behind"
    );
}

#[test]
fn demo_with_frr_router_and_speakerd_nodes() {
    run_demo("frr", "speakerd");
}

#[test]
fn demo_with_bird_router_and_speakerd_nodes() {
    run_demo("bird", "speakerd");
}

/// The comparison run (`--nodes bird`) keeps working too.
#[test]
fn demo_with_frr_router_and_bird_nodes() {
    run_demo("frr", "bird");
}
