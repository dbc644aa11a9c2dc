//! WIT door (wasm executor): `wactor:actor/events`, the run's event queue as a `wasi:io` pollable plus
//! a non-blocking `next`.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynPollable, Pollable};

use super::bindings::wactor::actor::events::{Event, Host, SystemInfo};
use super::ActorHost;
use crate::platform::events::{EventQueue, RunEvent};

/// Ready while the run has an unread event.
struct EventsReady(EventQueue);

#[async_trait::async_trait]
impl Pollable for EventsReady {
    async fn ready(&mut self) {
        self.0.ready().await
    }
}

impl Host for ActorHost<'_> {
    async fn subscribe(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let ready = self.table.push(EventsReady(self.ctx.events.clone()))?;
        wasmtime_wasi::p2::subscribe(self.table, ready)
    }

    async fn next(&mut self) -> wasmtime::Result<Option<Event>> {
        Ok(self.ctx.events.pop().map(|e| match e {
            RunEvent::PersistState { is_migrating } => Event::PersistState(is_migrating),
            RunEvent::Migrating { time_remaining_secs } => Event::Migrating(time_remaining_secs),
            RunEvent::Aborting => Event::Aborting,
            RunEvent::SystemInfo(i) => Event::SystemInfo(SystemInfo {
                mem_current_bytes: i.mem_current_bytes,
                mem_max_bytes: i.mem_max_bytes,
                cpu_current_usage: i.cpu_current_usage,
                is_cpu_overloaded: i.is_cpu_overloaded,
                created_at: i.created_at,
            }),
        }))
    }
}
