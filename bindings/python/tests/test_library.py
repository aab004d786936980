"""The package against the C header and the built library: every function declared with
its exact C types, every constant equal to the header's, loading rules, initialise and
finalise, version."""

import ctypes
import os
import re
import subprocess
import sys
from ctypes import POINTER, c_char, c_char_p, c_size_t, c_uint8, c_uint32, c_uint64
from pathlib import Path

import pytest

import cloudhsm_mfa as chm
from cloudhsm_mfa import _lib

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parents[1]
HEADER = (REPO / "include" / "cloudhsm_mfa.h").read_text()

# How each C parameter type of the header must be declared in ctypes.
C_TYPES = {
    "CHM_RV": c_uint32,
    "uint32_t": c_uint32,
    "uint32_t *": POINTER(c_uint32),
    "size_t": c_size_t,
    "size_t *": POINTER(c_size_t),
    "const uint8_t *": POINTER(c_uint8),
    "uint8_t *": POINTER(c_uint8),
    "const char *": c_char_p,
    "char *": POINTER(c_char),
    "CHM_KEY_HANDLE": c_uint64,
    "CHM_KEY_HANDLE *": POINTER(c_uint64),
    "CHM_TOKEN_FILE_HANDLE": c_uint64,
    "CHM_TOKEN_FILE_HANDLE *": POINTER(c_uint64),
    "CHM_SESSION_HANDLE": c_uint64,
    "CHM_SESSION_HANDLE *": POINTER(c_uint64),
    "CHM_SIGN_CALLBACK": _lib.CHM_SIGN_CALLBACK,
    "void *": ctypes.c_void_p,
    "const struct CHM_INITIALIZE_ARGS *": POINTER(_lib.CHM_INITIALIZE_ARGS),
    "struct CHM_INFO *": POINTER(_lib.CHM_INFO),
    "const struct CHM_MFA_SETTINGS *": POINTER(_lib.CHM_MFA_SETTINGS),
    "struct CHM_LOGIN_STEP *": POINTER(_lib.CHM_LOGIN_STEP),
    "const struct CHM_FUNCTION_LIST **": POINTER(POINTER(_lib.CHM_FUNCTION_LIST)),
}


def header_functions():
    """name -> (C return type, [C parameter types]) of every function the header declares."""
    body = HEADER.split('extern "C" {', 1)[1]
    found = {}
    for ret, name, params in re.findall(
        r"^(CHM_RV|const char \*)\s*(CHM_\w+)\((.*?)\);", body, re.M | re.S
    ):
        params = " ".join(params.split())
        types = []
        if params not in ("", "void"):
            for p in params.split(","):
                m = re.fullmatch(r"(.*?)\s*(\w+)", p.strip())
                types.append(" ".join(m.group(1).replace("*", " * ").split()).replace("* *", "**"))
        found[name] = (ret.strip(), types)
    return found


def test_every_header_function_is_declared_with_its_exact_c_types():
    declared = header_functions()
    assert len(declared) >= 37  # the parse found them all
    assert set(declared) == set(_lib.PROTOTYPES)
    for name, (ret, params) in declared.items():
        fn = getattr(_lib.lib, name)
        want_ret = c_uint32 if ret == "CHM_RV" else c_char_p
        assert fn.restype is want_ret, name
        assert fn.argtypes == [C_TYPES[t] for t in params], name


def test_function_list_table_matches_the_header_order_and_works():
    struct = re.search(r"typedef struct CHM_FUNCTION_LIST \{(.*?)\} CHM_FUNCTION_LIST;", HEADER, re.S)
    order = re.findall(r"\(\*(CHM_\w+)\)", struct.group(1))
    assert [f for f, _ in _lib.CHM_FUNCTION_LIST._fields_] == ["version"] + order

    table = chm.function_list()
    assert table.version == chm.CHM_FUNCTION_LIST_VERSION
    assert all(getattr(table, name) for name in order), "a NULL entry in the function list"
    assert table.CHM_GetReturnCodeText(chm.CHMR_TOKEN_NOT_SIGNED) == b"token is not signed"
    with chm.TokenFile.create_approval(b"records") as f:
        kind = c_uint32(0)
        assert table.CHM_TokenFileGetKind(f.handle, ctypes.byref(kind)) == chm.CHMR_OK
        assert kind.value == chm.CHM_TOKEN_FILE_QUORUM_APPROVAL


def test_every_header_constant_is_mirrored_with_its_value():
    defines = dict(re.findall(r"^#define (CHMR?_\w+) (\d+)$", HEADER, re.M))
    assert len(defines) >= 30
    for name, value in defines.items():
        assert getattr(chm, name) == int(value), name
    codes = {n for n in defines if n.startswith("CHMR_")}
    assert set(chm.RETURN_CODE_NAMES.values()) == codes


def test_every_failure_code_raises_the_class_the_generated_table_names():
    from cloudhsm_mfa import _ffi, errors

    defines = re.findall(r"^#define (CHMR_\w+) (\d+)$", HEADER, re.M)
    assert _ffi.RETURN_CODE_NAMES == {int(value): name for name, value in defines}
    assert set(_ffi.RETURN_CODE_CLASSES) == set(_ffi.RETURN_CODE_NAMES) - {chm.CHMR_OK}
    for code, class_name in _ffi.RETURN_CODE_CLASSES.items():
        cls = getattr(errors, class_name)
        assert issubclass(cls, chm.CloudHsmMfaError), class_name
        assert cls.__doc__, class_name
        assert getattr(chm, class_name) is cls, f"cloudhsm_mfa does not export {class_name}"
        error = errors.error_for(code)
        assert type(error) is cls
        assert error.code == code
        assert error.code_name == _ffi.RETURN_CODE_NAMES[code]
        assert chm.return_code_text(code) != "unknown return code"
    for code in _ffi.RETIRED_RETURN_CODES:
        assert code not in _ffi.RETURN_CODE_NAMES
        assert chm.return_code_text(code) == "unknown return code"


def test_structures_have_the_c_layout():
    assert ctypes.sizeof(_lib.CHM_VERSION) == 12
    assert ctypes.sizeof(_lib.CHM_INFO) == 80
    assert _lib.CHM_INFO.description.offset == 16
    assert _lib.CHM_INITIALIZE_ARGS.flags.offset == ctypes.sizeof(ctypes.c_void_p)
    fields = _lib.CHM_FUNCTION_LIST._fields_
    assert len(fields) == 1 + 75  # version, then the functions of version 6
    assert ctypes.sizeof(_lib.CHM_FUNCTION_LIST) == len(fields) * ctypes.sizeof(ctypes.c_void_p)


def test_version_matches_cargo_toml_and_pyproject():
    cargo = re.search(
        r'\[workspace\.package\][^\[]*?version = "([^"]+)"', (REPO / "Cargo.toml").read_text()
    ).group(1)
    pyproject = re.search(r'^version = "([^"]+)"', (PYTHON_DIR / "pyproject.toml").read_text(), re.M)
    assert chm.version() == cargo
    assert chm.__version__ == cargo == pyproject.group(1)
    info = chm.info()
    assert info.version == tuple(int(x) for x in cargo.split("."))
    assert info.function_list_version == chm.CHM_FUNCTION_LIST_VERSION
    assert info.description.startswith("libcloudhsm_mfa")


def _import_in_subprocess(env_lib):
    env = {k: v for k, v in os.environ.items() if k != "CLOUDHSM_MFA_LIB"}
    env["PYTHONPATH"] = str(PYTHON_DIR)
    if env_lib is not None:
        env["CLOUDHSM_MFA_LIB"] = env_lib
    return subprocess.run(
        [sys.executable, "-c", "import cloudhsm_mfa as c; print(c.LIBRARY_PATH); print(c.version())"],
        env=env,
        capture_output=True,
        text=True,
    )


def test_library_is_found_in_the_repository_build_or_from_the_environment(tmp_path):
    built = REPO / "target" / "release" / "libcloudhsm_mfa.so"
    default = _import_in_subprocess(None)
    assert default.returncode == 0, default.stderr
    assert default.stdout.splitlines() == [str(built), chm.version()]

    explicit = _import_in_subprocess(str(built))
    assert explicit.returncode == 0, explicit.stderr
    assert explicit.stdout.splitlines()[0] == str(built)

    missing = tmp_path / "nowhere" / "libcloudhsm_mfa.so"
    failed = _import_in_subprocess(str(missing))
    assert failed.returncode != 0
    assert f"ImportError: cannot load libcloudhsm_mfa from CLOUDHSM_MFA_LIB={missing}" in failed.stderr


def test_initialize_finalize_and_handles_across_them(tmp_path, random_tokens):
    kept = chm.TokenFile.create_mfa(random_tokens(2))  # initialises on first use
    closed_early = chm.TokenFile.create_mfa(random_tokens(1))
    with pytest.raises(chm.AlreadyInitializedError) as e:
        chm.initialize()
    assert e.value.code == chm.CHMR_ALREADY_INITIALIZED
    assert e.value.message == "the library is already initialised"

    chm.finalize()
    with pytest.raises(chm.NotInitializedError) as e:
        kept.kind
    assert e.value.code == chm.CHMR_NOT_INITIALIZED
    assert "call CHM_Initialize first" in e.value.message
    closed_early.close()  # the library already dropped it: no error
    with pytest.raises(chm.NotInitializedError):
        chm.finalize()

    chm.initialize(config_path=tmp_path / "cloudhsm-cli.cfg")
    # Handles are never reused: one from before finalize stays invalid.
    with pytest.raises(chm.TokenFileHandleInvalidError) as e:
        len(kept)
    assert e.value.message == f"{kept.handle} is not an open token file handle"
    with chm.TokenFile.create_mfa(random_tokens(1)) as fresh:
        assert fresh.kind is chm.TokenFileKind.MFA
        assert fresh.handle > kept.handle

    chm.finalize()
    # The next use initialises again by itself.
    with chm.TokenFile.create_mfa(random_tokens(3)) as again:
        assert len(again) == 3


def test_errors_carry_code_name_and_the_library_message():
    assert chm.return_code_text(chm.CHMR_TOKEN_FILE_INVALID) == "token file is not valid"
    assert chm.return_code_text(0x12345678) == "unknown return code"
    with pytest.raises(chm.TokenFileError) as e:
        chm.TokenFile.parse("[]")
    err = e.value
    assert isinstance(err, chm.CloudHsmMfaError)
    assert err.code == chm.CHMR_TOKEN_FILE_INVALID == 0x80000002
    assert err.code_name == "CHMR_TOKEN_FILE_INVALID"
    assert err.message == "<buffer>: document: must be a JSON object"
    assert str(err) == err.message
    assert chm.last_error() == err.message
