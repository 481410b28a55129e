//! Announces one prefix through the library, withdraws it on SIGUSR1, stops on SIGTERM.
//! Used by interop/tests/announce_withdraw.rs to check a library withdraw on a real peer
//! (the daemon has no control interface for it in that test).
//!
//! ```text
//! announce-then-withdraw CONFIG PREFIX COMMUNITY     # e.g. speakerd.toml 203.0.113.77/32 64511:77
//! ```
//! Prints `announced` once the rib holds the route and `withdrawn` after SIGUSR1.

use bgp_wire::IpNet;
use rib::Advertisement;
use speakerd::announce::{AnyCommunity, parse_community};
use speakerd::{Config, Speaker};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 3 {
        eprintln!("usage: announce-then-withdraw CONFIG PREFIX COMMUNITY");
        std::process::exit(2);
    }
    let cfg = Config::load(a[0].as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let prefix: IpNet = a[1].parse().expect("PREFIX");
    let mut adv = Advertisement::new();
    match parse_community(&a[2]).expect("COMMUNITY") {
        AnyCommunity::Standard(c) => adv.communities.push(c),
        AnyCommunity::Large(c) => adv.large_communities.push(c),
        AnyCommunity::Extended(c) => adv.extended_communities.push(c),
    }
    let mut usr1 = signal(SignalKind::user_defined1()).expect("SIGUSR1");
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM");
    let sp = Speaker::start(cfg).await.expect("start");
    sp.announce(prefix, adv).await;
    println!("announced");
    tokio::select! {
        _ = usr1.recv() => {
            sp.withdraw(prefix).await;
            println!("withdrawn");
            term.recv().await;
        }
        _ = term.recv() => {}
    }
    sp.shutdown("stopped").await;
}
