//! The generated `impl IntoEvent`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Error, Fields, Result};

use crate::attr::{self, Role};

pub(crate) fn derive(input: &DeriveInput) -> Result<TokenStream> {
    let name = &input.ident;
    // Like serde's derive: every type parameter must be serializable.
    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param
            .bounds
            .push(syn::parse_quote!(::tower_sse::__private::Serialize));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let body = match &input.data {
        Data::Enum(data) => {
            let container = attr::container(&input.attrs, true)?;
            let mut arms = Vec::with_capacity(data.variants.len());
            for variant in &data.variants {
                let attrs = attr::variant(&variant.attrs)?;
                let ident = &variant.ident;
                let event_type = match (&attrs.rename, container.rename_all) {
                    (Some(lit), _) => lit.value(),
                    (None, Some(rule)) => rule.apply(&ident.unraw().to_string()),
                    (None, None) => ident.unraw().to_string(),
                };
                let (pattern, build) =
                    fields(&variant.fields, &quote!(Self::#ident), Some(&event_type))?;
                arms.push(quote!(#pattern => { #build }));
            }
            quote!(match self { #(#arms)* })
        }
        Data::Struct(data) => {
            let container = attr::container(&input.attrs, false)?;
            let event_type = container.event.as_ref().map(syn::LitStr::value);
            let (pattern, build) = fields(&data.fields, &quote!(Self), event_type.as_deref())?;
            quote!(let #pattern = self; #build)
        }
        Data::Union(data) => {
            return Err(Error::new(
                data.union_token.span(),
                "`IntoEvent` cannot be derived for a union; use an enum or a struct",
            ))
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::tower_sse::IntoEvent for #name #ty_generics #where_clause {
            fn into_event(self) -> ::core::result::Result<::tower_sse::Event, ::tower_sse::Error> {
                #body
            }
        }
    })
}

/// The pattern that takes `fields` apart and the block that builds the event.
fn fields(
    fields: &Fields,
    path: &TokenStream,
    event_type: Option<&str>,
) -> Result<(TokenStream, TokenStream)> {
    let mut id = None;
    let mut retry = None;
    let mut data = Vec::new();
    let mut binds = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let attrs = attr::field(&field.attrs)?;
        let bind = format_ident!("__sse_field_{}", i);
        if let (Some(rename), true) = (&attrs.rename, attrs.role != Role::Data) {
            return Err(Error::new(
                rename.span(),
                "`rename` names a JSON data field; this field is not part of the data",
            ));
        }
        let ty = &field.ty;
        match attrs.role {
            Role::Skip => {
                binds.push(quote!(_));
                continue;
            }
            Role::Id => {
                if id.is_some() {
                    return Err(Error::new(
                        field.span(),
                        "only one field can be `#[sse(id)]`",
                    ));
                }
                id = Some(quote_spanned!(ty.span()=>
                    let __sse_event = ::tower_sse::__private::IdField::set_id(#bind, __sse_event)?;
                ));
            }
            Role::Retry => {
                if retry.is_some() {
                    return Err(Error::new(
                        field.span(),
                        "only one field can be `#[sse(retry)]`",
                    ));
                }
                retry = Some(quote_spanned!(ty.span()=>
                    let __sse_event = ::tower_sse::__private::RetryField::set_retry(#bind, __sse_event);
                ));
            }
            Role::Data => {
                let key = match (&attrs.rename, &field.ident) {
                    (Some(lit), _) => lit.value(),
                    (None, Some(ident)) => ident.unraw().to_string(),
                    (None, None) => String::new(),
                };
                data.push((json_key(&key), bind.clone(), field.span()));
            }
        }
        binds.push(quote!(#bind));
    }

    let pattern = match fields {
        Fields::Named(named) => {
            let parts = named.named.iter().zip(&binds).map(|(field, bind)| {
                let ident = field.ident.as_ref();
                quote!(#ident: #bind)
            });
            quote!(#path { #(#parts),* })
        }
        Fields::Unnamed(_) => quote!(#path(#(#binds),*)),
        Fields::Unit => quote!(#path),
    };

    let data = match fields {
        Fields::Named(_) => {
            let calls = data.iter().map(
                |(key, bind, span)| quote_spanned!(*span=> __sse_object.field(#key, &#bind)?;),
            );
            quote! {
                let mut __sse_object = ::tower_sse::__private::JsonObject::new();
                #(#calls)*
                let __sse_data = __sse_object.finish()?;
            }
        }
        Fields::Unnamed(_) => match data.as_slice() {
            [] => quote!(let __sse_data = ::std::string::String::new();),
            [(_, bind, span)] => {
                quote_spanned!(*span=> let __sse_data = ::tower_sse::__private::to_json(&#bind)?;)
            }
            [_, (_, _, span), ..] => {
                return Err(Error::new(
                    *span,
                    "a tuple variant or struct sends one field as its data; mark the others \
                     `#[sse(id)]`, `#[sse(retry)]` or `#[sse(skip)]`, or name the fields",
                ));
            }
        },
        Fields::Unit => quote!(let __sse_data = ::std::string::String::new();),
    };

    let event_type = event_type.map(|t| {
        quote! {
            let __sse_event = __sse_event.event({
                const EVENT_TYPE: ::tower_sse::EventType = ::tower_sse::EventType::from_static(#t);
                EVENT_TYPE
            });
        }
    });
    let build = quote! {
        #data
        let __sse_event = ::tower_sse::Event::new();
        #event_type
        #id
        #retry
        ::core::result::Result::Ok(__sse_event.data(__sse_data))
    };
    Ok((pattern, build))
}

/// `key` as a JSON string followed by a colon.
fn json_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 3);
    out.push('"');
    for ch in key.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str("\":");
    out
}

#[cfg(test)]
mod tests {
    use super::json_key;

    #[test]
    fn keys_are_escaped_as_json() {
        assert_eq!(json_key("user"), "\"user\":");
        assert_eq!(json_key("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\":");
    }
}
