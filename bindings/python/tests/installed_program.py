"""A program that uses the installed package as a user would: scripts/test-python-package.sh
type-checks it with ``mypy --strict`` against the package installed in a fresh virtual
environment, and runs it there from another directory with no environment variable set.

usage: installed_program.py WORK_DIR
Generates a key pair, signs an MFA token file with it, writes it, reads it back, verifies
it, and checks the errors of a missing file and of a bad signature. Prints
``installed_program: ok <library path>``.
"""

import os
import sys
from pathlib import Path
from typing import List

import cloudhsm_mfa as chm


def sign_with(key: chm.PrivateKey) -> chm.SignFunction:
    def sign(token: bytes) -> bytes:
        return key.sign_token(token)

    return sign


def main(work: Path) -> None:
    private, public = work / "mfa.key", work / "mfa.pub"
    chm.generate_key_pair(private, public, bits=2048)
    tokens: List[bytes] = [os.urandom(chm.CHM_TOKEN_LEN) for _ in range(3)]
    with chm.TokenFile.create_mfa(tokens) as unsigned:
        unsigned.write(work / "token.json")
    written = chm.sign_token_file(work / "token.json", private)
    assert written == work / "token.json", written

    with chm.TokenFile.load(work / "token.json") as signed, chm.PublicKey.load(public) as pub:
        assert signed.kind is chm.TokenFileKind.MFA
        assert signed.tokens == tokens
        signed.verify(pub)
        statuses: List[chm.EntryStatus] = signed.check(pub)
        assert statuses == [chm.EntryStatus.VALID] * 3, statuses
        with chm.PrivateKey.load(private) as key:
            signature = sign_with(key)(tokens[0])
            pub.verify_token(tokens[0], signature)
            try:
                pub.verify_token(tokens[1], signature)
            except chm.SignatureInvalidError as e:
                assert e.code == chm.CHMR_SIGNATURE_INVALID, e.code_name
            else:
                raise AssertionError("a signature over another token verified")

    try:
        chm.PrivateKey.load(work / "missing.key")
    except FileNotFoundError as e:
        assert isinstance(e, chm.FileError) and e.filename == work / "missing.key", repr(e)
    else:
        raise AssertionError("a missing key file loaded")
    print(f"installed_program: ok {chm.LIBRARY_PATH}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
