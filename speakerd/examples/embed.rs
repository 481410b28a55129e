//! Embedding speakerd as a library: a configuration built in code, one route announced with a
//! community, the peer events printed for a few seconds, then a clean shutdown.
//!
//! ```text
//! cargo run -p speakerd --example embed [PEER_ADDRESS [PEER_PORT [SECONDS]]]
//! ```
//! Defaults: peer 127.0.0.2 port 1790 (usually nobody there: the events then show the
//! connection attempts), 3 seconds. The speaker listens on 127.0.0.1 on an ephemeral port.
//! Only the library is used (`speakerd = { ..., default-features = false }` is enough).

use std::net::IpAddr;
use std::time::Duration;

use bgp_wire::IpNet;
use rib::Advertisement;
use speakerd::announce::{AnyCommunity, parse_community};
use speakerd::{Config, PeerEventKind, Speaker};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let peer: IpAddr = args
        .first()
        .map_or("127.0.0.2", String::as_str)
        .parse()
        .expect("PEER_ADDRESS");
    let port: u16 = args
        .get(1)
        .map_or("1790", String::as_str)
        .parse()
        .expect("PEER_PORT");
    let seconds: u64 = args
        .get(2)
        .map_or("3", String::as_str)
        .parse()
        .expect("SECONDS");

    // The same TOML the daemon reads, validated the same way (errors carry line:column).
    let text = format!(
        r#"
[speaker]
asn = 64511
router_id = "192.0.2.1"
listen = ["127.0.0.1:0"]

[[peer]]
name = "upstream"
address = "{peer}"
port = {port}
asn = 64496
"#
    );
    let config = Config::parse(&text, "embed.toml").unwrap_or_else(|e| panic!("{e}"));

    let speaker = Speaker::start(config).await.expect("start the speaker");
    // Subscribe first so no event after the announce is missed.
    let mut events = speaker.subscribe();
    println!("listening on {:?}", speaker.local_addrs());

    let prefix: IpNet = "203.0.113.10/32".parse().expect("prefix");
    let mut adv = Advertisement::new();
    match parse_community("64511:10").expect("community") {
        AnyCommunity::Standard(c) => adv.communities.push(c),
        AnyCommunity::Large(c) => adv.large_communities.push(c),
        AnyCommunity::Extended(c) => adv.extended_communities.push(c),
    }
    let changed = speaker.announce(prefix, adv).await;
    println!("announced {prefix} community 64511:10 (rib changed: {changed})");

    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        match tokio::time::timeout_at(until, events.recv()).await {
            Err(_) => break, // the time is up
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                println!("(missed {n} events)");
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => break,
            Ok(Ok(ev)) => match ev.kind {
                PeerEventKind::ConnectAttempt => {
                    println!("{} ({}): connecting", ev.peer, ev.address)
                }
                PeerEventKind::StateChanged { from, to, reason } => {
                    println!("{} ({}): {from} -> {to} ({reason:?})", ev.peer, ev.address);
                }
                PeerEventKind::Established(n) => {
                    println!("{} ({}): established: {n:?}", ev.peer, ev.address);
                }
                PeerEventKind::Update(u) => println!(
                    "{} ({}): update, {} announced, {} withdrawn",
                    ev.peer,
                    ev.address,
                    u.announced().count(),
                    u.withdrawn_all().count()
                ),
                PeerEventKind::EndOfRib(f) => {
                    println!("{} ({}): end-of-rib {f:?}", ev.peer, ev.address)
                }
                PeerEventKind::RouteRefresh { family, subtype } => println!(
                    "{} ({}): route refresh {family:?} subtype {subtype}",
                    ev.peer, ev.address
                ),
                other => println!("{} ({}): {other:?}", ev.peer, ev.address),
            },
        }
    }
    for p in speaker.peers() {
        println!("{} {} {}", p.name, p.address, p.state);
    }
    speaker.shutdown("example finished").await;
    println!("stopped");
}
