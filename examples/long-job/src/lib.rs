//! A long job of `steps` steps, one dataset item each.
//!
//! The run may be stopped at any moment (server restart, crash) and resumed.
//! Its progress is the default dataset's item count: a push is atomic, so
//! after a restart the job continues at exactly the first step whose item is
//! not stored; no step is skipped and none is pushed twice.

use serde::Deserialize;
use serde_json::json;
use wactor_sdk::{set_status_message, set_value, Dataset};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    steps: u64,
    step_millis: u64,
}

fn main(input: Input) -> wactor_sdk::Result<()> {
    let dataset = Dataset::open_default()?;
    let done = dataset.item_count()?;
    if done > 0 {
        println!("Resuming at step {done} of {}", input.steps);
    }
    for step in done..input.steps {
        std::thread::sleep(std::time::Duration::from_millis(input.step_millis));
        dataset.push(&json!({ "step": step }))?;
        set_status_message(&format!("Step {} of {}", step + 1, input.steps))?;
    }
    set_value("OUTPUT", &json!({ "steps": input.steps }))?;
    Ok(())
}

wactor_sdk::actor!(main);
