//! TCP socket options for BGP that no safe crate exposes: TCP-MD5 (RFC 2385) and
//! IP_MINTTL / IPV6_MINHOPCOUNT (GTSM, RFC 5082). The sending TTL / hop limit is set with
//! `socket2` (`set_ttl_v4`, `set_unicast_hops_v6`) by the caller.

use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Linux `struct tcp_md5sig` (include/uapi/linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; libc::TCP_MD5SIG_MAXKEYLEN],
}

/// Sets (or, with an empty `key`, removes) the TCP-MD5 key for segments to and from `peer` on
/// this socket (RFC 2385). On a listening socket it applies to connections accepted from
/// `peer`; on a connecting socket it must be set before `connect`. For an IPv4 peer on an IPv6
/// socket pass the IPv4-mapped address.
pub(crate) fn set_md5sig(fd: BorrowedFd<'_>, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > libc::TCP_MD5SIG_MAXKEYLEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP-MD5 key longer than 80 bytes",
        ));
    }
    let sa = socket2::SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: all-zero bytes are a valid value of this plain C struct.
    let mut sig: TcpMd5Sig = unsafe { mem::zeroed() };
    // SAFETY: `sa.len()` bytes are valid at `sa.as_ptr()` and fit in a sockaddr_storage.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr() as *const u8,
            &mut sig.addr as *mut libc::sockaddr_storage as *mut u8,
            (sa.len() as usize).min(mem::size_of::<libc::sockaddr_storage>()),
        );
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// Drops packets arriving with a TTL (IPv4) or hop limit (IPv6) below `min` (GTSM, RFC 5082
/// §3: 254 for a directly connected peer). `v6` selects IPV6_MINHOPCOUNT; on an IPv6 socket
/// that also receives IPv4-mapped traffic both are set.
pub(crate) fn set_min_ttl(fd: BorrowedFd<'_>, v6: bool, min: u8) -> io::Result<()> {
    let v = libc::c_int::from(min);
    if v6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &v)?;
        // Mapped IPv4 on a dual-stack socket: best effort (fails on an IPv6-only socket).
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &v);
        Ok(())
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &v)
    }
}

fn setsockopt<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    v: &T,
) -> io::Result<()> {
    // SAFETY: `v` points to a live `T` of `size_of::<T>()` bytes; the fd is borrowed, so open.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            v as *const T as *const libc::c_void,
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The address to give the kernel for `peer` on a socket of the other family: IPv4 peers on
/// IPv6 sockets appear as IPv4-mapped addresses.
pub(crate) fn key_addr(peer: IpAddr, socket_is_v6: bool) -> IpAddr {
    match (peer, socket_is_v6) {
        (IpAddr::V4(a), true) => IpAddr::V6(a.to_ipv6_mapped()),
        _ => peer,
    }
}

// struct tcp_md5sig is 216 bytes on Linux.
const _: () = assert!(mem::size_of::<TcpMd5Sig>() == 216);

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};
    use std::os::fd::AsFd;

    #[test]
    fn md5_and_minttl_set_on_loopback_sockets() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        set_md5sig(l.as_fd(), IpAddr::V4(Ipv4Addr::LOCALHOST), b"s3cret").unwrap();
        set_md5sig(l.as_fd(), IpAddr::V4(Ipv4Addr::LOCALHOST), b"").unwrap();
        set_min_ttl(l.as_fd(), false, 254).unwrap();
        let too_long = [b'x'; 81];
        assert_eq!(
            set_md5sig(l.as_fd(), IpAddr::V4(Ipv4Addr::LOCALHOST), &too_long)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn mapped_key_address() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            key_addr(a, true),
            "::ffff:192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(key_addr(a, false), a);
    }
}
