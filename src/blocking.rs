//! The blocking face of the client, for the C ABI, the CLI and plain Rust programs: the
//! same [`client::Session`], driven on one runtime that the caller owns (the C ABI creates
//! it in `CHM_Initialize` and ends it in `CHM_Finalize`). Every operation goes through
//! [`Session::run`]:
//!
//! ```no_run
//! # fn demo(s: &mut cloudhsm_mfa::blocking::Session) -> cloudhsm_mfa::Result<()> {
//! use cloudhsm_mfa::Role;
//! s.run(async |s| s.login("admin", Role::Admin, "password1").await)?;
//! let users = s.run(async |s| s.list_users().await)?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::client::{self, SessionOptions};
use crate::config::ClusterTarget;
use crate::error::{Error, Result};

/// The runtime that drives every blocking session: two worker threads for the network.
#[derive(Clone)]
pub struct Runtime {
    rt: Arc<tokio::runtime::Runtime>,
}

impl Runtime {
    pub fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cloudhsm-mfa-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime {
                reason: e.to_string(),
            })?;
        Ok(Runtime { rt: Arc::new(rt) })
    }

    /// Runs `future` to completion on this runtime, blocking the calling thread.
    ///
    /// Called from inside the runtime (a signing callback that calls back into the
    /// library, on the thread of the call that invoked it), the future is driven right
    /// here on this thread, with the runtime's workers serving its I/O, instead of
    /// starting a runtime within a runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if tokio::runtime::Handle::try_current().is_ok() {
            return drive_here(future);
        }
        self.rt.block_on(future)
    }
}

/// Wakes the thread that drives a future.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it is ready, parking between wake-ups.
fn drive_here<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// A blocking session with one cluster; every operation of [`client::Session`] runs
/// through [`Session::run`]. It keeps the runtime alive while it exists.
pub struct Session {
    rt: Runtime,
    inner: client::Session,
}

impl Session {
    /// Connects to every HSM of `target`.
    pub fn open(rt: &Runtime, target: &ClusterTarget, options: &SessionOptions) -> Result<Self> {
        let inner = rt.block_on(client::Session::open(target, options))?;
        Ok(Session {
            rt: rt.clone(),
            inner,
        })
    }

    /// Runs one operation of the session to completion, blocking the calling thread.
    pub fn run<T>(&mut self, operation: impl AsyncFnOnce(&mut client::Session) -> T) -> T {
        self.rt.block_on(operation(&mut self.inner))
    }

    /// Ends the login, if any, on every HSM before it returns.
    pub fn close(&mut self) {
        self.run(async |s| s.close().await)
    }
}

impl Session {
    /// The number of HSMs in the cluster.
    pub fn hsm_count(&self) -> usize {
        self.inner.hsm_count()
    }

    /// The logged-in user and role, if any.
    pub fn logged_in(&self) -> Option<(&str, crate::user::Role)> {
        self.inner.logged_in()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_run_from_inside_the_runtime_is_driven_on_the_same_thread() {
        let rt = Runtime::new().unwrap();
        let caller = std::thread::current().id();
        let inner = rt.block_on(async {
            // As a signing callback would, from inside the runtime.
            rt.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                std::thread::current().id()
            })
        });
        assert_eq!(inner, caller);
    }
}
