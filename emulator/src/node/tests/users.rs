//! Creating and deleting users, changing passwords.

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role};

use super::*;
use crate::node::state::{UserRecord, MAX_USERS};

fn delete(username: &str, role: Role) -> Op {
    Op::DeleteUser {
        username: username.into(),
        role,
    }
}

#[test]
fn only_an_admin_creates_users() {
    let mut f = Fixture::activated();
    let anon = f.greeted();
    f.refused(
        anon,
        create("bob", Role::CryptoUser, "password1"),
        ErrorCode::NotLoggedIn,
    );
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    let msg = f.refused(
        alice,
        create("bob", Role::CryptoUser, "password1"),
        ErrorCode::PermissionDenied,
    );
    assert!(msg.contains("only an admin"), "{msg}");
}

#[test]
fn create_user_stores_a_lower_case_name_and_an_argon2id_hash() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    let (reply, changed) = f.run(admin, create("Bob_1", Role::Admin, "password1"));
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    let bob = f.user("bob_1");
    assert_eq!(bob.role, Role::Admin);
    let hash = bob.password_hash.as_deref().unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("password1"));
    f.logged_in("BOB_1", Role::Admin, "password1");
}

#[test]
fn create_user_refuses_bad_names_roles_and_passwords() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    let msg = f.refused(
        admin,
        create("", Role::CryptoUser, "password1"),
        ErrorCode::InvalidArgument,
    );
    assert!(msg.contains("empty"), "{msg}");
    let msg = f.refused(
        admin,
        create("carol", Role::UnactivatedAdmin, "password1"),
        ErrorCode::InvalidArgument,
    );
    assert!(msg.contains("admin or crypto-user"), "{msg}");
    let msg = f.refused(
        admin,
        create("carol", Role::CryptoUser, "123456"),
        ErrorCode::InvalidArgument,
    );
    assert!(msg.contains("7 to 32"), "{msg}");
    f.refused(
        admin,
        create("carol", Role::CryptoUser, &"p".repeat(33)),
        ErrorCode::InvalidArgument,
    );
}

#[test]
fn create_user_refuses_an_existing_name_in_any_case() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let msg = f.refused(
        admin,
        create("ALICE", Role::Admin, "password1"),
        ErrorCode::UserExists,
    );
    assert!(msg.contains("alice"), "{msg}");
}

#[test]
fn a_node_holds_at_most_1024_users() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    let hash = f.user("admin").password_hash.clone();
    let mut state = f.node.state().clone();
    for i in state.users.len()..MAX_USERS - 1 {
        state.users.insert(
            format!("user{i}"),
            UserRecord::new(Role::CryptoUser, hash.clone()),
        );
    }
    f.node.state = state;
    f.create(admin, "last", Role::CryptoUser, "password1");
    assert_eq!(f.node.state().users.len(), MAX_USERS);
    let msg = f.refused(
        admin,
        create("one_more", Role::CryptoUser, "password1"),
        ErrorCode::Limit,
    );
    assert!(msg.contains("1024"), "{msg}");
}

#[test]
fn delete_user_is_for_admins_and_needs_the_right_role() {
    let mut f = Fixture::activated();
    let anon = f.greeted();
    f.refused(anon, delete("admin", Role::Admin), ErrorCode::NotLoggedIn);
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    f.create(admin, "bob", Role::CryptoUser, "password1");
    let bob = f.logged_in("bob", Role::CryptoUser, "password1");
    f.refused(
        bob,
        delete("alice", Role::CryptoUser),
        ErrorCode::PermissionDenied,
    );
    let msg = f.refused(admin, delete("alice", Role::Admin), ErrorCode::UserNotFound);
    assert!(msg.contains("alice") && msg.contains("admin"), "{msg}");
    f.refused(
        admin,
        delete("nobody", Role::CryptoUser),
        ErrorCode::UserNotFound,
    );
    let (reply, changed) = f.run(admin, delete("ALICE", Role::CryptoUser));
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    assert!(!f.node.state().users.contains_key("alice"));
}

#[test]
fn a_logged_in_user_cannot_be_deleted() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    let msg = f.refused(
        admin,
        delete("alice", Role::CryptoUser),
        ErrorCode::UserLoggedIn,
    );
    assert!(msg.contains("log out"), "{msg}");
    // Not even an admin deleting itself.
    f.refused(admin, delete("admin", Role::Admin), ErrorCode::UserLoggedIn);
    f.ok(alice, Op::Logout);
    f.ok(admin, delete("alice", Role::CryptoUser));
}

#[test]
fn any_user_changes_its_own_password() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    let (reply, changed) = f.run(
        alice,
        change_password("alice", Role::CryptoUser, "password2"),
    );
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    let c = f.greeted();
    f.error(
        c,
        login("alice", Role::CryptoUser, "password1"),
        ErrorCode::InvalidCredentials,
    );
    f.logged_in("alice", Role::CryptoUser, "password2");
}

#[test]
fn only_an_admin_changes_another_users_password_and_not_while_it_is_logged_in() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    f.create(admin, "bob", Role::CryptoUser, "password1");
    let bob = f.logged_in("bob", Role::CryptoUser, "password1");
    let anon = f.greeted();
    f.refused(
        anon,
        change_password("alice", Role::CryptoUser, "password2"),
        ErrorCode::NotLoggedIn,
    );
    let msg = f.refused(
        bob,
        change_password("alice", Role::CryptoUser, "password2"),
        ErrorCode::PermissionDenied,
    );
    assert!(msg.contains("only an admin"), "{msg}");
    let msg = f.refused(
        admin,
        change_password("bob", Role::CryptoUser, "password2"),
        ErrorCode::UserLoggedIn,
    );
    assert!(msg.contains("bob"), "{msg}");
    f.refused(
        admin,
        change_password("alice", Role::Admin, "password2"),
        ErrorCode::UserNotFound,
    );
    f.refused(
        admin,
        change_password("alice", Role::CryptoUser, "short"),
        ErrorCode::InvalidArgument,
    );
    f.ok(
        admin,
        change_password("alice", Role::CryptoUser, "password2"),
    );
    f.logged_in("alice", Role::CryptoUser, "password2");
}

#[test]
fn a_new_password_ends_the_quorum_registration_of_an_mfa_user_only() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    f.create(admin, "bob", Role::Admin, "password1");
    let key = &keys()[0];
    f.register_mfa(admin, "alice", Role::CryptoUser, key, "password2", true);
    assert!(f.user("alice").quorum_public_key.is_some());
    f.ok(
        admin,
        change_password("alice", Role::CryptoUser, "password3"),
    );
    assert!(f.user("alice").quorum_public_key.is_none());
    assert!(
        f.user("alice").mfa_public_key.is_some(),
        "the MFA key stays"
    );

    // A quorum key without MFA is not affected.
    let mut state = f.node.state().clone();
    state.users.get_mut("bob").unwrap().quorum_public_key = Some(pem(key));
    f.node.state = state;
    f.ok(admin, change_password("bob", Role::Admin, "password3"));
    assert!(f.user("bob").quorum_public_key.is_some());
}
