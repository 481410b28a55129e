//! Graceful restart (RFC 4724) with speakerd as the restarting speaker, FRR and BIRD as
//! receiving speakers (helpers, their default). speakerd announces 203.0.113.100/32 with
//! `graceful_restart = true`; SIGUSR2 stops it without a NOTIFICATION (exit 75); during the
//! gap both peers keep the route (FRR marks it stale); a new speakerd (Restart State bit,
//! from the marker next to its state file) announces it again with End-of-RIB and the route
//! is fresh. Every poll from the stop to the end asserts the route is there: it never
//! disappears. Skips (prints why) when not root or FRR/BIRD are missing, unless
//! `SPEAKERD_INTEROP=require`.

use std::time::Duration;

use interop::bird::{Bird, BirdConfig};
use interop::frr::{Frr, FrrConfig};
use interop::{Lab, Neighbor, Peer, signal, speakerd_binary, tail, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);
const PREFIX: &str = "203.0.113.100/32";

fn config(state: &std::path::Path) -> String {
    format!(
        r#"
[speaker]
asn = 64511
router_id = "192.0.2.11"
listen = ["192.0.2.11:179"]
graceful_restart = true
restart_time = 120
[state]
path = "{}"
[[peer]]
name = "frr"
address = "192.0.2.1"
asn = 64500
[[peer]]
name = "bird"
address = "192.0.2.2"
asn = 64511
[[announce]]
prefix = "{PREFIX}"
"#,
        state.display()
    )
}

/// FRR's paths for the prefix: `None` when it has none, else whether the path is stale.
fn frr_route(frr: &Frr) -> interop::Result<Option<bool>> {
    let j: serde_json::Value =
        serde_json::from_str(&frr.vtysh(&format!("show bgp ipv4 unicast {PREFIX} json"))?)
            .unwrap_or_default();
    Ok(j["paths"]
        .as_array()
        .and_then(|p| p.first())
        .map(|p| p["stale"].as_bool().unwrap_or(false)))
}

fn bird_has_route(bird: &Bird) -> bool {
    bird.birdc(&format!("show route {PREFIX}"))
        .is_ok_and(|t| t.contains(PREFIX.trim_end_matches("/32")))
}

#[test]
fn planned_restart_keeps_the_route_at_frr_and_bird() {
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
    // FRR is a graceful restart helper by default; `bgp graceful-restart` makes it explicit.
    let frr_cfg = FrrConfig::new(64500, "192.0.2.1")
        .neighbor(Neighbor::new("192.0.2.11", 64511).passive())
        .extra("bgp graceful-restart");
    // BIRD: `graceful restart aware` (its default) is the helper role. iBGP, next hops
    // resolved through the direct protocol as in announce_attributes.rs.
    let bird_cfg = BirdConfig::new(64511, "192.0.2.2")
        .neighbor(
            Neighbor::new("192.0.2.11", 64511)
                .local_address("192.0.2.2")
                .passive(),
        )
        .extra("protocol direct { ipv4; interface \"*\"; }");
    let frr = Frr::start(&mut lab, &frr_ns, &frr_cfg).unwrap();
    let bird = Bird::start(&mut lab, &bird_ns, &bird_cfg).unwrap();

    let bin = speakerd_binary().expect("build speakerd");
    let dir = lab.subdir("speakerd").unwrap();
    let conf = dir.join("speakerd.toml");
    std::fs::write(&conf, config(&dir.join("state.json"))).unwrap();
    let log = dir.join("speakerd.log");
    let log2 = dir.join("speakerd-2.log");
    let start = |lab: &mut Lab, log: &std::path::Path| {
        let mut cmd = sd_ns.command(&bin);
        cmd.arg("--config").arg(&conf).env("RUST_LOG", "info");
        lab.spawn("speakerd", cmd, log).unwrap()
    };
    let pid = start(&mut lab, &log);
    let view = || {
        format!(
            "{}\n\n{}\n{}\n--- speakerd.log ---\n{}\n--- speakerd-2.log ---\n{}",
            frr.view(),
            bird.view(),
            bird.birdc(&format!("show route all {PREFIX}"))
                .unwrap_or_default(),
            tail(&log, 20),
            tail(&log2, 20)
        )
    };
    wait_until(
        DEADLINE,
        "FRR and BIRD hold the route",
        || Ok(frr_route(&frr)? == Some(false) && bird_has_route(&bird)),
        view,
    );

    // Planned restart: no NOTIFICATION, exit 75.
    signal(&[pid], "USR2");
    wait_until(
        DEADLINE,
        "speakerd exits 75 after SIGUSR2",
        || {
            Ok(lab_exited(&mut lab, pid).is_some_and(|code| {
                assert_eq!(code, Some(75), "{}", view());
                true
            }))
        },
        view,
    );
    assert!(
        dir.join("state.json.restarting").exists(),
        "no restart marker"
    );
    // The gap: FRR noticed the session is gone and keeps the route as stale; BIRD keeps it.
    wait_until(
        DEADLINE,
        "FRR marks the route stale (and still has it)",
        || {
            let r = frr_route(&frr)?;
            assert!(
                r.is_some(),
                "FRR dropped the route during the gap:\n{}",
                view()
            );
            assert!(
                bird_has_route(&bird),
                "BIRD dropped the route during the gap:\n{}",
                view()
            );
            Ok(r == Some(true))
        },
        view,
    );
    wait_until(
        DEADLINE,
        "BIRD's session is down (and it still has the route)",
        || {
            assert!(
                bird_has_route(&bird),
                "BIRD dropped the route during the gap:\n{}",
                view()
            );
            assert!(
                frr_route(&frr)?.is_some(),
                "FRR dropped the route:\n{}",
                view()
            );
            Ok(!bird.established("192.0.2.11")?)
        },
        view,
    );

    // The restart: the route is refreshed (no longer stale) and was never gone.
    let _pid2 = start(&mut lab, &log2);
    wait_until(
        DEADLINE,
        "the route is fresh again at FRR and BIRD's session is back",
        || {
            let r = frr_route(&frr)?;
            assert!(
                r.is_some(),
                "FRR dropped the route across the restart:\n{}",
                view()
            );
            assert!(
                bird_has_route(&bird),
                "BIRD dropped the route across the restart:\n{}",
                view()
            );
            Ok(r == Some(false) && bird.established("192.0.2.11")?)
        },
        view,
    );
    assert!(
        !dir.join("state.json.restarting").exists(),
        "the new run consumes the marker"
    );
    let l2 = std::fs::read_to_string(&log2).unwrap_or_default();
    assert!(
        l2.contains("Restart State bit set"),
        "the second run is the restart:\n{l2}"
    );
    assert!(bird_has_route(&bird));
}

/// The exit code once the process has exited.
fn lab_exited(lab: &mut Lab, pid: u32) -> Option<Option<i32>> {
    lab.exited(pid).map(|s| s.code())
}
