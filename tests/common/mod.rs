//! What the cluster tests share comes from the test-support crate.
#![allow(unused_imports)]

pub use cloudhsm_mfa_test_support::cluster::*;
pub use cloudhsm_mfa_test_support::keys;
pub use cloudhsm_mfa_test_support::openssl::*;
