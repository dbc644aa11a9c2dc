//! `wactor:actor/key-value-store` over `platform::storage::kv`.

use wasmtime::component::Resource;

use super::bindings::wactor::actor::key_value_store::{Host, HostStore, KeyInfo, KeyPage, StoredValue};
use super::{ActorHost, HostResult};
use crate::platform::error::PlatformError;

/// A guest's open key-value store.
pub struct KvHandle {
    store_id: String,
}

impl ActorHost<'_> {
    fn kv_id(&self, r: &Resource<KvHandle>) -> HostResult<String> {
        Ok(self.table.get(r)?.store_id.clone())
    }
}

impl Host for ActorHost<'_> {}

impl HostStore for ActorHost<'_> {
    async fn open(&mut self, name: Option<String>) -> HostResult<Resource<KvHandle>> {
        let kv = &self.ctx.platform.kv;
        let store_id = match name {
            None => self.ctx.run.default_key_value_store_id.clone(),
            Some(name) => kv.get_or_create_named(&name)?.0.info.id,
        };
        self.push_handle(KvHandle { store_id })
    }

    async fn open_by_id(&mut self, id: String) -> HostResult<Resource<KvHandle>> {
        let store_id = self.ctx.platform.kv.get(&id)?.info.id;
        self.push_handle(KvHandle { store_id })
    }

    async fn id(&mut self, r: Resource<KvHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.store_id.clone())
    }

    async fn get(&mut self, r: Resource<KvHandle>, key: String) -> HostResult<Option<StoredValue>> {
        let id = self.kv_id(&r)?;
        let record = self.ctx.platform.kv.get_record(&id, &key)?;
        Ok(record.map(|r| StoredValue { value: r.value, content_type: r.content_type }))
    }

    async fn set(&mut self, r: Resource<KvHandle>, key: String, value: Vec<u8>, content_type: String) -> HostResult<()> {
        let id = self.kv_id(&r)?;
        let max = self.ctx.platform.config.limits.max_record_bytes;
        self.ctx.platform.kv.set_record(&id, &key, &value, &content_type, max)?;
        self.ctx.platform.commit().await;
        Ok(())
    }

    async fn delete(&mut self, r: Resource<KvHandle>, key: String) -> HostResult<()> {
        let id = self.kv_id(&r)?;
        self.ctx.platform.kv.delete_record(&id, &key)?;
        self.ctx.platform.commit().await;
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
        let max = self.ctx.platform.config.limits.max_keys_per_page;
        if limit == 0 || limit as usize > max {
            return Err(PlatformError::invalid(format!("limit must be between 1 and {max}")).into());
        }
        let page = self.ctx.platform.kv.list_keys(&id, exclusive_start_key.as_deref(), limit as usize, prefix.as_deref())?;
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
