"""The READMEs, checked against what they describe.

- The table of README.md's "The same operation in C, Python, C++ and the CLI" has one row
  per member of the header's ``CHM_FUNCTION_LIST``, in its order; its Python names exist in
  the package and its C++ names in ``bindings/cpp/cloudhsm_mfa.hpp``, one of each row
  calling the row's function; its CLI commands and options are in ``cloudhsm-mfa --help``.
- Every ``python`` block of README.md and bindings/python/README.md runs as written, each
  in a new directory with a fresh 3-HSM emulator cluster (admin password
  ``admin-password``), the files and the cluster state the block's opening comment or its
  README's prose describe (made by a set-up run in a process of its own), and the objects
  its comment names (defined just before it, in the same process).
"""

import ast
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cloudhsm_mfa as chm
from test_factors import totp
from test_sessions import RELEASE, Emulator

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
PACKAGE_README = REPO / "bindings" / "python" / "README.md"
HEADER = REPO / "include" / "cloudhsm_mfa.h"
CPP_HEADER = REPO / "bindings" / "cpp" / "cloudhsm_mfa.hpp"
CLI = RELEASE / "cloudhsm-mfa"
TABLE_HEADING = "## The same operation in C, Python, C++ and the CLI"
NONE = "—"

# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


def function_list():
    """The function names of the header's CHM_FUNCTION_LIST, in order."""
    text = HEADER.read_text()
    body = re.search(r"typedef struct CHM_FUNCTION_LIST \{(.*?)\} CHM_FUNCTION_LIST;", text, re.S)
    assert body, "no CHM_FUNCTION_LIST in the header"
    return re.findall(r"\(\*(CHM_\w+)\)\(", body.group(1))


def table_rows():
    """The table's rows as (C, Python, C++, CLI) cells."""
    lines = README.read_text().splitlines()
    assert TABLE_HEADING in lines, f"README.md has no section {TABLE_HEADING!r}"
    start = lines.index(TABLE_HEADING)
    table = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    assert table[0] == "| C | Python | C++ | CLI |", table[0]
    rows = []
    for line in table[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"not 4 cells (a | inside a cell?): {line}"
        rows.append(tuple(cells))
    return rows


def ticked(cell):
    """The `quoted` names of a cell."""
    return re.findall(r"`([^`]+)`", cell)


def test_the_table_has_a_row_per_function_of_the_function_list_in_its_order():
    names = [ticked(row[0]) for row in table_rows()]
    assert all(len(n) == 1 for n in names), [n for n in names if len(n) != 1]
    table, header = [n[0] for n in names], function_list()
    missing = [f for f in header if f not in table]
    unknown = [f for f in table if f not in header]
    assert not missing and not unknown, f"missing from the table: {missing}; not in the header: {unknown}"
    assert table == header, "the rows are not in the order of CHM_FUNCTION_LIST"


def test_the_function_list_is_every_function_the_header_declares():
    declared = re.findall(r"^[^\s(#/*][^;(]*\b(CHM_\w+)\(", HEADER.read_text(), re.M)
    assert sorted(declared) == sorted(function_list())


def test_every_cell_names_something_or_says_none():
    for row in table_rows():
        for cell in row[1:]:
            assert cell == NONE or (cell and NONE not in cell), row


# -- Python ------------------------------------------------------------------------------

# Functions whose Python and C++ names read what the C function gives without calling it
# there: the approval counts are read when the exception is made (errors.error_for,
# detail::check).
CALLED_ELSEWHERE = {"CHM_GetLastErrorApprovals"}


def python_object(name):
    """The package's object for a name like ``Session.login`` (and the class it is on);
    fails when there is none, or when the package does not export it."""
    assert name.split(".")[0] in chm.__all__, f"{name!r}: the package exports no {name.split('.')[0]}"
    obj, owner = chm, None
    for part in name.split("."):
        assert part.isidentifier(), f"{name!r} is not a Python name"
        assert not part.startswith("_") or (part.startswith("__") and part.endswith("__")), (
            f"{name!r} is private"
        )
        assert hasattr(obj, part), f"the package has no {name}"
        # On a class, the attribute itself (a classmethod, a property), not what it gives.
        owner, obj = obj, (inspect.getattr_static if inspect.isclass(obj) else getattr)(obj, part)
    return owner, obj


def python_calls(name, function):
    """Whether the Python name's code calls the C function (or closes with it)."""
    owner, obj = python_object(name)
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    if name.endswith(".close"):
        return getattr(owner, "_close_function", None) == function
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except TypeError:
        return False  # a plain value: a class attribute
    return function in called_names(ast.parse(source))


def called_names(tree):
    """What code (not its docstrings) names: ``lib.CHM_X`` attributes and "CHM_X" strings
    (the name of a function to call, as ``_load(cls, "CHM_PrivateKeyLoad", path)`` has)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            names.add(node.value)
    return names


def test_the_python_names_exist_and_call_their_function():
    for c, python, _, _ in table_rows():
        function = ticked(c)[0]
        if python == NONE:
            continue
        names = ticked(python)
        assert names, f"{function}: no Python name in {python!r}"
        for name in names:
            python_object(name)
        if function not in CALLED_ELSEWHERE:
            assert any(python_calls(n, function) for n in names), (
                f"{function}: none of {names} calls it"
            )


# -- C++ ---------------------------------------------------------------------------------


def matching(text, start, open_char, close_char):
    """The index just after the bracket that closes the one at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_char:
            depth += 1
        elif text[i] == close_char:
            depth -= 1
            if depth == 0:
                return i + 1
    raise AssertionError(f"unbalanced {open_char}{close_char} from offset {start}")


def cpp_source():
    """The wrapper without comments, and without its detail namespace."""
    text = re.sub(r"//[^\n]*", "", CPP_HEADER.read_text())
    while True:
        m = re.search(r"\bnamespace detail \{", text)
        if not m:
            return text
        text = text[:m.start()] + text[matching(text, m.end() - 1, "{", "}"):]


def cpp_class_body(source, cls):
    m = re.search(rf"^(class|struct) {cls}\b[^;{{]*\{{", source, re.M)
    assert m, f"the wrapper has no class {cls}"
    return m.group(1), source[m.end() - 1:matching(source, m.end() - 1, "{", "}")]


def cpp_access(kind, body, position):
    """Whether ``position`` of a class or struct body is in a public section."""
    labels = re.findall(r"^\s*(public|protected|private):", body[:position], re.M)
    return (labels[-1] if labels else "public" if kind == "struct" else "private") == "public"


def cpp_definitions(scope, name, public=lambda position: True):
    """The declarations and bodies of every overload of ``name`` declared at the outer level
    of ``scope`` (a class body, or the namespace) where ``public``; [] if none."""
    found = []
    for m in re.finditer(rf"(?<![\w~.>:]){re.escape(name)}\s*\(", scope):
        before = scope[:m.start()]
        if before.count("{") - before.count("}") != 1 or not public(m.start()):
            continue  # a call inside a body, or a private member
        after_args = matching(scope, m.end() - 1, "(", ")")
        rest = scope[after_args:]
        end = re.search(r"[;{]", rest)
        if end is None:
            continue
        if rest[end.start()] == "{":
            body_end = matching(rest, end.start(), "{", "}")
            found.append(scope[m.start():after_args] + rest[:body_end])
        else:
            found.append(scope[m.start():after_args] + rest[:end.end()])
    return found


def cpp_definition(name):
    """The text of a public C++ name like ``chm::Session::login`` or ``chm::sign_token_file``."""
    assert name.startswith("chm::"), f"{name!r}: C++ names start with chm::"
    parts = name.split("::")[1:]
    assert len(parts) in (1, 2), f"{name!r}: a function, or one class and one member"
    assert all(re.fullmatch(r"~?\w+", p) for p in parts), f"{name!r} is not a C++ name"
    source = cpp_source()
    if len(parts) == 1:
        scope = source
        for cls in re.findall(r"^(?:class|struct) (\w+)\b[^;{]*\{", source, re.M):
            scope = scope.replace(cpp_class_body(source, cls)[1], "{}")
        definitions = cpp_definitions(scope, parts[0])
    else:
        kind, body = cpp_class_body(source, parts[0])
        definitions = cpp_definitions(body, parts[1], lambda at: cpp_access(kind, body, at))
    assert definitions, f"the wrapper has no {name}"
    return "\n".join(definitions)


def test_the_cpp_names_exist_and_call_their_function():
    for c, _, cpp, _ in table_rows():
        function = ticked(c)[0]
        if cpp == NONE:
            continue
        names = ticked(cpp)
        assert names, f"{function}: no C++ name in {cpp!r}"
        bodies = [cpp_definition(n) for n in names]
        if function not in CALLED_ELSEWHERE:
            assert any(re.search(rf"\b{function}\b", b) for b in bodies), (
                f"{function}: none of {names} calls it"
            )


def test_the_cpp_check_finds_what_is_missing():
    with pytest.raises(AssertionError, match="no chm::Session::login_twice"):
        cpp_definition("chm::Session::login_twice")
    with pytest.raises(AssertionError, match="no class Sessions"):
        cpp_definition("chm::Sessions::login")
    with pytest.raises(AssertionError, match="no chm::check"):
        cpp_definition("chm::check")  # detail::check is not the wrapper's
    with pytest.raises(AssertionError, match="no chm::Session::step_of"):
        cpp_definition("chm::Session::step_of")  # private
    assert "CHM_Finalize" in cpp_definition("chm::Library::~Library")
    assert "CHM_TokenFileSign" in cpp_definition("chm::TokenFile::sign")  # a class's member
    assert "CHM_SignTokenFile" in cpp_definition("chm::sign_token_file")


# -- the CLI -----------------------------------------------------------------------------


def cli_words(span):
    """The subcommand path and the options of a command line like
    ``login --username U --role R mfa-token-sign --token FILE``: a word after an option is
    its value; upper-case words, ``...`` and brackets are placeholders."""
    path, options, value_next = [], [], False
    for word in span.replace("[", " ").replace("]", " ").split():
        if word.startswith("--"):
            options.append(word.split("=")[0])
            value_next = True
        elif value_next or word == "..." or re.fullmatch(r"[A-Z0-9_]+", word):
            value_next = False
        else:
            path.append(word)
    return path, options


def test_the_cli_commands_and_options_exist():
    assert CLI.exists(), f"{CLI} is missing: cargo build --release --workspace"
    helps = {}
    for c, _, _, cli in table_rows():
        for span in ticked(cli):
            path, options = cli_words(span)
            key = tuple(path)
            if key not in helps:
                done = subprocess.run([str(CLI), *path, "--help"], capture_output=True, text=True)
                assert done.returncode == 0, (
                    f"{c}: `cloudhsm-mfa {' '.join(path)} --help`: {done.stdout}{done.stderr}"
                )
                usage = next(l for l in done.stdout.splitlines() if l.startswith("Usage:"))
                assert all(re.search(rf"\b{w}\b", usage) for w in path), (
                    f"{c}: `cloudhsm-mfa {' '.join(path)} --help` is about {usage!r}"
                )
                helps[key] = done.stdout
            for option in options:
                assert re.search(rf"(^|[\s,]){re.escape(option)}\b", helps[key], re.M), (
                    f"{c}: `cloudhsm-mfa {' '.join(path)}` has no {option}"
                )


# ---------------------------------------------------------------------------------------
# The Python examples
# ---------------------------------------------------------------------------------------

KEYS = REPO / "test-support" / "keys"
# The files every example finds in its directory: committed fixture keys under the names
# the READMEs use.
KEY_FILES = {
    "mfa.key": "rsa2048-a.pkcs8.pem", "mfa.pub": "rsa2048-a.pub.pem",
    "admin2.key": "rsa2048-b.pkcs8.pem", "admin2.pub": "rsa2048-b.pub.pem",
    "admin3.key": "rsa2048-c.pkcs8.pem", "admin3.pub": "rsa2048-c.pub.pem",
}
ADMIN = 'admin.login("admin", "admin", "admin-password")'

ALICE = f"""
with chm.Session.open() as admin:
    {ADMIN}
    admin.create_user("alice", "crypto-user", "alice-password")
"""

# alice with mfa.key registered, and the token file of a login of hers begun.
ALICE_WITH_MFA = ALICE + """
with chm.Session.open() as alice, chm.PrivateKey.load("mfa.key") as key:
    alice.login("alice", "crypto-user", "alice-password")
    alice.change_mfa("alice", "crypto-user", "mfa.pub", "alice-password", signer=key)
    alice.logout()
    alice.login_mfa_begin("alice", "crypto-user", "alice-password", "token.json")
"""

# The code of an authenticator app (RFC 6238), as test_factors computes it.
TOTP = "import base64, hashlib, hmac, struct, time\n" + inspect.getsource(totp)


class Example:
    """How one block runs: ``setup`` (in a process of its own, before) makes the files and
    the cluster state its prose describes, ``preamble`` (in the block's process, just
    before it) the objects its comment names, ``after`` checks what it did, and its
    standard output must hold ``expect``. The block finds the cluster through
    ``$CLOUDHSM_MFA_CONFIG``, or with ``env_config=False`` through what it says itself (the
    variable then names a file that does not exist)."""

    def __init__(self, name, setup="", preamble="", after="", expect="", env_config=True):
        self.name, self.setup, self.preamble, self.after, self.expect = (
            name, setup, preamble, after, expect)
        self.env_config = env_config


EXAMPLES = {
    README: [
        Example(
            "quorum",
            setup=f"""
with chm.Session.open() as admin:
    {ADMIN}
    for name in ("admin2", "admin3"):
        admin.create_user(name, "admin", name + "-password")
        with chm.Session.open() as s, chm.PrivateKey.load(name + ".key") as key:
            s.login(name, "admin", name + "-password")
            s.register_quorum_key(name + ".pub", signer=key)
    admin.set_quorum_value("user", 2)
""",
            preamble=f"""
admin = chm.Session.open()
{ADMIN}
key_admin2 = chm.PrivateKey.load("admin2.key")
key_admin3 = chm.PrivateKey.load("admin3.key")
""",
            after="""
assert "bob" in [u["username"] for u in admin.list_users()["users"]]
""",
        ),
        Example(
            "MFA preferences",
            setup=ALICE,
            preamble=TOTP + """
alice = chm.Session.open()
alice.login("alice", "crypto-user", "alice-password")
secret = alice.associate_software_token("alice@cluster-local")["secret-code"]
alice.verify_software_token(totp(secret, time.time() - 30))  # the previous step's code
code_from_the_app = totp(secret, time.time())
""",
            after="""
assert step.kind == "code"
alice.logout()  # logged in, so this succeeds
""",
        ),
        Example("sessions", setup=ALICE, expect="'username': 'alice'"),
        Example(
            "token files",
            setup=ALICE_WITH_MFA + """
open("broken.json", "w").write('{"version": "2.0", "tokens": [{"unsigned": "AAAA", "signed": ""}]}')
""",
            after="""
with chm.TokenFile.load("token.json") as f, chm.PublicKey.load("mfa.pub") as pub:
    f.verify(pub)
""",
            expect="0x80000002 broken.json: tokens[0].unsigned: decodes to 3 bytes",
        ),
    ],
    PACKAGE_README: [
        Example(
            "token files",
            setup=ALICE_WITH_MFA + f"""
with chm.Session.open() as admin:
    {ADMIN}
    admin.generate_quorum_token("user", "approval.json")
""",
            after="""
with chm.TokenFile.load("approval.json") as f, chm.PublicKey.load("admin2.pub") as pub:
    f.verify(pub, approver="admin2")
""",
            expect="[<EntryStatus.VALID: 0>, <EntryStatus.VALID: 0>, <EntryStatus.VALID: 0>]",
        ),
        Example("sessions", expect="'username': 'admin'", env_config=False),
    ],
}


def python_blocks(readme):
    return re.findall(r"^```python\n(.*?)^```$", readme.read_text(), re.M | re.S)


def test_every_python_block_has_its_set_up():
    for readme, examples in EXAMPLES.items():
        assert len(python_blocks(readme)) == len(examples), (
            f"{readme.relative_to(REPO)} has {len(python_blocks(readme))} python blocks and "
            f"test_readme.py knows {len(examples)}: give each a set-up in EXAMPLES, in order"
        )


def run_python(code, cwd, env, what):
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        f"{what} failed ({done.returncode}):\n{done.stderr}\n--- the code:\n{code}"
    )
    return done.stdout


@pytest.mark.parametrize(
    "readme,index",
    [(r, i) for r, examples in EXAMPLES.items() for i in range(len(examples))],
    ids=lambda v: v.relative_to(REPO).as_posix() if isinstance(v, Path) else str(v),
)
def test_the_python_example_runs_as_written(readme, index, tmp_path):
    blocks = python_blocks(readme)
    assert index < len(blocks), "a block is gone: see test_every_python_block_has_its_set_up"
    example, block = EXAMPLES[readme][index], blocks[index]
    work = tmp_path / "work"
    work.mkdir()
    for name, fixture in KEY_FILES.items():
        shutil.copyfile(KEYS / fixture, work / name)
        (work / name).chmod(0o600)
    emulator = Emulator(tmp_path / "hsm", admin_password="admin-password").start()
    try:
        shutil.copyfile(emulator.config, work / "cloudhsm-cli.cfg")
        env = dict(os.environ, CLOUDHSM_MFA_CONFIG=str(emulator.config),
                   PYTHONPATH=str(REPO / "bindings" / "python"))
        imports = "import cloudhsm_mfa as chm\n"
        if example.setup:
            run_python(imports + example.setup, work, env, f"the set-up of {example.name}")
        if not example.env_config:
            env["CLOUDHSM_MFA_CONFIG"] = str(tmp_path / "no-such-config.cfg")
        script = imports + example.preamble + "\n" + block + "\n" + example.after
        out = run_python(script, work, env, f"the {example.name} example of {readme.relative_to(REPO)}")
        assert example.expect in out, f"{example.expect!r} is not in the output:\n{out}"
    finally:
        assert emulator.stop() == 0, emulator.log()
