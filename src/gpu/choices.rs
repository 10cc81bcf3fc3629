//! Kernel choices measured on this device (which convolution algorithm, which weight-gradient
//! kernel and split), remembered so that each is timed once per adapter, and kept between
//! starts: natively in a JSON file, in the page in IndexedDB. A kept set is trusted only
//! for the adapter, driver and kernel sources it was measured with; anything else is
//! refused with the reason, and the choices are measured again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::context::AdapterReport;

/// Version of the kept file's layout.
const FORMAT: u32 = 1;

/// The Rust sources whose candidates and timing make the choices: the convolutions', the
/// matmul's and batch norm's launchers, and the start-up timing.
const CHOOSERS: [&str; 4] = [
    include_str!("../kernels/conv.rs"),
    include_str!("../kernels/matmul.rs"),
    include_str!("../kernels/norm.rs"),
    include_str!("timing.rs"),
];

/// What a kept set of choices is valid for: one adapter and driver, and one version of the
/// kernels (a hash of every WGSL source, since a changed kernel may change the winner, and of
/// the Rust sources that list the candidates and time them, since a new candidate must be
/// timed before it can win).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceKey {
    /// Adapter name.
    pub adapter: String,
    /// Backend (Vulkan, Metal, ...).
    pub backend: String,
    /// Driver name and version.
    pub driver: String,
    /// PCI vendor and device ids (0 on the web).
    pub vendor_id: u32,
    /// See `vendor_id`.
    pub device_id: u32,
    /// CRC-32 of every WGSL source and of [`CHOOSERS`], in hex.
    pub kernels: String,
}

impl ChoiceKey {
    /// The key of choices measured now on `adapter` with this build's kernels.
    pub fn new(adapter: &AdapterReport) -> Self {
        let mut hash = crc32fast::Hasher::new();
        for shader in crate::shaders::ALL {
            hash.update(shader.name.as_bytes());
            hash.update(shader.source.as_bytes());
        }
        for source in CHOOSERS {
            hash.update(source.as_bytes());
        }
        ChoiceKey {
            adapter: adapter.name.clone(),
            backend: adapter.backend.clone(),
            driver: adapter.driver.clone(),
            vendor_id: adapter.vendor_id,
            device_id: adapter.device_id,
            kernels: format!("{:08x}", hash.finalize()),
        }
    }
}

/// The kept form.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kept {
    format: u32,
    key: ChoiceKey,
    /// Question (like `weight_grad 128x16x28x28 * ...`) to answer (like `shared/8`).
    choices: BTreeMap<String, String>,
}

/// The choices made on one device: question to answer, both as text the kernels define.
#[derive(Debug, Default)]
pub struct KernelChoices {
    choices: BTreeMap<String, String>,
}

impl KernelChoices {
    /// The answer remembered for `question`, if any.
    pub fn get(&self, question: &str) -> Option<&str> {
        self.choices.get(question).map(String::as_str)
    }

    /// Remembers `answer` for `question`.
    pub fn set(&mut self, question: String, answer: String) {
        self.choices.insert(question, answer);
    }

    /// Forgets the answer to `question`, if any.
    pub fn remove(&mut self, question: &str) {
        self.choices.remove(question);
    }

    /// Every (question, answer), sorted.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.choices.iter().map(|(q, a)| (q.as_str(), a.as_str()))
    }

    /// How many are remembered.
    pub fn len(&self) -> usize {
        self.choices.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.choices.is_empty()
    }

    /// The kept form, valid for `key`.
    pub fn to_json(&self, key: &ChoiceKey) -> String {
        let kept = Kept {
            format: FORMAT,
            key: key.clone(),
            choices: self.choices.clone(),
        };
        serde_json::to_string_pretty(&kept).unwrap_or_default()
    }

    /// Reads a kept set, if it was made for `key`; otherwise says why it cannot be trusted.
    pub fn from_json(text: &str, key: &ChoiceKey) -> Result<KernelChoices, String> {
        let kept: Kept =
            serde_json::from_str(text).map_err(|e| format!("not a kernel-choice file ({e})"))?;
        if kept.format != FORMAT {
            return Err(format!(
                "made by another version of the program (format {}, this one reads {FORMAT})",
                kept.format
            ));
        }
        let k = &kept.key;
        if (&k.adapter, &k.backend, k.vendor_id, k.device_id)
            != (&key.adapter, &key.backend, key.vendor_id, key.device_id)
        {
            return Err(format!(
                "measured on another adapter ({} on {})",
                k.adapter, k.backend
            ));
        }
        if k.driver != key.driver {
            return Err(format!("measured with another driver ({})", k.driver));
        }
        if k.kernels != key.kernels {
            return Err("measured with other kernels (the shaders changed since)".into());
        }
        Ok(KernelChoices {
            choices: kept.choices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChoiceKey {
        ChoiceKey {
            adapter: "llvmpipe".into(),
            backend: "Vulkan".into(),
            driver: "llvmpipe Mesa 22".into(),
            vendor_id: 0x10005,
            device_id: 0,
            kernels: "0badf00d".into(),
        }
    }

    #[test]
    fn kept_choices_come_back_for_the_same_key_only() {
        let mut c = KernelChoices::default();
        c.set("weight_grad 2x3".into(), "shared/4".into());
        let text = c.to_json(&key());
        let back = KernelChoices::from_json(&text, &key()).unwrap();
        assert_eq!(back.get("weight_grad 2x3"), Some("shared/4"));
        let refused = |k: ChoiceKey| KernelChoices::from_json(&text, &k).unwrap_err();
        let mut other = key();
        other.adapter = "NVIDIA H200".into();
        assert!(refused(other).contains("another adapter"));
        let mut other = key();
        other.driver = "llvmpipe Mesa 25".into();
        assert!(refused(other).contains("another driver"));
        let mut other = key();
        other.kernels = "12345678".into();
        assert!(refused(other).contains("other kernels"));
        let old = text.replace("\"format\": 1", "\"format\": 0");
        assert!(KernelChoices::from_json(&old, &key())
            .unwrap_err()
            .contains("another version"));
        assert!(KernelChoices::from_json("{\"choices\": 3", &key())
            .unwrap_err()
            .contains("not a kernel-choice file"));
    }
}
