//! TCP sockets for BGP: options set before `connect` / `accept` (source address, TTL, GTSM,
//! TCP-MD5), with socket2 where it has the option and `sys::tcp` where nothing safe does.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::config::PeerConfig;
use crate::sys::tcp;

/// What the socket of one peer needs: derived from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketOpts {
    /// TTL / hop limit of our packets.
    pub(crate) ttl: u8,
    /// GTSM minimum received TTL.
    pub(crate) min_ttl: Option<u8>,
    /// TCP-MD5 key.
    pub(crate) password: Option<String>,
}

impl SocketOpts {
    pub(crate) fn for_peer(p: &PeerConfig, local_asn: u32) -> SocketOpts {
        SocketOpts {
            ttl: p.ttl(local_asn),
            min_ttl: p.min_ttl(),
            password: p.password.clone(),
        }
    }
}

fn set_ttl(s: &Socket, v6: bool, opts: &SocketOpts) -> io::Result<()> {
    if v6 {
        s.set_unicast_hops_v6(u32::from(opts.ttl))?;
    } else {
        s.set_ttl_v4(u32::from(opts.ttl))?;
    }
    if let Some(min) = opts.min_ttl {
        // RFC 5082 §3: drop everything below 255 - hops (254 for a direct neighbour).
        tcp::set_min_ttl(s.as_fd(), v6, min)?;
    }
    Ok(())
}

/// Opens an outbound connection to `peer` (from `source` when set), with TTL, GTSM and MD5
/// options set before the SYN is sent.
pub(crate) async fn connect(
    peer: SocketAddr,
    source: Option<IpAddr>,
    opts: &SocketOpts,
) -> io::Result<TcpStream> {
    let v6 = peer.is_ipv6();
    let s = Socket::new(Domain::for_address(peer), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    if let Some(src) = source {
        // The port stays 0 (any); the address must be ours.
        s.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
    }
    set_ttl(&s, v6, opts)?;
    if let Some(pw) = &opts.password {
        // RFC 2385: the key must be in place before the SYN.
        tcp::set_md5sig(s.as_fd(), peer.ip(), pw.as_bytes())?;
    }
    let std: std::net::TcpStream = s.into();
    TcpSocket::from_std_stream(std).connect(peer).await
}

/// What a listening socket needs from the peers that may connect to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListenOpts {
    /// (peer address, password) pairs: the kernel checks TCP-MD5 on the SYN, so keys go on
    /// the listening socket before any accept.
    pub(crate) keys: Vec<(IpAddr, String)>,
    /// Some peer uses GTSM: the SYN-ACK (sent by the kernel before accept, with the
    /// listening socket's TTL) must leave with TTL 255 or the peer drops it.
    pub(crate) any_gtsm: bool,
    /// Every peer uses GTSM: the listening socket itself drops SYNs below TTL 254.
    pub(crate) all_gtsm: bool,
}

/// Binds a listening socket with the peers' TCP-MD5 keys and GTSM needs.
pub(crate) fn listen(addr: SocketAddr, opts: &ListenOpts) -> io::Result<TcpListener> {
    let v6 = addr.is_ipv6();
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_reuse_address(true)?;
    s.bind(&SockAddr::from(addr))?;
    if opts.any_gtsm {
        // RFC 5082 §3: our packets, the SYN-ACK included, leave with TTL 255.
        set_ttl(
            &s,
            v6,
            &SocketOpts {
                ttl: 255,
                min_ttl: opts.all_gtsm.then_some(254),
                password: None,
            },
        )?;
    }
    let keys = &opts.keys;
    for (peer, pw) in keys {
        if !v6 && peer.is_ipv6() {
            continue;
        }
        // An IPv6 wildcard socket sees IPv4 peers as mapped addresses.
        tcp::set_md5sig(s.as_fd(), tcp::key_addr(*peer, v6), pw.as_bytes())?;
    }
    s.listen(128)?;
    let std: std::net::TcpListener = s.into();
    TcpListener::from_std(std)
}

/// Adds a peer's TCP-MD5 key to a listening socket (a peer added by a reload).
pub(crate) fn add_listen_key(l: &TcpListener, peer: IpAddr, pw: &str) -> io::Result<()> {
    let v6 = l.local_addr()?.is_ipv6();
    if !v6 && peer.is_ipv6() {
        return Ok(());
    }
    // An IPv6 wildcard socket sees IPv4 peers as mapped addresses.
    tcp::set_md5sig(l.as_fd(), tcp::key_addr(peer, v6), pw.as_bytes())
}

/// Applies a peer's options to an accepted connection: the TTL of our packets and GTSM.
/// (MD5 was enforced by the listening socket's keys.)
pub(crate) fn prepare_accepted(stream: &TcpStream, opts: &SocketOpts) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    let v6 = stream.local_addr()?.is_ipv6();
    stream.set_nodelay(true)?;
    set_ttl(&sock, v6, opts)
}

/// The peer address as configured, for a connection from `remote` (IPv4-mapped IPv6 is
/// turned back into IPv4).
pub(crate) fn canonical(remote: IpAddr) -> IpAddr {
    match remote {
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(remote),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn opts(ttl: u8, min_ttl: Option<u8>, password: Option<&str>) -> SocketOpts {
        SocketOpts {
            ttl,
            min_ttl,
            password: password.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn connect_sets_source_ttl_and_gtsm_accept_sets_ttl() {
        let l = listen(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &ListenOpts {
                any_gtsm: true,
                ..ListenOpts::default()
            },
        )
        .unwrap();
        assert_eq!(socket2::SockRef::from(&l).ttl_v4().unwrap(), 255);
        let to = l.local_addr().unwrap();
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
        let c = connect(to, Some(src), &opts(7, Some(254), None))
            .await
            .unwrap();
        assert_eq!(c.local_addr().unwrap().ip(), src);
        assert_eq!(socket2::SockRef::from(&c).ttl_v4().unwrap(), 7);
        let (a, from) = l.accept().await.unwrap();
        assert_eq!(from.ip(), src);
        prepare_accepted(&a, &opts(1, None, None)).unwrap();
        assert_eq!(socket2::SockRef::from(&a).ttl_v4().unwrap(), 1);
    }

    #[tokio::test]
    async fn ipv6_connect_sets_hop_limit() {
        let Ok(l) = listen("[::1]:0".parse().unwrap(), &ListenOpts::default()) else {
            return; // no IPv6 loopback on this machine
        };
        let c = connect(l.local_addr().unwrap(), None, &opts(9, None, None))
            .await
            .unwrap();
        assert_eq!(socket2::SockRef::from(&c).unicast_hops_v6().unwrap(), 9);
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        assert_eq!(
            canonical("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            canonical("2001:db8::1".parse().unwrap()),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
