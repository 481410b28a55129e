//! The command line (clap), and the route file format of `announce -f` / `set -f`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use speakerd::api::convert::{parse_community, parse_prefix};
use speakerd::api::proto::{DEFAULT_SOCKET, RouteSpec};

/// Control a running speakerd through its local API, and decode BGP/BFD messages.
#[derive(Parser, Debug)]
#[command(
    name = "speakerctl",
    version,
    about = "Control a running speakerd through its local API; decode BGP and BFD messages",
    after_help = "Examples:\n  speakerctl peers\n  speakerctl announce 203.0.113.10/32 --community 64511:100\n  speakerctl announce -f routes.txt\n  speakerctl withdraw 203.0.113.10/32\n  speakerctl routes --received --peer tor1\n  speakerctl watch\n  speakerctl decode -f capture.pcap"
)]
pub struct Cli {
    /// The API socket of speakerd (`[api] socket` in its configuration).
    #[arg(long, global = true, value_name = "PATH", env = "SPEAKERD_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print the daemon's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Announce routes (one or more prefixes, or a file of routes with -f).
    Announce(AnnounceArgs),
    /// Withdraw prefixes (arguments, or one per line from a file with -f).
    Withdraw(WithdrawArgs),
    /// Replace every route announced through the API with the routes of a file.
    Set(SetArgs),
    /// Show the desired routes, what each peer was sent and (--received) what peers sent.
    Routes(RoutesArgs),
    /// Show every peer: state, uptime, prefixes, BFD.
    Peers,
    /// Stream events: session and BFD state changes, received UPDATEs.
    Watch,
    /// Reload speakerd's configuration file.
    Reload,
    /// Show speakerctl's and speakerd's versions.
    Version,
    /// Decode BGP messages / BFD packets from hex or a pcap file, as JSON lines.
    Decode(DecodeArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// ORIGIN values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginArg {
    /// IGP.
    Igp,
    /// EGP.
    Egp,
    /// INCOMPLETE.
    Incomplete,
}

fn community_arg(s: &str) -> Result<String, String> {
    parse_community(s).map(|_| s.to_string())
}

fn large_community_arg(s: &str) -> Result<String, String> {
    speakerd::api::convert::parse_large_community(s).map(|_| s.to_string())
}

fn prefix_arg(s: &str) -> Result<String, String> {
    parse_prefix(s).map(|p| p.to_string())
}

/// Attributes of announced routes.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteOpts {
    /// A community: 64511:100, no-export, large:64511:1:2, rt:64511:100 ... (repeatable).
    #[arg(long = "community", value_name = "COMMUNITY", value_parser = community_arg)]
    pub communities: Vec<String>,
    /// A large community: 64511:1:2 (repeatable).
    #[arg(long = "large-community", value_name = "A:B:C", value_parser = large_community_arg)]
    pub large_communities: Vec<String>,
    /// LOCAL_PREF (sent to iBGP peers; default 100).
    #[arg(long, value_name = "N")]
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    #[arg(long, value_name = "N")]
    pub med: Option<u32>,
    /// Next hop (default: our address on each session).
    #[arg(long, value_name = "IP")]
    pub next_hop: Option<IpAddr>,
    /// ORIGIN (default igp).
    #[arg(long, value_enum)]
    pub origin: Option<OriginArg>,
    /// Extra copies of our AS in front of the AS_PATH.
    #[arg(long, value_name = "N")]
    pub prepend: Option<u8>,
    /// Only this peer gets the route (repeatable; default every peer).
    #[arg(long = "peer", value_name = "NAME")]
    pub peers: Vec<String>,
}

impl RouteOpts {
    /// The route for `prefix` with these attributes.
    pub fn route(&self, prefix: &str) -> RouteSpec {
        RouteSpec {
            prefix: prefix.to_string(),
            next_hop: self.next_hop.map(|a| a.to_string()),
            origin: self.origin.map(|o| {
                match o {
                    OriginArg::Igp => "igp",
                    OriginArg::Egp => "egp",
                    OriginArg::Incomplete => "incomplete",
                }
                .to_string()
            }),
            communities: self.communities.clone(),
            large_communities: self.large_communities.clone(),
            local_pref: self.local_pref,
            med: self.med,
            as_path_prepend: self.prepend,
            peers: self.peers.clone(),
        }
    }

    /// `self` with the unset fields taken from `defaults`.
    pub fn or(&self, defaults: &RouteOpts) -> RouteOpts {
        fn list(a: &[String], b: &[String]) -> Vec<String> {
            if a.is_empty() { b.to_vec() } else { a.to_vec() }
        }
        RouteOpts {
            communities: list(&self.communities, &defaults.communities),
            large_communities: list(&self.large_communities, &defaults.large_communities),
            local_pref: self.local_pref.or(defaults.local_pref),
            med: self.med.or(defaults.med),
            next_hop: self.next_hop.or(defaults.next_hop),
            origin: self.origin.or(defaults.origin),
            prepend: self.prepend.or(defaults.prepend),
            peers: list(&self.peers, &defaults.peers),
        }
    }
}

/// `speakerctl announce`.
#[derive(Args, Debug)]
pub struct AnnounceArgs {
    /// Prefixes: 203.0.113.10/32, 2001:db8::/48; a bare address is a host route.
    #[arg(value_name = "PREFIX", value_parser = prefix_arg, required_unless_present = "file", conflicts_with = "file")]
    pub prefixes: Vec<String>,
    /// Read routes from FILE ("-" for stdin): one per line, `PREFIX [options]` or a JSON
    /// object; the options given here are defaults for every line.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// Attributes.
    #[command(flatten)]
    pub opts: RouteOpts,
}

/// `speakerctl withdraw`.
#[derive(Args, Debug)]
pub struct WithdrawArgs {
    /// Prefixes to withdraw.
    #[arg(value_name = "PREFIX", value_parser = prefix_arg, required_unless_present = "file", conflicts_with = "file")]
    pub prefixes: Vec<String>,
    /// Read prefixes from FILE ("-" for stdin): the first word of each line (route files work).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
}

/// `speakerctl set`.
#[derive(Args, Debug)]
pub struct SetArgs {
    /// The new set of routes, in the format of `announce -f` ("-" for stdin; an empty file
    /// withdraws everything announced through the API).
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true)]
    pub file: String,
    /// Default attributes for every line.
    #[command(flatten)]
    pub opts: RouteOpts,
}

/// `speakerctl routes`.
#[derive(Args, Debug)]
pub struct RoutesArgs {
    /// Also show what peers with keep_received = true sent us.
    #[arg(long)]
    pub received: bool,
    /// Only this peer (name or address).
    #[arg(long, value_name = "NAME")]
    pub peer: Option<String>,
}

/// `speakerctl decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Hex of one or more BGP messages, or of one BFD packet (spaces allowed).
    #[arg(
        value_name = "HEX",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub hex: Vec<String>,
    /// A file ("-" for stdin): a pcap capture (detected by its magic number) or hex text
    /// (`#` comments; a `# ctx: ...` line sets the context, as in bgp-wire's golden files).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// Decode context, comma separated: as4 (default), as2, addpath-ipv4, addpath-ipv6,
    /// extmsg. In a pcap, a connection whose two OPENs were captured uses what they
    /// negotiated unless this is given.
    #[arg(long, value_delimiter = ',', value_name = "TOKENS")]
    pub ctx: Vec<String>,
    /// In a pcap, the TCP port BGP runs on.
    #[arg(long, value_name = "PORT", default_value_t = 179)]
    pub bgp_port: u16,
    /// The hex is a BFD packet (default: BGP when it starts with the 16-byte marker).
    #[arg(long)]
    pub bfd: bool,
    /// Pretty-print each object over several lines.
    #[arg(long)]
    pub pretty: bool,
}

/// One text line of a route file: `PREFIX [--option VALUE | --option=VALUE]...` with the
/// options of `announce`. Parsed by hand (a clap parse per line is too slow for 100k lines),
/// with the same value checks.
fn parse_route_line(line: &str) -> Result<(String, RouteOpts), String> {
    let mut it = line.split_whitespace();
    let prefix = prefix_arg(it.next().unwrap_or(""))?;
    let mut o = RouteOpts::default();
    while let Some(tok) = it.next() {
        let (name, inline) = match tok.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (tok, None),
        };
        let mut value = || -> Result<&str, String> {
            inline
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |v: &str, what: &str| -> Result<u32, String> {
            v.parse()
                .map_err(|_| format!("invalid value {v:?} for {what}: a number 0..4294967295"))
        };
        match name {
            "--community" => o.communities.push(community_arg(value()?)?),
            "--large-community" => o.large_communities.push(large_community_arg(value()?)?),
            "--local-pref" => o.local_pref = Some(num(value()?, name)?),
            "--med" => o.med = Some(num(value()?, name)?),
            "--next-hop" => {
                let v = value()?;
                o.next_hop =
                    Some(v.parse().map_err(|_| {
                        format!("invalid value {v:?} for --next-hop: an IP address")
                    })?);
            }
            "--origin" => {
                o.origin = Some(match value()? {
                    "igp" => OriginArg::Igp,
                    "egp" => OriginArg::Egp,
                    "incomplete" => OriginArg::Incomplete,
                    v => {
                        return Err(format!(
                            "invalid value {v:?} for --origin: igp, egp or incomplete"
                        ));
                    }
                })
            }
            "--prepend" => {
                let v = value()?;
                o.prepend = Some(
                    v.parse()
                        .map_err(|_| format!("invalid value {v:?} for --prepend: 0..255"))?,
                );
            }
            "--peer" => o.peers.push(value()?.to_string()),
            other => {
                return Err(format!(
                    "unexpected argument {other:?} (options: --community, --large-community, --local-pref, --med, --next-hop, --origin, --prepend, --peer)"
                ));
            }
        }
    }
    Ok((prefix, o))
}

/// Parses a route file: one route per line, either `PREFIX [--community C] [--med N] ...`
/// (the options of `announce`) or a JSON object (`{"prefix": "203.0.113.10/32",
/// "communities": ["64511:100"]}`); blank lines and `#` comments are skipped. `defaults`
/// fill what a text line leaves out. Errors say `NAME:LINE: ...`.
pub fn parse_route_file(
    text: &str,
    name: &str,
    defaults: &RouteOpts,
) -> Result<Vec<RouteSpec>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        if line.starts_with('{') {
            let r: RouteSpec = serde_json::from_str(line).map_err(|e| format!("{at}: {e}"))?;
            parse_prefix(&r.prefix).map_err(|e| format!("{at}: {e}"))?;
            out.push(r);
        } else {
            let (prefix, opts) = parse_route_line(line).map_err(|e| format!("{at}: {e}"))?;
            out.push(opts.or(defaults).route(&prefix));
        }
    }
    Ok(out)
}

/// Parses a prefix file for `withdraw -f`: the first word (or the JSON `prefix`) of each
/// line.
pub fn parse_prefix_file(text: &str, name: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let p = if line.starts_with('{') {
            serde_json::from_str::<RouteSpec>(line)
                .map_err(|e| format!("{at}: {e}"))?
                .prefix
        } else {
            line.split_whitespace().next().unwrap_or("").to_string()
        };
        out.push(
            parse_prefix(&p)
                .map_err(|e| format!("{at}: {e}"))?
                .to_string(),
        );
    }
    Ok(out)
}
