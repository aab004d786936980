//! Header discipline: the committed header is what cbindgen generates now; the shared
//! library exports exactly the header's functions; the version macros match Cargo.toml.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn committed_header() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/cloudhsm_mfa.h");
    std::fs::read_to_string(path).expect("include/cloudhsm_mfa.h is committed")
}

/// The names of the functions the header declares (`CHM_Xxx(` at the start of a
/// declaration, not the function-list members, which are `(*CHM_Xxx)`).
fn header_functions(header: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in header.lines() {
        if line.starts_with(' ')
            || line.starts_with('#')
            || line.starts_with("/*")
            || line.starts_with(" *")
        {
            continue;
        }
        // A declaration: `<return type> CHM_Name(...)`; take the identifier before '('.
        if let Some(paren) = line.find('(') {
            let name = line[..paren].rsplit([' ', '*']).next().unwrap_or("");
            if name.starts_with("CHM_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn committed_header_matches_a_fresh_generation() {
    let fresh = std::fs::read_to_string(env!("CHM_GENERATED_HEADER")).unwrap();
    assert!(
        committed_header() == fresh,
        "include/cloudhsm_mfa.h is stale: run `CHM_UPDATE_HEADER=1 cargo build` and commit it"
    );
}

#[test]
fn shared_library_exports_exactly_the_header_functions() {
    // Integration tests run from target/<profile>/deps, where cargo also puts the cdylib.
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let lib = [
        deps.join("libcloudhsm_mfa.so"),
        deps.parent().unwrap().join("libcloudhsm_mfa.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("the cdylib is built next to the tests");
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("nm runs");
    assert!(out.status.success());
    let exported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "T").then(|| name.to_string())
        })
        .collect();
    let declared = header_functions(&committed_header());
    assert!(
        declared.len() >= 30,
        "parsed the header's functions: {declared:?}"
    );
    assert_eq!(
        exported, declared,
        "exported symbols differ from the header's functions"
    );
}

#[test]
fn version_macros_match_cargo_toml() {
    let header = committed_header();
    let macro_value = |name: &str| -> String {
        let prefix = format!("#define {name} ");
        header
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{name} is defined"))
            .trim()
            .to_string()
    };
    assert_eq!(
        macro_value("CHM_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        macro_value("CHM_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        macro_value("CHM_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
}

#[test]
fn run_time_version_matches_cargo_toml() {
    use cloudhsm_mfa::ffi::*;
    // SAFETY: plain calls with valid pointers.
    unsafe {
        let rv = CHM_Initialize(std::ptr::null());
        assert!(rv == CHMR_OK || rv == CHMR_ALREADY_INITIALIZED);
        let mut info = std::mem::MaybeUninit::<CHM_INFO>::uninit();
        assert_eq!(CHM_GetInfo(info.as_mut_ptr()), CHMR_OK);
        let info = info.assume_init();
        let v = info.library_version;
        assert_eq!(
            format!("{}.{}.{}", v.major, v.minor, v.patch),
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(cloudhsm_mfa::VERSION, env!("CARGO_PKG_VERSION"));
    }
}

#[test]
fn header_compiles_as_c99_and_cpp17_with_all_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("h.c");
    std::fs::write(
        &src,
        "#include \"cloudhsm_mfa.h\"\nint main(void) { return CHMR_OK; }\n",
    )
    .unwrap();
    let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include");
    for (compiler, std_flag, lang) in [("gcc", "-std=c99", "c"), ("g++", "-std=c++17", "c++")] {
        let out = Command::new(compiler)
            .args([
                std_flag,
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-x",
                lang,
                "-c",
            ])
            .arg(&src)
            .arg("-I")
            .arg(&include)
            .arg("-o")
            .arg(dir.path().join("h.o"))
            .output()
            .expect("the compiler runs");
        assert!(
            out.status.success(),
            "{compiler}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn committed_python_ffi_matches_a_fresh_generation() {
    let fresh = std::fs::read_to_string(env!("CHM_GENERATED_PYTHON_FFI")).unwrap();
    assert!(
        repo_file("bindings/python/cloudhsm_mfa/_ffi.py") == fresh,
        "bindings/python/cloudhsm_mfa/_ffi.py is stale: run `CHM_UPDATE_HEADER=1 cargo build` \
         and commit it"
    );
}

/// The `#define`s of the header whose names start with `prefix`, in order.
fn header_defines(header: &str, prefix: &str) -> Vec<(String, u64)> {
    header
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, value)| (name.to_string(), value.trim().parse().unwrap()))
        .collect()
}

#[test]
fn header_defines_exactly_the_return_codes_of_the_table() {
    use cloudhsm_mfa::ffi::RETURN_CODES;
    let table: Vec<(String, u64)> = RETURN_CODES
        .iter()
        .map(|c| (c.name.to_string(), u64::from(c.value)))
        .collect();
    assert!(table.len() >= 40);
    assert_eq!(header_defines(&committed_header(), "CHMR_"), table);
}

#[test]
fn every_python_class_of_the_table_is_in_ffi_py_and_defined_in_errors_py() {
    use cloudhsm_mfa::ffi::RETURN_CODES;
    let ffi = repo_file("bindings/python/cloudhsm_mfa/_ffi.py");
    let errors = repo_file("bindings/python/cloudhsm_mfa/errors.py");
    let classes_block = ffi
        .split_once("RETURN_CODE_CLASSES = {\n")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .expect("_ffi.py has RETURN_CODE_CLASSES")
        .0;
    let python: Vec<(&str, &str)> = classes_block
        .lines()
        .map(|l| {
            let (code, class) = l.trim().trim_end_matches(',').split_once(": ").unwrap();
            (code, class.trim_matches('"'))
        })
        .collect();
    let table: Vec<(&str, &str)> = RETURN_CODES
        .iter()
        .filter_map(|c| Some((c.name, c.python_class?)))
        .collect();
    assert_eq!(python, table, "_ffi.py's classes differ from the table");
    for (code, class) in table {
        assert!(
            errors.contains(&format!("\nclass {class}(")),
            "{code}: errors.py defines no class {class}"
        );
    }
}

#[test]
fn retired_codes_have_a_reason_and_neither_a_define_nor_a_text() {
    use cloudhsm_mfa::ffi::{CHM_GetReturnCodeText, RETIRED_CODES};
    let header = committed_header();
    for retired in RETIRED_CODES {
        assert!(
            !retired.reason.is_empty(),
            "{} is retired without a reason",
            retired.name
        );
        assert!(!header.contains(&format!("#define {} ", retired.name)));
        // SAFETY: the text is a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(CHM_GetReturnCodeText(retired.value)) };
        assert_eq!(text, c"unknown return code", "{}", retired.name);
    }
}

/// How many functions `CHM_FUNCTION_LIST` has at each of its versions, and the last of
/// them. A new version appends functions and adds a line here; no line ever changes.
const FUNCTION_LIST_VERSIONS: &[(u32, usize, &str)] = &[
    (1, 37, "CHM_SignTokenFile"),
    (2, 38, "CHM_PublicKeyToPem"),
    (3, 54, "CHM_ActivateCluster"),
    (4, 65, "CHM_GetLastErrorApprovals"),
    (5, 74, "CHM_LoginSignWith"),
    (6, 75, "CHM_PrivateKeyOpen"),
];

/// The members of the header's `CHM_FUNCTION_LIST` after `version`, in order.
fn function_list_members(header: &str) -> Vec<String> {
    let body = header
        .split_once("typedef struct CHM_FUNCTION_LIST {")
        .and_then(|(_, rest)| rest.split_once("} CHM_FUNCTION_LIST;"))
        .expect("the header defines CHM_FUNCTION_LIST")
        .0;
    body.split("(*")
        .skip(1)
        .map(|m| m.split_once(')').unwrap().0.to_string())
        .collect()
}

#[test]
fn function_list_grows_only_by_appending_one_version_at_a_time() {
    use cloudhsm_mfa::ffi::*;
    let members = function_list_members(&committed_header());
    let &(current, count, _) = FUNCTION_LIST_VERSIONS.last().unwrap();
    assert_eq!(
        current, CHM_FUNCTION_LIST_VERSION,
        "CHM_FUNCTION_LIST_VERSION changed: add its line to FUNCTION_LIST_VERSIONS"
    );
    assert_eq!(
        members.len(),
        count,
        "CHM_FUNCTION_LIST has other functions than version {current} had: append new ones \
         with a new CHM_FUNCTION_LIST_VERSION and a new line in FUNCTION_LIST_VERSIONS"
    );
    for (i, &(version, count, last)) in FUNCTION_LIST_VERSIONS.iter().enumerate() {
        assert_eq!(version, i as u32 + 1);
        assert_eq!(
            members[count - 1],
            last,
            "version {version} ends with {last}"
        );
        if i > 0 {
            assert!(count > FUNCTION_LIST_VERSIONS[i - 1].1);
        }
    }
    assert_eq!(
        std::mem::size_of::<CHM_FUNCTION_LIST>(),
        std::mem::offset_of!(CHM_FUNCTION_LIST, CHM_Initialize)
            + count * std::mem::size_of::<Option<extern "C" fn()>>()
    );
    let declared = header_functions(&committed_header());
    let listed: BTreeSet<String> = members.iter().cloned().collect();
    assert_eq!(listed, declared, "every function is in the function list");

    let mut list = std::ptr::null();
    // SAFETY: a valid pointer to write to; the table is static.
    unsafe {
        assert_eq!(CHM_GetFunctionList(&mut list), CHMR_OK);
        assert_eq!((*list).version, CHM_FUNCTION_LIST_VERSION);
    }
}

#[test]
fn public_structs_have_the_same_layout_in_c_and_rust() {
    use cloudhsm_mfa::ffi::*;
    use std::mem::{align_of, size_of};
    let rust: &[(&str, usize, usize)] = &[
        (
            "CHM_INITIALIZE_ARGS",
            size_of::<CHM_INITIALIZE_ARGS>(),
            align_of::<CHM_INITIALIZE_ARGS>(),
        ),
        (
            "CHM_VERSION",
            size_of::<CHM_VERSION>(),
            align_of::<CHM_VERSION>(),
        ),
        ("CHM_INFO", size_of::<CHM_INFO>(), align_of::<CHM_INFO>()),
        (
            "CHM_FUNCTION_LIST",
            size_of::<CHM_FUNCTION_LIST>(),
            align_of::<CHM_FUNCTION_LIST>(),
        ),
        (
            "CHM_MFA_SETTING",
            size_of::<CHM_MFA_SETTING>(),
            align_of::<CHM_MFA_SETTING>(),
        ),
        (
            "CHM_MFA_SETTINGS",
            size_of::<CHM_MFA_SETTINGS>(),
            align_of::<CHM_MFA_SETTINGS>(),
        ),
        (
            "CHM_LOGIN_STEP",
            size_of::<CHM_LOGIN_STEP>(),
            align_of::<CHM_LOGIN_STEP>(),
        ),
    ];
    let header = committed_header();
    let in_header: BTreeSet<&str> = header
        .lines()
        .filter_map(|l| l.strip_prefix("typedef struct "))
        .map(|l| l.trim_end_matches(" {"))
        .collect();
    let listed: BTreeSet<&str> = rust.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(
        listed, in_header,
        "every struct of the header is checked here"
    );

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("layout.c");
    let mut program = String::from(
        "#include <stdalign.h>\n#include <stdio.h>\n#include \"cloudhsm_mfa.h\"\n\
         int main(void) {\n",
    );
    for (name, _, _) in rust {
        program.push_str(&format!(
            "    printf(\"{name} %zu %zu\\n\", sizeof({name}), alignof({name}));\n"
        ));
    }
    program.push_str("    return 0;\n}\n");
    std::fs::write(&src, program).unwrap();
    let exe = dir.path().join("layout");
    let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include");
    let out = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    let c: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let rust: Vec<String> = rust
        .iter()
        .map(|(name, size, align)| format!("{name} {size} {align}"))
        .collect();
    assert_eq!(c, rust);
}
