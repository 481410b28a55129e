//! Proves the lab harness: real peers reach Established with each other inside a lab, and
//! dropping the lab removes its namespaces and processes. Skips (prints why) when not root
//! or a peer binary is missing, unless `SPEAKERD_INTEROP=require`.

use std::time::Duration;

use interop::bird::{Bird, BirdConfig};
use interop::exabgp::{Exabgp, ExabgpConfig};
use interop::frr::{Frr, FrrConfig};
use interop::gobgp::{Gobgp, GobgpConfig};
use interop::{Family, Lab, Neighbor, Peer, netns_exists, wait_until};

const DEADLINE: Duration = Duration::from_secs(15);

#[test]
fn frr_and_bird_reach_established_and_lab_cleans_up() {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[Peer::Frr, Peer::Bird]) else {
        return;
    };
    let seg = lab
        .segment(&[
            ("frr", &["192.0.2.1/24", "2001:db8::1/64"]),
            ("bird", &["192.0.2.2/24", "2001:db8::2/64"]),
        ])
        .unwrap();
    let frr_cfg = FrrConfig::new(64500, "192.0.2.1")
        .neighbor(Neighbor::new("192.0.2.2", 64501))
        .network("203.0.113.0/24");
    let bird_cfg = BirdConfig::new(64501, "192.0.2.2")
        .neighbor(Neighbor::new("192.0.2.1", 64500).local_address("192.0.2.2"))
        .network("198.51.100.0/24");
    let frr = Frr::start(&mut lab, &seg.nodes[0].ns, &frr_cfg).unwrap();
    let bird = Bird::start(&mut lab, &seg.nodes[1].ns, &bird_cfg).unwrap();
    let view = || format!("{}\n\n{}", frr.view(), bird.view());

    // Both sides' own views.
    wait_until(
        DEADLINE,
        "FRR: neighbor 192.0.2.2 Established",
        || Ok(frr.neighbor_state("192.0.2.2")? == "Established"),
        view,
    );
    wait_until(
        DEADLINE,
        "BIRD: protocol to 192.0.2.1 Established",
        || bird.established("192.0.2.1"),
        view,
    );
    // Routes went both ways: FRR received BIRD's prefix, BIRD received FRR's.
    wait_until(
        DEADLINE,
        "FRR summary: 1 prefix received from BIRD",
        || {
            let s = frr.bgp_summary_json()?;
            Ok(s["ipv4Unicast"]["peers"]["192.0.2.2"]["pfxRcd"].as_u64() == Some(1))
        },
        view,
    );
    wait_until(
        DEADLINE,
        "BIRD: route 203.0.113.0/24 from FRR",
        || {
            Ok(bird
                .birdc("show route 203.0.113.0/24")?
                .contains("203.0.113.0/24"))
        },
        view,
    );

    let names: Vec<String> = lab.namespaces().to_vec();
    assert_eq!(names.len(), 3, "sw, frr, bird: {names:?}");
    assert!(names.iter().all(|n| netns_exists(n)));
    let bird_dir = bird.dir.clone();
    drop(lab);
    for n in &names {
        assert!(!netns_exists(n), "namespace {n} still exists after drop");
    }
    assert!(!bird_dir.exists(), "lab directory still exists after drop");
}

#[test]
fn gobgp_and_exabgp_reach_established_with_frr() {
    let Some(mut lab) = Lab::skip_unless_ready() else {
        return;
    };
    let seg = lab
        .segment(&[
            ("r", &["198.51.100.1/24"]),
            ("gobgp", &["198.51.100.3/24"]),
            ("exa", &["198.51.100.4/24"]),
        ])
        .unwrap();
    let both = [Family::Ipv4Unicast];
    let frr_cfg = FrrConfig::new(64500, "198.51.100.1")
        .neighbor(Neighbor::new("198.51.100.3", 4_200_000_003).families(&both))
        .neighbor(Neighbor::new("198.51.100.4", 64504).passive());
    let gobgp_cfg = GobgpConfig::new(4_200_000_003, "198.51.100.3")
        .neighbor(Neighbor::new("198.51.100.1", 64500).passive())
        .network("203.0.113.128/25");
    let exa_cfg = ExabgpConfig::new(64504, "198.51.100.4")
        .neighbor(Neighbor::new("198.51.100.1", 64500).local_address("198.51.100.4"))
        .network("203.0.113.64/26");
    let frr = Frr::start(&mut lab, &seg.nodes[0].ns, &frr_cfg).unwrap();
    let gobgp = Gobgp::start(&mut lab, &seg.nodes[1].ns, &gobgp_cfg).unwrap();
    let exa = Exabgp::start(&mut lab, &seg.nodes[2].ns, &exa_cfg).unwrap();
    let view = || format!("{}\n\n{}\n\n{}", frr.view(), gobgp.view(), exa.view());

    wait_until(
        DEADLINE,
        "GoBGP: neighbor 198.51.100.1 established",
        || Ok(gobgp.neighbor_state("198.51.100.1")? == "established"),
        view,
    );
    for (addr, prefix) in [
        ("198.51.100.3", "203.0.113.128/25"),
        ("198.51.100.4", "203.0.113.64/26"),
    ] {
        wait_until(
            DEADLINE,
            &format!("FRR: neighbor {addr} Established with {prefix} received"),
            || {
                Ok(frr.neighbor_state(addr)? == "Established"
                    && frr
                        .vtysh(&format!("show bgp ipv4 unicast {prefix} json"))?
                        .contains(addr))
            },
            view,
        );
    }
}

/// The ECMP demo topology of interop-lab.md with BIRD standing in for the nodes: FRR
/// (zebra + bfdd + bgpd, dynamic neighbours, BFD 3 x 100 ms) installs one route with three
/// next hops; a node's bridge port going down removes its next hop (noticed only by BFD).
#[test]
fn ecmp_topology_with_bfd_drops_a_failed_node() {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[Peer::Frr, Peer::Bird]) else {
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
    let router_cfg = FrrConfig::new(64500, "192.0.2.1")
        .with_bfd(interop::BfdTimers::default())
        .maximum_paths(8)
        .listen_range("192.0.2.0/24", None, Neighbor::template().bfd());
    let router = Frr::start(&mut lab, &seg.nodes[0].ns, &router_cfg).unwrap();
    let mut nodes = Vec::new();
    for (i, node) in seg.nodes[1..].iter().enumerate() {
        let addr = node.addrs[0].to_string();
        let cfg = BirdConfig::new(64511 + i as u32, &addr)
            .neighbor(Neighbor::new("192.0.2.1", 64500).local_address(&addr).bfd())
            .network("203.0.113.100/32");
        nodes.push(Bird::start(&mut lab, &node.ns, &cfg).unwrap());
    }
    let router_ns = seg.nodes[0].ns.clone();
    let nexthops = || -> interop::Result<Vec<String>> {
        let mut v: Vec<String> = router_ns
            .route_nexthops("203.0.113.100/32")?
            .iter()
            .map(|a| a.to_string())
            .collect();
        v.sort();
        Ok(v)
    };
    let view = || {
        format!(
            "{}\n--- kernel route ---\n{}\n--- bfd ---\n{}",
            router.view(),
            router_ns.route_show("203.0.113.100/32").unwrap_or_default(),
            router.vtysh("show bfd peers brief").unwrap_or_default()
        )
    };
    wait_until(
        DEADLINE,
        "router kernel route 203.0.113.100/32 with 3 next hops",
        || Ok(nexthops()? == ["192.0.2.11", "192.0.2.12", "192.0.2.13"]),
        view,
    );
    wait_until(
        DEADLINE,
        "BFD up with all three nodes",
        || {
            let peers = router.bfd_peers_json()?;
            let up = peers
                .as_array()
                .map(|a| a.iter().filter(|p| p["status"] == "up").count())
                .unwrap_or(0);
            Ok(up == 3)
        },
        view,
    );
    seg.node("n1").unwrap().port.set_peer_down().unwrap();
    wait_until(
        DEADLINE,
        "n1's next hop removed after its port went down",
        || Ok(nexthops()? == ["192.0.2.12", "192.0.2.13"]),
        view,
    );
    // The router's own link stayed up: only BFD (or BGP) could notice.
    let link = router_ns.ip(&["link", "show", "eth0"]).unwrap();
    assert!(link.contains("state UP"), "router eth0: {link}");
}

/// The session options the generators share, each against FRR: TCP-MD5 + GTSM with GoBGP
/// and BIRD, MD5 + passive with a listening ExaBGP, and an IPv6 session with BIRD.
#[test]
fn md5_gtsm_passive_and_ipv6_sessions_establish() {
    let Some(mut lab) = Lab::skip_unless_ready() else {
        return;
    };
    let seg = lab
        .segment(&[
            ("r", &["203.0.113.1/24", "2001:db8:1::1/64"]),
            ("gobgp", &["203.0.113.3/24"]),
            ("bird", &["203.0.113.2/24", "2001:db8:1::2/64"]),
            ("exa", &["203.0.113.4/24"]),
        ])
        .unwrap();
    let v6 = [Family::Ipv6Unicast];
    let frr_cfg = FrrConfig::new(64500, "203.0.113.1")
        .neighbor(
            Neighbor::new("203.0.113.3", 64503)
                .password("s3cret")
                .ttl_security(),
        )
        .neighbor(
            Neighbor::new("203.0.113.2", 64502)
                .password("b1rd")
                .ttl_security(),
        )
        .neighbor(Neighbor::new("2001:db8:1::2", 64502).families(&v6))
        .neighbor(Neighbor::new("203.0.113.4", 64504).password("exa"))
        .network("2001:db8:100::/48");
    let gobgp_cfg = GobgpConfig::new(64503, "203.0.113.3").neighbor(
        Neighbor::new("203.0.113.1", 64500)
            .password("s3cret")
            .ttl_security(),
    );
    let bird_cfg = BirdConfig::new(64502, "203.0.113.2")
        .neighbor(
            Neighbor::new("203.0.113.1", 64500)
                .password("b1rd")
                .ttl_security(),
        )
        .neighbor(Neighbor::new("2001:db8:1::1", 64500).local_address("2001:db8:1::2"))
        .network("2001:db8:200::/48");
    let exa_cfg = ExabgpConfig::new(64504, "203.0.113.4")
        .listen("203.0.113.4")
        .neighbor(
            Neighbor::new("203.0.113.1", 64500)
                .local_address("203.0.113.4")
                .password("exa")
                .passive(),
        );
    let frr = Frr::start(&mut lab, &seg.nodes[0].ns, &frr_cfg).unwrap();
    let gobgp = Gobgp::start(&mut lab, &seg.nodes[1].ns, &gobgp_cfg).unwrap();
    let bird = Bird::start(&mut lab, &seg.nodes[2].ns, &bird_cfg).unwrap();
    let exa = Exabgp::start(&mut lab, &seg.nodes[3].ns, &exa_cfg).unwrap();
    let view = || {
        format!(
            "{}\n\n{}\n\n{}\n\n{}",
            frr.view(),
            gobgp.view(),
            bird.view(),
            exa.view()
        )
    };
    for addr in ["203.0.113.3", "203.0.113.2", "2001:db8:1::2", "203.0.113.4"] {
        wait_until(
            DEADLINE,
            &format!("FRR: neighbor {addr} Established"),
            || Ok(frr.neighbor_state(addr)? == "Established"),
            view,
        );
    }
    wait_until(
        DEADLINE,
        "IPv6 prefixes exchanged with BIRD",
        || {
            Ok(bird
                .birdc("show route 2001:db8:100::/48")?
                .contains("2001:db8:100::/48")
                && frr
                    .vtysh("show bgp ipv6 unicast 2001:db8:200::/48 json")?
                    .contains("2001:db8:1::2"))
        },
        view,
    );
    // The ExaBGP session is passive on ExaBGP's side: FRR must have dialled.
    let n = frr.vtysh("show bgp neighbors 203.0.113.4 json").unwrap();
    let v: serde_json::Value = serde_json::from_str(&n).unwrap();
    assert_eq!(
        v["203.0.113.4"]["portForeign"].as_u64(),
        Some(179),
        "FRR connected to ExaBGP's port 179: {n}"
    );
}
