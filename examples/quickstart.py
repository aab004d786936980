"""The quickstart in Python: on a new cluster (CLOUDHSM_MFA_CONFIG names its
configuration), activate it, create a crypto user, register an MFA key for it, log in with
MFA, rotate the key, log in with the new key, gate user creation behind two admins'
approvals, and list the users.

    cloudhsm-emulator init --dir /tmp/hsm --nodes 3
    cloudhsm-emulator run --dir /tmp/hsm &
    CLOUDHSM_MFA_CONFIG=/tmp/hsm/cloudhsm-cli.cfg PYTHONPATH=bindings/python \\
        python3 examples/quickstart.py /tmp/work
"""

import json
import sys
from pathlib import Path

import cloudhsm_mfa as chm

work = Path(sys.argv[1] if len(sys.argv) > 1 else ".")

with chm.Session.open() as admin:
    admin.activate_cluster("admin-password")
    admin.login("admin", "admin", "admin-password")
    admin.create_user("alice", "crypto-user", "alice-password")
    print("ok   cluster activated, alice created")

    # alice registers her own MFA key: the library signs each HSM's challenge with it.
    chm.generate_key_pair(work / "mfa-1.key", work / "mfa-1.pub")
    with chm.Session.open() as alice, chm.PrivateKey.load(work / "mfa-1.key") as key:
        alice.login("alice", "crypto-user", "alice-password")
        alice.change_mfa("alice", "crypto-user", work / "mfa-1.pub", "alice-password", signer=key)
        alice.logout()
        print("ok   MFA registered")

        # An MFA login in two phases: tokens written, the file signed, then handed back.
        token = work / "token.json"
        alice.login_mfa_begin("alice", "crypto-user", "alice-password", token)
        chm.sign_token_file(token, work / "mfa-1.key")
        alice.login_mfa_finish()
        print("ok   logged in with MFA")

        # Rotation, then a login in one call with any Python callable as the signer.
        chm.generate_key_pair(work / "mfa-2.key", work / "mfa-2.pub")
        with chm.PrivateKey.load(work / "mfa-2.key") as new_key:
            alice.change_mfa("alice", "crypto-user", work / "mfa-2.pub", "alice-password",
                             signer=new_key)
            alice.logout()
            alice.login_mfa("alice", "crypto-user", "alice-password",
                            signer=lambda token: new_key.sign_token(token))
            print("ok   key rotated, logged in with the new key")
        try:
            alice.logout()
            alice.login_mfa("alice", "crypto-user", "alice-password", signer=key)
            sys.exit("FAIL the old key was accepted")
        except chm.SignatureInvalidError as e:
            print(f"ok   the old key is refused: {e.message}")

    # Quorum: the admin and a second admin register quorum keys; creating a user then
    # needs both their approvals, gathered offline on an approval file.
    admin.create_user("admin2", "admin", "admin2-password")
    chm.generate_key_pair(work / "quorum-1.key", work / "quorum-1.pub")
    chm.generate_key_pair(work / "quorum-2.key", work / "quorum-2.pub")
    q1 = chm.PrivateKey.load(work / "quorum-1.key")
    q2 = chm.PrivateKey.load(work / "quorum-2.key")
    admin.register_quorum_key(work / "quorum-1.pub", signer=q1)
    with chm.Session.open() as admin2:
        admin2.login("admin2", "admin", "admin2-password")
        admin2.register_quorum_key(work / "quorum-2.pub", signer=q2)
    admin.set_quorum_value("user", 2)
    try:
        admin.create_user("bob", "crypto-user", "bob-password")
        sys.exit("FAIL a user was created without the approvals")
    except chm.QuorumApprovalRequiredError as e:
        print(f"ok   refused without approvals ({e.present} of {e.required})")
    admin.generate_quorum_token("user", work / "approval.json")
    with chm.TokenFile.load(work / "approval.json") as approval:
        approval.sign(q1, approver="admin")
        approval.sign(q2, approver="admin2")
        admin.set_approval(approval)
    admin.create_user("bob", "crypto-user", "bob-password")
    print("ok   bob created with 2 approvals")

    print(json.dumps(admin.list_users(), indent=2))
