//! The `IntoEvent` derive of [tower-sse](https://docs.rs/tower-sse).
//!
//! Use it through `tower_sse` with the `derive` feature, not directly:
//! the generated code names `::tower_sse` paths. The attributes are
//! documented on `tower_sse::IntoEvent`.

mod attr;
mod case;
mod expand;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `tower_sse::IntoEvent`: each enum variant (or the struct) becomes
/// one server-sent event with JSON data. See `tower_sse::IntoEvent`.
#[proc_macro_derive(IntoEvent, attributes(sse))]
pub fn derive_into_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
