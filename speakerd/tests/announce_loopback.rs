//! The announce path over loopback TCP: speaker A announces routes from its configuration
//! and through the library; speaker B keeps what it receives (from the driver's Update
//! events) and must hold exactly those routes with the configured attributes. Withdraw,
//! set, reconnect, and 100k prefixes in one call. Waits have deadlines; nothing is timed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use bgp_fsm::State;
use bgp_fsm::bgp_wire::{
    Bytes, Community, DecodeContext, EncodeContext, ExtendedCommunity, Family, IpNet,
    LargeCommunity, Message, MpNextHop, Update,
};
use bytes::BytesMut;
use rib::Advertisement;
use speakerd::{Config, PeerEvent, PeerEventKind, Speaker, SpeakerOptions};
use tokio::sync::broadcast;

const DEADLINE: Duration = Duration::from_secs(60);

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// B: listens on 127.0.0.2, peer A (127.0.0.1) passive, IPv4 + IPv6 unicast, no RFC 8654
/// extended messages (so every UPDATE must fit 4096 bytes).
fn config_b(asn: u32, a_asn: u32) -> Config {
    cfg(&format!(
        r#"
[speaker]
asn = {asn}
router_id = "192.0.2.2"
listen = ["127.0.0.2:0"]
[[peer]]
name = "a"
address = "127.0.0.1"
asn = {a_asn}
passive = true
families = ["ipv4-unicast", "ipv6-unicast"]
extended_message = false
"#
    ))
}

/// A: connects to B; announces two prefixes from its configuration (and one for another
/// peer only, which B must not get).
fn config_a(asn: u32, b_asn: u32, port: u16) -> Config {
    cfg(&format!(
        r#"
[speaker]
asn = {asn}
router_id = "192.0.2.1"
[[peer]]
name = "b"
address = "127.0.0.2"
asn = {b_asn}
port = {port}
source = "127.0.0.1"
families = ["ipv4-unicast", "ipv6-unicast"]
[[peer]]
name = "other"
address = "127.0.0.9"
asn = 64999
passive = true
[[announce]]
prefix = "203.0.113.100/32"
communities = ["64511:100", "no-export", "large:64511:1:2", "rt:64511:7"]
large_communities = ["64511:3:4"]
med = 10
local_pref = 250
origin = "incomplete"
as_path_prepend = 2
[[announce]]
prefix = "2001:db8:1::/48"
communities = ["64511:200"]
[[announce]]
prefix = "203.0.113.200/32"
peers = ["other"]
"#
    ))
}

/// B's view: what A sent, prefix → the UPDATE that carried it.
struct Received {
    rx: broadcast::Receiver<PeerEvent>,
    routes: HashMap<IpNet, Arc<Update>>,
    eor: Vec<Family>,
    largest: usize,
}

impl Received {
    fn new(rx: broadcast::Receiver<PeerEvent>) -> Received {
        Received {
            rx,
            routes: HashMap::new(),
            eor: Vec::new(),
            largest: 0,
        }
    }

    fn apply(&mut self, ev: PeerEvent) {
        match ev.kind {
            PeerEventKind::Update(u) => {
                // Re-encode to measure the message (the encoding is deterministic).
                let mut b = BytesMut::new();
                Message::Update((*u).clone())
                    .encode(&EncodeContext::default(), &mut b)
                    .unwrap_or_else(|e| {
                        panic!(
                            "encode: {e:?}: {} nlri, {} withdrawn, attrs {:?}",
                            u.announced().count(),
                            u.withdrawn_all().count(),
                            u.attributes
                                .iter()
                                .map(|a| a.value.type_code())
                                .collect::<Vec<_>>()
                        )
                    });
                self.largest = self.largest.max(b.len());
                for n in u.withdrawn_all() {
                    self.routes.remove(&n.prefix);
                }
                for n in u.announced() {
                    self.routes.insert(n.prefix, u.clone());
                }
            }
            PeerEventKind::EndOfRib(f) => self.eor.push(f),
            PeerEventKind::StateChanged {
                from: State::Established,
                ..
            } => {
                // RFC 4271 §9: routes of a session that went down are gone.
                self.routes.clear();
                self.eor.clear();
            }
            _ => {}
        }
    }

    /// Applies events until `f` holds.
    async fn until(&mut self, what: &str, f: impl Fn(&Received) -> bool) {
        let r = tokio::time::timeout(DEADLINE, async {
            while !f(self) {
                match self.rx.recv().await {
                    Ok(ev) => self.apply(ev),
                    Err(e) => panic!("event channel: {e}"),
                }
            }
        })
        .await;
        assert!(
            r.is_ok(),
            "B never saw: {what}; holds {} routes",
            self.routes.len()
        );
    }

    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.routes.keys().map(|p| p.to_string()).collect();
        k.sort();
        k
    }

    fn has_exactly(&self, want: &[&str]) -> bool {
        let mut w: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        w.sort();
        self.keys() == w
    }
}

async fn wait_state(s: &Speaker, state: State) {
    let mut w = s.handles()[0].watch();
    let r = tokio::time::timeout(DEADLINE, w.wait_for(|st| st.state == state))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(r, "peer never reached {state}: {:?}", s.peers());
}

async fn pair(a_asn: u32, b_asn: u32) -> (Speaker, Speaker, Received) {
    let (tx, rx) = broadcast::channel(65536);
    let mut o = SpeakerOptions::default();
    o.events = Some(tx);
    let b = Speaker::start_with(config_b(b_asn, a_asn), o)
        .await
        .expect("start B");
    let port = b.local_addrs()[0].port();
    let a = Speaker::start(config_a(a_asn, b_asn, port))
        .await
        .expect("start A");
    wait_state(&a, State::Established).await;
    wait_state(&b, State::Established).await;
    (a, b, Received::new(rx))
}

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn route<'a>(r: &'a Received, prefix: &str) -> &'a Update {
    r.routes
        .get(&p(prefix))
        .unwrap_or_else(|| panic!("{prefix} missing: {:?}", r.keys()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_library_routes_arrive_with_their_attributes_ebgp() {
    let (a, b, mut rx) = pair(64500, 64501).await;
    let mut adv = Advertisement::new();
    adv.med = Some(20);
    adv.communities = vec![Community::new(64511, 300)];
    assert!(a.announce(p("198.51.100.0/24"), adv.clone()).await);
    // Idempotent: the same again changes nothing.
    assert!(!a.announce(p("198.51.100.0/24"), adv).await);

    let want = ["203.0.113.100/32", "2001:db8:1::/48", "198.51.100.0/24"];
    rx.until("the three routes", |r| r.has_exactly(&want)).await;
    rx.until("End-of-RIB for both families", |r| r.eor.len() == 2)
        .await;

    let u = route(&rx, "203.0.113.100/32");
    assert_eq!(u.next_hop(), Some(&"127.0.0.1".parse().unwrap()));
    assert_eq!(u.as_path().unwrap().to_string(), "64500 64500 64500");
    assert_eq!(u.origin(), Some(&bgp_fsm::bgp_wire::Origin::Incomplete));
    assert_eq!(u.med(), Some(&10));
    // RFC 4271 §5.1.5: no LOCAL_PREF to an external peer.
    assert_eq!(u.local_pref(), None);
    let mut c = u.communities().unwrap().clone();
    c.sort();
    assert_eq!(c, vec![Community::new(64511, 100), Community::NO_EXPORT]);
    let mut l = u.large_communities().unwrap().clone();
    l.sort();
    assert_eq!(
        l,
        vec![
            LargeCommunity {
                global_admin: 64511,
                local_data_1: 1,
                local_data_2: 2
            },
            LargeCommunity {
                global_admin: 64511,
                local_data_1: 3,
                local_data_2: 4
            }
        ]
    );
    assert_eq!(
        u.extended_communities().unwrap(),
        &vec![ExtendedCommunity::route_target_as2(64511, 7)]
    );

    // IPv6 over the IPv4 session (MP-BGP): next hop self as IPv4-mapped.
    let u6 = route(&rx, "2001:db8:1::/48");
    let mp = u6.mp_reach().expect("MP_REACH_NLRI");
    assert_eq!(mp.family, Family::IPV6_UNICAST);
    let mapped: Ipv6Addr = "::ffff:127.0.0.1".parse().unwrap();
    assert!(
        matches!(mp.next_hop, MpNextHop::Ipv6 { global, .. } if global == mapped),
        "{:?}",
        mp.next_hop
    );
    assert_eq!(u6.as_path().unwrap().to_string(), "64500");
    assert_eq!(u6.communities().unwrap(), &vec![Community::new(64511, 200)]);

    let u2 = route(&rx, "198.51.100.0/24");
    assert_eq!(u2.med(), Some(&20));
    assert_eq!(u2.communities().unwrap(), &vec![Community::new(64511, 300)]);
    assert!(rx.largest <= 4096);
    assert_eq!(a.announced_count(), 4);
    a.shutdown("done").await;
    b.shutdown("done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_pref_over_ibgp() {
    let (a, b, mut rx) = pair(64500, 64500).await;
    rx.until("config routes", |r| {
        r.has_exactly(&["203.0.113.100/32", "2001:db8:1::/48"])
    })
    .await;
    let u = route(&rx, "203.0.113.100/32");
    assert_eq!(u.local_pref(), Some(&250));
    // iBGP: an empty AS_PATH, prepends included (our AS would be a loop to the peer).
    assert!(u.as_path().unwrap().segments.is_empty());
    // Unset LOCAL_PREF on iBGP: the default 100.
    assert_eq!(route(&rx, "2001:db8:1::/48").local_pref(), Some(&100));
    a.shutdown("done").await;
    b.shutdown("done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_set_and_reconnect() {
    let (a, b, mut rx) = pair(64500, 64501).await;
    let cfg_routes = ["203.0.113.100/32", "2001:db8:1::/48"];
    a.announce(p("198.51.100.7/32"), Advertisement::new()).await;
    rx.until("config + API route", |r| {
        r.routes.len() == 3 && r.routes.contains_key(&p("198.51.100.7/32"))
    })
    .await;

    // Withdraw removes it.
    assert!(a.withdraw(p("198.51.100.7/32")).await);
    assert!(!a.withdraw(p("198.51.100.7/32")).await);
    rx.until("withdrawn", |r| r.has_exactly(&cfg_routes)).await;

    // A withdraw of a configured prefix through the API does nothing: separate sources.
    assert!(!a.withdraw(p("203.0.113.100/32")).await);

    // Set replaces the API's whole set.
    let mut med5 = Advertisement::new();
    med5.med = Some(5);
    a.set(vec![
        (p("198.51.100.1/32"), Advertisement::new()),
        (p("198.51.100.2/32"), Advertisement::new()),
    ])
    .await;
    rx.until("first set", |r| {
        r.has_exactly(&[
            cfg_routes[0],
            cfg_routes[1],
            "198.51.100.1/32",
            "198.51.100.2/32",
        ])
    })
    .await;
    a.set(vec![(p("198.51.100.2/32"), med5)]).await;
    rx.until("second set", |r| {
        r.has_exactly(&[cfg_routes[0], cfg_routes[1], "198.51.100.2/32"])
            && r.routes[&p("198.51.100.2/32")].med() == Some(&5)
    })
    .await;

    // Reconnect: B restarts its session; A resends the whole view, then End-of-RIB.
    b.handles()[0].stop(Some("test".into()));
    rx.until("session down", |r| r.routes.is_empty()).await;
    b.handles()[0].start();
    rx.until("everything again", |r| {
        r.has_exactly(&[cfg_routes[0], cfg_routes[1], "198.51.100.2/32"]) && r.eor.len() == 2
    })
    .await;
    assert_eq!(route(&rx, "198.51.100.2/32").med(), Some(&5));
    a.shutdown("done").await;
    b.shutdown("done").await;
}

/// `2001:db8:XXYY:ZZ00::/56` for i = 0..n (documentation space only).
fn many_v6(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let a = Ipv6Addr::new(
                0x2001,
                0x0db8,
                (i >> 8) as u16,
                ((i & 0xff) << 8) as u16,
                0,
                0,
                0,
                0,
            );
            IpNet::new(IpAddr::V6(a), 56).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_prefixes_in_one_call() {
    let (a, b, mut rx) = pair(64500, 64501).await;
    let prefixes = many_v6(100_000);
    let mut adv = Advertisement::new();
    adv.communities = vec![Community::new(64511, 1)];
    assert_eq!(a.announce_all(prefixes.clone(), adv).await, 100_000);
    rx.until("all 100k + 2 config routes", |r| r.routes.len() == 100_002)
        .await;
    for q in &prefixes {
        let u = &rx.routes[q];
        assert_eq!(u.communities().unwrap(), &vec![Community::new(64511, 1)]);
    }
    // No message over 4096 bytes (B did not negotiate extended messages, RFC 8654; its
    // session would also have closed with a Bad Message Length on one).
    assert!(rx.largest <= 4096, "largest {}", rx.largest);
    let st = &b.peers()[0];
    assert_eq!(st.state, State::Established);
    assert_eq!(
        st.counters.notifications_in + st.counters.notifications_out,
        0
    );

    // And withdrawn in one call.
    assert_eq!(a.withdraw_many(prefixes).await, 100_000);
    rx.until("only the config routes", |r| r.routes.len() == 2)
        .await;
    a.shutdown("done").await;
    b.shutdown("done").await;
}

/// The message decoder is happy with what the test re-encodes (guards the size check).
#[test]
fn reencoding_roundtrips() {
    let u = Update::end_of_rib(Family::IPV4_UNICAST);
    let mut b = BytesMut::new();
    Message::Update(u)
        .encode(&EncodeContext::default(), &mut b)
        .unwrap();
    assert_eq!(b.len(), 23);
    let m = Message::decode(Bytes::from(b.to_vec()), &DecodeContext::default()).unwrap();
    assert!(matches!(m, Message::Update(u) if u.is_end_of_rib() == Some(Family::IPV4_UNICAST)));
}

/// More than one internal chunk (2^18 prefixes) in one call: every prefix is announced once,
/// a repeat changes nothing, and a withdraw of all empties the rib.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_call_larger_than_a_chunk() {
    let s = Speaker::start(cfg("[speaker]\nasn = 64500\nrouter_id = \"192.0.2.1\"\n"))
        .await
        .expect("start");
    let all = many_v6(300_000);
    assert_eq!(
        s.announce_all(all.clone(), Advertisement::new()).await,
        300_000
    );
    assert_eq!(s.announced_count(), 300_000);
    assert_eq!(s.announce_all(all.clone(), Advertisement::new()).await, 0);
    assert_eq!(s.withdraw_many(all).await, 300_000);
    assert_eq!(s.announced_count(), 0);
    s.shutdown("done").await;
}
