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
