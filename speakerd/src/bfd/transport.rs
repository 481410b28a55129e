//! UDP sockets for BFD (RFC 5881 single hop, RFC 5883 multihop): one receiving socket per
//! address family and port, one sending socket per session.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;

use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, SockaddrStorage, setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};

use super::scheduler::Received;

/// RFC 5881 §4: the single-hop destination port.
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 §5: the multihop destination port.
pub const MULTIHOP_PORT: u16 = 4784;
/// RFC 5881 §4: source ports MUST be in 49152..=65535.
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;
/// RFC 5881 §5: packets are sent with TTL / Hop Limit 255.
pub const SEND_TTL: u8 = 255;
/// DSCP CS6 (network control) in the TOS / traffic class byte, as routing protocols use.
const TOS_CS6: u32 = 0xc0;

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// A socket receiving BFD Control packets on one port of one address family, with the
/// received TTL / hop limit, destination address and interface of each datagram.
#[derive(Debug)]
pub(crate) struct RxSocket {
    pub(crate) socket: UdpSocket,
    pub(crate) multihop: bool,
}

impl RxSocket {
    pub(crate) fn bind(addr: SocketAddr, multihop: bool) -> io::Result<RxSocket> {
        let domain = Domain::for_address(addr);
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_address(true)?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        let socket: UdpSocket = s.into();
        if addr.is_ipv4() {
            // RFC 5881 §5: the received TTL must be checked; IP_RECVTTL hands it over.
            setsockopt(&socket, sockopt::Ipv4RecvTtl, &true).map_err(nix_err)?;
            setsockopt(&socket, sockopt::Ipv4PacketInfo, &true).map_err(nix_err)?;
        } else {
            setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true).map_err(nix_err)?;
            setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true).map_err(nix_err)?;
        }
        Ok(RxSocket { socket, multihop })
    }

    /// Receives one datagram into `buf`; `Ok(None)` when nothing is pending.
    pub(crate) fn recv(
        &self,
        buf: &mut [u8],
        cmsg: &mut [u8],
    ) -> io::Result<Option<(usize, Received)>> {
        let mut iov = [io::IoSliceMut::new(buf)];
        let msg = match socket::recvmsg::<SockaddrStorage>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(cmsg),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(m) => m,
            Err(nix::Error::EAGAIN) => return Ok(None),
            Err(nix::Error::EINTR) => return Ok(None),
            Err(e) => return Err(nix_err(e)),
        };
        let len = msg.bytes;
        let from = msg.address.as_ref().and_then(storage_to_socket_addr);
        let mut rx = Received {
            from: from.unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)),
            to: None,
            ifindex: None,
            ttl: None,
            multihop: self.multihop,
        };
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv4Ttl(t) => rx.ttl = u8::try_from(t).ok(),
                    ControlMessageOwned::Ipv6HopLimit(t) => rx.ttl = u8::try_from(t).ok(),
                    ControlMessageOwned::Ipv4PacketInfo(pi) => {
                        rx.to = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
                        rx.ifindex = u32::try_from(pi.ipi_ifindex).ok();
                    }
                    ControlMessageOwned::Ipv6PacketInfo(pi) => {
                        rx.to = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
                        rx.ifindex = Some(pi.ipi6_ifindex);
                    }
                    _ => {}
                }
            }
        }
        if from.is_none() {
            // No source address: nothing to demultiplex on.
            return Ok(Some((0, rx)));
        }
        Ok(Some((len, rx)))
    }
}

/// Room for the control messages [`RxSocket::recv`] asks for.
pub(crate) fn cmsg_buffer() -> Vec<u8> {
    nix::cmsg_space!(libc::c_int, libc::in6_pktinfo, libc::in_pktinfo)
}

fn storage_to_socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()));
    }
    if let Some(v6) = s.as_sockaddr_in6() {
        let ip = v6.ip();
        // A dual-stack socket would report IPv4 peers as ::ffff:a.b.c.d; ours are v6-only,
        // but keep the mapping canonical anyway.
        let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
        return Some(SocketAddr::new(ip, v6.port()));
    }
    None
}

/// Options of one session's sending socket.
#[derive(Debug, Clone)]
pub(crate) struct TxOptions {
    pub(crate) peer: IpAddr,
    pub(crate) local: Option<IpAddr>,
    pub(crate) interface: Option<String>,
    pub(crate) source_ports: RangeInclusive<u16>,
}

/// The socket one session sends from: its own source port in 49152..=65535 (RFC 5881 §4:
/// the same for every packet of the session), TTL 255, bound to the local address and
/// interface if given.
pub(crate) fn tx_socket(
    opts: &TxOptions,
    mut random: impl FnMut() -> u32,
) -> io::Result<UdpSocket> {
    let domain = if opts.peer.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    if opts.peer.is_ipv4() {
        // RFC 5881 §5 / RFC 5883 §5: send with TTL 255.
        s.set_ttl_v4(u32::from(SEND_TTL))?;
        s.set_tos_v4(TOS_CS6)?;
    } else {
        s.set_only_v6(true)?;
        s.set_unicast_hops_v6(u32::from(SEND_TTL))?;
        s.set_tclass_v6(TOS_CS6)?;
    }
    if let Some(ifname) = &opts.interface {
        s.bind_device(Some(ifname.as_bytes()))?;
    }
    let ip = opts.local.unwrap_or(match opts.peer {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let lo = u32::from(*opts.source_ports.start());
    let hi = u32::from(*opts.source_ports.end());
    if lo > hi {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty source port range",
        ));
    }
    let span = hi - lo + 1;
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free source port");
    for _ in 0..128 {
        let port = u16::try_from(lo + random() % span).unwrap_or(*opts.source_ports.start());
        let addr = match ip {
            // A link-local source needs its interface as scope.
            IpAddr::V6(a) if a.is_unicast_link_local() => {
                let scope = opts.interface.as_deref().map(ifindex).transpose()?;
                SocketAddr::V6(std::net::SocketAddrV6::new(a, port, 0, scope.unwrap_or(0)))
            }
            _ => SocketAddr::new(ip, port),
        };
        match s.bind(&addr.into()) {
            Ok(()) => return Ok(s.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// The interface index of `name` (for the interface check of single-hop sessions).
pub(crate) fn ifindex(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(nix_err)
}
