//! Writes `bindings/python/cloudhsm_mfa/_ffi.py` from the generated header and the
//! return-code table: the header's constants, its types, structures and function
//! prototypes as ctypes declarations, and the code tables of the Python package.
//!
//! The header is cbindgen's output, so the parser knows only its regular shapes:
//! `typedef T NAME;`, `typedef struct NAME { ... } NAME;`, `typedef R (*NAME)(...);` and
//! `R NAME(...);`. Anything else stops the build with the declaration it did not know.

use std::collections::BTreeSet;

use super::return_codes::Table;

const WIDTH: usize = 99;

/// A C type as ctypes; `used` collects the ctypes names the module must import.
fn ctype(c: &str, used: &mut BTreeSet<&'static str>) -> String {
    let spaced = c.replace('*', " * ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut stars = tokens.iter().filter(|t| **t == "*").count();
    let is_const = tokens.contains(&"const");
    let base: Vec<&str> = tokens
        .iter()
        .copied()
        .filter(|t| !matches!(*t, "*" | "const" | "struct"))
        .collect();
    let [base] = base[..] else {
        panic!("_ffi.py: cannot read the C type `{c}`");
    };
    let mut out = match (base, stars) {
        ("char", 1..) if is_const => {
            stars -= 1;
            used.insert("c_char_p");
            "c_char_p".to_string()
        }
        ("void", 1..) => {
            stars -= 1;
            used.insert("c_void_p");
            "c_void_p".to_string()
        }
        _ => {
            let name: &'static str = match base {
                "char" => "c_char",
                "uint8_t" => "c_uint8",
                "uint16_t" => "c_uint16",
                "uint32_t" => "c_uint32",
                "uint64_t" => "c_uint64",
                "int8_t" => "c_int8",
                "int16_t" => "c_int16",
                "int32_t" => "c_int32",
                "int64_t" => "c_int64",
                "int" => "c_int",
                "size_t" => "c_size_t",
                name if name.starts_with("CHM_") => return pointers(name.to_string(), stars, used),
                other => panic!("_ffi.py: no ctypes type for the C type `{other}` (in `{c}`)"),
            };
            used.insert(name);
            name.to_string()
        }
    };
    out = pointers(out, stars, used);
    out
}

fn pointers(mut t: String, stars: usize, used: &mut BTreeSet<&'static str>) -> String {
    for _ in 0..stars {
        used.insert("POINTER");
        t = format!("POINTER({t})");
    }
    t
}

/// A return type: `None` for `void`.
fn restype(c: &str, used: &mut BTreeSet<&'static str>) -> String {
    if c.trim() == "void" {
        "None".to_string()
    } else {
        ctype(c, used)
    }
}

/// `TYPE NAME` or `TYPE NAME[N]` as (type, name, array length).
fn declarator(decl: &str) -> (String, String, Option<String>) {
    let mut decl = decl.trim();
    let mut len = None;
    if let Some(open) = decl
        .strip_suffix(']')
        .and_then(|d| d.rfind('[').map(|i| (d, i)))
    {
        let (d, i) = open;
        len = Some(d[i + 1..].trim().to_string());
        decl = d[..i].trim_end();
    }
    let split = decl
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or_else(|| panic!("_ffi.py: no type in the declaration `{decl}`"));
    let (ty, name) = decl.split_at(split + 1);
    (ty.trim().to_string(), name.to_string(), len)
}

/// The parameter types of `a, b, c` (or `void`).
fn params(list: &str, used: &mut BTreeSet<&'static str>) -> Vec<String> {
    let list = list.trim();
    if list.is_empty() || list == "void" {
        return Vec::new();
    }
    assert!(
        !list.contains('('),
        "_ffi.py: a function-pointer parameter in `{list}`; use a typedef"
    );
    list.split(',')
        .map(|p| ctype(&declarator(p).0, used))
        .collect()
}

/// `R (*NAME)(PARAMS)` as (return type, name, parameters).
fn function_pointer(decl: &str) -> Option<(String, String, String)> {
    let (ret, rest) = decl.split_once("(*")?;
    let (name, rest) = rest.split_once(')')?;
    let params = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some((
        ret.trim().to_string(),
        name.trim().to_string(),
        params.to_string(),
    ))
}

/// `R NAME(PARAMS)` as (return type, name, parameters).
fn function(decl: &str) -> Option<(String, String, String)> {
    let open = decl.find('(')?;
    let params = decl[open + 1..].strip_suffix(')')?;
    let (ret, name, _) = declarator(&decl[..open]);
    Some((ret, name, params.to_string()))
}

/// The text without comments and preprocessor lines, as `;`-ended statements at brace
/// depth 0, each with its whitespace collapsed.
fn statements(text: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        plain.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("a comment is closed") + start + 2;
        rest = &rest[end..];
    }
    plain.push_str(rest);
    let plain: String = plain
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    for c in plain.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ';' && depth == 0 {
            out.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
            current.clear();
        } else {
            current.push(c);
        }
    }
    assert!(
        current.trim().is_empty(),
        "_ffi.py: text after the last declaration: {current:?}"
    );
    out
}

/// A Python expression laid out as black does: on one line when it fits, else one item
/// per line with a trailing comma.
enum Py {
    Atom(String),
    Seq {
        open: String,
        items: Vec<Py>,
        close: &'static str,
        always_break: bool,
    },
}

fn atom(s: impl Into<String>) -> Py {
    Py::Atom(s.into())
}

fn seq(open: impl Into<String>, items: Vec<Py>, close: &'static str) -> Py {
    Py::Seq {
        open: open.into(),
        items,
        close,
        always_break: false,
    }
}

impl Py {
    fn flat(&self) -> Option<String> {
        match self {
            Py::Atom(s) => Some(s.clone()),
            Py::Seq {
                always_break: true,
                items,
                ..
            } if !items.is_empty() => None,
            Py::Seq {
                open, items, close, ..
            } => {
                let items: Option<Vec<String>> = items.iter().map(Py::flat).collect();
                Some(format!("{open}{}{close}", items?.join(", ")))
            }
        }
    }

    /// Rendered on a line indented by `indent` after `lead` other characters, followed by
    /// `trail` characters on its last line.
    fn render(&self, indent: usize, lead: usize, trail: usize) -> String {
        if let Some(flat) = self.flat() {
            if indent + lead + flat.len() + trail <= WIDTH {
                return flat;
            }
        }
        match self {
            Py::Atom(s) => s.clone(),
            Py::Seq {
                open, items, close, ..
            } => {
                let pad = " ".repeat(indent + 4);
                let mut out = format!("{open}\n");
                for item in items {
                    out.push_str(&format!("{pad}{},\n", item.render(indent + 4, 0, 1)));
                }
                out.push_str(&" ".repeat(indent));
                out.push_str(close);
                out
            }
        }
    }
}

/// `name = value` at the start of a line.
fn assign(name: &str, value: Py) -> String {
    format!("{name} = {}\n", value.render(0, name.len() + 3, 0))
}

fn dict(items: Vec<Py>) -> Py {
    Py::Seq {
        open: "{".into(),
        items,
        close: "}",
        always_break: true,
    }
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

pub fn generate(header: &str, table: &Table) -> String {
    let (declarations, functions) = header
        .split_once("extern \"C\" {")
        .expect("the header has an extern \"C\" block");
    let functions = functions.trim_end();
    let functions = &functions[..functions
        .rfind("// extern \"C\"")
        .and_then(|i| functions[..i].rfind('}'))
        .expect("the extern \"C\" block is closed")];

    let mut used = BTreeSet::new();
    let mut body = String::new();

    body.push_str("\n# ---- constants (#define) ----\n\n");
    let mut constants = Vec::new();
    for line in header.lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        if let Some((name, value)) = rest.split_once(' ') {
            let value = value.trim();
            if name.starts_with("CHM") && value.parse::<u64>().is_ok() {
                body.push_str(&format!("{name} = {value}\n"));
                constants.push(atom(quoted(name)));
            }
        }
    }
    body.push_str("\n#: The constants, which the package exports (`from ._ffi import *`).\n");
    body.push_str(&assign(
        "__all__",
        Py::Seq {
            open: "[".into(),
            items: constants,
            close: "]",
            always_break: true,
        },
    ));

    body.push_str("\n# ---- types and structures ----\n");
    let mut last_was_class = false;
    for st in statements(declarations) {
        let Some(def) = st.strip_prefix("typedef ") else {
            panic!("_ffi.py: not a typedef: `{st}`");
        };
        if let Some(def) = def.strip_prefix("struct ") {
            let open = def.find('{').expect("a struct body");
            let close = def.rfind('}').expect("a struct body");
            let name = def[..open].trim();
            let mut fields = Vec::new();
            for field in def[open + 1..close].split(';').map(str::trim) {
                if field.is_empty() {
                    continue;
                }
                let ty = if let Some((ret, fname, ps)) = function_pointer(field) {
                    let mut args = vec![atom(restype(&ret, &mut used))];
                    args.extend(params(&ps, &mut used).into_iter().map(atom));
                    used.insert("CFUNCTYPE");
                    (fname, seq("CFUNCTYPE(", args, ")"))
                } else {
                    let (ty, fname, len) = declarator(field);
                    let ty = ctype(&ty, &mut used);
                    let ty = match len {
                        Some(len) => format!("{ty} * {len}"),
                        None => ty,
                    };
                    (fname, atom(ty))
                };
                fields.push(seq("(", vec![atom(quoted(&ty.0)), ty.1], ")"));
            }
            used.insert("Structure");
            let fields = Py::Seq {
                open: "[".into(),
                items: fields,
                close: "]",
                always_break: true,
            };
            let refers_to_itself = fields.render(0, 0, 0).contains(&format!("({name})"));
            body.push_str(&format!("\n\nclass {name}(Structure):\n"));
            if refers_to_itself {
                body.push_str("    pass\n\n\n");
                body.push_str(&assign(&format!("{name}._fields_"), fields));
            } else {
                body.push_str(&format!("    _fields_ = {}\n", fields.render(4, 11, 0)));
            }
            last_was_class = true;
        } else if let Some((ret, name, ps)) = function_pointer(def) {
            let mut args = vec![atom(restype(&ret, &mut used))];
            args.extend(params(&ps, &mut used).into_iter().map(atom));
            used.insert("CFUNCTYPE");
            body.push_str(if last_was_class { "\n\n" } else { "\n" });
            body.push_str(&assign(&name, seq("CFUNCTYPE(", args, ")")));
            last_was_class = false;
        } else {
            let (ty, name, len) = declarator(def);
            assert!(len.is_none(), "_ffi.py: an array typedef `{st}`");
            body.push_str(if last_was_class { "\n\n" } else { "\n" });
            body.push_str(&format!("{name} = {}\n", ctype(&ty, &mut used)));
            last_was_class = false;
        }
    }

    body.push_str("\n\n# ---- functions ----\n\n");
    body.push_str(
        "#: Every function the header declares, in its order: name -> (restype, argtypes).\n",
    );
    let mut prototypes = Vec::new();
    for st in statements(functions) {
        let (ret, name, ps) =
            function(&st).unwrap_or_else(|| panic!("_ffi.py: not a function: `{st}`"));
        let args = params(&ps, &mut used).into_iter().map(atom).collect();
        prototypes.push(seq(
            format!("{}: (", quoted(&name)),
            vec![atom(restype(&ret, &mut used)), seq("[", args, "]")],
            ")",
        ));
    }
    body.push_str(&assign("PROTOTYPES", dict(prototypes)));

    body.push_str("\n\n# ---- return codes (src/ffi/return_codes.rs) ----\n\n");
    body.push_str("#: Every return code: value -> name.\n");
    let names = table
        .codes
        .iter()
        .map(|c| atom(format!("{}: {}", c.name, quoted(&c.name))))
        .collect();
    body.push_str(&assign("RETURN_CODE_NAMES", dict(names)));
    body.push_str(
        "\n#: The exception class (defined in errors.py) of each failure code: value -> name.\n",
    );
    let classes = table
        .codes
        .iter()
        .filter_map(|c| {
            let class = c.python_class.as_ref()?;
            Some(atom(format!("{}: {}", c.name, quoted(class))))
        })
        .collect();
    body.push_str(&assign("RETURN_CODE_CLASSES", dict(classes)));
    body.push_str("\n#: Retired codes, whose numbers are never given again: value -> name.\n");
    let retired = table
        .retired
        .iter()
        .map(|c| atom(format!("0x{:08X}: {}", c.value, quoted(&c.name))))
        .collect();
    // Annotated: the table may be empty, and mypy cannot infer the type of `{}`.
    body.push_str(&assign(
        "RETIRED_RETURN_CODES: \"dict[int, str]\"",
        dict(retired),
    ));

    let imports: Vec<&str> = used.into_iter().collect();
    let import = seq(
        "from ctypes import (",
        imports.into_iter().map(atom).collect(),
        ")",
    );
    let import = match import.flat() {
        Some(flat) if flat.len() <= WIDTH => flat.replace("import (", "import ").replace(')', ""),
        _ => import.render(0, 0, 0),
    };
    format!(
        "\"\"\"The C declarations of include/cloudhsm_mfa.h for ctypes (constants, types,\n\
         structures, function prototypes) and the return-code tables of the package.\n\
         \n\
         Generated by build.rs from the header and src/ffi/return_codes.rs - do not edit.\n\
         Regenerate with: CHM_UPDATE_HEADER=1 cargo build\n\
         \"\"\"\n\
         \n\
         {import}\n\
         {body}"
    )
}
