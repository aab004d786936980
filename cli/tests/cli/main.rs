//! Tests of the `cloudhsm-mfa` binary: it is run as a user runs it, its stdout parsed as
//! JSON, and its files checked byte for byte and against the real `openssl` command. The
//! cluster commands run against a live emulator cluster that each test starts on free
//! loopback ports.

mod change_mfa;
mod clusters;
mod common;
mod conventions;
mod envelope;
mod hsm;
mod interactive;
mod keygen;
mod logging;
mod login;
mod mfa_preferences;
mod pkcs11;
mod quickstart;
mod quorum;
mod single_command;
mod tokens_show;
mod tokens_sign;
mod tokens_verify;
mod users;
