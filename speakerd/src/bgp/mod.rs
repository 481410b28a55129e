//! BGP sessions over TCP: the tokio driver around `bgp_fsm::Session`.
