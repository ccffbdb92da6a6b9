//! `#[sluice_sdk::plugin]`: reads which hooks an `impl Plugin for X` block defines, sets
//! `Plugin::HOOKS` from them (so a hook cannot be written and then left out of the list the
//! host calls), and exports `X` as the component's hooks. Use it through `sluice-sdk`.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, spanned::Spanned, ImplItem, ItemImpl};

/// Each hook method of `Plugin` and the `Hook` case the host knows it by.
const HOOKS: [(&str, &str); 8] = [
    ("on_connect", "Connect"),
    ("on_helo", "Helo"),
    ("on_auth", "Auth"),
    ("on_mail_from", "MailFrom"),
    ("on_rcpt_to", "RcptTo"),
    ("on_data", "Data"),
    ("on_route", "Route"),
    ("on_delivery_result", "DeliveryResult"),
];

#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        let args = proc_macro2::TokenStream::from(args);
        return syn::Error::new(args.span(), "#[plugin] takes no arguments")
            .to_compile_error()
            .into();
    }
    let mut block = parse_macro_input!(item as ItemImpl);
    match expand(&mut block) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(block: &mut ItemImpl) -> syn::Result<proc_macro2::TokenStream> {
    let is_plugin = block
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|s| s.ident == "Plugin");
    if !is_plugin {
        return Err(syn::Error::new(
            block.span(),
            "#[plugin] goes on an `impl Plugin for YourType` block",
        ));
    }
    let mut hooks = Vec::new();
    let mut has_init = false;
    for item in &block.items {
        match item {
            ImplItem::Fn(f) => {
                let name = f.sig.ident.to_string();
                has_init |= name == "init";
                if let Some((_, case)) = HOOKS.iter().find(|(m, _)| *m == name) {
                    hooks.push(format_ident!("{}", case));
                }
            }
            ImplItem::Const(c) if c.ident == "HOOKS" => {
                return Err(syn::Error::new(
                    c.span(),
                    "HOOKS is derived from the hook methods this block defines; remove it",
                ));
            }
            _ => {}
        }
    }
    block.items.push(syn::parse_quote! {
        const HOOKS: &'static [::sluice_sdk::Hook] = &[#(::sluice_sdk::Hook::#hooks),*];
    });
    if !has_init {
        // A plugin without `init` reads no config: any key the operator sets is refused.
        block.items.push(syn::parse_quote! {
            fn init(_config: &::sluice_sdk::Config) -> ::core::result::Result<Self, ::sluice_sdk::ConfigError> {
                ::core::result::Result::Ok(<Self as ::core::default::Default>::default())
            }
        });
    }
    let ty = &block.self_ty;
    Ok(quote! {
        #block
        ::sluice_sdk::__export_plugin!(#ty);
    })
}
