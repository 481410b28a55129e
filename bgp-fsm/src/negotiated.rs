//! What the OPEN exchange settled, and the OPEN checks that get there.

use std::net::Ipv4Addr;

use bgp_wire::{
    AS_TRANS, BytesMut, Capability, DecodeContext, DecodeError, EncodeContext, Family,
    GracefulRestart, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, Open, Role,
};

use crate::config::SessionConfig;

/// The parameters of an Established (or OpenConfirm) session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS (from the 4-octet AS capability when present).
    pub peer_asn: u32,
    /// The peer's BGP identifier.
    pub peer_router_id: Ipv4Addr,
    /// RFC 6793: both sides announced 4-octet AS support.
    pub four_octet_as: bool,
    /// Families both sides announced (RFC 4760; IPv4 unicast when the peer
    /// announced none), in the order of our configuration.
    pub families: Vec<Family>,
    /// RFC 7911: families for which we send path identifiers.
    pub add_path_send: Vec<Family>,
    /// RFC 7911: families for which we receive path identifiers.
    pub add_path_receive: Vec<Family>,
    /// The peer's graceful restart capability (RFC 4724), if it sent one.
    pub graceful_restart: Option<GracefulRestart>,
    /// RFC 8654: both sides announced extended messages.
    pub extended_message: bool,
    /// RFC 2918: the peer accepts ROUTE-REFRESH (it announced the capability).
    pub route_refresh: bool,
    /// RFC 7313: the peer announced enhanced route refresh.
    pub enhanced_route_refresh: bool,
    /// The peer's RFC 9234 role, if it sent one.
    pub peer_role: Option<Role>,
    /// Hold time the peer proposed, seconds.
    pub peer_hold_time: u16,
    /// Negotiated hold time: min(ours, peer's), seconds; 0 = no hold timer.
    pub hold_time: u16,
    /// Interval between our KEEPALIVEs, seconds; 0 = none.
    pub keepalive_interval: u16,
    /// The OPEN the peer sent.
    pub peer_open: Open,
    /// The OPEN we sent.
    pub local_open: Open,
}

impl Negotiated {
    /// Context to decode the peer's messages (ADD-PATH = families we receive them for).
    pub fn decode_ctx(&self) -> DecodeContext {
        DecodeContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_receive.clone(),
            extended_message: self.extended_message,
        }
    }

    /// Context to encode our messages (ADD-PATH = families we send them for).
    pub fn encode_ctx(&self) -> EncodeContext {
        EncodeContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_send.clone(),
            extended_message: self.extended_message,
        }
    }

    /// The largest message either side may send: 65535 with extended messages, else 4096.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// True when the peer is in another AS.
    pub fn is_ebgp(&self, local_asn: u32) -> bool {
        self.peer_asn != local_asn
    }
}

/// The OPEN we send for this configuration.
pub(crate) fn local_open(cfg: &SessionConfig) -> Open {
    let mut caps: Vec<Capability> = cfg
        .families
        .iter()
        .map(|f| Capability::Multiprotocol(*f))
        .collect();
    if cfg.route_refresh {
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
    }
    if cfg.extended_message {
        caps.push(Capability::ExtendedMessage);
    }
    caps.push(Capability::FourOctetAs(cfg.local_asn));
    if !cfg.add_path.is_empty() {
        caps.push(Capability::AddPath(cfg.add_path.clone()));
    }
    if let Some(gr) = &cfg.graceful_restart {
        caps.push(Capability::GracefulRestart(gr.clone()));
    }
    if let Some(role) = cfg.role {
        caps.push(Capability::Role(role));
    }
    caps.extend(cfg.extra_capabilities.iter().cloned());
    Open::new(cfg.local_asn, cfg.hold_time, cfg.router_id, caps)
}

/// RFC 9234 §4.2 table of allowed (local, remote) role pairs.
fn roles_compatible(local: Role, remote: Role) -> bool {
    matches!(
        (local, remote),
        (Role::PROVIDER, Role::CUSTOMER)
            | (Role::CUSTOMER, Role::PROVIDER)
            | (Role::RS, Role::RS_CLIENT)
            | (Role::RS_CLIENT, Role::RS)
            | (Role::PEER, Role::PEER)
    )
}

/// Checks a received (well-formed) OPEN against the configuration and settles
/// the session parameters. The error maps to the NOTIFICATION to send.
pub(crate) fn negotiate(
    cfg: &SessionConfig,
    local: &Open,
    peer: &Open,
) -> Result<Negotiated, DecodeError> {
    let four = peer.four_octet_as();
    let peer_asn = peer.asn();
    // RFC 4271 §6.2 / RFC 6793 §4.1: the AS (4-octet capability if present) must be the configured one.
    if peer_asn != cfg.peer_asn {
        return Err(DecodeError::BadPeerAs { asn: peer_asn });
    }
    // RFC 6793 §4.1: with the capability, the 2-octet field is AS_TRANS or the same AS.
    if four.is_some() && peer.my_as != AS_TRANS && u32::from(peer.my_as) != peer_asn {
        return Err(DecodeError::BadPeerAs {
            asn: u32::from(peer.my_as),
        });
    }
    // RFC 6286 §2.1: the BGP identifier is non-zero (bgp-wire checks it too).
    // RFC 6286 §2.2: for an internal peer it must differ from ours.
    if peer.bgp_id.is_unspecified() || (!cfg.is_ebgp() && peer.bgp_id == cfg.router_id) {
        return Err(DecodeError::BadBgpIdentifier { id: peer.bgp_id });
    }
    // RFC 4271 §4.2 / §6.2: hold time 1 or 2 is unacceptable (bgp-wire checks it too).
    if peer.hold_time == 1 || peer.hold_time == 2 {
        return Err(DecodeError::UnacceptableHoldTime {
            hold_time: peer.hold_time,
        });
    }
    // RFC 9234 §4.2: role checks, when we have a role.
    let mut peer_role = None;
    for c in peer.capabilities() {
        if let Capability::Role(r) = c {
            // RFC 9234 §4.2: several Role capabilities with different values → Role Mismatch.
            if peer_role.is_some_and(|p| p != *r) {
                return Err(DecodeError::RoleMismatch);
            }
            peer_role = Some(*r);
        }
    }
    if let Some(mine) = cfg.role {
        match peer_role {
            // RFC 9234 §4.2: a pair outside the table → Role Mismatch.
            Some(theirs) if !roles_compatible(mine, theirs) => {
                return Err(DecodeError::RoleMismatch);
            }
            // RFC 9234 §4.2: strict mode and no Role capability → Role Mismatch.
            None if cfg.role_strict => return Err(DecodeError::RoleMismatch),
            _ => {}
        }
    }
    // RFC 4760 §8 / RFC 5492: families both sides announced; a peer without any
    // multiprotocol capability speaks IPv4 unicast only.
    let mut peer_families: Vec<Family> = peer.multiprotocol().collect();
    if peer_families.is_empty() {
        peer_families.push(Family::IPV4_UNICAST);
    }
    let families: Vec<Family> = cfg
        .families
        .iter()
        .copied()
        .filter(|f| peer_families.contains(f))
        .collect();
    if families.is_empty() {
        // RFC 5492 §5: Unsupported Capability, data = the capabilities we needed
        // (our multiprotocol capabilities).
        let mut data = BytesMut::new();
        for f in &cfg.families {
            // Encoding a 4-byte capability cannot fail.
            let _ = Capability::Multiprotocol(*f).encode(&mut data);
        }
        return Err(DecodeError::UnsupportedCapability {
            capabilities: data.freeze(),
        });
    }
    let has = |code: u8| peer.has_capability(code);
    use bgp_wire::cap_code;
    let extended_message = cfg.extended_message && has(cap_code::EXTENDED_MESSAGE);
    // RFC 7911 §4: send when we can send and the peer can receive; receive vice versa.
    let mut add_path_send = Vec::new();
    let mut add_path_receive = Vec::new();
    for ours in &cfg.add_path {
        if !families.contains(&ours.family) {
            continue;
        }
        if let Some(theirs) = peer.add_path().find(|p| p.family == ours.family) {
            if ours.mode.can_send() && theirs.mode.can_receive() {
                add_path_send.push(ours.family);
            }
            if ours.mode.can_receive() && theirs.mode.can_send() {
                add_path_receive.push(ours.family);
            }
        }
    }
    let graceful_restart = peer.capabilities().find_map(|c| match c {
        Capability::GracefulRestart(g) => Some(g.clone()),
        _ => None,
    });
    // RFC 4271 §4.2: the hold time is the smaller of both proposals.
    let hold_time = cfg.hold_time.min(peer.hold_time);
    let keepalive_interval = if hold_time == 0 {
        0
    } else {
        // RFC 4271 §10: keepalive one third of the hold time (or a configured lower value).
        let cap = hold_time / 3;
        cfg.keepalive
            .filter(|k| *k > 0)
            .unwrap_or(cap)
            .min(cap)
            .max(1)
    };
    Ok(Negotiated {
        peer_asn,
        peer_router_id: peer.bgp_id,
        four_octet_as: four.is_some(),
        families,
        add_path_send,
        add_path_receive,
        graceful_restart,
        extended_message,
        route_refresh: has(cap_code::ROUTE_REFRESH) || has(cap_code::ENHANCED_ROUTE_REFRESH),
        enhanced_route_refresh: has(cap_code::ENHANCED_ROUTE_REFRESH),
        peer_role,
        peer_hold_time: peer.hold_time,
        hold_time,
        keepalive_interval,
        peer_open: peer.clone(),
        local_open: local.clone(),
    })
}
