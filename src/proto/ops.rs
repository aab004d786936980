//! The operations of the protocol, declared once: each with its name on the wire, its
//! arguments, and the quorum service that gates it (SPEC §7). `Op`, [`Op::name`],
//! [`OPERATION_NAMES`] and [`Op::gate`] all come from the one table below.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{Approval, DeleteScope, Role, Secret};
use crate::mfa::{Factor, Setting};
use crate::quorum::Service;

macro_rules! operations {
    ($(
        $(#[doc = $doc:literal])*
        $name:literal => $variant:ident $({
            $( $(#[$field_attr:meta])* $field:ident : $ty:ty ),* $(,)?
        })? , gated by $gate:expr ;
    )*) => {
        /// The operations a node performs. Tokens and signatures are standard base64.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "op", content = "args")]
        pub enum Op {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name)]
                $variant $({ $( $(#[$field_attr])* $field: $ty ),* })?,
            )*
        }

        /// Every operation name, as on the wire, in the table's order.
        pub const OPERATION_NAMES: &[&str] = &[$($name),*];

        impl Op {
            /// The operation's name, as on the wire.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Op::$variant { .. } => $name, )*
                }
            }

            /// The quorum service whose value gates this operation when an admin runs
            /// it, if any (SPEC §7).
            pub fn gate(&self) -> Option<Service> {
                match self {
                    $( Op::$variant { .. } => $gate, )*
                }
            }
        }
    };
}

operations! {
    /// First message on a connection: the client's protocol version and the optional
    /// parts of the protocol it speaks (the node sends nothing else).
    "hello" => Hello {
        protocol: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    }, gated by None;
    /// Password login. For a user whose login asks for token-sign the answer is a
    /// `Challenge` (purpose `login`), to be finished with `LoginMfa` on the same
    /// connection; for another factor `MfaCode` or `MfaSelect` (feature `mfa`). An SMS or
    /// email step derives its code from `code_nonce` (base64, the same for every HSM),
    /// and the HSM named by `deliver_by` sends it.
    "login" => Login {
        username: String,
        role: Role,
        password: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code_nonce: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliver_by: Option<String>,
    }, gated by None;
    /// Finishes an MFA login: the signature over the challenge this node issued.
    "login_mfa" => LoginMfa { token: String, signature: String }, gated by None;
    /// Ends the login of this connection.
    "logout" => Logout, gated by None;
    /// Every user of the node (no login needed).
    "list_users" => ListUsers, gated by None;
    /// Creates a user (admin only).
    "create_user" => CreateUser {
        username: String,
        role: Role,
        password: Secret,
    }, gated by Some(Service::User);
    /// Deletes a user (admin only; not one who is logged in).
    "delete_user" => DeleteUser { username: String, role: Role }, gated by Some(Service::User);
    /// Sets a user's password (the user itself, or an admin for another user who is not
    /// logged in). Unlocks a locked user. For an MFA user also registered for quorum, the
    /// quorum registration is removed. `deregister_mfa` and `deregister_quorum` also
    /// remove the MFA key (and with it the quorum key) or the quorum key.
    "change_password" => ChangePassword {
        username: String,
        role: Role,
        password: Secret,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deregister_mfa: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deregister_quorum: bool,
    }, gated by Some(Service::User);
    /// Starts registering or rotating an MFA key: the answer is a `Challenge` (purpose
    /// `mfa-registration`) to sign with the new private key.
    "change_mfa_begin" => ChangeMfaBegin { username: String, role: Role }, gated by None;
    /// Finishes registration: the signature proves possession of `public_key_pem`, which
    /// becomes the user's MFA key (and quorum key with `change_quorum`); `password` is set.
    "change_mfa_finish" => ChangeMfaFinish {
        username: String,
        role: Role,
        token: String,
        signature: String,
        public_key_pem: String,
        password: Secret,
        change_quorum: bool,
    }, gated by Some(Service::User);
    /// Removes the MFA key (and the quorum key; `change_quorum` states it explicitly);
    /// `password` is set.
    "deregister_mfa" => DeregisterMfa {
        username: String,
        role: Role,
        password: Secret,
        change_quorum: bool,
    }, gated by Some(Service::User);
    /// Activates a new cluster: the `unactivated-admin` becomes `admin` with this password.
    "activate_cluster" => ActivateCluster { password: Secret }, gated by None;
    /// Picks the factor of a login that asked `MfaSelect`: the answer is that factor's
    /// step (a `Challenge` or an `MfaCode`). Feature `mfa`.
    "login_mfa_select" => LoginMfaSelect {
        factor: Factor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code_nonce: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliver_by: Option<String>,
    }, gated by None;
    /// Finishes a login with the code of the factor it asked for. Feature `mfa`.
    "login_mfa_code" => LoginMfaCode { factor: Factor, code: Secret }, gated by None;
    /// Sets a user's MFA preferences (SPEC §11.1): the user itself, or an admin; the
    /// answer is `MfaPreferences`. Feature `mfa`.
    "set_mfa_preference" => SetMfaPreference {
        username: String,
        role: Role,
        settings: BTreeMap<Factor, Setting>,
    }, gated by None;
    /// A user's MFA preferences (`MfaPreferences`); `role`, when given, must be the user's.
    /// Feature `mfa`.
    "get_mfa_preference" => GetMfaPreference {
        username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<Role>,
    }, gated by None;
    /// Associates a software token secret (base32) with the logged-in user, unverified.
    /// Feature `mfa`.
    "associate_software_token" => AssociateSoftwareToken { secret: Secret }, gated by None;
    /// Verifies the logged-in user's associated software token with a code. Feature `mfa`.
    "verify_software_token" => VerifySoftwareToken {
        code: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_name: Option<String>,
    }, gated by None;
    /// Sets a user's phone number and/or email (the user itself, or an admin). Feature
    /// `mfa`.
    "update_attributes" => UpdateAttributes {
        username: String,
        role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone_number: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    }, gated by None;
    /// A gated operation with its quorum approval (SPEC §7): the node counts the approvals
    /// for the operation's service, performs `op` when there are enough, and then uses up
    /// the token. Feature `quorum`.
    "approved" => Approved { approval: Approval, op: Box<Op> }, gated by None;
    /// Issues a quorum token of the logged-in user for `service`: the answer is this
    /// node's record (`QuorumToken`). Feature `quorum`.
    "quorum_generate" => QuorumGenerate { service: Service }, gated by None;
    /// Every open quorum token of the node (logged in). Feature `quorum`.
    "quorum_list" => QuorumList, gated by None;
    /// The quorum value of each service (no login needed). Feature `quorum`.
    "quorum_values" => QuorumValues, gated by None;
    /// Sets the quorum value of `service` (admin only). Feature `quorum`.
    "quorum_set_value" => QuorumSetValue { service: Service, value: u32 },
        gated by Some(Service::Quorum);
    /// Ends the logged-in user's quorum tokens, or every user's (`all`, admins). Feature
    /// `quorum`.
    "quorum_delete" => QuorumDelete { scope: DeleteScope }, gated by None;
    /// Registers the logged-in user's quorum key: `signature` over SHA-256 of this node's
    /// registration record (`approval_data`, base64) proves possession of
    /// `public_key_pem`. Feature `quorum`.
    "quorum_register" => QuorumRegister {
        approval_data: String,
        signature: String,
        public_key_pem: String,
    }, gated by None;
}

impl Op {
    /// The user an operation names and, when it says, the role: the user logging in, the
    /// user created, changed or deleted. `None` for an operation on the logged-in user or
    /// on no user. For logs: nothing else of the arguments is ever shown.
    pub fn subject(&self) -> Option<(&str, Option<Role>)> {
        match self {
            Op::Login { username, role, .. }
            | Op::CreateUser { username, role, .. }
            | Op::DeleteUser { username, role }
            | Op::ChangePassword { username, role, .. }
            | Op::ChangeMfaBegin { username, role }
            | Op::ChangeMfaFinish { username, role, .. }
            | Op::DeregisterMfa { username, role, .. }
            | Op::SetMfaPreference { username, role, .. }
            | Op::UpdateAttributes { username, role, .. } => Some((username, Some(*role))),
            Op::GetMfaPreference { username, role } => Some((username, *role)),
            Op::Approved { op, .. } => op.subject(),
            _ => None,
        }
    }

    /// The name of the operation performed: for an approved operation, the inner one's.
    pub fn performed(&self) -> &'static str {
        match self {
            Op::Approved { op, .. } => op.performed(),
            other => other.name(),
        }
    }

    /// The `hello` of this library: its protocol version and features.
    pub fn hello() -> Op {
        Op::Hello {
            protocol: super::PROTOCOL_VERSION,
            features: super::FEATURES.iter().map(|f| f.to_string()).collect(),
        }
    }
}
