//! Generates, into OUT_DIR, the C header from src/ffi/ with cbindgen, and from the header
//! and the return-code table the Python module `_ffi.py`. The committed copies
//! (include/cloudhsm_mfa.h, bindings/python/cloudhsm_mfa/_ffi.py) are compared with them
//! by tests (tests/header.rs); `CHM_UPDATE_HEADER=1 cargo build` refreshes both.
//!
//! cbindgen does not expand macros, so the `CHMR_*` constants, which the `return_codes!`
//! table of src/ffi/return_codes.rs declares, reach it as a second source file written
//! here from the same table.
//!
//! On ELF platforms it also gives the shared library its SONAME, `libcloudhsm_mfa.so.MAJOR`
//! (build/soname.rs).

use std::env;
use std::path::PathBuf;

#[path = "build/python_ffi.rs"]
mod python_ffi;
#[path = "build/return_codes.rs"]
mod return_codes;
#[path = "build/soname.rs"]
mod soname;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let header_out = out_dir.join("cloudhsm_mfa.h");
    let python_out = out_dir.join("_ffi.py");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CHM_UPDATE_HEADER");

    let target_os = env::var("CARGO_CFG_TARGET_OS").expect("CARGO_CFG_TARGET_OS");
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("CARGO_PKG_VERSION_MAJOR");
    if let Some(names) = soname::names(&target_os, &major) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{}", names.soname);
        if let Err(why) = soname::link_in_output_dir(&out_dir, &names) {
            println!(
                "cargo:warning=no {} link beside the library: {why}",
                names.soname
            );
        }
    }

    let table_path = crate_dir.join("src/ffi/return_codes.rs");
    let table = return_codes::parse(
        &std::fs::read_to_string(&table_path).expect("src/ffi/return_codes.rs is readable"),
    );
    let constants = out_dir.join("return_code_constants.rs");
    std::fs::write(&constants, return_codes::constants_for_cbindgen(&table))
        .expect("OUT_DIR is writable");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .with_src(&constants)
        .generate()
        .expect("the C header can be generated from src/ffi");
    bindings.write_to_file(&header_out);
    println!(
        "cargo:rustc-env=CHM_GENERATED_HEADER={}",
        header_out.display()
    );

    let header = std::fs::read_to_string(&header_out).expect("the generated header is readable");
    let python = python_ffi::generate(&header, &table);
    std::fs::write(&python_out, &python).expect("OUT_DIR is writable");
    println!(
        "cargo:rustc-env=CHM_GENERATED_PYTHON_FFI={}",
        python_out.display()
    );

    if env::var_os("CHM_UPDATE_HEADER").is_some() {
        bindings.write_to_file(crate_dir.join("include/cloudhsm_mfa.h"));
        std::fs::write(
            crate_dir.join("bindings/python/cloudhsm_mfa/_ffi.py"),
            &python,
        )
        .expect("bindings/python/cloudhsm_mfa/ is writable");
    }
}
