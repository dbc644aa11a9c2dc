//! `wactor:actor/dataset` over `platform::storage::dataset`.

use wasmtime::component::Resource;

use super::bindings::wactor::actor::dataset::{Host, HostDataset, ItemsPage};
use super::{ActorHost, HostResult};
use crate::platform::access::StorageKind;

/// A guest's open dataset.
pub struct DatasetHandle {
    dataset_id: String,
}

impl ActorHost<'_> {
    fn dataset_id(&self, r: &Resource<DatasetHandle>) -> HostResult<String> {
        Ok(self.table.get(r)?.dataset_id.clone())
    }
}

impl Host for ActorHost<'_> {}

impl HostDataset for ActorHost<'_> {
    async fn open(&mut self, name: Option<String>) -> HostResult<Resource<DatasetHandle>> {
        let dataset_id = match name {
            None => self.ctx.run.default_dataset_id.clone(),
            Some(name) => self.open_named(&self.ctx.platform.datasets, StorageKind::Dataset, &name)?,
        };
        self.push_handle(DatasetHandle { dataset_id })
    }

    async fn open_by_id(&mut self, id: String) -> HostResult<Resource<DatasetHandle>> {
        let dataset_id = self.open_existing(&self.ctx.platform.datasets, StorageKind::Dataset, &id)?;
        self.push_handle(DatasetHandle { dataset_id })
    }

    async fn id(&mut self, r: Resource<DatasetHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.dataset_id.clone())
    }

    async fn push_items(&mut self, r: Resource<DatasetHandle>, items: Vec<String>) -> HostResult<()> {
        let id = self.dataset_id(&r)?;
        // The byte cap (on the raw texts, before parsing) is the core's, the same for both doors.
        let pushed = self.ctx.platform.push_items_texts(&id, &items)?;
        self.ctx.writes.note();
        if pushed.dropped > 0 {
            return Err(crate::platform::error::PlatformError::limit(
                "max-items-reached",
                format!(
                    "The run's maxItems is reached: {} of these {} items were stored, {} dropped",
                    pushed.stored,
                    items.len(),
                    pushed.dropped
                ),
            )
            .into());
        }
        Ok(())
    }

    async fn get_items(&mut self, r: Resource<DatasetHandle>, offset: u64, limit: u32) -> HostResult<ItemsPage> {
        let id = self.dataset_id(&r)?;
        let max = self.ctx.platform.config.limits.max_items_per_guest_read;
        // Bounded in bytes too: the host holds what it reads before the guest gets it.
        let max_bytes = self.ctx.platform.config.limits.max_guest_read_bytes;
        let page = self.ctx.platform.datasets.get_items(&id, offset, limit.min(max) as u64, false, max_bytes)?;
        Ok(ItemsPage {
            items: page.items.into_iter().map(|b| String::from_utf8_lossy(&b).into_owned()).collect(),
            total: page.total,
            offset: page.offset,
        })
    }

    async fn item_count(&mut self, r: Resource<DatasetHandle>) -> HostResult<u64> {
        let id = self.dataset_id(&r)?;
        Ok(self.ctx.platform.datasets.get(&id)?.item_count)
    }

    async fn drop(&mut self, r: Resource<DatasetHandle>) -> wasmtime::Result<()> {
        self.drop_handle(r)
    }
}
