//! PKCS#11 URI parsing (SPEC §12) on any text: never a panic, and wherever a URI is shown
//! (its display form, an error about it) every `pin-value` reads `***`.
#![no_main]

use cloudhsm_mfa::signer::Pkcs11Uri;
use libfuzzer_sys::fuzz_target;

/// Every query attribute `pin-value=V` of `shown` has `V == "***"`.
fn pin_values_hidden(shown: &str) -> bool {
    let Some((_, query)) = shown.split_once('?') else {
        return true;
    };
    query
        .split('&')
        .filter_map(|attr| attr.split_once('='))
        .filter(|(name, _)| *name == "pin-value")
        .all(|(_, value)| match value.split_once('…') {
            // A long URI is shortened: the cut may fall inside the last `***`.
            Some((head, _)) => "***".starts_with(head),
            None => value == "***",
        })
}

fuzz_target!(|text: &str| {
    match Pkcs11Uri::parse(text) {
        Ok(uri) => assert!(pin_values_hidden(&uri.to_string()), "{uri}"),
        Err(e) => {
            let shown = e.to_string();
            // The URI comes first in the message, up to ": ".
            let uri_part = shown.split(": ").next().unwrap_or("");
            assert!(pin_values_hidden(uri_part), "{shown}");
        }
    }
});
