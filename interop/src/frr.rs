//! FRRouting (bgpd, optionally zebra and bfdd) inside a lab namespace, without systemd.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{
    BfdTimers, Error, Family, Lab, Neighbor, Netns, Result, run, run_stdout, wait_for, write_file,
};

/// Path of FRR's BGP daemon on Debian.
pub const BGPD: &str = "/usr/lib/frr/bgpd";
/// Path of FRR's zebra on Debian.
pub const ZEBRA: &str = "/usr/lib/frr/zebra";
/// Path of FRR's BFD daemon on Debian.
pub const BFDD: &str = "/usr/lib/frr/bfdd";

/// Dynamic neighbours: `bgp listen range <range> peer-group NODES` (the router never dials
/// out to them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenRange {
    /// Accepted source range, e.g. `192.0.2.0/24`.
    pub range: String,
    /// Their AS, or `None` for `remote-as external` (each node its own AS).
    pub remote_as: Option<u32>,
    /// Options applied to the peer group (timers, password, ttl-security, BFD, families);
    /// its `address` and `remote_as` are ignored.
    pub options: Neighbor,
}

/// Configuration of one FRR instance (bgpd.conf is generated from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrConfig {
    /// Local AS.
    pub asn: u32,
    /// BGP identifier.
    pub router_id: String,
    /// Static neighbours.
    pub neighbors: Vec<Neighbor>,
    /// Dynamic neighbours.
    pub listen: Option<ListenRange>,
    /// Prefixes originated with `network` (import check off: need not be in any table).
    pub networks: Vec<String>,
    /// Run zebra (installs routes into the namespace's kernel table). Without it bgpd runs
    /// with `-Z`. Zebra is also started when any session carries IPv6 unicast: bgpd learns
    /// the interface addresses it uses as IPv6 next hops from zebra (without them it
    /// announces nothing usable over IPv6).
    pub zebra: bool,
    /// Run bfdd with a profile `lab` of these timers (implies zebra).
    pub bfd: Option<BfdTimers>,
    /// `maximum-paths` for both families (ECMP).
    pub maximum_paths: Option<u8>,
    /// Extra lines appended inside `router bgp` (before the address families).
    pub extra: Vec<String>,
}

impl FrrConfig {
    /// An instance with no neighbours, no zebra, no BFD.
    pub fn new(asn: u32, router_id: &str) -> FrrConfig {
        FrrConfig {
            asn,
            router_id: router_id.to_string(),
            neighbors: Vec::new(),
            listen: None,
            networks: Vec::new(),
            zebra: false,
            bfd: None,
            maximum_paths: None,
            extra: Vec::new(),
        }
    }

    /// Add a neighbour.
    pub fn neighbor(mut self, n: Neighbor) -> FrrConfig {
        self.neighbors.push(n);
        self
    }

    /// Accept dynamic neighbours from `range` (peer group `NODES`).
    pub fn listen_range(mut self, range: &str, remote_as: Option<u32>, options: Neighbor) -> Self {
        self.listen = Some(ListenRange {
            range: range.to_string(),
            remote_as,
            options,
        });
        self
    }

    /// Originate a prefix.
    pub fn network(mut self, prefix: &str) -> FrrConfig {
        self.networks.push(prefix.to_string());
        self
    }

    /// Run zebra (kernel routes).
    pub fn with_zebra(mut self) -> FrrConfig {
        self.zebra = true;
        self
    }

    /// Run bfdd with these timers (also runs zebra).
    pub fn with_bfd(mut self, timers: BfdTimers) -> FrrConfig {
        self.bfd = Some(timers);
        self.zebra = true;
        self
    }

    /// Set `maximum-paths`.
    pub fn maximum_paths(mut self, n: u8) -> FrrConfig {
        self.maximum_paths = Some(n);
        self
    }

    /// Append a raw line inside `router bgp`.
    pub fn extra(mut self, line: &str) -> FrrConfig {
        self.extra.push(line.to_string());
        self
    }

    fn neighbor_lines(out: &mut String, name: &str, n: &Neighbor) {
        let (k, h) = n.timers;
        let _ = writeln!(out, " neighbor {name} timers {k} {h}");
        let _ = writeln!(out, " neighbor {name} timers connect 1");
        if n.passive {
            let _ = writeln!(out, " neighbor {name} passive");
        }
        if let Some(pw) = &n.password {
            let _ = writeln!(out, " neighbor {name} password {pw}");
        }
        if n.ttl_security {
            let _ = writeln!(out, " neighbor {name} ttl-security hops 1");
        }
        if n.bfd {
            let _ = writeln!(out, " neighbor {name} bfd");
            let _ = writeln!(out, " neighbor {name} bfd profile lab");
        }
        if let Some(la) = n.local_address {
            let _ = writeln!(out, " neighbor {name} update-source {la}");
        }
    }

    /// Whether any neighbour (or the listen range) carries this family.
    pub fn uses(&self, fam: Family) -> bool {
        self.neighbors.iter().any(|n| n.has(fam))
            || self.listen.as_ref().is_some_and(|l| l.options.has(fam))
    }

    /// The generated bgpd.conf (`log` is the log file path).
    pub fn render_bgpd(&self, hostname: &str, log: &str) -> String {
        let mut c = String::new();
        let _ = writeln!(c, "hostname {hostname}\nlog file {log}\n!");
        let _ = writeln!(c, "router bgp {}", self.asn);
        let _ = writeln!(c, " bgp router-id {}", self.router_id);
        c.push_str(" no bgp default ipv4-unicast\n no bgp ebgp-requires-policy\n");
        c.push_str(" no bgp network import-check\n bgp bestpath as-path multipath-relax\n");
        for n in &self.neighbors {
            let _ = writeln!(c, " neighbor {} remote-as {}", n.address, n.remote_as);
            Self::neighbor_lines(&mut c, &n.address.to_string(), n);
        }
        if let Some(l) = &self.listen {
            c.push_str(" neighbor NODES peer-group\n");
            match l.remote_as {
                Some(a) => {
                    let _ = writeln!(c, " neighbor NODES remote-as {a}");
                }
                None => c.push_str(" neighbor NODES remote-as external\n"),
            }
            Self::neighbor_lines(&mut c, "NODES", &l.options);
            let _ = writeln!(c, " bgp listen range {} peer-group NODES", l.range);
        }
        for e in &self.extra {
            let _ = writeln!(c, " {e}");
        }
        for (fam, af) in [
            (Family::Ipv4Unicast, "ipv4 unicast"),
            (Family::Ipv6Unicast, "ipv6 unicast"),
        ] {
            let v6 = fam == Family::Ipv6Unicast;
            let _ = writeln!(c, " !\n address-family {af}");
            for p in self.networks.iter().filter(|p| p.contains(':') == v6) {
                let _ = writeln!(c, "  network {p}");
            }
            for n in self.neighbors.iter().filter(|n| n.has(fam)) {
                let _ = writeln!(c, "  neighbor {} activate", n.address);
            }
            if self.listen.as_ref().is_some_and(|l| l.options.has(fam)) {
                c.push_str("  neighbor NODES activate\n");
            }
            if let Some(m) = self.maximum_paths {
                let _ = writeln!(c, "  maximum-paths {m}");
            }
            c.push_str(" exit-address-family\n");
        }
        c.push_str("!\n");
        c
    }

    /// The generated bfdd.conf, if BFD is on.
    pub fn render_bfdd(&self, log: &str) -> Option<String> {
        let t = self.bfd?;
        Some(format!(
            "log file {log}\n!\nbfd\n profile lab\n  detect-multiplier {}\n  receive-interval {}\n  transmit-interval {}\n !\n!\n",
            t.multiplier, t.rx_ms, t.tx_ms
        ))
    }
}

/// A running FRR instance.
#[derive(Debug)]
pub struct Frr {
    /// Its namespace.
    pub ns: Netns,
    /// Run directory (vty sockets, pid files, zserv.api).
    pub run_dir: PathBuf,
    /// Config and log directory.
    pub dir: PathBuf,
}

impl Frr {
    /// Write the configs and start zebra (if wanted), bfdd (if wanted) and bgpd in `ns`,
    /// each waited for (10 s deadline) before the next.
    pub fn start(lab: &mut Lab, ns: &Netns, cfg: &FrrConfig) -> Result<Frr> {
        let dir = lab.subdir(&format!("frr-{}", ns.short))?;
        let run_dir = dir.join("run");
        std::fs::create_dir_all(&run_dir).map_err(crate::io_err("mkdir frr run dir"))?;
        let d = dir.display();
        write_file(
            &dir.join("bgpd.conf"),
            &cfg.render_bgpd(&ns.short, &format!("{d}/bgpd.log")),
        )?;
        let zebra = cfg.zebra || cfg.bfd.is_some() || cfg.uses(Family::Ipv6Unicast);
        if zebra {
            write_file(
                &dir.join("zebra.conf"),
                &format!("hostname {}\nlog file {d}/zebra.log\n", ns.short),
            )?;
        }
        if let Some(b) = cfg.render_bfdd(&format!("{d}/bfdd.log")) {
            write_file(&dir.join("bfdd.conf"), &b)?;
        }
        run(Command::new("chown").args(["-R", "frr:frr"]).arg(&dir))?;
        let r = run_dir.display().to_string();
        let common = |daemon: &str| -> Command {
            let mut c = ns.command(format!("/usr/lib/frr/{daemon}"));
            c.args([
                "-d",
                "-u",
                "frr",
                "-g",
                "frr",
                "-P",
                "0",
                "--vty_socket",
                &r,
            ]);
            c.args(["-z", &format!("{r}/zserv.api")]);
            c.args(["-i", &format!("{r}/{daemon}.pid")]);
            c.args(["-f", &format!("{d}/{daemon}.conf")]);
            c
        };
        let wait = Duration::from_secs(10);
        if zebra {
            run(&mut common("zebra"))?;
            let sock = run_dir.join("zserv.api");
            wait_for(wait, "zebra's zserv.api", || sock.exists())?;
        }
        if cfg.bfd.is_some() {
            run(common("bfdd").args(["--bfdctl", &format!("{r}/bfdd.sock")]))?;
            let sock = run_dir.join("bfdd.vty");
            wait_for(wait, "bfdd's vty socket", || sock.exists())?;
        }
        let mut bgpd = common("bgpd");
        if !zebra {
            bgpd.arg("-Z");
        }
        run(&mut bgpd)?;
        let sock = run_dir.join("bgpd.vty");
        wait_for(wait, "bgpd's vty socket", || sock.exists())?;
        Ok(Frr {
            ns: ns.clone(),
            run_dir,
            dir,
        })
    }

    /// Run one vtysh command and return its output.
    pub fn vtysh(&self, cmd: &str) -> Result<String> {
        self.vtysh_many(&[cmd])
    }

    /// Run several vtysh commands in one vtysh invocation (e.g. a `configure terminal`
    /// sequence) and return the output.
    pub fn vtysh_many(&self, cmds: &[&str]) -> Result<String> {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket").arg(&self.run_dir);
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        run_stdout(&mut c)
    }

    /// Apply configuration lines under `router bgp <asn>` (e.g. `neighbor X shutdown`).
    pub fn configure_bgp(&self, asn: u32, lines: &[&str]) -> Result<String> {
        let head = format!("router bgp {asn}");
        let mut cmds = vec!["configure terminal", head.as_str()];
        cmds.extend_from_slice(lines);
        self.vtysh_many(&cmds)
    }

    fn json(&self, cmd: &str) -> Result<serde_json::Value> {
        let s = self.vtysh(cmd)?;
        serde_json::from_str(&s).map_err(|e| Error::Parse {
            cmd: cmd.to_string(),
            detail: format!("{e}: {s}"),
        })
    }

    /// `show bgp summary json` (per family: `ipv4Unicast`, `ipv6Unicast`, each with `peers`).
    pub fn bgp_summary_json(&self) -> Result<serde_json::Value> {
        self.json("show bgp summary json")
    }

    /// `show bfd peers json`.
    pub fn bfd_peers_json(&self) -> Result<serde_json::Value> {
        self.json("show bfd peers json")
    }

    /// The FSM state FRR reports for a neighbour (`Established`, `Active`, ...), from
    /// `show bgp neighbors <addr> json`.
    pub fn neighbor_state(&self, addr: &str) -> Result<String> {
        let cmd = format!("show bgp neighbors {addr} json");
        let v = self.json(&cmd)?;
        v.get(addr)
            .and_then(|n| n.get("bgpState"))
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Parse {
                cmd,
                detail: format!("no bgpState for {addr} in {v}"),
            })
    }

    /// A compact view for failure messages: `show bgp summary` plus the end of bgpd.log.
    pub fn view(&self) -> String {
        format!(
            "FRR {}:\n{}\n--- bgpd.log (tail) ---\n{}",
            self.ns.name,
            self.vtysh("show bgp summary")
                .unwrap_or_else(|e| format!("(vtysh failed: {e})")),
            crate::tail(&self.dir.join("bgpd.log"), 20)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgpd_conf_has_neighbor_options_listen_range_and_families() {
        let cfg = FrrConfig::new(64500, "192.0.2.1")
            .neighbor(
                Neighbor::new("192.0.2.2", 64501)
                    .password("s3cret")
                    .ttl_security()
                    .passive()
                    .local_address("192.0.2.1"),
            )
            .neighbor(Neighbor::new("2001:db8::2", 64501))
            .listen_range("198.51.100.0/24", None, Neighbor::template().bfd())
            .with_bfd(BfdTimers::default())
            .maximum_paths(8)
            .network("203.0.113.0/24")
            .network("2001:db8:100::/48");
        let c = cfg.render_bgpd("r", "/x/bgpd.log");
        for line in [
            "router bgp 64500",
            " neighbor 192.0.2.2 remote-as 64501",
            " neighbor 192.0.2.2 password s3cret",
            " neighbor 192.0.2.2 ttl-security hops 1",
            " neighbor 192.0.2.2 passive",
            " neighbor 192.0.2.2 update-source 192.0.2.1",
            " neighbor NODES remote-as external",
            " neighbor NODES bfd profile lab",
            " bgp listen range 198.51.100.0/24 peer-group NODES",
            "  network 203.0.113.0/24",
            "  network 2001:db8:100::/48",
            "  neighbor 2001:db8::2 activate",
            "  maximum-paths 8",
        ] {
            assert!(c.lines().any(|l| l == line), "missing {line:?} in\n{c}");
        }
        // Each neighbour is activated only in its own family.
        let v4 = &c[c.find("address-family ipv4").unwrap()..c.find("address-family ipv6").unwrap()];
        assert!(v4.contains("neighbor 192.0.2.2 activate"));
        assert!(!v4.contains("2001:db8::2 activate") && !v4.contains("2001:db8:100::"));
        assert!(cfg.uses(Family::Ipv6Unicast));
        let bfd = cfg.render_bfdd("/x/bfdd.log").unwrap();
        assert!(bfd.contains("detect-multiplier 3") && bfd.contains("receive-interval 100"));
        assert!(FrrConfig::new(1, "192.0.2.1").render_bfdd("l").is_none());
    }
}
