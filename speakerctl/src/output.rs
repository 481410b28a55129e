//! Human output: aligned tables (like `birdc show protocols` / `gobgp neighbor`) and one
//! line per event.

use serde_json::Value;
use speakerd::api::proto::{
    Event, PeerRoutes, PeerView, PeersResult, RouteSpec, RouteView, RoutesResult,
};

/// Formats rows as columns separated by two spaces, the first row being the header.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `1d02h03m`, `2h03m04s`, `3m04s`, `5s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), ToString::to_string)
}

/// The `peers` table.
pub fn peers(r: &PeersResult) -> String {
    let mut rows = vec![
        [
            "Name", "Address", "AS", "State", "Uptime", "Sent", "Rcvd", "BFD", "Info",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for p in &r.peers {
        rows.push(peer_row(p));
    }
    table(&rows)
}

fn peer_row(p: &PeerView) -> Vec<String> {
    let info = if p.state == "Established" {
        p.negotiated
            .as_ref()
            .map(|n| format!("hold {}s, {}", n.hold_time, n.families.join(" ")))
            .unwrap_or_default()
    } else {
        p.last_error.clone().unwrap_or_default()
    };
    vec![
        p.name.clone(),
        p.address.clone(),
        p.asn.to_string(),
        p.state.clone(),
        p.uptime_secs.map_or_else(|| "-".into(), duration),
        opt(&p.prefixes_sent),
        opt(&p.prefixes_received),
        opt(&p.bfd),
        info,
    ]
}

fn attrs_of_spec(r: &RouteSpec) -> String {
    let mut a = Vec::new();
    if let Some(o) = &r.origin {
        a.push(format!("origin {o}"));
    }
    if let Some(l) = r.local_pref {
        a.push(format!("local-pref {l}"));
    }
    if let Some(m) = r.med {
        a.push(format!("med {m}"));
    }
    if let Some(p) = r.as_path_prepend {
        a.push(format!("prepend {p}"));
    }
    for c in &r.communities {
        a.push(c.clone());
    }
    for c in &r.large_communities {
        a.push(format!("large:{c}"));
    }
    a.join(" ")
}

fn attrs_of_view(r: &RouteView) -> String {
    let mut a = Vec::new();
    if let Some(o) = &r.origin {
        a.push(format!("origin {o}"));
    }
    if let Some(l) = r.local_pref {
        a.push(format!("local-pref {l}"));
    }
    if let Some(m) = r.med {
        a.push(format!("med {m}"));
    }
    a.extend(r.communities.iter().cloned());
    a.extend(r.extended_communities.iter().cloned());
    a.extend(r.large_communities.iter().map(|c| format!("large:{c}")));
    a.join(" ")
}

fn view_table(routes: &[RouteView]) -> String {
    let mut rows = vec![
        ["Prefix", "Next hop", "AS path", "Attributes"]
            .map(String::from)
            .to_vec(),
    ];
    for r in routes {
        rows.push(vec![
            r.prefix.clone(),
            opt(&r.next_hop),
            r.as_path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "-".into()),
            attrs_of_view(r),
        ]);
    }
    table(&rows)
}

fn peer_routes(out: &mut String, title: &str, list: &[PeerRoutes]) {
    for p in list {
        out.push_str(&format!(
            "\n{title} {} ({}):\n",
            p.peer,
            prefixes(p.routes.len())
        ));
        if !p.routes.is_empty() {
            out.push_str(&view_table(&p.routes));
        }
    }
}

fn prefixes(n: usize) -> String {
    format!("{n} prefix{}", if n == 1 { "" } else { "es" })
}

/// The `routes` output.
pub fn routes(r: &RoutesResult, received: bool) -> String {
    let mut out = format!("Desired ({}):\n", prefixes(r.desired.len()));
    if !r.desired.is_empty() {
        let mut rows = vec![
            ["Prefix", "Next hop", "Attributes", "Peers"]
                .map(String::from)
                .to_vec(),
        ];
        for d in &r.desired {
            rows.push(vec![
                d.prefix.clone(),
                d.next_hop.clone().unwrap_or_else(|| "self".into()),
                attrs_of_spec(d),
                if d.peers.is_empty() {
                    "all".into()
                } else {
                    d.peers.join(",")
                },
            ]);
        }
        out.push_str(&table(&rows));
    }
    peer_routes(&mut out, "Advertised to", &r.advertised);
    if received {
        peer_routes(&mut out, "Received from", &r.received);
    }
    out
}

/// One line for an event.
pub fn event(e: &Event) -> String {
    match e {
        Event::State {
            peer,
            address,
            from,
            to,
            reason,
        } => format!("{peer} ({address}): {from} -> {to}: {reason}"),
        Event::Bfd {
            peer,
            address,
            from,
            to,
        } => match from {
            Some(f) => format!("{peer} ({address}): BFD {f} -> {to}"),
            None => format!("{peer} ({address}): BFD {to}"),
        },
        Event::Update {
            peer,
            announced,
            withdrawn,
            ..
        } => {
            let mut parts = Vec::new();
            for r in announced {
                let mut s = format!("+{}", r.prefix);
                if let Some(nh) = &r.next_hop {
                    s.push_str(&format!(" via {nh}"));
                }
                if let Some(p) = r.as_path.as_ref().filter(|p| !p.is_empty()) {
                    s.push_str(&format!(" path {p}"));
                }
                let a = attrs_of_view(r);
                if !a.is_empty() {
                    s.push(' ');
                    s.push_str(&a);
                }
                parts.push(s);
            }
            parts.extend(withdrawn.iter().map(|w| format!("-{w}")));
            format!("{peer}: UPDATE {}", parts.join(", "))
        }
        Event::EndOfRib { peer, family } => format!("{peer}: End-of-RIB {family}"),
        Event::Lagged { missed } => format!("(missed {missed} events: this watcher fell behind)"),
    }
}

/// Compact or pretty JSON.
pub fn json(v: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(v).unwrap_or_default()
    } else {
        v.to_string()
    }
}
