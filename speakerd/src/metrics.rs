//! Prometheus metrics over HTTP (`[metrics] listen = "127.0.0.1:9179"`), in the OpenMetrics
//! text format of `prometheus-client`.
//!
//! Every scrape (`GET /metrics`) takes a fresh snapshot of the peers and the rib, so the
//! numbers are never stale and nothing is counted twice. Per peer (label `peer`, the
//! configured name): `speakerd_peer_up`, `speakerd_peer_state` (1 Idle … 6 Established),
//! `speakerd_peer_uptime_seconds`, `speakerd_peer_messages_received_total` /
//! `speakerd_peer_messages_sent_total` (label `type`), `speakerd_peer_established_total`,
//! `speakerd_peer_drops_total`, `speakerd_peer_connect_attempts_total`,
//! `speakerd_peer_prefixes_sent`, `speakerd_peer_bfd_up` (peers with a BFD profile); and
//! `speakerd_routes_desired`. Anything but `GET /metrics` gets 404.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bgp_fsm::State;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

use crate::api::ApiBackend;

/// One peer's numbers at scrape time.
#[derive(Debug, Clone)]
struct PeerSample {
    name: String,
    state: State,
    uptime: Option<u64>,
    counters: bgp_fsm::Counters,
    prefixes_sent: Option<usize>,
    bfd_up: Option<bool>,
}

#[derive(Debug)]
struct Snapshot {
    peers: Vec<PeerSample>,
    routes: usize,
}

fn state_number(s: State) -> i64 {
    match s {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
    }
}

type Enc<'a> = DescriptorEncoder<'a>;

fn gauges(
    e: &mut Enc<'_>,
    name: &str,
    help: &str,
    values: impl Iterator<Item = (String, i64)>,
) -> Result<(), std::fmt::Error> {
    let values: Vec<(String, i64)> = values.collect();
    if values.is_empty() {
        // A family without samples (no BFD peer, nothing Established) is left out.
        return Ok(());
    }
    let g = ConstGauge::new(0i64);
    let mut m = e.encode_descriptor(name, help, None, g.metric_type())?;
    for (peer, v) in values {
        ConstGauge::new(v).encode(m.encode_family(&[("peer", peer.as_str())])?)?;
    }
    Ok(())
}

fn counters(
    e: &mut Enc<'_>,
    name: &str,
    help: &str,
    values: impl Iterator<Item = (Vec<(&'static str, String)>, u64)>,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(0u64);
    let mut m = e.encode_descriptor(name, help, None, c.metric_type())?;
    for (labels, v) in values {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let p = &self.peers;
        let named = |f: fn(&PeerSample) -> Option<i64>| {
            p.iter()
                .filter_map(move |s| f(s).map(|v| (s.name.clone(), v)))
        };
        gauges(
            &mut e,
            "speakerd_peer_up",
            "1 while the BGP session is Established",
            named(|s| Some(i64::from(s.state == State::Established))),
        )?;
        gauges(
            &mut e,
            "speakerd_peer_state",
            "BGP session state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established",
            named(|s| Some(state_number(s.state))),
        )?;
        gauges(
            &mut e,
            "speakerd_peer_uptime_seconds",
            "Seconds since the session reached Established",
            named(|s| s.uptime.map(|u| u as i64)),
        )?;
        gauges(
            &mut e,
            "speakerd_peer_prefixes_sent",
            "Prefixes the peer has from us (Adj-RIB-Out), while Established",
            named(|s| s.prefixes_sent.map(|n| n as i64)),
        )?;
        gauges(
            &mut e,
            "speakerd_peer_bfd_up",
            "1 while the peer's BFD session is Up (peers with a BFD profile)",
            named(|s| s.bfd_up.map(i64::from)),
        )?;
        type Pick = fn(&bgp_fsm::Counters) -> u64;
        let kinds: [(&str, Pick, Pick); 5] = [
            ("open", |c| c.opens_in, |c| c.opens_out),
            ("update", |c| c.updates_in, |c| c.updates_out),
            ("keepalive", |c| c.keepalives_in, |c| c.keepalives_out),
            (
                "notification",
                |c| c.notifications_in,
                |c| c.notifications_out,
            ),
            (
                "route_refresh",
                |c| c.route_refreshes_in,
                |c| c.route_refreshes_out,
            ),
        ];
        let by_type = |dir: usize| {
            let mut v = Vec::new();
            for s in p {
                for (k, rx, tx) in &kinds {
                    let n = if dir == 0 {
                        rx(&s.counters)
                    } else {
                        tx(&s.counters)
                    };
                    v.push((vec![("peer", s.name.clone()), ("type", k.to_string())], n));
                }
            }
            v.into_iter()
        };
        counters(
            &mut e,
            "speakerd_peer_messages_received",
            "BGP messages received, by type",
            by_type(0),
        )?;
        counters(
            &mut e,
            "speakerd_peer_messages_sent",
            "BGP messages sent, by type",
            by_type(1),
        )?;
        let each = |f: Pick| {
            p.iter()
                .map(move |s| (vec![("peer", s.name.clone())], f(&s.counters)))
        };
        counters(
            &mut e,
            "speakerd_peer_established",
            "Times the session reached Established",
            each(|c| c.established_transitions),
        )?;
        counters(
            &mut e,
            "speakerd_peer_drops",
            "Times an Established session went down",
            each(|c| c.established_drops),
        )?;
        counters(
            &mut e,
            "speakerd_peer_connect_attempts",
            "Outbound TCP connection attempts",
            each(|c| c.connect_attempts),
        )?;
        let g = ConstGauge::new(self.routes as i64);
        let m = e.encode_descriptor(
            "speakerd_routes_desired",
            "Prefixes announced (configuration and API)",
            None,
            g.metric_type(),
        )?;
        g.encode(m)?;
        Ok(())
    }
}

/// The OpenMetrics text of `backend`'s current state.
pub async fn render<B: ApiBackend>(backend: &B) -> String {
    let now = backend.now();
    let mut peers = Vec::new();
    for h in backend.handles() {
        let s = h.status();
        peers.push(PeerSample {
            name: s.name.clone(),
            state: s.state,
            uptime: s
                .established_since
                .map(|t| now.saturating_duration_since(t).as_secs()),
            prefixes_sent: backend.advertised_count(h.name()).await,
            bfd_up: s.bfd.map(|b| b == ::bfd::State::Up),
            counters: s.counters,
        });
    }
    let routes = backend.desired().await.len();
    let mut reg = Registry::default();
    reg.register_collector(Box::new(Snapshot { peers, routes }));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        out.clear();
    }
    out
}

/// A running metrics endpoint. Dropping it stops it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
}

impl MetricsServer {
    /// Listens on `addr` and serves `GET /metrics` from `backend`.
    pub async fn start<B: ApiBackend>(addr: SocketAddr, backend: Arc<B>) -> io::Result<Self> {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        let addr = l.local_addr()?;
        info!("metrics on http://{addr}/metrics");
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(l, backend, stopped));
        Ok(MetricsServer {
            addr,
            task: Some(task),
            stop: Some(stop),
        })
    }

    /// The bound address (with the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops and returns once no task holds the backend.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

async fn serve<B: ApiBackend>(l: TcpListener, backend: Arc<B>, mut stop: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            a = l.accept() => match a {
                Ok((s, _)) => {
                    conns.spawn(http(s, backend.clone()));
                }
                Err(e) => {
                    warn!("metrics accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// One HTTP/1.x exchange: read the request head (at most 8 KiB), answer, close.
async fn http<B: ApiBackend>(mut s: TcpStream, backend: Arc<B>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(
        tokio::time::timeout(std::time::Duration::from_secs(10), read).await,
        Ok(true)
    ) {
        return;
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let path = path.map(|p| p.split(|&b| b == b'?').next().unwrap_or(p));
    let (status, ctype, body) = if method == Some(b"GET") && path == Some(b"/metrics") {
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(&*backend).await,
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "speakerd serves GET /metrics only\n".to_string(),
        )
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}
