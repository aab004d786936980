//! The blocking face of the client, for the C ABI, the CLI and plain Rust programs: the
//! same session, driven on one runtime that the caller owns (the C ABI creates it in
//! `CHM_Initialize` and ends it in `CHM_Finalize`). Safe to use from many threads, each
//! with its own session.

use std::path::Path;

use crate::client::{self, IssuedTokens, LoginReport, SessionOptions, Signer, UserList};
use crate::config::ClusterTarget;
use crate::crypto::{PublicKey, Token};
use crate::error::{Error, Result};
use crate::proto::Role;

/// The runtime that drives every blocking session: two worker threads for the network.
#[derive(Clone)]
pub struct Runtime {
    rt: std::sync::Arc<tokio::runtime::Runtime>,
}

impl Runtime {
    pub fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cloudhsm-mfa-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Session(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Runtime {
            rt: std::sync::Arc::new(rt),
        })
    }

    /// Runs `future` to completion on this runtime, blocking the calling thread.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

/// A blocking session with one cluster. See [`client::Session`] for each operation. It
/// keeps the runtime alive while it exists.
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

    pub fn hsm_count(&self) -> usize {
        self.inner.hsm_count()
    }

    pub fn logged_in(&self) -> Option<(&str, Role)> {
        self.inner.logged_in()
    }

    pub fn login(&mut self, username: &str, role: Role, password: &str) -> Result<LoginReport> {
        self.rt.block_on(self.inner.login(username, role, password))
    }

    pub fn login_mfa_begin(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        token_path: &Path,
    ) -> Result<IssuedTokens> {
        self.rt.block_on(
            self.inner
                .login_mfa_begin(username, role, password, token_path),
        )
    }

    pub fn login_mfa_finish(&mut self, signed_path: Option<&Path>) -> Result<LoginReport> {
        self.rt.block_on(self.inner.login_mfa_finish(signed_path))
    }

    pub fn login_mfa_with_signer<F>(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        signer: F,
    ) -> Result<LoginReport>
    where
        F: Fn(&Token) -> Result<Vec<u8>> + Sync,
    {
        self.login_mfa_with(username, role, password, &signer)
    }

    pub fn login_mfa_with(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        signer: &dyn Signer,
    ) -> Result<LoginReport> {
        self.rt
            .block_on(self.inner.login_mfa_with(username, role, password, signer))
    }

    pub fn close(&mut self) {
        self.rt.block_on(self.inner.close())
    }

    pub fn logout(&mut self) -> Result<()> {
        self.rt.block_on(self.inner.logout())
    }

    pub fn list_users(&mut self) -> Result<UserList> {
        self.rt.block_on(self.inner.list_users())
    }

    pub fn create_user(&mut self, username: &str, role: Role, password: &str) -> Result<()> {
        self.rt
            .block_on(self.inner.create_user(username, role, password))
    }

    pub fn delete_user(&mut self, username: &str, role: Role) -> Result<()> {
        self.rt.block_on(self.inner.delete_user(username, role))
    }

    pub fn change_password(&mut self, username: &str, role: Role, password: &str) -> Result<()> {
        self.rt
            .block_on(self.inner.change_password(username, role, password))
    }

    pub fn activate_cluster(&mut self, password: &str) -> Result<()> {
        self.rt.block_on(self.inner.activate_cluster(password))
    }

    pub fn change_mfa_begin(
        &mut self,
        username: &str,
        role: Role,
        token_path: &Path,
    ) -> Result<IssuedTokens> {
        self.rt
            .block_on(self.inner.change_mfa_begin(username, role, token_path))
    }

    pub fn change_mfa_finish(
        &mut self,
        signed_path: Option<&Path>,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        self.rt.block_on(self.inner.change_mfa_finish(
            signed_path,
            public_key,
            password,
            change_quorum,
        ))
    }

    pub fn change_mfa_with_signer<F>(
        &mut self,
        username: &str,
        role: Role,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
        signer: F,
    ) -> Result<()>
    where
        F: Fn(&Token) -> Result<Vec<u8>> + Sync,
    {
        self.change_mfa_with(username, role, public_key, password, change_quorum, &signer)
    }

    pub fn change_mfa_with(
        &mut self,
        username: &str,
        role: Role,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
        signer: &dyn Signer,
    ) -> Result<()> {
        self.rt.block_on(self.inner.change_mfa_with(
            username,
            role,
            public_key,
            password,
            change_quorum,
            signer,
        ))
    }

    pub fn deregister_mfa(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        self.rt.block_on(
            self.inner
                .deregister_mfa(username, role, password, change_quorum),
        )
    }
}
