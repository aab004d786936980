//! Hygiene for programs that hold secrets, such as the `cloudhsm-mfa` and
//! `cloudhsm-emulator` binaries: no core dumps, and heap memory wiped when it is freed, so
//! that a copy of a password made by a dependency (a TLS record buffer, a parser's scratch
//! space, a grown vector) does not outlive its use. The library never changes a
//! process-wide setting by itself; a program opts in:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: cloudhsm_mfa::process::WipingAllocator =
//!     cloudhsm_mfa::process::WipingAllocator::new(std::alloc::System);
//!
//! fn main() {
//!     let _ = cloudhsm_mfa::process::forbid_core_dumps();
//! }
//! ```

use rustix::process::{setrlimit, Resource, Rlimit};

/// The system allocator, with every block zeroed before it is freed (and before the old
/// block of a reallocation is freed).
pub type WipingAllocator = secmem_alloc::zeroizing_alloc::ZeroizeAlloc<std::alloc::System>;

/// Sets the core-file size limit of this process (soft and hard) to zero, so that a crash
/// or a signal never writes the process's memory to disk. Children inherit the limit.
pub fn forbid_core_dumps() -> std::io::Result<()> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_core_limit_reads_back_as_zero() {
        super::forbid_core_dumps().unwrap();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
    }
}
