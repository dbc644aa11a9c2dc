//! `wactor:actor/key-value-store` over `platform::storage::kv`.

use wasmtime::component::Resource;

use super::bindings::wactor::actor::key_value_store::{Host, HostStore, KeyInfo, KeyPage, StoredValue};
use super::{ActorHost, HostResult};
use crate::platform::access::StorageKind;
use crate::platform::secrets::Viewer;

/// A guest's open key-value store.
pub struct KvHandle {
    store_id: String,
}

impl ActorHost<'_> {
    fn kv_id(&self, r: &Resource<KvHandle>) -> HostResult<String> {
        Ok(self.table.get(r)?.store_id.clone())
    }

    /// The run's default store (`None`), or the named one, created if needed.
    fn store_id(&self, name: Option<String>) -> HostResult<String> {
        Ok(match name {
            None => self.ctx.run.default_key_value_store_id.clone(),
            Some(name) => self.open_named(&self.ctx.platform.kv, StorageKind::KeyValueStore, &name)?,
        })
    }

    fn get_in(&self, store_id: &str, key: &str) -> HostResult<Option<StoredValue>> {
        let record = self.ctx.platform.kv.get_record(store_id, key)?;
        let seen = |r| self.ctx.platform.record_as_seen(Viewer::Run { user_id: &self.ctx.run.user_id }, r);
        Ok(record.map(seen).map(|r| StoredValue { value: r.value, content_type: r.content_type }))
    }

    async fn set_in(&mut self, store_id: &str, key: &str, value: &[u8], content_type: &str) -> HostResult<()> {
        self.ctx.platform.kv.set_record(store_id, key, value, content_type)?;
        self.ctx.writes.note();
        Ok(())
    }
}

impl Host for ActorHost<'_> {
    async fn get_record(&mut self, store: Option<String>, key: String) -> HostResult<Option<StoredValue>> {
        let id = self.store_id(store)?;
        self.get_in(&id, &key)
    }

    async fn set_record(&mut self, store: Option<String>, key: String, value: Vec<u8>, content_type: String) -> HostResult<()> {
        let id = self.store_id(store)?;
        self.set_in(&id, &key, &value, &content_type).await
    }
}

impl HostStore for ActorHost<'_> {
    async fn open(&mut self, name: Option<String>) -> HostResult<Resource<KvHandle>> {
        let store_id = self.store_id(name)?;
        self.push_handle(KvHandle { store_id })
    }

    async fn open_by_id(&mut self, id: String) -> HostResult<Resource<KvHandle>> {
        let store_id = self.open_existing(&self.ctx.platform.kv, StorageKind::KeyValueStore, &id)?;
        self.push_handle(KvHandle { store_id })
    }

    async fn id(&mut self, r: Resource<KvHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.store_id.clone())
    }

    async fn get(&mut self, r: Resource<KvHandle>, key: String) -> HostResult<Option<StoredValue>> {
        let id = self.kv_id(&r)?;
        self.get_in(&id, &key)
    }

    async fn set(&mut self, r: Resource<KvHandle>, key: String, value: Vec<u8>, content_type: String) -> HostResult<()> {
        let id = self.kv_id(&r)?;
        self.set_in(&id, &key, &value, &content_type).await
    }

    async fn delete(&mut self, r: Resource<KvHandle>, key: String) -> HostResult<()> {
        let id = self.kv_id(&r)?;
        self.ctx.platform.kv.delete_record(&id, &key)?;
        self.ctx.writes.note();
        Ok(())
    }

    async fn list_keys(
        &mut self,
        r: Resource<KvHandle>,
        exclusive_start_key: Option<String>,
        limit: u32,
        prefix: Option<String>,
    ) -> HostResult<KeyPage> {
        let id = self.kv_id(&r)?;
        let page = self.ctx.platform.kv.list_keys(&id, exclusive_start_key.as_deref(), Some(limit.into()), prefix.as_deref())?;
        Ok(KeyPage {
            items: page.items.into_iter().map(|k| KeyInfo { key: k.key, size: k.size }).collect(),
            is_truncated: page.is_truncated,
            next_exclusive_start_key: page.next_exclusive_start_key,
        })
    }

    async fn drop(&mut self, r: Resource<KvHandle>) -> wasmtime::Result<()> {
        self.drop_handle(r)
    }
}
