//! speakerd driven through the real `speakerctl` binary over its `[api] socket`, with FRR
//! (eBGP) and BIRD (iBGP) as peers: `announce` with a community and a MED reaches both RIBs
//! with those attributes, `peers --json` shows both sessions Established, `withdraw` removes
//! the route at both peers, and `reload` after adding an `[[announce]]` to the file sends the
//! new prefix without resetting either session (FRR's own Established epoch and BIRD's own
//! "since" time unchanged).
//! Skips (prints why) when not root or FRR/BIRD are missing, unless `SPEAKERD_INTEROP=require`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use interop::bird::{Bird, BirdConfig};
use interop::frr::{Frr, FrrConfig};
use interop::{Lab, Neighbor, Peer, speakerctl_binary, speakerd_binary, tail, wait_until};

const DEADLINE: Duration = Duration::from_secs(20);

const PREFIX: &str = "203.0.113.50/32";
const RELOADED: &str = "203.0.113.51/32";

fn config(socket: &Path) -> String {
    format!(
        r#"
[speaker]
asn = 64511
router_id = "192.0.2.11"
listen = ["192.0.2.11:179"]
[api]
socket = "{}"
[[peer]]
name = "frr"
address = "192.0.2.1"
asn = 64500
[[peer]]
name = "bird"
address = "192.0.2.2"
asn = 64511
"#,
        socket.display()
    )
}

/// Runs `speakerctl --socket S ARGS...`; panics with its output when it fails.
fn ctl(bin: &Path, socket: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("run speakerctl");
    assert!(
        out.status.success(),
        "speakerctl {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `(name, state)` of every peer in `speakerctl peers --json` (an array, or an object
/// holding one under `peers`).
fn peer_states(json: &str) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("peers --json: {e}: {json}"));
    let list = v
        .as_array()
        .or_else(|| v["peers"].as_array())
        .unwrap_or_else(|| panic!("peers --json: no list of peers: {json}"));
    list.iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// FRR's own record of the session with speakerd: how many times it was established and
/// dropped, and for how long it has been up (ms, whole seconds in FRR 8.4). (`bgpTimerUpEstablishedEpoch` is derived
/// from the uptime and can move by a second on its own, so it is not used.)
fn frr_session(frr: &Frr) -> Option<((u64, u64), u64)> {
    let t = frr.vtysh("show bgp neighbors 192.0.2.11 json").ok()?;
    let v: serde_json::Value = serde_json::from_str(&t).ok()?;
    let n = &v["192.0.2.11"];
    Some((
        (
            n["connectionsEstablished"].as_u64()?,
            n["connectionsDropped"].as_u64().unwrap_or(0),
        ),
        n["bgpTimerUpMsec"].as_u64()?,
    ))
}

/// BIRD's `show protocols` line for the session with speakerd (state and "since" time).
fn bird_protocol_line(bird: &Bird) -> Option<String> {
    let name = BirdConfig::protocol_name("192.0.2.11");
    let out = bird.birdc(&format!("show protocols {name}")).ok()?;
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn bird_has(bird: &Bird, prefix: &str) -> interop::Result<bool> {
    match bird.birdc(&format!("show route all {prefix}")) {
        Ok(t) => Ok(t.contains("BGP.")),
        Err(e) if e.to_string().contains("Network not found") => Ok(false),
        Err(e) => Err(e),
    }
}

#[test]
fn speakerctl_announce_withdraw_reload_on_frr_and_bird() {
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
    // iBGP: BIRD resolves the next hop recursively; the direct protocol gives it the subnet.
    let bird = Bird::start(
        &mut lab,
        &bird_ns,
        &BirdConfig::new(64511, "192.0.2.2")
            .neighbor(
                Neighbor::new("192.0.2.11", 64511)
                    .local_address("192.0.2.2")
                    .passive(),
            )
            .extra("protocol direct { ipv4; interface \"*\"; }"),
    )
    .unwrap();

    let sd = speakerd_binary().expect("build speakerd");
    let ctl_bin = speakerctl_binary().expect("build speakerctl");
    let dir = lab.subdir("speakerd").unwrap();
    let socket = dir.join("api.sock");
    let conf = dir.join("speakerd.toml");
    std::fs::write(&conf, config(&socket)).unwrap();
    let log = dir.join("speakerd.log");
    let mut cmd = sd_ns.command(&sd);
    cmd.arg("--config").arg(&conf).env("RUST_LOG", "info");
    lab.spawn("speakerd", cmd, &log).unwrap();
    let view = || {
        format!(
            "{}\n\n{}\n{}\n--- speakerd.log ---\n{}",
            frr.view(),
            bird.view(),
            bird.birdc("show route all").unwrap_or_default(),
            tail(&log, 30)
        )
    };
    let ctl = |args: &[&str]| ctl(&ctl_bin, &socket, args);

    // Both sessions up, as speakerd reports them through the API.
    wait_until(
        DEADLINE,
        "speakerctl peers --json shows frr and bird Established",
        || {
            if !socket.exists() {
                return Ok(false);
            }
            let states = peer_states(&ctl(&["peers", "--json"]));
            Ok(states.len() == 2 && states.iter().all(|(_, s)| s == "Established"))
        },
        view,
    );
    let states = peer_states(&ctl(&["peers", "--json"]));
    assert!(
        states.contains(&("frr".into(), "Established".into()))
            && states.contains(&("bird".into(), "Established".into())),
        "{states:?}"
    );

    // Announce through speakerctl: FRR and BIRD hold the route with its attributes.
    ctl(&["announce", PREFIX, "--community", "64511:7", "--med", "5"]);
    let show = format!("show bgp ipv4 unicast {PREFIX} json");
    wait_until(
        DEADLINE,
        "FRR holds 203.0.113.50/32",
        || Ok(frr.vtysh(&show)?.contains("\"paths\"")),
        view,
    );
    let j: serde_json::Value = serde_json::from_str(&frr.vtysh(&show).unwrap()).unwrap();
    let path = &j["paths"][0];
    assert_eq!(path["community"]["string"], "64511:7", "{j:#}");
    assert_eq!(path["metric"], 5, "{j:#}");
    assert_eq!(path["aspath"]["string"], "64511", "{j:#}");
    assert_eq!(path["nexthops"][0]["ip"], "192.0.2.11", "{j:#}");
    wait_until(
        DEADLINE,
        "BIRD holds 203.0.113.50/32",
        || bird_has(&bird, PREFIX),
        view,
    );
    let b = bird.birdc(&format!("show route all {PREFIX}")).unwrap();
    for want in ["BGP.community: (64511,7)", "BGP.med: 5"] {
        assert!(b.contains(want), "BIRD lacks {want:?}:\n{b}");
    }

    // Withdraw through speakerctl: gone at both peers.
    ctl(&["withdraw", PREFIX]);
    wait_until(
        DEADLINE,
        "FRR dropped 203.0.113.50/32",
        || Ok(!frr.vtysh(&show)?.contains("\"paths\"")),
        view,
    );
    wait_until(
        DEADLINE,
        "BIRD dropped 203.0.113.50/32",
        || Ok(!bird_has(&bird, PREFIX)?),
        view,
    );

    // Reload without a flap: the peers' own view of the sessions before...
    let before = frr_session(&frr).unwrap_or_else(|| panic!("{}", view()));
    let since = bird_protocol_line(&bird).unwrap_or_else(|| panic!("{}", view()));
    assert!(since.contains("Established"), "{since}");
    let mut text = config(&socket);
    text.push_str(&format!(
        "[[announce]]\nprefix = \"{RELOADED}\"\ncommunities = [\"64511:8\"]\n"
    ));
    std::fs::write(&conf, text).unwrap();
    ctl(&["reload"]);
    let show2 = format!("show bgp ipv4 unicast {RELOADED} json");
    wait_until(
        DEADLINE,
        "FRR holds the reloaded 203.0.113.51/32",
        || Ok(frr.vtysh(&show2)?.contains("\"paths\"")),
        view,
    );
    let j: serde_json::Value = serde_json::from_str(&frr.vtysh(&show2).unwrap()).unwrap();
    assert_eq!(j["paths"][0]["community"]["string"], "64511:8", "{j:#}");
    wait_until(
        DEADLINE,
        "BIRD holds the reloaded 203.0.113.51/32",
        || bird_has(&bird, RELOADED),
        view,
    );
    // ...and after: the same sessions (no NOTIFICATION, no new OPEN).
    let after = frr_session(&frr).unwrap_or_else(|| panic!("{}", view()));
    assert_eq!(
        after.0,
        before.0,
        "FRR's session was reset by the reload (established, dropped):\n{}",
        view()
    );
    assert!(
        after.1 >= before.1,
        "FRR's session uptime went back from {} ms to {} ms:\n{}",
        before.1,
        after.1,
        view()
    );
    assert_eq!(
        bird_protocol_line(&bird).as_deref(),
        Some(since.as_str()),
        "BIRD's session was reset by the reload:\n{}",
        view()
    );
    let states = peer_states(&ctl(&["peers", "--json"]));
    assert!(states.iter().all(|(_, s)| s == "Established"), "{states:?}");
}
