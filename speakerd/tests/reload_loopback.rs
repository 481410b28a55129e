//! `Speaker::reload` over loopback TCP with real speakers: A runs sessions to B and C; a
//! reload removes C (Cease/2 "removed from configuration"), adds a peer, changes two of three
//! announcements — B's session is untouched (same established_since, no event on either
//! side) and B receives UPDATEs for the changed prefixes only. An invalid file is refused
//! with file:line:col and changes nothing. Changing B's settings restarts its session.
//! Waits have deadlines; nothing is timed.

use std::collections::BTreeSet;
use std::time::Duration;

use bgp_fsm::bgp_wire::IpNet;
use bgp_fsm::{Reason, State};
use rib::Advertisement;
use speakerd::{Config, PeerEvent, PeerEventKind, Speaker, SpeakerOptions};
use tokio::sync::broadcast;

const DEADLINE: Duration = Duration::from_secs(60);

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A passive speaker on `addr` with one peer, A (127.0.0.1).
fn listener(addr: &str, asn: u32) -> Config {
    cfg(&format!(
        r#"
[speaker]
asn = {asn}
router_id = "192.0.2.{}"
listen = ["{addr}:0"]
[[peer]]
name = "a"
address = "127.0.0.1"
asn = 64500
passive = true
"#,
        asn - 64500
    ))
}

/// A: peers B and C (or not), announcements as given.
fn config_a(
    b_port: u16,
    c_port: Option<u16>,
    extra_peer: bool,
    announce: &str,
    b_hold: u16,
) -> String {
    let mut t = format!(
        r#"
[speaker]
asn = 64500
router_id = "192.0.2.1"
[[peer]]
name = "b"
address = "127.0.0.2"
asn = 64502
port = {b_port}
source = "127.0.0.1"
hold_time = {b_hold}
"#
    );
    if let Some(p) = c_port {
        t += &format!(
            "[[peer]]\nname = \"c\"\naddress = \"127.0.0.3\"\nasn = 64503\nport = {p}\nsource = \"127.0.0.1\"\n"
        );
    }
    if extra_peer {
        t += "[[peer]]\nname = \"y\"\naddress = \"127.0.0.4\"\nasn = 64504\npassive = true\n";
    }
    t + announce
}

const ANNOUNCE_1: &str = r#"
[[announce]]
prefix = "203.0.113.1/32"
[[announce]]
prefix = "203.0.113.2/32"
[[announce]]
prefix = "203.0.113.3/32"
"#;

// .1 unchanged, .2 gets a MED, .3 removed, .4 added.
const ANNOUNCE_2: &str = r#"
[[announce]]
prefix = "203.0.113.1/32"
[[announce]]
prefix = "203.0.113.2/32"
med = 5
[[announce]]
prefix = "203.0.113.4/32"
"#;

async fn established(s: &Speaker, name: &str) -> std::time::Instant {
    let mut w = s.peer(name).expect("peer").watch();
    let st = tokio::time::timeout(DEADLINE, w.wait_for(|st| st.state == State::Established))
        .await
        .unwrap_or_else(|_| panic!("{name} never Established: {:?}", s.peers()))
        .expect("watch")
        .clone();
    st.established_since.expect("established_since")
}

/// Events until `f` says stop; returns those seen.
async fn collect(
    rx: &mut broadcast::Receiver<PeerEvent>,
    what: &str,
    mut f: impl FnMut(&PeerEvent) -> bool,
) -> Vec<PeerEvent> {
    let mut seen = Vec::new();
    let r = tokio::time::timeout(DEADLINE, async {
        loop {
            let ev = rx.recv().await.expect("event channel");
            let stop = f(&ev);
            seen.push(ev);
            if stop {
                break;
            }
        }
    })
    .await;
    assert!(r.is_ok(), "never saw {what}; saw {seen:?}");
    seen
}

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// The prefixes announced and withdrawn in B's Update events.
fn prefixes(evs: &[PeerEvent]) -> (BTreeSet<String>, BTreeSet<String>, usize) {
    let (mut ann, mut wd, mut n) = (BTreeSet::new(), BTreeSet::new(), 0);
    for e in evs {
        if let PeerEventKind::Update(u) = &e.kind {
            if u.is_end_of_rib().is_some() {
                continue;
            }
            n += 1;
            ann.extend(u.announced().map(|x| x.prefix.to_string()));
            wd.extend(u.withdrawn_all().map(|x| x.prefix.to_string()));
        }
    }
    (ann, wd, n)
}

fn is_state_change(e: &PeerEvent) -> bool {
    matches!(e.kind, PeerEventKind::StateChanged { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_only_the_difference() {
    let (btx, mut brx) = broadcast::channel(65536);
    let mut o = SpeakerOptions::default();
    o.events = Some(btx);
    let b = Speaker::start_with(listener("127.0.0.2", 64502), o)
        .await
        .expect("B");
    let (ctx, mut crx) = broadcast::channel(65536);
    let mut o = SpeakerOptions::default();
    o.events = Some(ctx);
    let c = Speaker::start_with(listener("127.0.0.3", 64503), o)
        .await
        .expect("C");
    let (bp, cp) = (b.local_addrs()[0].port(), c.local_addrs()[0].port());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("speakerd.toml");
    std::fs::write(&file, config_a(bp, Some(cp), false, ANNOUNCE_1, 90)).unwrap();
    let a = Speaker::start(Config::load(&file).unwrap())
        .await
        .expect("A");
    a.set_config_path(&file);
    let since_b = established(&a, "b").await;
    established(&a, "c").await;
    established(&b, "a").await;
    // B has the three routes and End-of-RIB.
    collect(&mut brx, "End-of-RIB at B", |e| {
        matches!(e.kind, PeerEventKind::EndOfRib(_))
    })
    .await;
    let mut arx = a.subscribe();

    // Reload: C removed, y added, announcements changed.
    std::fs::write(&file, config_a(bp, None, true, ANNOUNCE_2, 90)).unwrap();
    let r = a.reload_file().await.expect("valid config");
    assert_eq!(r.removed, vec!["c".to_string()]);
    assert_eq!(r.added, vec!["y".to_string()]);
    assert_eq!(r.unchanged, vec!["b".to_string()]);
    assert!(r.restarted.is_empty() && r.failed.is_empty() && r.not_applied.is_empty());
    assert_eq!(r.announce_changed, 3, ".2 changed, .3 withdrawn, .4 added");
    let names: Vec<String> = a.handles().iter().map(|h| h.name().to_string()).collect();
    assert_eq!(names, vec!["b", "y"]);

    // C was told why (RFC 9003 over Cease / Administrative Shutdown).
    let evs = collect(&mut crx, "C's session closed", |e| {
        matches!(
            e.kind,
            PeerEventKind::StateChanged {
                from: State::Established,
                ..
            }
        )
    })
    .await;
    match &evs.last().unwrap().kind {
        PeerEventKind::StateChanged {
            reason: Reason::NotificationReceived(n),
            ..
        } => {
            assert_eq!((n.code, n.subcode), (6, 2), "{n}");
            assert_eq!(
                n.shutdown_message().as_deref(),
                Some("removed from configuration")
            );
        }
        other => panic!("C: {other:?}"),
    }

    // Until B has the withdrawal, then a marker announced after it: everything sent before
    // has reached B once the marker does (one TCP connection, in order).
    let mut evs = collect(&mut brx, "the withdrawal at B", |e| match &e.kind {
        PeerEventKind::Update(u) => u.withdrawn_all().any(|x| x.prefix == p("203.0.113.3/32")),
        _ => false,
    })
    .await;
    a.announce(p("198.51.100.1/32"), Advertisement::new()).await;
    evs.extend(
        collect(&mut brx, "the marker at B", |e| match &e.kind {
            PeerEventKind::Update(u) => u.announced().any(|x| x.prefix == p("198.51.100.1/32")),
            _ => false,
        })
        .await,
    );
    assert!(
        !evs.iter().any(is_state_change),
        "B's session moved: {evs:?}"
    );
    let (ann, wd, _) = prefixes(&evs);
    let want: BTreeSet<String> = ["203.0.113.2/32", "203.0.113.4/32", "198.51.100.1/32"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ann, want, "only the changed prefixes are sent");
    assert_eq!(wd, BTreeSet::from(["203.0.113.3/32".to_string()]));
    let med = evs.iter().find_map(|e| match &e.kind {
        PeerEventKind::Update(u) if u.announced().any(|x| x.prefix == p("203.0.113.2/32")) => {
            u.med().copied()
        }
        _ => None,
    });
    assert_eq!(med, Some(5));

    // B's session at A: the same one, and A published nothing about it.
    assert_eq!(
        a.peer("b").unwrap().status().established_since,
        Some(since_b)
    );
    let mut a_events = Vec::new();
    while let Ok(e) = arx.try_recv() {
        a_events.push(e);
    }
    assert!(
        !a_events
            .iter()
            .any(|e| &*e.peer == "b" && is_state_change(e)),
        "{a_events:?}"
    );

    // An invalid file is refused with its position; nothing changes.
    std::fs::write(
        &file,
        config_a(bp, None, true, ANNOUNCE_2, 90) + "[[peer]]\naddress = \"127.0.0.5\"\nasn = 0\n",
    )
    .unwrap();
    let e = a.reload_file().await.expect_err("invalid config");
    let msg = e.to_string();
    assert!(
        msg.contains("speakerd.toml:") && msg.contains("AS number 0 out of range"),
        "{msg}"
    );
    assert_eq!(a.config().peers.len(), 2);
    assert_eq!(a.handles().len(), 2);
    assert_eq!(
        a.peer("b").unwrap().status().established_since,
        Some(since_b)
    );

    // Changing B's settings restarts its session (a new one, with the new hold time).
    std::fs::write(&file, config_a(bp, None, true, ANNOUNCE_2, 30)).unwrap();
    let r = a.reload_file().await.expect("valid config");
    assert_eq!(r.restarted, vec!["b".to_string()]);
    assert_eq!(r.unchanged, vec!["y".to_string()]);
    assert_eq!(r.announce_changed, 0);
    let mut w = a.peer("b").unwrap().watch();
    let st = tokio::time::timeout(
        DEADLINE,
        w.wait_for(|s| s.state == State::Established && s.established_since != Some(since_b)),
    )
    .await
    .expect("B back")
    .expect("watch")
    .clone();
    assert_eq!(st.negotiated.expect("negotiated").hold_time, 30);

    a.shutdown("test done").await;
    b.shutdown("test done").await;
    c.shutdown("test done").await;
}
