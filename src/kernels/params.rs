//! Each kernel's uniform block is a WGSL struct mirrored by hand in a `#[repr(C)]` Rust
//! struct. [`wgsl_params!`] declares the Rust side and records its fields (name, type,
//! byte offset), so that a test can hold every one against naga's reflection of the WGSL
//! modules that use it: a field added, renamed, retyped or reordered on one side only fails.

use crate::shaders::Shader;

/// One Rust uniform struct's layout and the WGSL modules whose binding-0 uniform it fills.
#[derive(Clone, Debug)]
pub struct ParamsLayout {
    /// The launcher module that owns it.
    pub owner: &'static str,
    /// The modules whose `@group(0) @binding(0)` uniform it is.
    pub modules: &'static [Shader],
    /// Its size in bytes.
    pub size: usize,
    /// Its fields in order: name, Rust type as written, byte offset. Fields named `_...`
    /// are padding.
    pub fields: Vec<(&'static str, &'static str, usize)>,
}

/// Declares a kernel's uniform struct (`#[repr(C)]`, `Pod`) and `params_layout()`, its
/// [`ParamsLayout`] for the check against the WGSL modules listed after `mirrors`.
macro_rules! wgsl_params {
    (
        $(#[$meta:meta])*
        struct $name:ident mirrors [$($module:path),+ $(,)?] {
            $($(#[$field_meta:meta])* $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        struct $name {
            $($(#[$field_meta])* $field: $ty),*
        }

        /// This module's uniform struct as laid out in Rust, with the WGSL modules it fills.
        pub fn params_layout() -> $crate::kernels::params::ParamsLayout {
            $crate::kernels::params::ParamsLayout {
                owner: module_path!(),
                modules: &[$($module),+],
                size: ::core::mem::size_of::<$name>(),
                fields: vec![$((stringify!($field), stringify!($ty), ::core::mem::offset_of!($name, $field))),*],
            }
        }
    };
}

pub(crate) use wgsl_params;

/// Every kernel module's uniform layout.
pub fn all() -> Vec<ParamsLayout> {
    use super::*;
    vec![
        average::params_layout(),
        conv::params_layout(),
        data::params_layout(),
        elementwise::params_layout(),
        ensemble::params_layout(),
        loss::params_layout(),
        matmul::params_layout(),
        norm::params_layout(),
        optim::params_layout(),
        pool::params_layout(),
    ]
}
