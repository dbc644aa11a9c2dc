//! wactor: an open runtime for Actors.
//!
//! Module map (start at `platform`; everything else is a door onto it):
//!
//! - [`platform`]: the core. Actors and builds, runs (status state machine
//!   and the supervisor that drives them), storages on sled (key-value
//!   stores, datasets, request queues), run logs, Standby run pools
//!   (`platform::standby`), run web servers (`platform::web_servers`), the
//!   token check (`platform::auth`) and the outbound network policy
//!   (`platform::outbound`). Every capability is a method here.
//! - [`definition`]: `.actor/actor.json` and the input schema (defaults,
//!   validation) checked before a run exists.
//! - [`executor`]: runs a build's code for one run, or answers a Standby
//!   run's requests ([`executor::HttpServer`]). [`executor::wasm`] hosts
//!   WASI components in wasmtime, on threads of their own
//!   (`executor::wasm::threads`); its `host` module is the WIT door onto the
//!   platform, and its `outbound` module sends guests' HTTP under the policy. [`executor::docker`] runs image-based Actors, one container
//!   per run, which reach the platform through the HTTP API.
//! - [`api`]: the Apify-compatible HTTP API (axum), the other door, the
//!   Standby router (`<username>--<actor>.<domain>`, `/standby/...`) and the
//!   proxy behind each run's `containerUrl` (`<key>.<domain>`).
//! - [`server`]: the server as a library (`server::run(listener, options,
//!   shutdown)`): start-up, preload, the HTTP listener with its connection
//!   caps and timeouts, graceful shutdown.
//! - [`cli`]: the client side of the `wactor` binary (push, call, logs).
//! - [`limits`]: every limit, with the reason for its value.
//! - [`ids`]: IDs and timestamps in the shapes Apify clients expect.

pub mod api;
pub mod cli;
pub mod definition;
pub mod executor;
pub mod ids;
pub mod limits;
pub mod platform;
pub mod server;
#[cfg(test)]
pub(crate) mod testing;

/// The text of a caught panic, for logs and status messages.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
