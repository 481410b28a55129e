//! The speakerd binary against FRR and BIRD in a namespace lab: sessions up with speakerd
//! active and passive, hold timer expiry against a frozen peer, reconnection after a peer
//! restart, administrative shutdown on SIGTERM, TCP-MD5 (right and wrong password) and GTSM.
//! Skips (prints why) when not root or FRR/BIRD are missing, unless `SPEAKERD_INTEROP=require`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use interop::bird::{Bird, BirdConfig};
use interop::frr::{Frr, FrrConfig};
use interop::{Lab, Neighbor, Netns, Peer, signal, speakerd_binary, tail, wait_until};

const DEADLINE: Duration = Duration::from_secs(20);

/// A speakerd process in a lab namespace, logging to a file.
struct Speakerd {
    pid: u32,
    log: PathBuf,
}

impl Speakerd {
    fn start(lab: &mut Lab, ns: &Netns, config: &str) -> Speakerd {
        let bin = speakerd_binary().expect("build speakerd");
        let dir = lab.subdir("speakerd").unwrap();
        let conf = dir.join("speakerd.toml");
        std::fs::write(&conf, config).unwrap();
        // The config is valid before anything starts.
        let check = std::process::Command::new(&bin)
            .arg("check")
            .arg("--config")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(check.status.success(), "speakerd check: {check:?}");
        let log = dir.join("speakerd.log");
        let mut cmd = ns.command(&bin);
        cmd.arg("--config")
            .arg(&conf)
            .env("RUST_LOG", "info,speakerd=debug");
        let pid = lab.spawn("speakerd", cmd, &log).unwrap();
        Speakerd { pid, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines mentioning `peer=<name>` and containing `what`.
    fn count(&self, name: &str, what: &str) -> usize {
        let tag = format!("peer={name}");
        self.log()
            .lines()
            .filter(|l| l.contains(&tag) && l.contains(what))
            .count()
    }

    fn view(&self) -> String {
        format!("--- speakerd.log (tail) ---\n{}", tail(&self.log, 30))
    }
}

/// Starts tcpdump (verbose: TTL and BGP message decoding) in `ns` on `ifname` for BGP
/// packets sent by speakerd (192.0.2.11); returns its log once it is capturing.
fn tcpdump(lab: &mut Lab, ns: &Netns, ifname: &str) -> PathBuf {
    let log = lab
        .subdir("tcpdump")
        .unwrap()
        .join(format!("{}.txt", ns.short));
    let mut cmd = ns.command("tcpdump");
    cmd.args([
        "-i",
        ifname,
        "-n",
        "-l",
        // Hand each packet over at once, not when libpcap's buffer timeout fires.
        "--immediate-mode",
        "-v",
        "src host 192.0.2.11 and tcp port 179",
    ]);
    lab.spawn("tcpdump", cmd, &log).unwrap();
    wait_until(
        Duration::from_secs(10),
        "tcpdump capturing",
        || {
            Ok(std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("listening on"))
        },
        || tail(&log, 10),
    );
    log
}

/// FRR's bgpd (not every process of its namespace: tcpdump runs there too).
fn bgpd_pid(frr: &Frr) -> u32 {
    let f = frr.run_dir.join("bgpd.pid");
    let t = std::fs::read_to_string(&f).unwrap_or_default();
    t.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {t:?}: {e}", f.display()))
}

fn speakerd_config(peers: &str) -> String {
    format!(
        "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\nlisten = [\"192.0.2.11:179\"]\n{peers}"
    )
}

#[test]
fn frr_and_bird_hold_timer_restart_and_shutdown() {
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
    // FRR passive: speakerd is the active side. BIRD active: speakerd is the passive side.
    let frr_cfg =
        FrrConfig::new(64500, "192.0.2.1").neighbor(Neighbor::new("192.0.2.11", 64511).passive());
    let bird_cfg = BirdConfig::new(64502, "192.0.2.2")
        .neighbor(Neighbor::new("192.0.2.11", 64511).local_address("192.0.2.2"));
    let mut frr = Frr::start(&mut lab, &frr_ns, &frr_cfg).unwrap();
    let bird = Bird::start(&mut lab, &bird_ns, &bird_cfg).unwrap();
    let sd = Speakerd::start(
        &mut lab,
        &sd_ns,
        &speakerd_config(
            r#"
[[peer]]
name = "frr"
address = "192.0.2.1"
asn = 64500
hold_time = 3
[[peer]]
name = "bird"
address = "192.0.2.2"
asn = 64502
passive = true
hold_time = 3
"#,
        ),
    );
    let view = |frr: &Frr| format!("{}\n\n{}\n\n{}", frr.view(), bird.view(), sd.view());

    // Both views: the peers' and speakerd's.
    wait_until(
        DEADLINE,
        "FRR: 192.0.2.11 Established (speakerd active)",
        || Ok(frr.neighbor_state("192.0.2.11")? == "Established"),
        || view(&frr),
    );
    wait_until(
        DEADLINE,
        "BIRD: 192.0.2.11 Established (speakerd passive)",
        || bird.established("192.0.2.11"),
        || view(&frr),
    );
    wait_until(
        DEADLINE,
        "speakerd: both sessions Established",
        || Ok(sd.count("frr", "-> Established") == 1 && sd.count("bird", "-> Established") == 1),
        || view(&frr),
    );
    let neighbor = frr.vtysh("show bgp neighbors 192.0.2.11 json").unwrap();
    let v: serde_json::Value = serde_json::from_str(&neighbor).unwrap();
    // Hold time negotiated: min(3, FRR's 3).
    assert_eq!(v["192.0.2.11"]["bgpTimerHoldTimeMsecs"], 3000, "{neighbor}");

    // Freeze FRR: speakerd's hold timer (3 s) expires and it sends NOTIFICATION 4. A capture
    // in FRR's namespace (its kernel still receives while bgpd is stopped) shows it arrive.
    let cap = tcpdump(&mut lab, &frr_ns, &seg.nodes[1].port.ifname);
    let frr_pids = vec![bgpd_pid(&frr)];
    signal(&frr_pids, "STOP");
    let frozen = Instant::now();
    wait_until(
        Duration::from_secs(10),
        "speakerd: hold timer expired for frr",
        || Ok(sd.count("frr", "hold timer expired") >= 1),
        || sd.view(),
    );
    let took = frozen.elapsed();
    wait_until(
        Duration::from_secs(5),
        "FRR's namespace received speakerd's NOTIFICATION Hold Timer Expired",
        || {
            let t = std::fs::read_to_string(&cap).unwrap_or_default();
            Ok(t.contains("Notification Message (3)") && t.contains("Hold Timer Expired"))
        },
        || tail(&cap, 30),
    );
    signal(&frr_pids, "CONT");
    assert!(took < Duration::from_secs(8), "hold timer took {took:?}");
    // FRR's own view after waking up: the session went down on Hold Timer Expired. (Whether
    // bgpd reads our NOTIFICATION before its own hold timer, frozen just as long, fires is
    // FRR's scheduling: "BGP Notification received" or "send" are both seen.)
    wait_until(
        DEADLINE,
        "FRR: last notification Hold Timer Expired",
        || {
            let s = frr.vtysh("show bgp neighbors 192.0.2.11 json")?;
            let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
            Ok(v["192.0.2.11"]["lastNotificationReason"] == "Hold Timer Expired")
        },
        || {
            format!(
                "{}\n{}",
                frr.vtysh("show bgp neighbors 192.0.2.11 json")
                    .unwrap_or_default(),
                view(&frr)
            )
        },
    );
    // ...and the session comes back.
    wait_until(
        DEADLINE,
        "FRR: Established again after the hold timer expiry",
        || Ok(frr.neighbor_state("192.0.2.11")? == "Established"),
        || view(&frr),
    );

    // Restart FRR: speakerd reconnects under its backoff.
    let before = sd.count("frr", "-> Established");
    let downs_before = sd.count("frr", "Established -> ");
    let pid = bgpd_pid(&frr);
    signal(&[pid], "TERM");
    wait_until(
        Duration::from_secs(10),
        "FRR stopped",
        || Ok(!std::path::Path::new(&format!("/proc/{pid}")).exists()),
        || view(&frr),
    );
    wait_until(
        Duration::from_secs(10),
        "speakerd: frr session down after FRR stopped",
        || Ok(sd.count("frr", "Established -> ") > downs_before),
        || sd.view(),
    );
    let connects_before = sd.count("frr", "connecting");
    frr = Frr::start(&mut lab, &frr_ns, &frr_cfg).unwrap();
    wait_until(
        Duration::from_secs(30),
        "FRR: Established again after its restart",
        || Ok(frr.neighbor_state("192.0.2.11")? == "Established"),
        || view(&frr),
    );
    wait_until(
        DEADLINE,
        "speakerd: frr Established again",
        || Ok(sd.count("frr", "-> Established") > before),
        || view(&frr),
    );
    assert!(
        sd.count("frr", "connecting") > connects_before,
        "no new connect attempt\n{}",
        sd.view()
    );

    // SIGTERM: Cease / Administrative Shutdown with the RFC 9003 message to both peers.
    signal(&[sd.pid], "TERM");
    wait_until(
        Duration::from_secs(10),
        "speakerd exited",
        || Ok(lab.exited(sd.pid).is_some()),
        || sd.view(),
    );
    let status = lab.exited(sd.pid).unwrap();
    assert!(
        status.success(),
        "speakerd exit status {status}\n{}",
        sd.view()
    );
    wait_until(
        DEADLINE,
        "FRR: administrative shutdown with message received",
        || {
            let s = frr.vtysh("show bgp neighbors 192.0.2.11 json")?;
            let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
            let n = &v["192.0.2.11"];
            Ok(n["lastResetDueTo"] == "BGP Notification received"
                && n["lastNotificationReason"] == "Cease/Administrative Shutdown"
                && n["lastShutdownDescription"] == "speakerd shutting down")
        },
        || {
            format!(
                "{}\n{}",
                frr.vtysh("show bgp neighbors 192.0.2.11 json")
                    .unwrap_or_default(),
                view(&frr)
            )
        },
    );
    let name = BirdConfig::protocol_name("192.0.2.11");
    wait_until(
        DEADLINE,
        "BIRD: Received: Administrative shutdown with the message",
        || {
            let s = bird.birdc(&format!("show protocols all {name}"))?;
            Ok(s.contains("Received: Administrative shutdown")
                && s.contains("speakerd shutting down"))
        },
        || {
            format!(
                "{}\n{}",
                bird.birdc(&format!("show protocols all {name}"))
                    .unwrap_or_default(),
                view(&frr)
            )
        },
    );
}

#[test]
fn md5_and_gtsm_with_frr_and_bird_and_wrong_password_never_establishes() {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[Peer::Frr, Peer::Bird]) else {
        return;
    };
    let seg = lab
        .segment(&[
            ("sd", &["192.0.2.11/24"]),
            ("frr", &["192.0.2.1/24"]),
            ("bird", &["192.0.2.2/24"]),
            ("bird2", &["192.0.2.3/24"]),
            ("frr2", &["192.0.2.4/24"]),
        ])
        .unwrap();
    let ns = |i: usize| seg.nodes[i].ns.clone();
    // FRR active with MD5 and GTSM (speakerd passive); BIRD passive with MD5 (speakerd
    // active); a second BIRD with another password.
    let frr_cfg = FrrConfig::new(64500, "192.0.2.1").neighbor(
        Neighbor::new("192.0.2.11", 64511)
            .password("s3cret")
            .ttl_security(),
    );
    let bird_cfg = BirdConfig::new(64502, "192.0.2.2").neighbor(
        Neighbor::new("192.0.2.11", 64511)
            .local_address("192.0.2.2")
            .password("s3cret")
            .passive(),
    );
    let bird2_cfg = BirdConfig::new(64503, "192.0.2.3").neighbor(
        Neighbor::new("192.0.2.11", 64511)
            .local_address("192.0.2.3")
            .password("other"),
    );
    let cap = tcpdump(&mut lab, &ns(1), &seg.nodes[1].port.ifname);
    // A second FRR, active, with another password (speakerd passive towards it).
    let frr2_cfg = FrrConfig::new(64504, "192.0.2.4")
        .neighbor(Neighbor::new("192.0.2.11", 64511).password("other"));
    let frr = Frr::start(&mut lab, &ns(1), &frr_cfg).unwrap();
    let bird = Bird::start(&mut lab, &ns(2), &bird_cfg).unwrap();
    let bird2 = Bird::start(&mut lab, &ns(3), &bird2_cfg).unwrap();
    let frr2 = Frr::start(&mut lab, &ns(4), &frr2_cfg).unwrap();
    let sd = Speakerd::start(
        &mut lab,
        &ns(0),
        &speakerd_config(
            r#"
[[peer]]
name = "frr"
address = "192.0.2.1"
asn = 64500
passive = true
password = "s3cret"
ttl_security = true
hold_time = 3
[[peer]]
name = "bird"
address = "192.0.2.2"
asn = 64502
password = "s3cret"
hold_time = 3
[[peer]]
name = "bird2"
address = "192.0.2.3"
asn = 64503
password = "s3cret"
hold_time = 3
[[peer]]
name = "frr2"
address = "192.0.2.4"
asn = 64504
passive = true
password = "s3cret"
hold_time = 3
"#,
        ),
    );
    let view = || {
        format!(
            "{}\n\n{}\n\n{}\n\n{}\n\n{}",
            frr.view(),
            bird.view(),
            bird2.view(),
            frr2.view(),
            sd.view()
        )
    };
    wait_until(
        DEADLINE,
        "FRR: 192.0.2.11 Established with MD5 and GTSM",
        || Ok(frr.neighbor_state("192.0.2.11")? == "Established"),
        view,
    );
    wait_until(
        DEADLINE,
        "BIRD: 192.0.2.11 Established with MD5",
        || bird.established("192.0.2.11"),
        view,
    );
    wait_until(
        DEADLINE,
        "speakerd: frr and bird Established",
        || Ok(sd.count("frr", "-> Established") >= 1 && sd.count("bird", "-> Established") >= 1),
        view,
    );
    // GTSM: FRR (ttl-security hops 1) drops anything below TTL 254, so the session being up
    // already says speakerd sends TTL 255; the capture says it of every packet (RFC 5082 §3).
    let ttls_seen = || -> Vec<String> {
        std::fs::read_to_string(&cap)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split("ttl ").nth(1))
            .map(|t| t.split(',').next().unwrap_or("").to_string())
            .collect()
    };
    // tcpdump writes what it captured a moment later: wait (bounded) for the first lines.
    wait_until(
        Duration::from_secs(10),
        "tcpdump shows speakerd's packets",
        || Ok(!ttls_seen().is_empty()),
        || tail(&cap, 20),
    );
    let ttls = ttls_seen();
    assert!(
        ttls.iter().all(|t| t == "255"),
        "TTLs from speakerd: {ttls:?}"
    );
    // Wrong password: never Established, checked for a bounded time (several connect
    // retries of both sides).
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        assert!(
            !bird2.established("192.0.2.11").unwrap_or(false),
            "bird2 established with a wrong password\n{}",
            view()
        );
        assert_eq!(sd.count("bird2", "-> Established"), 0, "{}", view());
        assert_ne!(
            frr2.neighbor_state("192.0.2.11").unwrap_or_default(),
            "Established",
            "frr2 established with a wrong password\n{}",
            view()
        );
        assert_eq!(sd.count("frr2", "-> Established"), 0, "{}", view());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        sd.count("bird2", "connecting") >= 1,
        "speakerd did try to connect to bird2\n{}",
        view()
    );
}
