//! Graceful restart (RFC 4724) as the restarting speaker, over loopback TCP: A advertises
//! the capability, `shutdown_graceful` closes the connection without a NOTIFICATION, and a
//! new A with the Restart State bit announces its routes again followed by End-of-RIB.
//! Waits have deadlines; nothing is timed.

use std::time::Duration;

use bgp_fsm::bgp_wire::Family;
use bgp_fsm::{Reason, State};
use speakerd::{Config, PeerEvent, PeerEventKind, Speaker, SpeakerOptions};
use tokio::sync::broadcast;

const DEADLINE: Duration = Duration::from_secs(60);

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn config_b() -> Config {
    cfg(r#"
[speaker]
asn = 64502
router_id = "192.0.2.2"
listen = ["127.0.0.2:0"]
[[peer]]
name = "a"
address = "127.0.0.1"
asn = 64500
passive = true
"#)
}

fn config_a(port: u16, restarting: bool) -> Config {
    let mut c = cfg(&format!(
        r#"
[speaker]
asn = 64500
router_id = "192.0.2.1"
graceful_restart = true
restart_time = 90
[[peer]]
name = "b"
address = "127.0.0.2"
asn = 64502
port = {port}
source = "127.0.0.1"
[[announce]]
prefix = "203.0.113.100/32"
"#
    ));
    c.speaker.restarting = restarting;
    c
}

/// Events at B until `f` holds for one; returns it.
async fn until(
    rx: &mut broadcast::Receiver<PeerEvent>,
    what: &str,
    f: impl Fn(&PeerEvent) -> bool,
) -> PeerEvent {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let e = rx.recv().await.expect("event channel");
            if f(&e) {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("B never saw {what}"))
}

/// B's status once Established on a session other than the one since `not_since`.
async fn established_at_b(
    b: &Speaker,
    not_since: Option<std::time::Instant>,
) -> speakerd::PeerStatus {
    let mut w = b.handles()[0].watch();
    tokio::time::timeout(
        DEADLINE,
        w.wait_for(|s| s.state == State::Established && s.established_since != not_since),
    )
    .await
    .expect("B Established")
    .expect("watch")
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_restart_closes_without_notification_and_comes_back_with_r_bit() {
    let (tx, mut rx) = broadcast::channel(65536);
    let mut o = SpeakerOptions::default();
    o.events = Some(tx);
    let b = Speaker::start_with(config_b(), o).await.expect("B");
    let port = b.local_addrs()[0].port();

    let a = Speaker::start(config_a(port, false)).await.expect("A");
    let st = established_at_b(&b, None).await;
    let first_since = st.established_since;
    let gr = st
        .negotiated
        .expect("negotiated")
        .graceful_restart
        .clone()
        .expect("A advertised graceful restart");
    assert_eq!(gr.restart_time, 90);
    assert!(!gr.restart_state(), "a first start is not a restart");
    assert!(
        !gr.notification(),
        "no RFC 8538 N bit: a clean stop withdraws at once"
    );
    assert_eq!(gr.families.len(), 1);
    assert_eq!(gr.families[0].family, Family::IPV4_UNICAST);
    assert!(gr.families[0].forwarding_preserved());
    until(&mut rx, "End-of-RIB", |e| {
        matches!(e.kind, PeerEventKind::EndOfRib(_))
    })
    .await;
    let notifications_before = b.peers()[0].counters.notifications_in;

    a.shutdown_graceful().await;
    let e = until(&mut rx, "the session going down", |e| {
        matches!(
            e.kind,
            PeerEventKind::StateChanged {
                from: State::Established,
                ..
            }
        )
    })
    .await;
    match e.kind {
        PeerEventKind::StateChanged { reason, .. } => {
            assert_eq!(
                reason,
                Reason::ConnectionClosed,
                "closed without a NOTIFICATION"
            )
        }
        _ => unreachable!(),
    }
    assert_eq!(b.peers()[0].counters.notifications_in, notifications_before);

    // The restart: R bit set, the route again, then End-of-RIB.
    let a2 = Speaker::start(config_a(port, true)).await.expect("A again");
    let st = established_at_b(&b, first_since).await;
    let gr = st
        .negotiated
        .as_ref()
        .and_then(|n| n.graceful_restart.clone());
    assert!(
        gr.as_ref().is_some_and(|g| g.restart_state()),
        "Restart State bit after a restart: {st:?}"
    );
    let mut got_route = false;
    tokio::time::timeout(DEADLINE, async {
        loop {
            match rx.recv().await.expect("event channel").kind {
                PeerEventKind::Update(u) => {
                    got_route |= u
                        .announced()
                        .any(|n| n.prefix == "203.0.113.100/32".parse().unwrap())
                }
                PeerEventKind::EndOfRib(_) => break,
                _ => {}
            }
        }
    })
    .await
    .expect("End-of-RIB after the restart");
    assert!(got_route, "the route came before End-of-RIB");
    a2.shutdown("test done").await;
    b.shutdown("test done").await;
}

#[test]
fn restart_time_range() {
    let text = |t: &str| {
        format!("[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\ngraceful_restart = true\n{t}\n")
    };
    let c = Config::parse(&text(""), "t.toml").unwrap();
    assert!(c.speaker.graceful_restart);
    assert_eq!(c.speaker.restart_time, 120);
    assert!(!c.speaker.restarting);
    for bad in ["restart_time = 0", "restart_time = 4096"] {
        let e = Config::parse(&text(bad), "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:5:16: restart_time"), "{e}");
        assert!(e.contains("out of range 1..=4095"), "{e}");
    }
}
