//! Parsing `#[sse(...)]` attributes.

use syn::{Attribute, LitStr, Result};

use crate::case::RenameRule;

/// `#[sse(...)]` on the enum or struct.
#[derive(Default)]
pub(crate) struct Container {
    /// `rename_all = "..."` (enums).
    pub(crate) rename_all: Option<RenameRule>,
    /// `event = "..."` (structs).
    pub(crate) event: Option<LitStr>,
}

/// `#[sse(...)]` on a variant.
#[derive(Default)]
pub(crate) struct Variant {
    /// `rename = "..."`.
    pub(crate) rename: Option<LitStr>,
}

/// What a field is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Data,
    Id,
    Retry,
    Skip,
}

/// `#[sse(...)]` on a field.
pub(crate) struct Field {
    pub(crate) role: Role,
    /// `rename = "..."`: the JSON key.
    pub(crate) rename: Option<LitStr>,
}

fn sse_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("sse"))
}

/// Checks that an event type literal can be written on an `event:` line.
pub(crate) fn check_event_type(lit: &LitStr) -> Result<()> {
    let value = lit.value();
    if value.contains(['\r', '\n']) {
        return Err(syn::Error::new(
            lit.span(),
            "an event type must not contain a carriage return or line feed",
        ));
    }
    if value.is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "an empty event type would be sent as `message`; leave the attribute out instead",
        ));
    }
    Ok(())
}

pub(crate) fn container(attrs: &[Attribute], is_enum: bool) -> Result<Container> {
    let mut out = Container::default();
    for attr in sse_attrs(attrs) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                if !is_enum {
                    return Err(meta.error(
                        "`rename_all` renames enum variants; on a struct use `#[sse(event = \"...\")]`",
                    ));
                }
                let lit: LitStr = meta.value()?.parse()?;
                let rule = RenameRule::from_name(&lit.value()).ok_or_else(|| {
                    syn::Error::new(
                        lit.span(),
                        format!("unknown `rename_all` rule; expected one of {}", RenameRule::NAMES),
                    )
                })?;
                out.rename_all = Some(rule);
                Ok(())
            } else if meta.path.is_ident("event") {
                if is_enum {
                    return Err(meta.error(
                        "on an enum every variant is its own event type; use `#[sse(rename = \"...\")]` on a variant or `#[sse(rename_all = \"...\")]` here",
                    ));
                }
                let lit: LitStr = meta.value()?.parse()?;
                check_event_type(&lit)?;
                out.event = Some(lit);
                Ok(())
            } else {
                Err(meta.error(if is_enum {
                    "unknown sse attribute; on an enum expected `rename_all = \"...\"`"
                } else {
                    "unknown sse attribute; on a struct expected `event = \"...\"`"
                }))
            }
        })?;
    }
    Ok(out)
}

pub(crate) fn variant(attrs: &[Attribute]) -> Result<Variant> {
    let mut out = Variant::default();
    for attr in sse_attrs(attrs) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: LitStr = meta.value()?.parse()?;
                check_event_type(&lit)?;
                out.rename = Some(lit);
                Ok(())
            } else {
                Err(meta.error("unknown sse attribute; on a variant expected `rename = \"...\"`"))
            }
        })?;
    }
    Ok(out)
}

pub(crate) fn field(attrs: &[Attribute]) -> Result<Field> {
    let mut out = Field {
        role: Role::Data,
        rename: None,
    };
    for attr in sse_attrs(attrs) {
        attr.parse_nested_meta(|meta| {
            let role = if meta.path.is_ident("id") {
                Role::Id
            } else if meta.path.is_ident("retry") {
                Role::Retry
            } else if meta.path.is_ident("skip") {
                Role::Skip
            } else if meta.path.is_ident("rename") {
                out.rename = Some(meta.value()?.parse()?);
                return Ok(());
            } else {
                return Err(meta.error(
                    "unknown sse attribute; on a field expected `id`, `retry`, `skip` or `rename = \"...\"`",
                ));
            };
            if out.role != Role::Data {
                return Err(meta.error("a field has at most one of `id`, `retry` and `skip`"));
            }
            out.role = role;
            Ok(())
        })?;
    }
    Ok(out)
}
