//! The token-file parser (SPEC §2) on any bytes: never a panic; whatever parses writes back
//! to JSON that parses to the same file.
#![no_main]

use cloudhsm_mfa::TokenFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = TokenFile::parse(data) {
        let json = file.to_json();
        let again = TokenFile::parse(json.as_bytes()).expect("what was written parses");
        assert_eq!(again.to_json(), json);
    }
});
