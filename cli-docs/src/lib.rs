//! Man pages and shell completions of the project's commands (`cloudhsm-mfa`,
//! `cloudhsm-emulator`), made from their clap definitions by `clap_mangen` and
//! `clap_complete`, so they never drift from the options the commands take.
//!
//! Each command takes a hidden subcommand, `generate-docs DIR`, that calls [`generate`]
//! with its own definition; `make` runs it and `make install` installs what it wrote. The
//! subcommand is added to the definition only for parsing ([`with_generator`]), so the
//! pages and completions, made from the definition without it, never show it; nor does
//! `--help`.

use std::io;
use std::path::{Path, PathBuf};

use clap_complete::{Generator, Shell};

/// The shells whose completions are written.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The name of the hidden subcommand.
pub const SUBCOMMAND: &str = "generate-docs";

/// `cmd` with the hidden `generate-docs DIR` subcommand, for parsing a command line.
pub fn with_generator(cmd: clap::Command) -> clap::Command {
    cmd.subcommand(
        clap::Command::new(SUBCOMMAND)
            .hide(true)
            .about("Write the man pages and shell completions into DIR")
            .arg(
                clap::Arg::new("dir")
                    .value_name("DIR")
                    .required(true)
                    .value_parser(clap::value_parser!(PathBuf)),
            ),
    )
}

/// The DIR of a `generate-docs DIR` command line parsed with [`with_generator`]; `None`
/// for any other command.
pub fn requested(matches: &clap::ArgMatches) -> Option<PathBuf> {
    let (name, sub) = matches.subcommand()?;
    (name == SUBCOMMAND).then(|| sub.get_one::<PathBuf>("dir").cloned())?
}

/// Writes the man pages of `cmd` to `DIR/man1/` (`NAME.1`, and `NAME-SUB.1` for each
/// subcommand, recursively) and its completions to `DIR/completions/` (`NAME.bash`,
/// `_NAME` for zsh, `NAME.fish`). Returns the files written. An error names the path.
pub fn generate(cmd: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let name = cmd.get_name().to_string();
    let man_dir = dir.join("man1");
    let completion_dir = dir.join("completions");
    for d in [&man_dir, &completion_dir] {
        std::fs::create_dir_all(d).map_err(|e| at(d, e))?;
    }
    clap_mangen::generate_to(cmd.clone(), &man_dir).map_err(|e| at(&man_dir, e))?;
    let mut written = files_in(&man_dir)?;
    for shell in SHELLS {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut script);
        if shell == Shell::Bash {
            script = bash_hyphen_fix(&name, &String::from_utf8_lossy(&script)).into_bytes();
        }
        let path = completion_dir.join(shell.file_name(&name));
        std::fs::write(&path, script).map_err(|e| at(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// Works around clap_complete's bash generator for a name with a hyphen (clap-rs/clap
/// issues 6421 and 6529, open in clap_complete 4.6.12): its parser state names the
/// command `cloudhsm__mfa__subcmd__tokens` while the `case` that lists each
/// subcommand's options spells it `cloudhsm__subcmd__mfa__subcmd__tokens`, so nothing
/// below the first level ever completes. The states are made to agree; when clap_complete
/// is fixed, the text is no longer there and nothing changes.
fn bash_hyphen_fix(name: &str, script: &str) -> String {
    let sep = "__subcmd__";
    let broken = format!("{}{sep}", name.replace('-', sep));
    let state = format!("{}{sep}", name.replace('-', "__"));
    if broken == state {
        script.to_string()
    } else {
        script.replace(&broken, &state)
    }
}

fn files_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| at(dir, e))? {
        files.push(entry.map_err(|e| at(dir, e))?.path());
    }
    files.sort();
    Ok(files)
}

fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

    /// A tool with one subcommand.
    #[derive(Parser)]
    #[command(name = "tool", version = "1.2.3", about = "Does things")]
    struct Tool {
        #[command(subcommand)]
        command: ToolCommand,
    }

    #[derive(Subcommand)]
    enum ToolCommand {
        /// Signs a token file
        Sign {
            /// The token file
            #[arg(long)]
            token: PathBuf,
        },
    }

    #[test]
    fn the_generator_is_found_only_on_its_own_command_line() {
        let parse = |words: &[&str]| with_generator(Tool::command()).try_get_matches_from(words);
        let matches = parse(&["tool", "generate-docs", "out/docs"]).unwrap();
        assert_eq!(requested(&matches), Some(PathBuf::from("out/docs")));
        let matches = parse(&["tool", "sign", "--token", "t.json"]).unwrap();
        assert_eq!(requested(&matches), None);
        assert!(Tool::from_arg_matches(&matches).is_ok());
        let e = parse(&["tool", "generate-docs"]).unwrap_err();
        assert!(e.to_string().contains("<DIR>"), "{e}");
        let help = with_generator(Tool::command()).render_help().to_string();
        assert!(!help.contains("generate-docs"), "{help}");
    }

    #[test]
    fn pages_and_completions_cover_every_command_but_the_generator() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(Tool::command(), dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "man1/tool-sign.1",
                "man1/tool.1",
                "completions/tool.bash",
                "completions/_tool",
                "completions/tool.fish",
            ]
        );
        let page = std::fs::read_to_string(dir.path().join("man1/tool-sign.1")).unwrap();
        assert!(page.contains("\\-\\-token"), "{page}");
        let bash = std::fs::read_to_string(dir.path().join("completions/tool.bash")).unwrap();
        assert!(bash.contains("--token"), "{bash}");
        let top = std::fs::read_to_string(dir.path().join("man1/tool.1")).unwrap();
        for text in [top, bash] {
            assert!(text.contains("sign"), "{text}");
            assert!(!text.contains(SUBCOMMAND), "the generator shows: {text}");
        }
    }

    /// What the written bash completion offers for the last of `words`, called as bash
    /// calls it.
    fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
        let program = r#"source "$1"; shift
            fn=$(complete -p "$1" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
            COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
            "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}""#;
        let out = std::process::Command::new("bash")
            .args(["-c", program, "bash"])
            .arg(script)
            .args(words)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn bash_completes_the_options_of_a_subcommand_of_a_hyphenated_name() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = Tool::command().name("my-tool").bin_name("my-tool");
        generate(cmd, dir.path()).unwrap();
        let script = dir.path().join("completions/my-tool.bash");
        assert!(bash_completes(&script, &["my-tool", "si"]).contains(&"sign".to_string()));
        let options = bash_completes(&script, &["my-tool", "sign", "--to"]);
        assert_eq!(
            options,
            ["--token"],
            "{}",
            std::fs::read_to_string(&script).unwrap()
        );
    }

    #[test]
    fn an_unwritable_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let e = generate(Tool::command(), &file).unwrap_err();
        assert!(e.to_string().contains("not-a-dir"), "{e}");
    }
}
