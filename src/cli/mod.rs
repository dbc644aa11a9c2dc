//! The client side of the `wactor` binary: packaging an Actor directory
//! (building it when it is a cargo crate), and talking to a server.

pub mod client;
pub mod package;
