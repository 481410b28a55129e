//! speakerd's BFD runtime against FRR's bfdd and BIRD's BFD, at 3 × 100 ms and 3 × 50 ms,
//! IPv4 and IPv6 single hop (RFC 5881). The runtime runs in this test process: a thread
//! enters the node's network namespace (setns) and creates the runtime and its sockets there.
//!
//! Each case: both sides Up (our watch and the peer's own view), stable for 2 s, the node's
//! bridge port down → both sides Down by detection time (the measured time is printed),
//! port up → Up again, then our AdminDown is seen by the peer.
//! Skips without root or the peers' binaries unless `SPEAKERD_INTEROP=require`.

use std::fs::File;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use bfd::{Diagnostic, State};
use interop::bird::{Bird, BirdConfig};
use interop::frr::{Frr, FrrConfig};
use interop::{BfdTimers, Lab, Netns, Peer, Segment, wait_until};
use nix::sched::{CloneFlags, setns};
use speakerd::bfd::{BfdProfile, BfdRuntime, BfdRuntimeOptions, BfdSessionSpec};

const DEADLINE: Duration = Duration::from_secs(20);
const PEER_V4: &str = "192.0.2.1";
const PEER_V6: &str = "2001:db8::1";
const OURS_V4: &str = "192.0.2.11";
const OURS_V6: &str = "2001:db8::11";

/// Runs `f` on a thread that has entered the network namespace `ns` (sockets it creates live
/// there; threads it spawns start there).
fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let path = format!("/run/netns/{}", ns.name);
            let fd = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .expect("namespace thread panicked")
    })
}

enum Remote {
    Frr(Frr),
    Bird(Bird),
}

impl Remote {
    /// The peer's own view of its BFD session to `addr`: `Some("up")`, `Some("down")`, ...
    fn state_of(&self, addr: &str) -> interop::Result<Option<String>> {
        match self {
            Remote::Frr(f) => {
                let peers = f.bfd_peers_json()?;
                Ok(peers.as_array().and_then(|a| {
                    a.iter()
                        .find(|p| p["peer"] == addr)
                        .and_then(|p| p["status"].as_str())
                        .map(str::to_lowercase)
                }))
            }
            Remote::Bird(b) => {
                let out = b.birdc("show bfd sessions")?;
                // `IP address  Interface  State  Since  Interval  Timeout`; the interface
                // column may be empty for multihop sessions, so find the state word.
                Ok(out
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(addr))
                    .and_then(|l| {
                        l.split_whitespace()
                            .find(|w| matches!(*w, "Up" | "Down" | "Init" | "AdminDown"))
                    })
                    .map(str::to_lowercase))
            }
        }
    }

    fn view(&self) -> String {
        match self {
            Remote::Frr(f) => format!(
                "{}\n{}",
                f.vtysh("show bfd peers").unwrap_or_else(|e| e.to_string()),
                interop::tail(&f.dir.join("bfdd.log"), 20)
            ),
            Remote::Bird(b) => format!(
                "{}\n{}",
                b.birdc("show bfd sessions")
                    .unwrap_or_else(|e| e.to_string()),
                b.view()
            ),
        }
    }
}

fn start_remote(lab: &mut Lab, seg: &Segment, kind: Peer, ms: u32) -> Remote {
    let ns = &seg.node("peer").unwrap().ns;
    let timers = BfdTimers {
        tx_ms: ms,
        rx_ms: ms,
        multiplier: 3,
    };
    match kind {
        Peer::Frr => {
            let cfg = FrrConfig::new(64500, PEER_V4).with_bfd(timers);
            let frr = Frr::start(lab, ns, &cfg).unwrap();
            frr.vtysh_many(&[
                "configure terminal",
                "bfd",
                &format!("peer {OURS_V4} local-address {PEER_V4} interface eth0"),
                "profile lab",
                "exit",
                &format!("peer {OURS_V6} local-address {PEER_V6} interface eth0"),
                "profile lab",
            ])
            .unwrap();
            Remote::Frr(frr)
        }
        Peer::Bird => {
            let cfg = BirdConfig::new(64500, PEER_V4).extra(&format!(
                "protocol bfd {{ interface \"*\" {{ min rx interval {ms} ms; min tx interval {ms} ms; \
                 multiplier 3; }}; neighbor {OURS_V4} dev \"eth0\" local {PEER_V4}; \
                 neighbor {OURS_V6} dev \"eth0\" local {PEER_V6}; }}"
            ));
            Remote::Bird(Bird::start(lab, ns, &cfg).unwrap())
        }
        _ => unreachable!("only FRR and BIRD run BFD"),
    }
}

fn case(kind: Peer, ms: u32) {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[kind]) else {
        return;
    };
    let seg = lab
        .segment(&[
            ("peer", &["192.0.2.1/24", "2001:db8::1/64"]),
            ("sd", &["192.0.2.11/24", "2001:db8::11/64"]),
        ])
        .unwrap();
    let remote = start_remote(&mut lab, &seg, kind, ms);
    let sd = seg.node("sd").unwrap();
    let profile = BfdProfile {
        receive_interval: Duration::from_millis(ms.into()),
        transmit_interval: Duration::from_millis(ms.into()),
        detect_multiplier: 3,
        ..BfdProfile::default()
    };
    let (rt, h4, h6) = in_netns(&sd.ns, || {
        let rt = BfdRuntime::start(BfdRuntimeOptions::default()).unwrap();
        let add = |peer: &str, local: &str| {
            rt.add_session(BfdSessionSpec {
                peer: peer.parse().unwrap(),
                local: Some(local.parse().unwrap()),
                interface: Some("eth0".into()),
                multihop: false,
                profile,
            })
            .unwrap()
        };
        let h4 = add(PEER_V4, OURS_V4);
        let h6 = add(PEER_V6, OURS_V6);
        (rt, h4, h6)
    });
    let (w4, w6) = (h4.watch(), h6.watch());
    let s4 = || w4.borrow().clone();
    let s6 = || w6.borrow().clone();
    let label = format!("{kind:?} 3x{ms}ms");
    let view = || {
        format!(
            "{label}\nours v4 {:?}\nours v6 {:?}\nstats {:?}\n--- peer ---\n{}",
            s4(),
            s6(),
            rt.stats(),
            remote.view()
        )
    };
    let both = |st: &str| -> interop::Result<bool> {
        Ok(remote.state_of(OURS_V4)?.as_deref() == Some(st)
            && remote.state_of(OURS_V6)?.as_deref() == Some(st))
    };
    wait_until(
        DEADLINE,
        "our v4 and v6 sessions Up",
        || Ok(s4().state == State::Up && s6().state == State::Up),
        view,
    );
    wait_until(DEADLINE, "peer sees both sessions up", || both("up"), view);

    // Stable: nothing flaps for 2 s at these intervals.
    std::thread::sleep(Duration::from_secs(2));
    for s in [s4(), s6()] {
        assert_eq!((s.state, s.down_count), (State::Up, 0), "{}", view());
    }
    assert!(both("up").unwrap(), "{}", view());

    // Path failure: only BFD can notice (our link stays up).
    let t0 = Instant::now();
    sd.port.set_peer_down().unwrap();
    wait_until(
        DEADLINE,
        "our sessions Down after the port went down",
        || Ok(s4().state == State::Down && s6().state == State::Down),
        view,
    );
    let detected = t0.elapsed();
    eprintln!(
        "{label}: our side saw the failure after {} ms (detection time {} ms; polled every 100 ms)",
        detected.as_millis(),
        3 * ms
    );
    for s in [s4(), s6()] {
        assert_eq!(
            s.diag,
            Diagnostic::CONTROL_DETECTION_TIME_EXPIRED,
            "{}",
            view()
        );
        assert_eq!(s.down_count, 1, "{}", view());
        assert!(!s.peer_admin_down);
    }
    wait_until(
        DEADLINE,
        "peer sees both sessions down",
        || both("down"),
        view,
    );

    // Repair: Up again on both sides.
    sd.port.set_peer_up().unwrap();
    wait_until(
        DEADLINE,
        "our sessions Up again",
        || Ok(s4().state == State::Up && s6().state == State::Up),
        view,
    );
    wait_until(
        DEADLINE,
        "peer sees both sessions up again",
        || both("up"),
        view,
    );

    // Our AdminDown (removing the session) takes the peer's session down.
    drop(h4);
    wait_until(
        DEADLINE,
        "peer sees the v4 session down after our AdminDown",
        || Ok(remote.state_of(OURS_V4)?.as_deref() == Some("down")),
        view,
    );
    assert_eq!(s6().state, State::Up, "{}", view());
    let stats = rt.stats();
    assert_eq!(stats.counters.dropped_ttl, 0, "{stats:?}");
    eprintln!("{label}: runtime stats {stats:?}");
    drop(h6);
    rt.shutdown();
}

#[test]
fn bfd_up_and_failure_detection_with_frr_bfdd() {
    case(Peer::Frr, 100);
    case(Peer::Frr, 50);
}

#[test]
fn bfd_up_and_failure_detection_with_bird() {
    case(Peer::Bird, 100);
    case(Peer::Bird, 50);
}

/// RFC 5883 multihop (UDP 4784) with the peer configured for multihop: Up on both sides, our
/// minimum-TTL check passes (FRR sends TTL 255 ≥ 254; BIRD sends 64, so 60 is configured for
/// it), a failure is detected, and our AdminDown takes the peer's session down.
fn multihop_case(kind: Peer) {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[kind]) else {
        return;
    };
    let seg = lab
        .segment(&[("peer", &["192.0.2.1/24"]), ("sd", &["192.0.2.11/24"])])
        .unwrap();
    let ns = &seg.node("peer").unwrap().ns;
    let remote = match kind {
        Peer::Frr => {
            let cfg = FrrConfig::new(64500, PEER_V4).with_bfd(BfdTimers::default());
            let frr = Frr::start(&mut lab, ns, &cfg).unwrap();
            frr.vtysh_many(&[
                "configure terminal",
                "bfd",
                &format!("peer {OURS_V4} multihop local-address {PEER_V4}"),
                "profile lab",
            ])
            .unwrap();
            Remote::Frr(frr)
        }
        _ => {
            let cfg = BirdConfig::new(64500, PEER_V4).extra(&format!(
                "protocol bfd {{ multihop {{ min rx interval 100 ms; min tx interval 100 ms; \
                 multiplier 3; }}; neighbor {OURS_V4} local {PEER_V4} multihop on; }}"
            ));
            Remote::Bird(Bird::start(&mut lab, ns, &cfg).unwrap())
        }
    };
    let sd = seg.node("sd").unwrap();
    let (rt, h) = in_netns(&sd.ns, || {
        let rt = BfdRuntime::start(BfdRuntimeOptions::default()).unwrap();
        let h = rt
            .add_session(BfdSessionSpec {
                peer: PEER_V4.parse().unwrap(),
                local: Some(OURS_V4.parse().unwrap()),
                interface: None,
                multihop: true,
                profile: BfdProfile {
                    receive_interval: Duration::from_millis(100),
                    transmit_interval: Duration::from_millis(100),
                    // BIRD 2.0.12 sends multihop packets with the default TTL (64), which our
                    // default minimum (254) rightly drops (seen: every packet counted in
                    // dropped_ttl); a BIRD peer needs a lower minimum.
                    minimum_ttl: if kind == Peer::Bird { 60 } else { 254 },
                    ..BfdProfile::default()
                },
            })
            .unwrap();
        (rt, h)
    });
    let w = h.watch();
    let st = || w.borrow().clone();
    let view = || {
        format!(
            "{kind:?} multihop\nours {:?}\nstats {:?}\n--- peer ---\n{}",
            st(),
            rt.stats(),
            remote.view()
        )
    };
    wait_until(
        DEADLINE,
        "our multihop session Up",
        || Ok(st().state == State::Up),
        view,
    );
    wait_until(
        DEADLINE,
        "peer sees the multihop session up",
        || Ok(remote.state_of(OURS_V4)?.as_deref() == Some("up")),
        view,
    );
    sd.port.set_peer_down().unwrap();
    wait_until(
        DEADLINE,
        "our multihop session Down after the port went down",
        || Ok(st().state == State::Down),
        view,
    );
    assert_eq!(
        st().diag,
        Diagnostic::CONTROL_DETECTION_TIME_EXPIRED,
        "{}",
        view()
    );
    sd.port.set_peer_up().unwrap();
    wait_until(
        DEADLINE,
        "our multihop session Up again",
        || Ok(st().state == State::Up),
        view,
    );
    let stats = rt.stats();
    assert_eq!(stats.counters.dropped_ttl, 0, "{stats:?}");
    drop(h);
    wait_until(
        DEADLINE,
        "peer sees the multihop session down after our AdminDown",
        || Ok(remote.state_of(OURS_V4)?.as_deref() == Some("down")),
        view,
    );
    rt.shutdown();
}

#[test]
fn multihop_bfd_with_frr_bfdd() {
    multihop_case(Peer::Frr);
}

#[test]
fn multihop_bfd_with_bird() {
    multihop_case(Peer::Bird);
}
