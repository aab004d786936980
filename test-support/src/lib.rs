//! What the tests of the library, the emulator and the CLI share, so that each helper is
//! written once:
//! - [`keys`]: committed fixture RSA keys (2048, 3072 and 4096 bits, PKCS#8 and PKCS#1),
//!   so that no test process spends seconds generating keys;
//! - [`cluster`]: an embedded emulator cluster on free loopback ports with a test clock
//!   ([`cluster::TestCluster::advance`]), so that expiry tests do not sleep;
//! - [`openssl`]: the real `openssl` command, and signing a token file the way the AWS
//!   guide shows;
//! - [`memory`]: the copies of a secret in another process's memory, as a core dump would
//!   hold them;
//! - [`softhsm`]: a private SoftHSM2 token store, for keys on PKCS#11 tokens.

pub mod cluster;
pub mod keys;
pub mod memory;
pub mod openssl;
pub mod softhsm;
