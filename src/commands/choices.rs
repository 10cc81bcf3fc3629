//! The kept kernel choices of the native program: a JSON file per user, read when the GPU is
//! opened and written after a plan has measured, so the next start measures nothing. The
//! file's place is `SNAPFREEZE_KERNEL_CHOICES` if set (`off` keeps nothing), else
//! `$XDG_CACHE_HOME/snapfreeze/kernel-choices.json`, else `~/.cache/snapfreeze/...`.

use std::path::PathBuf;

use snapfreeze::gpu::{Gpu, GpuError};

/// Where the choices are kept, or None when keeping is off or there is no home.
pub fn path() -> Option<PathBuf> {
    if let Some(set) = std::env::var_os("SNAPFREEZE_KERNEL_CHOICES") {
        return (set != "off" && !set.is_empty()).then(|| PathBuf::from(set));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("snapfreeze").join("kernel-choices.json"))
}

/// What became of the kept choices when the GPU was opened, for `info` and the logs.
pub fn load(gpu: &Gpu) -> String {
    let Some(path) = path() else {
        return "kernel choices: not kept (SNAPFREEZE_KERNEL_CHOICES=off)".into();
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return format!("kernel choices: none kept yet in {}", path.display());
        }
        Err(e) => return format!("kernel choices: cannot read {} ({e})", path.display()),
    };
    match gpu.load_kernel_choices(&text) {
        Ok(n) => format!("kernel choices: {n} kept in {}", path.display()),
        Err(why) => format!(
            "kernel choices in {} ignored: {why}; they are measured again",
            path.display()
        ),
    }
}

/// Opens the GPU with the kept choices loaded; the second value says what became of them.
pub async fn open_gpu() -> Result<(Gpu, String), GpuError> {
    let gpu = Gpu::new().await?;
    let loaded = load(&gpu);
    Ok((gpu, loaded))
}

/// Writes the device's choices to the file (replacing it whole, through a sibling file), so
/// a later start on this adapter measures nothing. A failure only costs that, so it is
/// reported and otherwise ignored.
pub fn keep(gpu: &Gpu) {
    let Some(path) = path() else { return };
    if gpu.kernel_choices().is_empty() {
        return;
    }
    let partial = path.with_extension("json.partial");
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::write(&partial, gpu.kernel_choices_json()))
        .and_then(|_| std::fs::rename(&partial, &path));
    if let Err(e) = written {
        eprintln!(
            "note: cannot keep the kernel choices in {} ({e}); the next start measures again",
            path.display()
        );
    }
}
