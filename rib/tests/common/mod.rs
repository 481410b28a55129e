//! Test helpers: a model RIB fed by decoding what the rib sent.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use bgp_wire::{
    AS_TRANS, AsPath, AttributeValue, Bytes, DecodeContext, Family, IpNet, Message, RouteRefresh,
    Update,
};
use rib::{PeerExport, PeerId, Rib, export_attributes};

/// What a peer holds after replaying our messages: prefix → attribute values
/// (MP_REACH_NLRI with its NLRI list emptied), plus the markers seen.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub routes: BTreeMap<IpNet, Vec<AttributeValue>>,
    pub eor: Vec<Family>,
    pub refresh: Vec<RouteRefresh>,
    pub messages: usize,
    pub updates_with_nlri: usize,
}

pub fn ctx_of(p: &PeerExport) -> DecodeContext {
    DecodeContext {
        four_octet_as: p.four_octet_as,
        add_path: p.add_path_send.clone(),
        extended_message: p.max_message_len > 4096,
    }
}

pub fn decode(m: &Bytes, p: &PeerExport) -> Message {
    Message::decode(m.clone(), &ctx_of(p)).expect("our own message decodes")
}

fn strip(u: &Update) -> Vec<AttributeValue> {
    u.attributes
        .iter()
        .map(|a| match &a.value {
            AttributeValue::MpReach(m) => {
                let mut m = m.clone();
                m.nlri.clear();
                AttributeValue::MpReach(m)
            }
            v => v.clone(),
        })
        .collect()
}

impl Model {
    /// Applies messages; checks each against the peer's maximum size.
    pub fn apply(&mut self, msgs: &[Bytes], p: &PeerExport) {
        for m in msgs {
            assert!(
                m.len() <= p.max_message_len,
                "message of {} bytes above the maximum {}",
                m.len(),
                p.max_message_len
            );
            self.messages += 1;
            match decode(m, p) {
                Message::Update(u) => {
                    assert!(u.errors.is_empty(), "decode errors: {:?}", u.errors);
                    if let Some(f) = u.is_end_of_rib() {
                        self.eor.push(f);
                        continue;
                    }
                    for n in u.withdrawn_all() {
                        self.routes.remove(&n.prefix);
                    }
                    let attrs = strip(&u);
                    let mut any = false;
                    for n in u.announced() {
                        any = true;
                        self.routes.insert(n.prefix, attrs.clone());
                    }
                    self.updates_with_nlri += usize::from(any);
                }
                Message::RouteRefresh(r) => self.refresh.push(r),
                other => panic!("unexpected message {other:?}"),
            }
        }
    }
}

/// What the peer should hold: the desired routes after export, with AS numbers
/// as a 2-octet session carries them.
pub fn expected(rib: &Rib, p: &PeerExport) -> BTreeMap<IpNet, Vec<AttributeValue>> {
    let mut out = BTreeMap::new();
    for (prefix, adv) in rib.routes() {
        let v6 = matches!(prefix, IpNet::V6(_));
        if let Some(attrs) = export_attributes(adv, p, v6) {
            let vals = attrs
                .into_iter()
                .map(|a| match a.value {
                    AttributeValue::AsPath(path) if !p.four_octet_as => {
                        AttributeValue::AsPath(AsPath::from_sequence(
                            path.asns()
                                .map(|a| u32::from(u16::try_from(a).unwrap_or(AS_TRANS)))
                                .collect(),
                        ))
                    }
                    v => v,
                })
                .collect();
            out.insert(prefix, vals);
        }
    }
    out
}

/// Drains everything pending for a peer in polls of `budget` bytes.
pub fn drain(rib: &mut Rib, id: PeerId, budget: usize) -> Vec<Bytes> {
    let mut all = Vec::new();
    for _ in 0..1_000_000 {
        let m = rib.poll_updates(id, budget);
        if m.is_empty() {
            assert!(!rib.has_pending(id), "pending but nothing polled");
            return all;
        }
        let total: usize = m.iter().map(Bytes::len).sum();
        assert!(
            total <= budget || m.len() == 1,
            "poll of {total} bytes in {} messages over budget {budget}",
            m.len()
        );
        all.extend(m);
    }
    panic!("never drained");
}
