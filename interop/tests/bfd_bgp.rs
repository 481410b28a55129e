//! The BFD ↔ BGP coupling end to end, in the topology of interop-lab.md: an FRR router
//! (zebra + bfdd + bgpd, dynamic neighbours with `bfd`, 3 × 100 ms) and three speakerd nodes
//! (`bfd = "fast"`, 3 × 100 ms) behind a bridge in its own namespace.
//!
//! All three BGP sessions and BFD sessions come up; n1's bridge port going down takes its BFD
//! session down on both ends, FRR drops the BGP neighbour and speakerd n1 tears its session
//! down for BFD (RFC 5882 §3.2) while n2 and n3 are untouched; the port coming back brings
//! BFD and then BGP back. The time from port down until the router dropped the neighbour is
//! printed. Skips without root or FRR unless `SPEAKERD_INTEROP=require`.
//!
//! The router has configured neighbours. With a listen range (dynamic neighbours) FRR
//! removes n1's neighbour and its BFD session when BGP drops; speakerd then holds its BGP
//! session down until a BFD Up that never comes (seen on FRR 8.4: n1 stays down after its
//! port is back). That needs a bound on speakerd's hold-down (runtime's driver), not a BFD
//! change.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use interop::frr::{Frr, FrrConfig};
use interop::{BfdTimers, Lab, Neighbor, Netns, Peer, speakerd_binary, tail, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

struct Node {
    name: String,
    addr: String,
    log: PathBuf,
}

impl Node {
    fn start(lab: &mut Lab, ns: &Netns, i: u32, addr: &str) -> Node {
        let bin = speakerd_binary().expect("build speakerd");
        let dir = lab.subdir(&format!("speakerd-{}", ns.short)).unwrap();
        let conf = dir.join("speakerd.toml");
        std::fs::write(
            &conf,
            format!(
                "[speaker]\nasn = {}\nrouter_id = \"{addr}\"\n\n\
                 [bfd.profile.fast]\nreceive_interval = 100\ntransmit_interval = 100\ndetect_multiplier = 3\n\n\
                 [[peer]]\nname = \"router\"\naddress = \"192.0.2.1\"\nasn = 64500\nhold_time = 9\nbfd = \"fast\"\n",
                64511 + i
            ),
        )
        .unwrap();
        let log = dir.join("speakerd.log");
        let mut cmd = ns.command(&bin);
        cmd.arg("--config")
            .arg(&conf)
            .env("RUST_LOG", "info,speakerd=debug");
        lab.spawn(&format!("speakerd {}", ns.short), cmd, &log)
            .unwrap();
        Node {
            name: ns.short.clone(),
            addr: addr.to_string(),
            log,
        }
    }

    /// Log lines of the peer "router" containing `what`.
    fn count(&self, what: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("peer=router") && l.contains(what))
            .count()
    }
}

fn bfd_status(router: &Frr, addr: &str) -> interop::Result<Option<String>> {
    let peers = router.bfd_peers_json()?;
    Ok(peers.as_array().and_then(|a| {
        a.iter()
            .find(|p| p["peer"] == addr)
            .and_then(|p| p["status"].as_str())
            .map(str::to_string)
    }))
}

fn established(router: &Frr, addr: &str) -> bool {
    router
        .neighbor_state(addr)
        .is_ok_and(|s| s == "Established")
}

#[test]
fn bfd_failure_takes_the_bgp_session_down_on_both_ends_and_back_up() {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[Peer::Frr]) else {
        return;
    };
    let seg = lab
        .segment(&[
            ("router", &["192.0.2.1/24"]),
            ("n1", &["192.0.2.11/24"]),
            ("n2", &["192.0.2.12/24"]),
            ("n3", &["192.0.2.13/24"]),
        ])
        .unwrap();
    // Configured neighbours, not a listen range: FRR deletes a dynamic neighbour (and with it
    // its BFD session) when the session drops, and then nothing can bring BFD back up while
    // speakerd holds BGP down until BFD is Up (see the module docs).
    let mut router_cfg = FrrConfig::new(64500, "192.0.2.1")
        .with_bfd(BfdTimers::default())
        .maximum_paths(8);
    for (i, a) in ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
        .iter()
        .enumerate()
    {
        router_cfg = router_cfg.neighbor(Neighbor::new(a, 64511 + i as u32).bfd().timers(3, 9));
    }
    let router = Frr::start(&mut lab, &seg.nodes[0].ns, &router_cfg).unwrap();
    let nodes: Vec<Node> = seg.nodes[1..]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let addr = n.addrs[0].to_string();
            Node::start(&mut lab, &n.ns, i as u32, &addr)
        })
        .collect();
    let view = || {
        let mut s = format!(
            "{}\n--- router bfd ---\n{}",
            router.view(),
            router.vtysh("show bfd peers brief").unwrap_or_default()
        );
        for n in &nodes {
            s.push_str(&format!(
                "\n--- speakerd {} log (tail) ---\n{}",
                n.name,
                tail(&n.log, 15)
            ));
        }
        s
    };
    for n in &nodes {
        wait_until(
            DEADLINE,
            &format!("router: BGP with {} Established", n.addr),
            || Ok(established(&router, &n.addr)),
            view,
        );
        wait_until(
            DEADLINE,
            &format!("router: BFD with {} up", n.addr),
            || Ok(bfd_status(&router, &n.addr)?.as_deref() == Some("up")),
            view,
        );
    }
    // Let the sessions settle at the fast rate, then check nothing flapped.
    std::thread::sleep(Duration::from_secs(2));
    for n in &nodes {
        assert_eq!(n.count("held until BFD is up"), 0, "{}", view());
    }

    let n1 = &nodes[0];
    let t0 = Instant::now();
    seg.node("n1").unwrap().port.set_peer_down().unwrap();
    wait_until(
        DEADLINE,
        "router: BGP neighbour 192.0.2.11 dropped after n1's port went down",
        || Ok(!established(&router, "192.0.2.11")),
        view,
    );
    eprintln!(
        "router dropped n1's BGP neighbour {} ms after its port went down (BFD 3 x 100 ms; polled every 100 ms)",
        t0.elapsed().as_millis()
    );
    // speakerd n1 saw the BFD failure and tore its BGP session down for it.
    wait_until(
        DEADLINE,
        "speakerd n1 logs the BFD failure of its session to the router",
        || Ok(n1.count("held until BFD is up") == 1),
        view,
    );
    for n in &nodes[1..] {
        assert!(established(&router, &n.addr), "{}", view());
        assert_eq!(n.count("held until BFD is up"), 0, "{}", view());
    }

    // Repair: BFD up again, then BGP (speakerd held the session down until BFD was Up).
    seg.node("n1").unwrap().port.set_peer_up().unwrap();
    wait_until(
        DEADLINE,
        "router: BFD with n1 up again",
        || Ok(bfd_status(&router, "192.0.2.11")?.as_deref() == Some("up")),
        view,
    );
    wait_until(
        DEADLINE,
        "router: BGP with n1 Established again",
        || Ok(established(&router, "192.0.2.11")),
        view,
    );
    assert_eq!(n1.count("held until BFD is up"), 1, "{}", view());
}
