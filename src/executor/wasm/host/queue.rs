//! `wactor:actor/request-queue` over `platform::storage::queue`. The run's
//! ID is its client key, so what it fetches stays its own until handled,
//! reclaimed or the lock runs out.

use wasmtime::component::Resource;

use super::bindings::wactor::actor::request_queue::{Added, Host, HostQueue, Request};
use super::{ActorHost, HostResult};
use crate::platform::access::StorageKind;

/// A guest's open request queue.
pub struct QueueHandle {
    queue_id: String,
}

impl ActorHost<'_> {
    fn queue_id(&self, r: &Resource<QueueHandle>) -> HostResult<String> {
        Ok(self.table.get(r)?.queue_id.clone())
    }

    fn client(&self) -> String {
        self.ctx.run.id.clone()
    }
}

impl Host for ActorHost<'_> {}

impl HostQueue for ActorHost<'_> {
    async fn open(&mut self, name: Option<String>) -> HostResult<Resource<QueueHandle>> {
        let queue_id = match name {
            None => self.ctx.run.default_request_queue_id.clone(),
            Some(name) => self.open_named(&self.ctx.platform.queues, StorageKind::RequestQueue, &name)?,
        };
        self.push_handle(QueueHandle { queue_id })
    }

    async fn open_by_id(&mut self, id: String) -> HostResult<Resource<QueueHandle>> {
        let queue_id = self.open_existing(&self.ctx.platform.queues, StorageKind::RequestQueue, &id)?;
        self.push_handle(QueueHandle { queue_id })
    }

    async fn id(&mut self, r: Resource<QueueHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.queue_id.clone())
    }

    async fn add(&mut self, r: Resource<QueueHandle>, request: String, forefront: bool) -> HostResult<Added> {
        let id = self.queue_id(&r)?;
        let done = self.ctx.platform.queues.add_json(&id, request.as_bytes(), forefront, &self.client())?;
        self.ctx.writes.note();
        Ok(Added {
            request_id: done.request_id.clone(),
            was_already_present: done.was_already_present,
            was_already_handled: done.was_already_handled,
        })
    }

    async fn fetch_next(&mut self, r: Resource<QueueHandle>, lock_secs: u32) -> HostResult<Option<Request>> {
        let id = self.queue_id(&r)?;
        let head = self.ctx.platform.queues.lock_head(&id, 1, lock_secs.max(1) as u64, &self.client())?;
        let Some(item) = head.items.into_iter().next() else { return Ok(None) };
        let json = self.ctx.platform.queues.get_request(&id, &item.id)?.map(serde_json::Value::Object).unwrap_or_default().to_string();
        Ok(Some(Request {
            id: item.id,
            unique_key: item.unique_key,
            url: item.url,
            method: item.method,
            retry_count: item.retry_count.min(u32::MAX as u64) as u32,
            json,
        }))
    }

    async fn mark_handled(&mut self, r: Resource<QueueHandle>, request_id: String) -> HostResult<()> {
        let id = self.queue_id(&r)?;
        self.ctx.platform.queues.mark_handled(&id, &request_id, &self.client())?;
        self.ctx.writes.note();
        Ok(())
    }

    async fn reclaim(&mut self, r: Resource<QueueHandle>, request_id: String, forefront: bool) -> HostResult<()> {
        let id = self.queue_id(&r)?;
        self.ctx.platform.queues.reclaim(&id, &request_id, forefront, &self.client())?;
        self.ctx.writes.note();
        Ok(())
    }

    async fn is_finished(&mut self, r: Resource<QueueHandle>) -> HostResult<bool> {
        let id = self.queue_id(&r)?;
        Ok(self.ctx.platform.queues.get(&id)?.pending_request_count == 0)
    }

    async fn is_empty(&mut self, r: Resource<QueueHandle>) -> HostResult<bool> {
        let id = self.queue_id(&r)?;
        Ok(self.ctx.platform.queues.is_empty(&id)?)
    }

    async fn drop(&mut self, r: Resource<QueueHandle>) -> wasmtime::Result<()> {
        self.drop_handle(r)
    }
}
