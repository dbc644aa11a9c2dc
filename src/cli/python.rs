//! Python Actors (componentize-py): not built yet.

use std::path::Path;

use anyhow::{bail, Result};

pub fn build(dir: &Path, _standby: bool) -> Result<(Vec<u8>, ())> {
    bail!("{}: Python Actors cannot be built yet", dir.display())
}
