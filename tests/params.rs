//! Every kernel's Rust uniform struct against the WGSL struct it fills, as naga reflects the
//! module: the same fields in the same order, with the same types, at the same byte offsets,
//! and the same size. A field reordered, renamed or retyped on one side fails here instead of
//! silently feeding a kernel the wrong values. No GPU needed.

use snapfreeze::kernels::params::{self, ParamsLayout};
use wgpu::naga;

/// A field as both sides describe it: name, WGSL type, byte offset.
type Field = (String, String, u32);

/// The WGSL type a Rust field type stands for.
fn wgsl_type(rust: &str) -> String {
    match rust.replace(' ', "").as_str() {
        "u32" => "u32".into(),
        "i32" => "i32".into(),
        "f32" => "f32".into(),
        "[f32;4]" => "vec4<f32>".into(),
        "[u32;4]" => "vec4<u32>".into(),
        other => panic!("no WGSL type known for the Rust field type {other}"),
    }
}

/// A naga type in WGSL's words (the scalar and vector types uniforms use here).
fn describe(module: &naga::Module, ty: naga::Handle<naga::Type>) -> String {
    let scalar = |s: naga::Scalar| match (s.kind, s.width) {
        (naga::ScalarKind::Uint, 4) => "u32".to_string(),
        (naga::ScalarKind::Sint, 4) => "i32".to_string(),
        (naga::ScalarKind::Float, 4) => "f32".to_string(),
        other => format!("{other:?}"),
    };
    match &module.types[ty].inner {
        naga::TypeInner::Scalar(s) => scalar(*s),
        naga::TypeInner::Vector { size, scalar: s } => {
            format!("vec{}<{}>", *size as u32, scalar(*s))
        }
        other => format!("{other:?}"),
    }
}

/// The struct bound at `@group(0) @binding(0)` as a uniform: its fields and size.
fn uniform_struct(module: &naga::Module) -> Option<(String, Vec<Field>, u32)> {
    let (_, global) = module.global_variables.iter().find(|(_, g)| {
        g.space == naga::AddressSpace::Uniform
            && g.binding
                .as_ref()
                .is_some_and(|b| b.group == 0 && b.binding == 0)
    })?;
    let ty = &module.types[global.ty];
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        return None;
    };
    let fields = members
        .iter()
        .map(|m| {
            let name = m.name.clone().unwrap_or_default();
            (name, describe(module, m.ty), m.offset)
        })
        .collect();
    Some((ty.name.clone().unwrap_or_default(), fields, *span))
}

/// Padding carries no meaning: only the named fields are compared (the sizes still are).
fn meaningful(fields: Vec<Field>) -> Vec<Field> {
    fields
        .into_iter()
        .filter(|(name, _, _)| !name.starts_with('_'))
        .collect()
}

fn rust_fields(layout: &ParamsLayout) -> Vec<Field> {
    layout
        .fields
        .iter()
        .filter(|(name, _, _)| !name.starts_with('_'))
        .map(|&(name, ty, offset)| (name.to_string(), wgsl_type(ty), offset as u32))
        .collect()
}

#[test]
fn every_rust_params_struct_matches_its_wgsl_uniform_struct() {
    let layouts = params::all();
    // Every shader module is filled by some launcher's uniform: one left out of
    // params::all would escape the check.
    for shader in snapfreeze::shaders::ALL {
        assert!(
            layouts
                .iter()
                .any(|l| l.modules.iter().any(|m| m.name == shader.name)),
            "shader module {} has no uniform in params::all",
            shader.name
        );
    }
    let mut checked = 0;
    for layout in &layouts {
        let rust = rust_fields(layout);
        assert!(!rust.is_empty(), "{}: no fields", layout.owner);
        for shader in layout.modules {
            // naga cannot parse `enable subgroups` (browser-only build); its uniform comes
            // from the same conv_params.wgsl as the plain build's, checked beside it.
            if shader.source.starts_with("enable subgroups") {
                continue;
            }
            let module = naga::front::wgsl::parse_str(shader.source)
                .unwrap_or_else(|e| panic!("{}: {}", shader.name, e.emit_to_string(shader.source)));
            let (name, fields, size) = uniform_struct(&module)
                .unwrap_or_else(|| panic!("{}: no uniform struct at binding 0", shader.name));
            assert_eq!(
                rust,
                meaningful(fields),
                "{} against struct {name} of shader module {}",
                layout.owner,
                shader.name
            );
            assert_eq!(
                layout.size as u32, size,
                "{}: Rust size against struct {name} of {}",
                layout.owner, shader.name
            );
            checked += 1;
        }
    }
    // Every module but the browser-only subgroup builds.
    let browser_only = snapfreeze::shaders::ALL
        .iter()
        .filter(|s| s.source.starts_with("enable subgroups"))
        .count();
    assert_eq!(browser_only, 3, "browser-only modules");
    assert_eq!(
        checked,
        snapfreeze::shaders::ALL.len() - browser_only,
        "modules checked"
    );
}

#[test]
fn a_reordered_field_is_caught() {
    // The check itself can fail: swap two fields of the conv uniform on the Rust side.
    let mut layout = snapfreeze::kernels::conv::params_layout();
    let (a, b) = (layout.fields[0].2, layout.fields[1].2);
    layout.fields.swap(0, 1);
    layout.fields[0].2 = a;
    layout.fields[1].2 = b;
    let shader = layout.modules[0];
    let module = naga::front::wgsl::parse_str(shader.source).unwrap();
    let (_, fields, _) = uniform_struct(&module).unwrap();
    assert_ne!(rust_fields(&layout), meaningful(fields));
}
