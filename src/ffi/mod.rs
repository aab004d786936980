//! The C ABI (PKCS#11 style) and nothing else: return codes, handles, NULL checks, the
//! panic boundary and the conversions between C and the Rust API. The header
//! `include/cloudhsm_mfa.h` is generated from this module by cbindgen.
#![allow(non_snake_case, non_camel_case_types)]

mod codes;
mod factors;
mod function_list;
mod general;
mod guard;
mod handles;
mod keys;
mod quorum;
mod return_codes;
mod sessions;
mod token_files;
mod types;

pub use codes::code_of;
pub use factors::*;
pub use function_list::*;
pub use general::*;
pub use keys::*;
pub use quorum::*;
pub use sessions::*;
pub use token_files::*;
pub use types::*;
