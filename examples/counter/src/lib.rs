//! A counter that outlives runs: it lives in the named store `example-counter`.

use serde_json::{json, Value};
use wactor_sdk::{set_value, KeyValueStore};

fn main(_input: Value) -> wactor_sdk::Result<()> {
    let store = KeyValueStore::open("example-counter")?;
    let count = store.get_value::<u64>("count")?.unwrap_or(0) + 1;
    store.set_value("count", &count)?;
    println!("Counter is now {count}");
    set_value("OUTPUT", &json!({ "count": count }))?;
    Ok(())
}

wactor_sdk::actor!(main);
