//! Greets `name`: pushes `count` greetings to the default dataset and writes
//! a summary to the `OUTPUT` record.

use serde::Deserialize;
use serde_json::json;
use wactor_sdk::{push_data, set_status_message, set_value};

#[derive(Deserialize)]
struct Input {
    name: String,
    count: u32,
}

fn main(input: Input) -> wactor_sdk::Result<()> {
    let greeting = format!("Hello, {}!", input.name);
    println!("{greeting}");
    let items: Vec<_> = (0..input.count).map(|i| json!({ "greeting": greeting, "index": i })).collect();
    push_data(&items)?;
    set_value("OUTPUT", &json!({ "greeting": greeting, "count": input.count }))?;
    set_status_message(&format!("Greeted {} {} time(s)", input.name, input.count))?;
    Ok(())
}

wactor_sdk::actor!(main);
