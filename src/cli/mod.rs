//! The client side of the `wactor` binary: packaging an Actor directory
//! (building its component from Rust, JavaScript or Python with toolchains
//! installed on first use), and talking to a server.

pub mod client;
pub mod dev;
pub mod js;
pub mod package;
pub mod python;
pub mod toolchain;
