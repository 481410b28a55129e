//! A speakerd sender for the bulk benchmark (interop/src/bin/bulk.rs): one passive peer,
//! N IPv4 /24s announced through the library.
//!
//! ```text
//! bulk-sender LISTEN_IP ASN PEER_IP PEER_ASN N preload|stream
//! ```
//! * `preload`: `announce_all` of the N prefixes before the peer connects; prints `loaded`.
//! * `stream`: prints `loaded` at once, waits for Established, then announces the prefixes
//!   one per call (`Speaker::announce`) and prints `streamed` with the time it took.
//!
//! Environment: `BULK_EXTENDED_MESSAGE=0` turns RFC 8654 extended messages off;
//! `BULK_CHUNK=k` preloads in `announce_all` calls of k prefixes.
//!
//! The prefixes are `240.0.0.0/24`, `240.0.1.0/24`, ... (reserved space, for a lab whose
//! receivers install nothing in a kernel table).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bgp_fsm::State;
use bgp_wire::IpNet;
use rib::Advertisement;
use speakerd::{Config, Speaker};

fn prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let a = Ipv4Addr::from(0xF000_0000u32 + (i << 8));
            IpNet::new(IpAddr::V4(a), 24).expect("valid /24")
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 6 {
        eprintln!("usage: bulk-sender LISTEN_IP ASN PEER_IP PEER_ASN N preload|stream");
        std::process::exit(2);
    }
    let (listen, asn, peer, peer_asn) = (&a[0], &a[1], &a[2], &a[3]);
    let n: u32 = a[4].parse().expect("N");
    let stream = a[5] == "stream";
    let text = format!(
        "[speaker]\nasn = {asn}\nrouter_id = \"{listen}\"\nlisten = [\"{listen}:179\"]\n\
         [[peer]]\nname = \"rx\"\naddress = \"{peer}\"\nasn = {peer_asn}\npassive = true\n"
    );
    // BULK_EXTENDED_MESSAGE=0: no RFC 8654 extended messages (4096-byte UPDATEs).
    let text = if std::env::var("BULK_EXTENDED_MESSAGE").as_deref() == Ok("0") {
        text + "extended_message = false\n"
    } else {
        text
    };
    let cfg = Config::parse(&text, "bulk-sender").unwrap_or_else(|e| panic!("{e}"));
    let sp = Speaker::start(cfg).await.expect("start");
    let all = prefixes(n);
    if !stream {
        let t = Instant::now();
        // BULK_CHUNK=k: announce in calls of k prefixes (default: one call).
        let chunk: usize = std::env::var("BULK_CHUNK")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(all.len().max(1));
        let mut k = 0;
        for c in all.chunks(chunk) {
            k += sp.announce_all(c.to_vec(), Advertisement::new()).await;
        }
        println!("loaded {k} in {:?}", t.elapsed());
    } else {
        println!("loaded 0");
    }
    let mut w = sp.handles()[0].watch();
    let _ = w.wait_for(|s| s.state == State::Established).await;
    if stream {
        let t = Instant::now();
        for p in all {
            sp.announce(p, Advertisement::new()).await;
        }
        println!("streamed {n} calls in {:?}", t.elapsed());
    }
    // Serve until killed.
    std::future::pending::<()>().await;
}
