//! `load`: the images of a `docker save` archive uploaded to a file, read by `berth_image`
//! (manifest, configs, references and the confined layer unpacker live there).

use super::image::{Image, Upload};
use super::{EngineError, Result};
use std::path::Path;

/// The images of an uploaded archive, each unpacked into `images_dir/<hex>/rootfs`.
pub fn load(upload: &Upload, images_dir: &Path) -> Result<Vec<Image>> {
    if upload.len == 0 {
        return Err(EngineError::BadRequest(
            "the archive is empty: load takes the output of docker save".into(),
        ));
    }
    Ok(berth_image::archive::load(&upload.path, images_dir)?)
}
