//! wactor: an open runtime for Actors.
//!
//! Module map. One core, two doors, executors below the core
//! (`../shared/DESIGN.md`); start at `platform`.
//!
//! - [`platform`]: the core. Every capability is a method here.
//!   - `actors`: Actors and builds (a build records the typed artifact its
//!     executor made); `runs`: the run record and its status machine;
//!     `supervisor/`: a run's lifecycle (slot, execution, events, timeout,
//!     stops, reboot, metamorph, resurrect, resume, shutdown as a migration).
//!   - `executors`: the executor interface the core needs (build an
//!     artifact, start a run in batch or serve mode, forget a build, clean up
//!     after a crash) and the registry the server wires in at start.
//!   - `storage/`: key-value stores, datasets (+ export), request queues on
//!     sled, each owning its limits; `logs`: run and build logs;
//!     `durability`: group commit before an acknowledgement.
//!   - `standby`: Standby pools (pick, scale out, idle out) over any
//!     executor's HTTP server; `web_servers`: each run's `containerUrl`.
//!   - `charging/`: pricing (`pricingInfos`, the entry in force) and the
//!     ledger: clamped, idempotent, durable charges and allowances shared
//!     down a chain of runs; `usage`: compute and charges per month.
//!   - `access`: who may do what: the admin token, run tokens, limited
//!     permissions, tokenless reads of shared resources, one check for both
//!     doors; `webhooks/`: webhooks, templates, durable dispatches and their
//!     delivery.
//!   - `tasks`: Actors with saved input and options; `schedules`: cron
//!     actions fired by a durable timer (a missed firing once, never twice).
//!   - `storage/schema`: dataset schemas (item validation, views) and
//!     key-value store collections; `storage/export/`: every export format.
//!   - `users`: users and their hashed, scoped tokens; `names`: per-user
//!     `username~name` resolution; `secrets`: secret env vars and input
//!     fields sealed at rest; `quotas`: per-user admission of runs, memory
//!     and Standby runs (`storage/bytes` counts storage bytes against
//!     theirs); `audit`: the append-only log of who did what, both doors.
//!   - `events`: system events; `auth`: the token and keyed run secrets;
//!     `sessions`: signed-in console browsers;
//!     `outbound`: the network policy of guests and webhooks.
//! - [`definition`]: `.actor/actor.json` and the input schema (defaults,
//!   validation) checked before a run exists.
//! - [`executor`]: below the core, one module per artifact kind, each an
//!   implementation of `platform::executors::Executor`; [`executor::standard`]
//!   wires them. [`executor::wasm`] hosts WASI components in wasmtime on
//!   threads of their own; its `host` module is the WIT door onto the core,
//!   its `outbound` module sends guests' HTTP under the policy.
//!   [`executor::docker`] runs image Actors, one container per run, which
//!   reach the core through the HTTP API.
//! - [`api`]: the HTTP door: the Apify-compatible API (axum), the Standby
//!   router and the `containerUrl` proxy, one error type, `rate_limit` (per
//!   token), `audit` (its entries), and `openapi`, the document of every
//!   route (checked against the router in a test).
//! - [`server`]: the server as a library (`server::run(listener, options,
//!   shutdown)`): executors, platform, preload, resume, the listener with
//!   its connection caps and optional TLS (`server::tls`), graceful
//!   shutdown. `main.rs` only parses arguments.
//! - [`console`]: the web console at `/`, a client of the API in the
//!   browser: sign-in into an `HttpOnly` session cookie (`platform::sessions`),
//!   CSRF, content security policy, assets built into the binary.
//! - [`cli`]: the client side of the `wactor` binary (push, call, logs, dataset export).
//! - [`limits`]: every limit, with the reason for its value.
//! - [`ids`]: IDs, hex digests and timestamps in the shapes Apify clients expect.

pub mod api;
pub mod cli;
pub mod console;
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
