//! speakerd's `[[announce]]` routes on FRR's and BIRD's own RIBs: communities, large and
//! extended communities, MED, AS_PATH prepends, LOCAL_PREF over iBGP (BIRD), an IPv6 prefix
//! over the IPv4 session (MP-BGP, FRR) and over an IPv6 session (FRR), per-peer selection, a
//! resend on FRR's ROUTE-REFRESH, and the withdrawal when speakerd stops (SIGTERM: Cease, the
//! peers drop its routes). A withdraw through the library with the sessions up is in
//! announce_withdraw.rs.
//! Skips (prints why) when not root or FRR/BIRD are missing, unless `SPEAKERD_INTEROP=require`.

use std::time::Duration;

use interop::bird::{Bird, BirdConfig};
use interop::frr::{Frr, FrrConfig};
use interop::{Family, Lab, Neighbor, Peer, signal, speakerd_binary, tail, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

const CONFIG: &str = r#"
[speaker]
asn = 64511
router_id = "192.0.2.11"
listen = ["192.0.2.11:179"]
[[peer]]
name = "frr"
address = "192.0.2.1"
asn = 64500
families = ["ipv4-unicast", "ipv6-unicast"]
[[peer]]
name = "frr6"
address = "2001:db8::1"
asn = 64500
families = ["ipv6-unicast"]
[[peer]]
name = "bird"
address = "192.0.2.2"
asn = 64511
[[announce]]
prefix = "203.0.113.100/32"
communities = ["64511:100", "large:64511:1:2", "rt:64511:7"]
med = 10
local_pref = 250
as_path_prepend = 1
peers = ["frr"]
[[announce]]
# To the iBGP peer: no prepend (our own AS in the path would be a loop to BIRD).
prefix = "203.0.113.101/32"
communities = ["64511:101", "large:64511:3:4", "soo:192.0.2.11:9"]
med = 11
local_pref = 250
peers = ["bird"]
[[announce]]
prefix = "2001:db8:100::/48"
communities = ["64511:600"]
peers = ["frr"]
[[announce]]
# Over the IPv6 session: next hop self is speakerd's address on it.
prefix = "2001:db8:200::/48"
large_communities = ["64511:6:6"]
med = 66
peers = ["frr6"]
"#;

#[test]
fn attributes_on_frr_and_bird_and_withdraw_on_stop() {
    let Some(mut lab) = Lab::skip_unless_ready_for(&[Peer::Frr, Peer::Bird]) else {
        return;
    };
    let seg = lab
        .segment(&[
            ("sd", &["192.0.2.11/24", "2001:db8::11/64"]),
            ("frr", &["192.0.2.1/24", "2001:db8::1/64"]),
            ("bird", &["192.0.2.2/24"]),
        ])
        .unwrap();
    let (sd_ns, frr_ns, bird_ns) = (
        seg.nodes[0].ns.clone(),
        seg.nodes[1].ns.clone(),
        seg.nodes[2].ns.clone(),
    );
    let frr_cfg = FrrConfig::new(64500, "192.0.2.1")
        .neighbor(
            Neighbor::new("192.0.2.11", 64511)
                .passive()
                .families(&[Family::Ipv4Unicast, Family::Ipv6Unicast]),
        )
        .neighbor(
            Neighbor::new("2001:db8::11", 64511)
                .passive()
                .families(&[Family::Ipv6Unicast]),
        );
    // iBGP with BIRD: LOCAL_PREF is sent. BIRD resolves iBGP next hops recursively: the
    // direct protocol puts the shared subnet in its table (nothing goes to the kernel).
    let bird_cfg = BirdConfig::new(64511, "192.0.2.2")
        .neighbor(
            Neighbor::new("192.0.2.11", 64511)
                .local_address("192.0.2.2")
                .passive(),
        )
        .extra("protocol direct { ipv4; interface \"*\"; }");
    let frr = Frr::start(&mut lab, &frr_ns, &frr_cfg).unwrap();
    let bird = Bird::start(&mut lab, &bird_ns, &bird_cfg).unwrap();

    let bin = speakerd_binary().expect("build speakerd");
    let dir = lab.subdir("speakerd").unwrap();
    let conf = dir.join("speakerd.toml");
    std::fs::write(&conf, CONFIG).unwrap();
    let log = dir.join("speakerd.log");
    let mut cmd = sd_ns.command(&bin);
    cmd.arg("--config").arg(&conf).env("RUST_LOG", "info");
    let pid = lab.spawn("speakerd", cmd, &log).unwrap();
    let view = || {
        format!(
            "{}\n\n{}\n{}\n--- speakerd.log ---\n{}",
            frr.view(),
            bird.view(),
            bird.birdc("show route all").unwrap_or_default(),
            tail(&log, 30)
        )
    };

    // FRR: the IPv4 route with every attribute.
    let v4 = "show bgp ipv4 unicast 203.0.113.100/32 json";
    wait_until(
        DEADLINE,
        "FRR holds 203.0.113.100/32",
        || Ok(frr.vtysh(v4)?.contains("\"paths\"")),
        view,
    );
    let j: serde_json::Value = serde_json::from_str(&frr.vtysh(v4).unwrap()).unwrap();
    let path = &j["paths"][0];
    assert_eq!(path["aspath"]["string"], "64511 64511", "{j:#}");
    assert_eq!(path["metric"], 10, "{j:#}");
    assert_eq!(path["community"]["string"], "64511:100", "{j:#}");
    assert_eq!(path["largeCommunity"]["string"], "64511:1:2", "{j:#}");
    assert_eq!(path["extendedCommunity"]["string"], "RT:64511:7", "{j:#}");
    assert_eq!(path["nexthops"][0]["ip"], "192.0.2.11", "{j:#}");
    // RFC 4271 §5.1.5: no LOCAL_PREF over eBGP (FRR shows its default 100 then).
    assert_ne!(path["locPrf"], 250, "{j:#}");

    // FRR: the IPv6 prefix over the IPv4 session (MP-BGP), next hop ::ffff:192.0.2.11.
    let v6 = "show bgp ipv6 unicast 2001:db8:100::/48 json";
    wait_until(
        DEADLINE,
        "FRR holds 2001:db8:100::/48",
        || Ok(frr.vtysh(v6)?.contains("\"paths\"")),
        view,
    );
    let j: serde_json::Value = serde_json::from_str(&frr.vtysh(v6).unwrap()).unwrap();
    assert_eq!(j["paths"][0]["community"]["string"], "64511:600", "{j:#}");
    // FRR prints the IPv4-mapped address in hex groups.
    assert_eq!(
        j["paths"][0]["nexthops"][0]["ip"], "::ffff:c000:20b",
        "{j:#}"
    );

    // Route refresh (RFC 2918): FRR asks again (`soft in`), speakerd resends its view.
    let updates_in = |frr: &Frr| -> Result<u64, interop::Error> {
        let t = frr.vtysh("show bgp neighbors 192.0.2.11 json")?;
        let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
        Ok(v["192.0.2.11"]["messageStats"]["updatesRecv"]
            .as_u64()
            .unwrap_or(0))
    };
    let before = updates_in(&frr).unwrap();
    frr.vtysh("clear bgp ipv4 unicast 192.0.2.11 soft in")
        .unwrap();
    wait_until(
        DEADLINE,
        "speakerd resent its routes after FRR's ROUTE-REFRESH",
        || Ok(updates_in(&frr)? > before),
        || {
            format!(
                "{}\n{}",
                frr.vtysh("show bgp neighbors 192.0.2.11 json")
                    .unwrap_or_default(),
                view()
            )
        },
    );
    assert!(frr.vtysh(v4).unwrap().contains("\"paths\""));

    // FRR does not get the BIRD-only route.
    assert!(
        !frr.vtysh("show bgp ipv4 unicast 203.0.113.101/32 json")
            .unwrap()
            .contains("\"paths\"")
    );

    // FRR: the IPv6 prefix over the IPv6 session, next hop speakerd's global address there.
    let v6s = "show bgp ipv6 unicast 2001:db8:200::/48 json";
    wait_until(
        DEADLINE,
        "FRR holds 2001:db8:200::/48 (IPv6 session)",
        || Ok(frr.vtysh(v6s)?.contains("\"paths\"")),
        view,
    );
    let j: serde_json::Value = serde_json::from_str(&frr.vtysh(v6s).unwrap()).unwrap();
    let path = &j["paths"][0];
    assert_eq!(path["peer"]["peerId"], "2001:db8::11", "{j:#}");
    assert_eq!(path["nexthops"][0]["ip"], "2001:db8::11", "{j:#}");
    assert_eq!(path["metric"], 66, "{j:#}");
    assert_eq!(path["largeCommunity"]["string"], "64511:6:6", "{j:#}");

    // BIRD (iBGP): LOCAL_PREF 250, communities, only its own route.
    let show = "show route all 203.0.113.101/32";
    wait_until(
        DEADLINE,
        "BIRD holds 203.0.113.101/32",
        || Ok(bird.birdc(show)?.contains("BGP.local_pref")),
        view,
    );
    let b = bird.birdc(show).unwrap();
    for want in [
        "BGP.local_pref: 250",
        "BGP.med: 11",
        "BGP.next_hop: 192.0.2.11",
        "BGP.community: (64511,101)",
        "BGP.large_community: (64511, 3, 4)",
        "BGP.ext_community: (ro, 192.0.2.11, 9)",
    ] {
        assert!(b.contains(want), "BIRD lacks {want:?}:\n{b}");
    }
    // RFC 4271 §5.1.2: a locally originated route goes to an internal peer with an empty AS_PATH.
    let as_path = b
        .lines()
        .find(|l| l.trim_start().starts_with("BGP.as_path:"))
        .map(str::trim);
    assert_eq!(as_path, Some("BGP.as_path:"), "{b}");
    assert!(
        bird.birdc("show route 203.0.113.100/32")
            .is_err_and(|e| e.to_string().contains("Network not found")),
        "BIRD got the FRR-only route"
    );

    // Withdraw: speakerd stops (Cease); both peers drop its routes.
    signal(&[pid], "TERM");
    wait_until(
        DEADLINE,
        "FRR withdrew 203.0.113.100/32",
        || Ok(!frr.vtysh(v4)?.contains("\"paths\"")),
        view,
    );
    wait_until(
        DEADLINE,
        "BIRD withdrew 203.0.113.101/32",
        || match bird.birdc(show) {
            Ok(t) => Ok(!t.contains("BGP.local_pref")),
            Err(e) => Ok(e.to_string().contains("Network not found")),
        },
        view,
    );
}
