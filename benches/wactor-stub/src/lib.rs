//! Stands in for the wactor platform where there is none: every
//! `wactor:actor/key-value-store` call fails with an error. `benches/standby.sh`
//! plugs it into the `standby-hello` component so that `wasmtime serve` can
//! load that very component; the benchmarked path (the echo) never calls it.

wit_bindgen::generate!({
    inline: "package wactor:bench-stub; world stub { export wactor:actor/types@0.1.0; export wactor:actor/key-value-store@0.1.0; }",
    path: "../../wit",
    generate_all,
});

use exports::wactor::actor::key_value_store::{Guest, GuestStore, KeyPage, Store, StoredValue};
use exports::wactor::actor::types::Error;

struct Stub;

fn unavailable() -> Error {
    Error::Internal("storages are only available on wactor".into())
}

impl Guest for Stub {
    type Store = Stub;

    fn get_record(_store: Option<String>, _key: String) -> Result<Option<StoredValue>, Error> {
        Err(unavailable())
    }

    fn set_record(_store: Option<String>, _key: String, _value: Vec<u8>, _content_type: String) -> Result<(), Error> {
        Err(unavailable())
    }
}

impl GuestStore for Stub {
    fn open(_name: Option<String>) -> Result<Store, Error> {
        Err(unavailable())
    }

    fn open_by_id(_id: String) -> Result<Store, Error> {
        Err(unavailable())
    }

    fn id(&self) -> String {
        String::new()
    }

    fn get(&self, _key: String) -> Result<Option<StoredValue>, Error> {
        Err(unavailable())
    }

    fn set(&self, _key: String, _value: Vec<u8>, _content_type: String) -> Result<(), Error> {
        Err(unavailable())
    }

    fn delete(&self, _key: String) -> Result<(), Error> {
        Err(unavailable())
    }

    fn list_keys(&self, _start: Option<String>, _limit: u32, _prefix: Option<String>) -> Result<KeyPage, Error> {
        Err(unavailable())
    }
}

export!(Stub);
