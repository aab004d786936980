//! Tests of the `cloudhsm-mfa` binary: it is run as a user runs it, its stdout parsed as
//! JSON, and its files checked byte for byte and against the real `openssl` command.

mod common;
mod envelope;
mod keygen;
mod quickstart;
mod tokens_show;
mod tokens_sign;
mod tokens_verify;
