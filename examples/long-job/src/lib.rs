//! A long job of `steps` steps: step `i` pushes `{"step": i, "value": i*i}`
//! and adds the value to a running total kept with [`PersistedState`].
//!
//! The run may be stopped at any moment (migration, crash, reboot) and
//! resumed. The dataset is the source of truth: a push is atomic, so its item
//! count says exactly which steps are done, and a resumed run never pushes a
//! step twice. The persisted state is saved when the platform asks
//! (`persist-state`, `migrating`, `aborting`) and may lag behind; on resume
//! the job adds the values of the steps done since the last save, read back
//! from the dataset.

use serde::{Deserialize, Serialize};
use serde_json::json;
use wactor_sdk::{set_status_message, set_value, Dataset, Event, PersistedState};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    steps: u64,
    step_millis: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct Progress {
    /// First step whose value is not yet in `total`.
    next_step: u64,
    total: u64,
}

#[derive(Deserialize)]
struct Item {
    value: u64,
}

fn main(input: Input) -> wactor_sdk::Result<()> {
    let dataset = Dataset::open_default()?;
    let mut state = PersistedState::<Progress>::load("STATE")?;
    let done = dataset.item_count()?;
    if state.next_step < done {
        // Steps finished after the last save: reconcile from the dataset.
        let missed: Vec<Item> = dataset.get_items(state.next_step, (done - state.next_step) as u32)?;
        state.total += missed.iter().map(|i| i.value).sum::<u64>();
        state.next_step = done;
    }
    if done > 0 {
        println!("Resuming at step {done} of {}", input.steps);
    }
    for step in done..input.steps {
        std::thread::sleep(std::time::Duration::from_millis(input.step_millis));
        let value = step * step;
        dataset.push(&json!({ "step": step, "value": value }))?;
        state.total += value;
        state.next_step = step + 1;
        set_status_message(&format!("Step {} of {}", step + 1, input.steps))?;
        if state.checkpoint()?.contains(&Event::Aborting) {
            println!("Aborting after step {step}; progress saved");
            return Ok(());
        }
    }
    set_value("OUTPUT", &json!({ "steps": input.steps, "total": state.total }))?;
    state.finish()
}

wactor_sdk::actor!(main);
