//! Networks as sequences of freezable blocks: the families ([`spec`]), their blocks
//! ([`arch`]), layer sizes ([`geometry`]), where their tensors live ([`params`]), the
//! static GPU plan that trains them ([`plan`]) and an f64 CPU forward pass to check it
//! ([`reference`]).

pub mod arch;
pub mod geometry;
pub mod params;
pub mod plan;
pub mod reference;
pub mod spec;

pub use arch::Architecture;
pub use plan::{ForwardChoice, KernelVariants, Plan};
pub use spec::{ModelSpec, SpecError};
