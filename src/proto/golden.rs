//! The wire shape of every request and reply, pinned by `tests/golden/protocol.json`: a
//! change to a message's JSON fails here (and in the emulator's test of the same file)
//! until the golden file is regenerated on purpose (`CHM_UPDATE_GOLDEN=1 cargo test -p
//! cloudhsm-mfa --lib golden`).

use serde_json::{json, Value};

use super::*;

/// One example of every operation, in the ops table's order.
fn requests() -> Vec<Request> {
    let s = |x: &str| x.to_string();
    let pw = || Secret::new("password-1");
    let ops = vec![
        Op::Hello {
            protocol: PROTOCOL_VERSION,
            features: vec![s("a-feature")],
        },
        Op::Login {
            username: s("alice"),
            role: Role::CryptoUser,
            password: pw(),
            code_nonce: None,
            deliver_by: None,
        },
        Op::LoginMfa {
            token: s("AAAA"),
            signature: s("BBBB"),
        },
        Op::Logout,
        Op::ListUsers,
        Op::CreateUser {
            username: s("bob"),
            role: Role::Admin,
            password: pw(),
        },
        Op::DeleteUser {
            username: s("bob"),
            role: Role::Admin,
        },
        Op::ChangePassword {
            username: s("bob"),
            role: Role::Admin,
            password: pw(),
            deregister_mfa: false,
            deregister_quorum: false,
        },
        Op::ChangeMfaBegin {
            username: s("alice"),
            role: Role::CryptoUser,
        },
        Op::ChangeMfaFinish {
            username: s("alice"),
            role: Role::CryptoUser,
            token: s("AAAA"),
            signature: s("BBBB"),
            public_key_pem: s("-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n"),
            password: pw(),
            change_quorum: true,
        },
        Op::DeregisterMfa {
            username: s("alice"),
            role: Role::CryptoUser,
            password: pw(),
            change_quorum: false,
        },
        Op::ActivateCluster { password: pw() },
        Op::LoginMfaSelect {
            factor: crate::mfa::Factor::Sms,
            code_nonce: Some(s("AAAAAAAAAAAAAAAAAAAAAA==")),
            deliver_by: Some(s("hsm-1")),
        },
        Op::LoginMfaCode {
            factor: crate::mfa::Factor::SoftwareToken,
            code: Secret::new("123456"),
        },
        Op::SetMfaPreference {
            username: s("alice"),
            role: Role::CryptoUser,
            settings: [(
                crate::mfa::Factor::SoftwareToken,
                crate::mfa::Setting {
                    enabled: Some(true),
                    preferred: Some(true),
                },
            )]
            .into_iter()
            .collect(),
        },
        Op::GetMfaPreference {
            username: s("alice"),
            role: Some(Role::CryptoUser),
        },
        Op::AssociateSoftwareToken {
            secret: Secret::new("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        },
        Op::VerifySoftwareToken {
            code: Secret::new("123456"),
            device_name: Some(s("phone")),
        },
        Op::UpdateAttributes {
            username: s("alice"),
            role: Role::CryptoUser,
            phone_number: Some(s("+14155550100")),
            email: Some(s("alice@example.com")),
        },
        Op::Approved {
            approval: Approval {
                approval_data: s("AAAA"),
                signatures: vec![ApprovalSignature {
                    username: s("admin2"),
                    signature: s("BBBB"),
                }],
            },
            op: Box::new(Op::DeleteUser {
                username: s("bob"),
                role: Role::CryptoUser,
            }),
        },
        Op::QuorumGenerate {
            service: Service::User,
        },
        Op::QuorumList,
        Op::QuorumValues,
        Op::QuorumSetValue {
            service: Service::User,
            value: 2,
        },
        Op::QuorumDelete {
            scope: DeleteScope::All,
        },
        Op::QuorumRegister {
            approval_data: s("AAAA"),
            signature: s("BBBB"),
            public_key_pem: s("-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n"),
        },
    ];
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| Request {
            id: i as u64 + 1,
            op,
        })
        .collect()
}

/// One example of every reply, and an error for every error code.
fn responses() -> Vec<Response> {
    let mut replies = vec![
        Reply::Hello {
            protocol: PROTOCOL_VERSION,
            hsm_id: "hsm-1".into(),
            features: vec!["a-feature".into()],
        },
        Reply::Done,
        Reply::LoggedIn {
            username: "alice".into(),
            role: Role::CryptoUser,
        },
        Reply::Challenge {
            token: "AAAA".into(),
            expires_in_secs: 600,
        },
        Reply::Users {
            users: vec![UserInfo {
                username: "alice".into(),
                role: Role::CryptoUser,
                locked: false,
                mfa: true,
                quorum: false,
                factors: Vec::new(),
            }],
        },
        Reply::QuorumToken {
            record: "AAAA".into(),
            expires_in_secs: 600,
        },
        Reply::QuorumTokens {
            tokens: vec![QuorumTokenInfo {
                username: "admin2".into(),
                service: Service::Quorum,
                approvals_required: 2,
                approvals: 0,
                expires_in_secs: 599,
            }],
        },
        Reply::QuorumValues { user: 2, quorum: 1 },
        Reply::MfaCode {
            factor: crate::mfa::Factor::Sms,
            destination: Some("+*******0100".into()),
        },
        Reply::MfaSelect {
            factors: vec![crate::mfa::Factor::SoftwareToken, crate::mfa::Factor::Sms],
        },
        Reply::MfaPreferences {
            enabled: vec![crate::mfa::Factor::SoftwareToken],
            preferred: Some(crate::mfa::Factor::SoftwareToken),
        },
        Reply::Error {
            code: ErrorCode::QuorumTooFew,
            message: "Too few quorum approvals".into(),
            approvals: Some(ApprovalCounts {
                present: 1,
                required: 2,
            }),
        },
    ];
    for code in ERROR_CODES {
        replies.push(Reply::Error {
            code,
            message: "why".into(),
            approvals: None,
        });
    }
    replies
        .into_iter()
        .enumerate()
        .map(|(i, reply)| Response {
            id: i as u64 + 1,
            reply,
        })
        .collect()
}

/// Every error code a node may send.
pub(super) const ERROR_CODES: [ErrorCode; 26] = [
    ErrorCode::BadRequest,
    ErrorCode::UnknownOperation,
    ErrorCode::ProtocolVersion,
    ErrorCode::InvalidArgument,
    ErrorCode::NotLoggedIn,
    ErrorCode::AlreadyLoggedIn,
    ErrorCode::PermissionDenied,
    ErrorCode::InvalidCredentials,
    ErrorCode::UserLocked,
    ErrorCode::UserNotFound,
    ErrorCode::UserExists,
    ErrorCode::UserLoggedIn,
    ErrorCode::MfaNotRegistered,
    ErrorCode::ChallengeExpired,
    ErrorCode::ChallengeUnknown,
    ErrorCode::SignatureInvalid,
    ErrorCode::ClusterState,
    ErrorCode::Limit,
    ErrorCode::Internal,
    ErrorCode::QuorumApprovalRequired,
    ErrorCode::QuorumTooFew,
    ErrorCode::QuorumTokenInvalid,
    ErrorCode::MfaPreferenceInvalid,
    ErrorCode::FactorNotReady,
    ErrorCode::CodeMismatch,
    ErrorCode::CodeExpired,
];

fn golden_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/protocol.json")
}

fn fresh() -> Value {
    json!({
        "requests": requests().iter().map(|r| serde_json::to_value(r).unwrap()).collect::<Vec<_>>(),
        "responses": responses().iter().map(|r| serde_json::to_value(r).unwrap()).collect::<Vec<_>>(),
    })
}

#[test]
fn golden_file_pins_the_wire_shape_of_every_message() {
    let fresh = fresh();
    if std::env::var_os("CHM_UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&fresh).unwrap() + "\n";
        std::fs::write(golden_path(), text).unwrap();
    }
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_path()).unwrap()).unwrap();
    assert_eq!(
        golden, fresh,
        "the wire shape changed; if on purpose, run CHM_UPDATE_GOLDEN=1 cargo test -p cloudhsm-mfa --lib golden"
    );
    // Every operation of the table has its example, and every golden message reads back
    // to what it says.
    let names: Vec<&str> = requests().iter().map(|r| r.op.name()).collect();
    assert_eq!(names, OPERATION_NAMES);
    for v in golden["requests"].as_array().unwrap() {
        let r: Request = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&r).unwrap(), v);
    }
    for v in golden["responses"].as_array().unwrap() {
        let r: Response = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&r).unwrap(), v);
    }
}

#[test]
fn a_hello_without_features_is_what_earlier_versions_send_and_still_reads() {
    let old: Request =
        serde_json::from_str(r#"{"id":1,"op":"hello","args":{"protocol":1}}"#).unwrap();
    assert!(matches!(old.op, Op::Hello { protocol: 1, ref features } if features.is_empty()));
    let old: Response =
        serde_json::from_str(r#"{"id":1,"reply":"hello","protocol":1,"hsm_id":"hsm-1"}"#).unwrap();
    assert!(matches!(old.reply, Reply::Hello { ref features, .. } if features.is_empty()));
}

#[test]
fn an_unknown_reply_or_error_code_reads_as_unknown() {
    let r: Response =
        serde_json::from_str(r#"{"id":4,"reply":"a_later_reply","tokens":[1,2]}"#).unwrap();
    assert_eq!((r.id, r.reply), (4, Reply::Unknown));
    let r: Response = serde_json::from_str(
        r#"{"id":5,"reply":"error","code":"too_few_approvals","message":"1 of 2"}"#,
    )
    .unwrap();
    assert_eq!(
        r.reply,
        Reply::Error {
            code: ErrorCode::Unknown,
            message: "1 of 2".into(),
            approvals: None,
        }
    );
}

#[test]
fn the_ops_table_names_the_service_that_gates_each_operation() {
    use crate::quorum::Service;
    let gated: Vec<(&str, Option<Service>)> = requests()
        .iter()
        .map(|r| (r.op.name(), r.op.gate()))
        .collect();
    for (name, gate) in gated {
        let expected = match name {
            "create_user" | "delete_user" | "change_password" | "change_mfa_finish"
            | "deregister_mfa" => Some(Service::User),
            "quorum_set_value" => Some(Service::Quorum),
            _ => None,
        };
        assert_eq!(gate, expected, "{name}");
    }
}
