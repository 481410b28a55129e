//! A withdraw through the library reaches FRR and BIRD while the sessions stay up: the example
//! `speakerd/examples/announce-then-withdraw.rs` announces 203.0.113.77/32 with `Speaker::announce`
//! (the configuration announces 203.0.113.78/32 too), and on SIGUSR1 calls `Speaker::withdraw`.
//! The peers must drop .77 and keep .78 and the session.
//! Skips (prints why) when not root or FRR/BIRD are missing, unless `SPEAKERD_INTEROP=require`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use interop::bird::{Bird, BirdConfig};
use interop::frr::{Frr, FrrConfig};
use interop::{Lab, Neighbor, Peer, run, signal, tail, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

const CONFIG: &str = r#"
[speaker]
asn = 64511
router_id = "192.0.2.11"
listen = ["192.0.2.11:179"]
[[peer]]
name = "frr"
address = "192.0.2.1"
asn = 64500
[[peer]]
name = "bird"
address = "192.0.2.2"
asn = 64502
[[announce]]
prefix = "203.0.113.78/32"
"#;

/// Builds the example (same profile and target dir as the caller) and returns its path.
fn example() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = run(Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "-p",
            "speakerd",
            "--example",
            "announce-then-withdraw",
            "--message-format=json-render-diagnostics",
        ]))
    .expect("cargo build --example announce-then-withdraw");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact")
        .filter_map(|v| v["executable"].as_str().map(PathBuf::from))
        .find(|p| p.ends_with("announce-then-withdraw"))
        .expect("example executable in cargo's output")
}

#[test]
fn library_withdraw_reaches_frr_and_bird() {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[Peer::Frr, Peer::Bird]) else {
        return;
    };
    let seg = lab
        .segment(&[
            ("sd", &["192.0.2.11/24"]),
            ("frr", &["192.0.2.1/24"]),
            ("bird", &["192.0.2.2/24"]),
        ])
        .unwrap();
    let (sd_ns, frr_ns, bird_ns) = (
        seg.nodes[0].ns.clone(),
        seg.nodes[1].ns.clone(),
        seg.nodes[2].ns.clone(),
    );
    let frr = Frr::start(
        &mut lab,
        &frr_ns,
        &FrrConfig::new(64500, "192.0.2.1").neighbor(Neighbor::new("192.0.2.11", 64511).passive()),
    )
    .unwrap();
    let bird = Bird::start(
        &mut lab,
        &bird_ns,
        &BirdConfig::new(64502, "192.0.2.2").neighbor(
            Neighbor::new("192.0.2.11", 64511)
                .local_address("192.0.2.2")
                .passive(),
        ),
    )
    .unwrap();
    let bin = example();
    let dir = lab.subdir("speakerd").unwrap();
    let conf = dir.join("speakerd.toml");
    std::fs::write(&conf, CONFIG).unwrap();
    let log = dir.join("example.log");
    let mut cmd = sd_ns.command(&bin);
    cmd.arg(&conf).args(["203.0.113.77/32", "64511:77"]);
    let pid = lab.spawn("announce-then-withdraw", cmd, &log).unwrap();
    let view = || {
        format!(
            "{}\n\n{}\n--- example log ---\n{}",
            frr.view(),
            bird.view(),
            tail(&log, 20)
        )
    };
    let frr_has = |p: &str| -> Result<bool, interop::Error> {
        Ok(frr
            .vtysh(&format!("show bgp ipv4 unicast {p} json"))?
            .contains("\"paths\""))
    };
    let bird_has = |p: &str| -> Result<bool, interop::Error> {
        match bird.birdc(&format!("show route {p}")) {
            Ok(t) => Ok(t.contains(p)),
            Err(e) if e.to_string().contains("Network not found") => Ok(false),
            Err(e) => Err(e),
        }
    };
    for p in ["203.0.113.77/32", "203.0.113.78/32"] {
        wait_until(DEADLINE, &format!("FRR holds {p}"), || frr_has(p), view);
        wait_until(DEADLINE, &format!("BIRD holds {p}"), || bird_has(p), view);
    }
    let j: serde_json::Value = serde_json::from_str(
        &frr.vtysh("show bgp ipv4 unicast 203.0.113.77/32 json")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(j["paths"][0]["community"]["string"], "64511:77", "{j:#}");

    signal(&[pid], "USR1");
    wait_until(
        DEADLINE,
        "FRR dropped 203.0.113.77/32",
        || Ok(!frr_has("203.0.113.77/32")?),
        view,
    );
    wait_until(
        DEADLINE,
        "BIRD dropped 203.0.113.77/32",
        || Ok(!bird_has("203.0.113.77/32")?),
        view,
    );
    // The configured route and the sessions stay.
    assert!(frr_has("203.0.113.78/32").unwrap(), "{}", view());
    assert!(bird_has("203.0.113.78/32").unwrap(), "{}", view());
    assert_eq!(frr.neighbor_state("192.0.2.11").unwrap(), "Established");
    assert!(bird.established("192.0.2.11").unwrap());
    assert!(std::fs::read_to_string(&log).unwrap().contains("withdrawn"));
    signal(&[pid], "TERM");
}
