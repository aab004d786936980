//! Reads the `return_codes!` table of src/ffi/return_codes.rs as text, for the parts of the
//! build that cannot see the macro's expansion: cbindgen (which does not expand macros)
//! and the generated Python module. The syntax is the macro's: in `codes { }`, entries
//! `NAME = value, "text", PythonClass;` after their `///` doc lines; in `retired { }`,
//! entries `NAME = value, "reason";`. `//` comments are ignored; an entry may span lines.

/// One return code of the table.
pub struct Code {
    /// The `///` lines before the entry, as written.
    pub docs: Vec<String>,
    pub name: String,
    pub value: u32,
    pub python_class: Option<String>,
}

/// A retired code: its number stays reserved.
pub struct Retired {
    pub name: String,
    pub value: u32,
}

pub struct Table {
    pub codes: Vec<Code>,
    pub retired: Vec<Retired>,
}

/// Parses the table; panics with the line of a malformed entry.
pub fn parse(source: &str) -> Table {
    let lines: Vec<&str> = source.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "return_codes! {")
        .expect("src/ffi/return_codes.rs has a line `return_codes! {`");
    let mut table = Table {
        codes: Vec::new(),
        retired: Vec::new(),
    };
    let mut section = "";
    let mut docs = Vec::new();
    let mut pending = String::new();
    let mut pending_line = 0;
    for (n, line) in lines.iter().enumerate().skip(start + 1) {
        let line_no = n + 1;
        let text = line.trim();
        if *line == "}" {
            assert!(
                section.is_empty(),
                "line {line_no}: `{section}` is not closed"
            );
            return table;
        }
        match text {
            "" => {}
            "codes {" | "retired {" if section.is_empty() => {
                section = text.trim_end_matches(" {");
            }
            "}" if pending.is_empty() => section = "",
            _ if text.starts_with("///") && pending.is_empty() => docs.push(text.to_string()),
            _ if text.starts_with("//") => {}
            _ => {
                assert!(
                    !section.is_empty(),
                    "line {line_no}: an entry outside a section"
                );
                if pending.is_empty() {
                    pending_line = line_no;
                } else {
                    pending.push(' ');
                }
                pending.push_str(text);
                if pending.ends_with(';') {
                    let entry = std::mem::take(&mut pending);
                    let (name, value, _text, class) = parse_entry(&entry)
                        .unwrap_or_else(|e| panic!("line {pending_line}: {e}: `{entry}`"));
                    if section == "codes" {
                        let class = class.unwrap_or_else(|| {
                            panic!("line {pending_line}: a code needs a Python class")
                        });
                        table.codes.push(Code {
                            docs: std::mem::take(&mut docs),
                            name,
                            value,
                            python_class: (class != "None").then_some(class),
                        });
                    } else {
                        assert!(
                            class.is_none(),
                            "line {pending_line}: a retired code has a reason only"
                        );
                        docs.clear();
                        table.retired.push(Retired { name, value });
                    }
                }
            }
        }
    }
    panic!("the `return_codes! {{` table is not closed by a line `}}`");
}

/// `NAME = value, "text"[, Class];` as its parts.
fn parse_entry(entry: &str) -> Result<(String, u32, String, Option<String>), String> {
    let body = entry.strip_suffix(';').ok_or("no `;`")?;
    let (name, rest) = body.split_once('=').ok_or("no `=`")?;
    let name = name.trim();
    if !name.starts_with("CHMR_") || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a CHMR_ name"));
    }
    let (value, rest) = rest.split_once(',').ok_or("no `,` after the value")?;
    let value = parse_u32(value.trim())?;
    let rest = rest.trim().strip_prefix('"').ok_or("no text in quotes")?;
    let (text, rest) = rest.split_once('"').ok_or("the text is not closed")?;
    if text.contains('\\') {
        return Err("the text has an escape; write it plainly".into());
    }
    let rest = rest.trim();
    let class = if rest.is_empty() {
        None
    } else {
        let class = rest
            .strip_prefix(',')
            .ok_or("no `,` after the text")?
            .trim();
        if class.is_empty() || !class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{class}` is not a class name"));
        }
        Some(class.to_string())
    };
    Ok((name.to_string(), value, text.to_string(), class))
}

fn parse_u32(literal: &str) -> Result<u32, String> {
    let digits = literal.replace('_', "");
    let parsed = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    parsed.map_err(|_| format!("`{literal}` is not a u32 literal (hex or decimal, no suffix)"))
}

/// The constants as plain Rust items, for cbindgen: doc lines and values as in the table,
/// so the header shows them as if they were written by hand.
pub fn constants_for_cbindgen(table: &Table) -> String {
    let mut out = String::from(
        "// Generated by build.rs from the table in src/ffi/return_codes.rs, for cbindgen.\n",
    );
    for code in &table.codes {
        for doc in &code.docs {
            out.push_str(doc);
            out.push('\n');
        }
        out.push_str(&format!(
            "pub const {}: CHM_RV = 0x{:08X};\n",
            code.name, code.value
        ));
    }
    out
}
