//! `[state] path`: the API's announcements survive a restart. Speaker A announces through
//! the library, is dropped, and a new A started from the same state file announces them
//! again to B (over loopback TCP) with their attributes. A corrupt file stops the start.
//! Waits have deadlines; nothing is timed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bgp_fsm::State;
use bgp_fsm::bgp_wire::{Community, IpNet};
use rib::Advertisement;
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

fn config_a(port: u16, state: &Path) -> Config {
    cfg(&format!(
        r#"
[speaker]
asn = 64500
router_id = "192.0.2.1"
[state]
path = "{}"
[[peer]]
name = "b"
address = "127.0.0.2"
asn = 64502
port = {port}
source = "127.0.0.1"
[[announce]]
prefix = "203.0.113.1/32"
"#,
        state.display()
    ))
}

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// B's routes from A (prefix → MED) once End-of-RIB arrived on the session and `done`
/// holds.
async fn routes_after_eor(
    rx: &mut broadcast::Receiver<PeerEvent>,
    what: &str,
    done: impl Fn(&BTreeMap<String, Option<u32>>) -> bool,
) -> BTreeMap<String, Option<u32>> {
    let mut routes = BTreeMap::new();
    let mut eor = false;
    let r = tokio::time::timeout(DEADLINE, async {
        loop {
            if eor && done(&routes) {
                return;
            }
            match rx.recv().await.expect("event channel").kind {
                PeerEventKind::EndOfRib(_) => eor = true,
                PeerEventKind::Update(u) => {
                    for n in u.withdrawn_all() {
                        routes.remove(&n.prefix.to_string());
                    }
                    for n in u.announced() {
                        routes.insert(n.prefix.to_string(), u.med().copied());
                    }
                }
                PeerEventKind::StateChanged {
                    from: State::Established,
                    ..
                } => {
                    routes.clear();
                    eor = false;
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "{what}: no End-of-RIB; routes so far {routes:?}");
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_announcements_come_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (tx, mut rx) = broadcast::channel(65536);
    let mut o = SpeakerOptions::default();
    o.events = Some(tx);
    let b = Speaker::start_with(config_b(), o).await.expect("B");
    let port = b.local_addrs()[0].port();

    let a = Speaker::start(config_a(port, &state)).await.expect("A");
    let mut adv = Advertisement::new();
    adv.med = Some(7);
    adv.communities = vec![Community::new(64500, 1)];
    assert!(a.announce(p("198.51.100.0/24"), adv.clone()).await);
    assert_eq!(
        a.announce_many(vec![
            (p("198.51.100.128/25"), Advertisement::new()),
            (p("2001:db8:5::/48"), Advertisement::new()),
        ])
        .await,
        2
    );
    assert!(a.withdraw(p("198.51.100.128/25")).await);
    let first = routes_after_eor(&mut rx, "first run", |r| {
        r.len() == 2 && r.contains_key("198.51.100.0/24")
    })
    .await;
    assert_eq!(first.len(), 2, "{first:?}"); // B runs IPv4 only: no 2001:db8:5::/48.
    // Dropped without a shutdown: what was not written yet is written on drop.
    drop(a);

    // Only the API's routes are in the file (the configuration's come from the config).
    let text = std::fs::read_to_string(&state).expect("state file");
    assert!(
        text.contains("198.51.100.0/24") && text.contains("2001:db8:5::/48"),
        "{text}"
    );
    assert!(
        !text.contains("198.51.100.128/25") && !text.contains("203.0.113.1"),
        "{text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");

    let a2 = Speaker::start(config_a(port, &state))
        .await
        .expect("A again");
    let mut announced: Vec<String> = a2.announced().iter().map(|(p, _)| p.to_string()).collect();
    announced.sort();
    assert_eq!(
        announced,
        vec!["198.51.100.0/24", "2001:db8:5::/48", "203.0.113.1/32"]
    );
    let again = routes_after_eor(&mut rx, "after the restart", |_| true).await;
    let want: BTreeMap<String, Option<u32>> = [
        ("198.51.100.0/24".to_string(), Some(7)),
        ("203.0.113.1/32".to_string(), None),
    ]
    .into_iter()
    .collect();
    assert_eq!(again, want);

    // A withdrawal after the restart persists too (flushed explicitly here).
    assert!(a2.withdraw(p("198.51.100.0/24")).await);
    a2.flush_state().await.expect("flush");
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(!text.contains("198.51.100.0/24"), "{text}");
    a2.shutdown("test done").await;
    b.shutdown("test done").await;
}

#[tokio::test]
async fn a_corrupt_state_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        "{\"version\": 1, \"routes\": [{\"prefix\": \"198.51.100.1/24\"}]}",
    )
    .unwrap();
    let e = Speaker::start(config_a(179, &state))
        .await
        .expect_err("corrupt state");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    let msg = e.to_string();
    assert!(
        msg.contains("state.json") && msg.contains("routes[0].prefix"),
        "{msg}"
    );

    std::fs::write(&state, "{\"version\": 2, \"routes\": []}").unwrap();
    let e = Speaker::start(config_a(179, &state))
        .await
        .expect_err("unknown version");
    assert!(e.to_string().contains("format version 2"), "{e}");

    // No file: an empty state.
    std::fs::remove_file(&state).unwrap();
    let s = Speaker::start(config_a(179, &state))
        .await
        .expect("no file is fine");
    assert_eq!(s.announced().len(), 1);
    s.shutdown("test done").await;
}

/// Without any flush: a burst of changes is written by the background writer after the
/// coalescing delay (virtual time: the paused clock advances when the runtime is idle).
#[tokio::test(start_paused = true)]
async fn a_burst_is_written_after_the_coalescing_delay() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let c = cfg(&format!(
        "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n[state]\npath = \"{}\"\n",
        state.display()
    ));
    let s = Speaker::start(c).await.expect("start");
    for i in 0..200u32 {
        let prefix = p(&format!("198.51.100.{}/32", i));
        assert!(s.announce(prefix, Advertisement::new()).await);
    }
    assert!(!state.exists(), "written before the coalescing delay");
    // Virtual time: sleeping past the delay lets the writer run; the write itself is on the
    // blocking pool, so poll (virtually) until the file appears, with a deadline.
    tokio::time::sleep(speakerd::state::COALESCE).await;
    let mut waited = Duration::ZERO;
    while !state.exists() {
        assert!(waited < DEADLINE, "the writer never wrote the state");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    let routes = speakerd::state::load(&state).expect("load");
    assert_eq!(routes.len(), 200);
    drop(s);
}
