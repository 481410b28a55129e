//! BGP sessions over TCP: the tokio driver around `bgp_fsm::Session`, the sockets, and the
//! [`Speaker`] that runs every configured peer.

mod bfd_link;
mod driver;
mod export;
mod reload;
mod restart;
mod socket;
mod speaker;

pub use bfd_link::{BfdLink, BfdProvider};
pub use driver::{BFD_HOLD_DOWN_MAX, HIGH_WATER, PeerEvent, PeerEventKind, PeerHandle, PeerStatus};
pub use export::POLL_CHUNK;
pub use reload::{CHANGED_MESSAGE, REMOVED_MESSAGE, ReloadReport};
pub use speaker::{SHUTDOWN_GRACE, Speaker, SpeakerOptions, session_config};
