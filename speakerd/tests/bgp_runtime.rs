//! The BGP runtime over loopback TCP: two `Speaker`s peering, backoff on a closed port,
//! administrative shutdown, TCP-MD5, unknown inbound connections, BFD coupling (with a fake
//! BFD provider). Waits have deadlines; nothing asserts on wall-clock durations (backoff is
//! checked on tokio's paused clock).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp_fsm::bgp_wire::Family;
use bgp_fsm::{Reason, State};
use bytes::Bytes;
use speakerd::bfd::{BfdSessionSpec, BfdStatus};
use speakerd::bgp::{BfdLink, BfdProvider};
use speakerd::{Config, PeerEvent, PeerEventKind, Speaker, SpeakerOptions};
use tokio::io::AsyncReadExt;
use tokio::sync::{broadcast, watch};

const DEADLINE: Duration = Duration::from_secs(60);

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// B: AS 64501 on 127.0.0.2, listening on an ephemeral port, peer A (127.0.0.1) passive.
fn config_b(extra_peer: &str) -> Config {
    cfg(&format!(
        r#"
[speaker]
asn = 64501
router_id = "192.0.2.2"
listen = ["127.0.0.2:0"]
[[peer]]
name = "a"
address = "127.0.0.1"
asn = 64500
passive = true
{extra_peer}
"#
    ))
}

/// A: AS 64500, connects from 127.0.0.1 to B at 127.0.0.2:port.
fn config_a(port: u16, extra_peer: &str) -> Config {
    cfg(&format!(
        r#"
[speaker]
asn = 64500
router_id = "192.0.2.1"
[[peer]]
name = "b"
address = "127.0.0.2"
asn = 64501
port = {port}
source = "127.0.0.1"
{extra_peer}
"#
    ))
}

async fn start(c: Config) -> (Speaker, broadcast::Receiver<PeerEvent>) {
    start_opts(c, SpeakerOptions::default()).await
}

async fn start_opts(c: Config, mut o: SpeakerOptions) -> (Speaker, broadcast::Receiver<PeerEvent>) {
    let (tx, rx) = broadcast::channel(4096);
    o.events = Some(tx);
    (Speaker::start_with(c, o).await.expect("start"), rx)
}

async fn wait_state(s: &Speaker, state: State) {
    let mut w = s.handles()[0].watch();
    // The guard `wait_for` returns blocks the publisher: turn it into a bool at once.
    let r = tokio::time::timeout(DEADLINE, w.wait_for(|st| st.state == state))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(r, "peer never reached {state}: {:?}", s.peers());
}

/// Waits for the first event matching `f` (deadline on tokio time).
async fn wait_event<T>(
    rx: &mut broadcast::Receiver<PeerEvent>,
    what: &str,
    mut f: impl FnMut(&PeerEvent) -> Option<T>,
) -> T {
    let r = tokio::time::timeout(DEADLINE, async {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if let Some(t) = f(&ev) {
                        return t;
                    }
                }
                Err(e) => panic!("event channel: {e}"),
            }
        }
    })
    .await;
    r.unwrap_or_else(|_| panic!("no event: {what}"))
}

async fn established_pair(
    a_extra: &str,
    b_extra: &str,
) -> (
    Speaker,
    Speaker,
    broadcast::Receiver<PeerEvent>,
    broadcast::Receiver<PeerEvent>,
) {
    let (b, brx) = start(config_b(b_extra)).await;
    let port = b.local_addrs()[0].port();
    let (a, arx) = start(config_a(port, a_extra)).await;
    wait_state(&a, State::Established).await;
    wait_state(&b, State::Established).await;
    (a, b, arx, brx)
}

#[tokio::test]
async fn two_speakers_establish_and_exchange_updates() {
    let (a, b, _arx, mut brx) = established_pair("hold_time = 9", "").await;
    let sa = a.peers().remove(0);
    let sb = b.peers().remove(0);
    assert_eq!(sa.name, "b");
    let n = sa.negotiated.expect("negotiated while Established");
    assert_eq!(n.hold_time, 9, "min(9, 90)");
    assert_eq!(n.peer_asn, 64501);
    assert_eq!(n.peer_router_id, Ipv4Addr::new(192, 0, 2, 2));
    assert!(sa.established_since.is_some());
    let (local, remote) = sa.connection.expect("connection addresses");
    assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
    assert_eq!(remote, b.local_addrs()[0]);
    assert_eq!(sb.connection.unwrap().1.ip(), local.ip());
    assert_eq!(sa.counters.established_transitions, 1);

    // The rib's path: whole UPDATE messages through the driver. An empty UPDATE is the
    // IPv4 End-of-RIB marker (RFC 4724 §2).
    let mut eor = vec![0xff; 16];
    eor.extend_from_slice(&[0, 23, 2, 0, 0, 0, 0]);
    a.handles()[0].send_update(Bytes::from(eor)).await.unwrap();
    let fam = wait_event(&mut brx, "End-of-RIB at B", |e| match &e.kind {
        PeerEventKind::EndOfRib(f) => Some(*f),
        _ => None,
    })
    .await;
    assert_eq!(fam, Family::IPV4_UNICAST);
    // Not a whole UPDATE: refused by the session, nothing sent.
    assert_eq!(
        a.handles()[0]
            .send_update(Bytes::from_static(b"junk"))
            .await,
        Err(bgp_fsm::SendError::Malformed)
    );
    a.shutdown("test done").await;
    b.shutdown("test done").await;
}

#[tokio::test]
async fn shutdown_sends_cease_administrative_shutdown_with_message() {
    let (a, b, _arx, mut brx) = established_pair("", "").await;
    a.shutdown("speakerd shutting down").await;
    let n = wait_event(&mut brx, "NOTIFICATION at B", |e| match &e.kind {
        PeerEventKind::StateChanged {
            reason: Reason::NotificationReceived(n),
            ..
        } => Some(n.clone()),
        _ => None,
    })
    .await;
    // RFC 4486 / RFC 9003: Cease, Administrative Shutdown, with the message.
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(
        n.shutdown_message().as_deref(),
        Some("speakerd shutting down")
    );
    let st = b.peers().remove(0);
    assert_ne!(st.state, State::Established);
    assert_eq!(st.counters.notifications_in, 1);
    b.shutdown("test done").await;
}

#[tokio::test(start_paused = true)]
async fn closed_port_backs_off_exponentially() {
    // A port with nothing listening: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = cfg(&format!(
        "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n[[peer]]\naddress = \"127.0.0.1\"\nasn = 64501\nport = {port}\n"
    ));
    let (s, mut rx) = start(c).await;
    let mut attempts = Vec::new();
    let mut failures = 0;
    while attempts.len() < 6 {
        let ev = wait_event(&mut rx, "connect attempt", |e| Some(e.clone())).await;
        match ev.kind {
            PeerEventKind::ConnectAttempt => attempts.push(ev.at),
            PeerEventKind::StateChanged {
                reason: Reason::ConnectFailed,
                ..
            } => failures += 1,
            PeerEventKind::StateChanged { to, .. } => {
                assert!(to <= State::Active, "unexpected state {to}")
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(failures >= 5, "{failures} connect failures");
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    // Virtual time: 1 s doubling (bgp-fsm's default backoff).
    assert_eq!(
        gaps,
        [1, 2, 4, 8, 16].map(Duration::from_secs).to_vec(),
        "gaps between connect attempts"
    );
    assert_eq!(s.peers()[0].counters.connect_attempts, 6);
    s.shutdown("done").await;
}

#[tokio::test]
async fn md5_matching_passwords_establish() {
    let (a, b, _, _) = established_pair("password = \"s3cret\"", "password = \"s3cret\"").await;
    a.shutdown("done").await;
    b.shutdown("done").await;
}

#[tokio::test(start_paused = true)]
async fn md5_mismatch_never_establishes() {
    let (b, mut brx) = start(config_b("password = \"right\"")).await;
    let port = b.local_addrs()[0].port();
    let (a, mut arx) = start(config_a(port, "password = \"wrong\"")).await;
    // The kernel drops the unsigned-with-the-right-key SYNs (RFC 2385 §2.0): every attempt
    // ends with the connect timeout, never with a TCP connection.
    let mut attempts = 0;
    while attempts < 3 {
        let ev = wait_event(&mut arx, "events at A", |e| Some(e.clone())).await;
        match ev.kind {
            PeerEventKind::ConnectAttempt => attempts += 1,
            PeerEventKind::StateChanged { to, reason, .. } => {
                assert!(to <= State::Active, "A reached {to} ({reason})");
                assert!(
                    matches!(
                        reason,
                        Reason::ConnectTimeout | Reason::ConnectRetry | Reason::ManualStart
                    ),
                    "{reason:?}"
                );
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    // B saw no connection at all: it only went from Idle to Active (listening).
    while let Ok(ev) = brx.try_recv() {
        match ev.kind {
            PeerEventKind::StateChanged { to, .. } => assert!(to <= State::Active, "B: {to}"),
            other => panic!("B: unexpected event {other:?}"),
        }
    }
    assert_eq!(b.peers()[0].counters.opens_in, 0);
    assert_eq!(a.peers()[0].counters.opens_in, 0);
    a.shutdown("done").await;
    b.shutdown("done").await;
}

#[tokio::test]
async fn unknown_source_address_is_closed() {
    let (b, _brx) = start(config_b("")).await;
    let addr = b.local_addrs()[0];
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::from(([127, 0, 0, 3], 0))).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("connection not closed");
    // Closed without a byte (no OPEN to a stranger).
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    b.shutdown("done").await;
}

/// A BFD provider whose sessions the test drives.
#[derive(Default)]
struct FakeBfd {
    senders: Mutex<Vec<(BfdSessionSpec, watch::Sender<BfdStatus>)>>,
}

impl BfdProvider for FakeBfd {
    fn add_session(&self, spec: BfdSessionSpec) -> std::io::Result<BfdLink> {
        let (tx, rx) = watch::channel(BfdStatus::default());
        self.senders.lock().unwrap().push((spec, tx));
        Ok(BfdLink {
            status: rx,
            guard: Box::new(()),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn bfd_down_tears_the_session_down_and_holds_it_until_up() {
    let (b, mut brx) = start(config_b("")).await;
    let port = b.local_addrs()[0].port();
    let fake = Arc::new(FakeBfd::default());
    let mut o = SpeakerOptions::default();
    o.bfd = Some(fake.clone());
    let ca = cfg(&format!(
        "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n[bfd.profile.fast]\nreceive_interval = 100\n[[peer]]\nname = \"b\"\naddress = \"127.0.0.2\"\nasn = 64501\nport = {port}\nsource = \"127.0.0.1\"\nbfd = \"fast\"\n"
    ));
    let (a, mut arx) = start_opts(ca, o).await;
    let spec = fake.senders.lock().unwrap()[0].0.clone();
    assert_eq!(spec.peer, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_eq!(spec.local, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))));
    assert!(!spec.multihop);
    assert_eq!(spec.profile.receive_interval, Duration::from_millis(100));
    // The first establishment does not wait for BFD.
    wait_state(&a, State::Established).await;
    let tx = fake.senders.lock().unwrap()[0].1.clone();
    let up = BfdStatus {
        state: bfd::State::Up,
        ..BfdStatus::default()
    };
    tx.send_replace(up.clone());
    // BFD fails.
    tx.send_replace(BfdStatus {
        state: bfd::State::Down,
        down_count: 1,
        ..BfdStatus::default()
    });
    let n = wait_event(&mut brx, "Cease/10 at B", |e| match &e.kind {
        PeerEventKind::StateChanged {
            reason: Reason::NotificationReceived(n),
            ..
        } => Some(n.clone()),
        _ => None,
    })
    .await;
    // RFC 9384: Cease, BFD Down.
    assert_eq!((n.code, n.subcode), (6, 10));
    wait_event(&mut arx, "A down for BFD", |e| match &e.kind {
        PeerEventKind::StateChanged {
            reason: Reason::BfdDown,
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    // Held down: A stays Idle while BFD is down, past the 1 s backoff (virtual time), up to
    // BFD_HOLD_DOWN_MAX.
    let mut w = a.handles()[0].watch();
    let moved = tokio::time::timeout(
        speakerd::bgp::BFD_HOLD_DOWN_MAX - Duration::from_millis(100),
        w.wait_for(|s| s.state != State::Idle),
    )
    .await
    .is_ok();
    assert!(!moved, "session restarted while BFD down: {:?}", a.peers());
    assert_eq!(a.peers()[0].bfd, Some(bfd::State::Down));
    // BFD up again: the session comes back.
    tx.send_replace(BfdStatus {
        state: bfd::State::Up,
        down_count: 1,
        ..BfdStatus::default()
    });
    wait_state(&a, State::Established).await;
    assert_eq!(a.peers()[0].counters.established_transitions, 2);
    // A second failure, and BFD stays down (a peer that runs BFD only while BGP is up, like
    // FRR's dynamic neighbours): after BFD_HOLD_DOWN_MAX the session tries anyway.
    tx.send_replace(BfdStatus {
        state: bfd::State::Down,
        down_count: 2,
        ..BfdStatus::default()
    });
    let down_at = wait_event(&mut arx, "A down for BFD again", |e| match &e.kind {
        PeerEventKind::StateChanged {
            reason: Reason::BfdDown,
            ..
        } => Some(e.at),
        _ => None,
    })
    .await;
    let back_at = wait_event(&mut arx, "A Established again", |e| match &e.kind {
        PeerEventKind::StateChanged {
            to: State::Established,
            ..
        } => Some(e.at),
        _ => None,
    })
    .await;
    assert!(
        back_at - down_at >= speakerd::bgp::BFD_HOLD_DOWN_MAX,
        "back after {:?}",
        back_at - down_at
    );
    assert_eq!(a.peers()[0].bfd, Some(bfd::State::Down));
    assert_eq!(a.peers()[0].counters.established_transitions, 3);
    a.shutdown("done").await;
    b.shutdown("done").await;
}

#[tokio::test]
async fn ipv6_loopback_with_md5_and_gtsm_establishes() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: no IPv6 loopback");
        return;
    }
    let (b, _) = start(cfg(r#"
[speaker]
asn = 64501
router_id = "192.0.2.2"
listen = ["[::1]:0"]
[[peer]]
address = "::1"
asn = 64500
passive = true
password = "v6secret"
ttl_security = true
families = ["ipv6-unicast"]
"#))
    .await;
    let port = b.local_addrs()[0].port();
    let (a, _) = start(cfg(&format!(
        r#"
[speaker]
asn = 64500
router_id = "192.0.2.1"
[[peer]]
address = "::1"
asn = 64501
port = {port}
password = "v6secret"
ttl_security = true
families = ["ipv6-unicast"]
"#
    )))
    .await;
    wait_state(&a, State::Established).await;
    wait_state(&b, State::Established).await;
    let n = a.peers()[0].negotiated.clone().unwrap();
    assert_eq!(n.families, vec![Family::IPV6_UNICAST]);
    a.shutdown("done").await;
    b.shutdown("done").await;
}

/// A free port on `ip` (bound, then released).
fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn both_sides_active_resolve_the_collision_and_establish_once() {
    let (pa, pb) = (free_port("127.0.0.6"), free_port("127.0.0.7"));
    let side = |asn: u32,
                rid: &str,
                me: &str,
                port_me: u16,
                peer: &str,
                port_peer: u16,
                peer_asn: u32| {
        cfg(&format!(
            "[speaker]\nasn = {asn}\nrouter_id = \"{rid}\"\nlisten = [\"{me}:{port_me}\"]\n[[peer]]\naddress = \"{peer}\"\nasn = {peer_asn}\nport = {port_peer}\nsource = \"{me}\"\n"
        ))
    };
    let (a, _) = start(side(
        64500,
        "192.0.2.1",
        "127.0.0.6",
        pa,
        "127.0.0.7",
        pb,
        64501,
    ))
    .await;
    let (b, _) = start(side(
        64501,
        "192.0.2.2",
        "127.0.0.7",
        pb,
        "127.0.0.6",
        pa,
        64500,
    ))
    .await;
    wait_state(&a, State::Established).await;
    wait_state(&b, State::Established).await;
    // One session survives on each side, over the same TCP connection.
    let (sa, sb) = (a.peers().remove(0), b.peers().remove(0));
    let (la, ra) = sa.connection.unwrap();
    let (lb, rb) = sb.connection.unwrap();
    assert_eq!((la, ra), (rb, lb));
    a.shutdown("done").await;
    b.shutdown("done").await;
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bfd_runtime(bind: Ipv4Addr, listen: u16, peer: u16) -> Arc<speakerd::bfd::BfdRuntime> {
    let o = speakerd::bfd::BfdRuntimeOptions {
        bind_v4: Some(bind),
        bind_v6: None,
        single_hop_port: listen,
        multihop_port: free_udp_port(),
        peer_single_hop_port: peer,
        peer_multihop_port: free_udp_port(),
        realtime_priority: None,
        ..speakerd::bfd::BfdRuntimeOptions::default()
    };
    Arc::new(speakerd::bfd::BfdRuntime::start(o).expect("BFD runtime"))
}

#[tokio::test]
async fn real_bfd_comes_up_with_the_session_and_peer_admin_down_keeps_it() {
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let rt_a = bfd_runtime(Ipv4Addr::new(127, 0, 0, 1), pa, pb);
    let rt_b = bfd_runtime(Ipv4Addr::new(127, 0, 0, 2), pb, pa);
    let profile = "[bfd.profile.fast]\nreceive_interval = 50\ntransmit_interval = 50\n";
    let mut ob = SpeakerOptions::default();
    ob.bfd = Some(rt_b.clone());
    let (b, _) = start_opts(
        cfg(&format!(
            "[speaker]\nasn = 64501\nrouter_id = \"192.0.2.2\"\nlisten = [\"127.0.0.2:0\"]\n{profile}[[peer]]\naddress = \"127.0.0.1\"\nasn = 64500\npassive = true\nsource = \"127.0.0.2\"\nbfd = \"fast\"\n"
        )),
        ob,
    )
    .await;
    let port = b.local_addrs()[0].port();
    let mut oa = SpeakerOptions::default();
    oa.bfd = Some(rt_a.clone());
    let (a, mut arx) = start_opts(
        cfg(&format!(
            "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n{profile}[[peer]]\naddress = \"127.0.0.2\"\nasn = 64501\nport = {port}\nsource = \"127.0.0.1\"\nbfd = \"fast\"\n"
        )),
        oa,
    )
    .await;
    wait_state(&a, State::Established).await;
    let mut w = a.handles()[0].watch();
    let up = tokio::time::timeout(DEADLINE, w.wait_for(|s| s.bfd == Some(bfd::State::Up)))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(up, "BFD never Up: {:?}", a.peers());
    // B's BFD stops with AdminDown (RFC 5882 §3.2: not a path failure): A's BFD goes Down
    // but the BGP session stays.
    let rt_b = Arc::try_unwrap(rt_b).expect("only the test holds B's BFD runtime");
    tokio::task::spawn_blocking(move || rt_b.shutdown())
        .await
        .unwrap();
    let down = tokio::time::timeout(DEADLINE, w.wait_for(|s| s.bfd == Some(bfd::State::Down)))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(down, "BFD never Down: {:?}", a.peers());
    assert_eq!(a.peers()[0].state, State::Established, "{:?}", a.peers());
    while let Ok(ev) = arx.try_recv() {
        if let PeerEventKind::StateChanged { reason, .. } = &ev.kind {
            assert_ne!(
                *reason,
                Reason::BfdDown,
                "torn down on the peer's AdminDown"
            );
        }
    }
    a.shutdown("done").await;
    b.shutdown("done").await;
}

/// A minimal OPEN (RFC 4271 §4.2): AS 64501, hold 9, id 192.0.2.2, no capabilities.
fn open_64501() -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 29, 1, 4, 0xfb, 0xf5, 0, 9, 192, 0, 2, 2, 0]);
    m
}

fn keepalive() -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 19, 4]);
    m
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_cannot_block_the_session() {
    use tokio::io::AsyncWriteExt;
    // A fake peer: answers the OPEN, then only sends KEEPALIVEs and never reads again.
    let l = tokio::net::TcpListener::bind("127.0.0.8:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let peer = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await.unwrap(); // our OPEN
        s.write_all(&open_64501()).await.unwrap();
        s.write_all(&keepalive()).await.unwrap();
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if s.write_all(&keepalive()).await.is_err() {
                return;
            }
        }
    });
    let (a, mut rx) = start(cfg(&format!(
        "[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n[[peer]]\naddress = \"127.0.0.8\"\nasn = 64501\nport = {port}\nhold_time = 9\n"
    )))
    .await;
    wait_state(&a, State::Established).await;
    // Flood: 1 MiB batches of UPDATEs (empty ones are valid), until the peer's receive
    // buffer, our send buffer and the write queue are full.
    let mut eor = vec![0xff; 16];
    eor.extend_from_slice(&[0, 23, 2, 0, 0, 0, 0]);
    let batch = Bytes::from(eor.repeat((1 << 20) / 23));
    let h = a.handles()[0].clone();
    let flood = tokio::spawn(async move {
        let mut sent = 0usize;
        while h.send_update(batch.clone()).await.is_ok() {
            sent += 1;
        }
        sent
    });
    // The stalled write gives up after the hold time: the session goes down (instead of
    // waiting forever), and the flood sees NotEstablished.
    let reason = wait_event(&mut rx, "session down", |e| match &e.kind {
        PeerEventKind::StateChanged {
            from: State::Established,
            reason,
            ..
        } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, Reason::ConnectionClosed);
    let sent = tokio::time::timeout(DEADLINE, flood)
        .await
        .expect("flood still blocked")
        .unwrap();
    assert!(sent >= 4, "only {sent} MiB accepted before the stall");
    peer.abort();
    a.shutdown("done").await;
}

#[tokio::test]
async fn stop_start_and_reset_through_the_handle() {
    let (a, b, _arx, mut brx) = established_pair("", "").await;
    let h = a.handles()[0].clone();
    h.reset(Some("config changed".into()));
    let n = wait_event(&mut brx, "Cease/4 at B", |e| match &e.kind {
        PeerEventKind::StateChanged {
            reason: Reason::NotificationReceived(n),
            ..
        } => Some(n.clone()),
        _ => None,
    })
    .await;
    // RFC 4486 / RFC 9003: Cease, Administrative Reset, with the message.
    assert_eq!((n.code, n.subcode), (6, 4));
    assert_eq!(n.shutdown_message().as_deref(), Some("config changed"));
    // It comes back by itself.
    let mut w = h.watch();
    let up = tokio::time::timeout(
        DEADLINE,
        w.wait_for(|s| s.state == State::Established && s.counters.established_transitions == 2),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(up, "not re-established after reset: {:?}", a.peers());
    // Stop: down until start.
    h.stop(Some("maintenance".into()));
    let n = wait_event(&mut brx, "Cease/2 at B", |e| match &e.kind {
        PeerEventKind::StateChanged {
            reason: Reason::NotificationReceived(n),
            ..
        } => Some(n.clone()),
        _ => None,
    })
    .await;
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_message().as_deref(), Some("maintenance"));
    let idle = tokio::time::timeout(DEADLINE, w.wait_for(|s| s.state == State::Idle))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(idle, "{:?}", a.peers());
    assert_eq!(
        h.send_update(Bytes::from_static(&[0; 4])).await,
        Err(bgp_fsm::SendError::NotEstablished)
    );
    h.start();
    let up = tokio::time::timeout(
        DEADLINE,
        w.wait_for(|s| s.state == State::Established && s.counters.established_transitions == 3),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(up, "not re-established after start: {:?}", a.peers());
    a.shutdown("done").await;
    b.shutdown("done").await;
}
