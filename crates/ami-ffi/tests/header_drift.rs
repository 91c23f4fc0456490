//! `include/ami.h` is hand-written; this test keeps it in step with the Rust
//! source, both ways:
//!
//! - every `pub extern "C" fn` in `src/` is declared in the header with the
//!   same parameter and return types (Rust types mapped to C), and every
//!   function the header declares exists in `src/`;
//! - every `pub const AMI_*` has a `#define` of the same value and back;
//! - the `#[repr(C)]` structs have the header's fields, in order, same types;
//! - `tests/c/session.c` and `examples/c/decode.c` call every function of
//!   the header (so the C compiles in `tests/c_abi.rs` check each
//!   declaration), and the Python example's ctypes structs list the
//!   header's fields in order;
//! - every state, close-reason, failure and output-kind code has its name.
//!
//! The parsers below only understand the plain style these files are
//! written in (one declaration per statement, no macros in prototypes); a
//! file they cannot read fails the test rather than passing it.

// One test reads the C strings the name functions return.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// All of `src/*.rs`, concatenated.
fn rust_source() -> String {
    let mut paths: Vec<_> = std::fs::read_dir(Path::new(ROOT).join("src"))
        .expect("src/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read a source file"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A function's C signature: return type and parameter types, canonical.
#[derive(Debug, PartialEq, Eq)]
struct Signature {
    ret: String,
    params: Vec<String>,
}

/// Canonical spelling of a C type: tokens separated by one space, so
/// `const char* const*` and `const char *const *` compare equal.
fn canon(c: &str) -> String {
    c.replace('*', " * ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `AmiConn` -> `ami_conn`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The C spelling of a Rust FFI type.
fn c_type(rust: &str) -> String {
    let t = rust.trim();
    if let Some(inner) = t.strip_prefix("*const ") {
        let inner = c_type(inner);
        return if inner.ends_with('*') {
            canon(&format!("{inner} const *"))
        } else {
            canon(&format!("const {inner} *"))
        };
    }
    if let Some(inner) = t.strip_prefix("*mut ") {
        return canon(&format!("{} *", c_type(inner)));
    }
    let base = match t {
        "c_int" => "int".to_owned(),
        "c_char" => "char".to_owned(),
        "u8" => "uint8_t".to_owned(),
        "u32" => "uint32_t".to_owned(),
        "u64" => "uint64_t".to_owned(),
        "usize" => "size_t".to_owned(),
        "" | "()" => "void".to_owned(),
        ami if ami.starts_with("Ami") => snake(ami),
        other => panic!("no C mapping for Rust type {other:?}; extend c_type"),
    };
    canon(&base)
}

/// Splits a parameter list on top-level commas.
fn split_params(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Every `pub [unsafe] extern "C" fn` in the Rust source, as C signatures.
fn rust_functions(src: &str) -> BTreeMap<String, Signature> {
    let mut out = BTreeMap::new();
    let mut rest = src;
    while let Some(at) = rest.find("extern \"C\" fn ") {
        let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
        let prefix = rest[line_start..at].trim();
        let after = &rest[at + "extern \"C\" fn ".len()..];
        rest = after;
        if !(prefix == "pub" || prefix == "pub unsafe") {
            continue; // Mentioned in a comment, or not exported.
        }
        let open = after.find('(').expect("parameter list");
        let name = after[..open].trim().to_owned();
        let close = after.find(')').expect("end of parameter list");
        let body = after.find('{').expect("function body");
        let params = split_params(&after[open + 1..close])
            .into_iter()
            .map(|p| {
                let (_, ty) = p.split_once(':').expect("`name: type` parameter");
                c_type(ty)
            })
            .collect();
        let ret = after[close + 1..body].trim();
        let ret = c_type(ret.strip_prefix("->").unwrap_or(ret));
        out.insert(name, Signature { ret, params });
    }
    out
}

/// Every `pub const AMI_*` with its value.
fn rust_constants(src: &str) -> BTreeMap<String, i64> {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix("pub const AMI_"))
        .map(|l| {
            let (name, rest) = l.split_once(':').expect("`NAME: type = value;`");
            let (_, value) = rest.split_once('=').expect("a value");
            let value = value.trim().trim_end_matches(';');
            (format!("AMI_{name}"), int(value))
        })
        .collect()
}

/// The fields of the `#[repr(C)] pub struct` named `name`, as C types.
fn rust_struct(src: &str, name: &str) -> Vec<(String, String)> {
    let start = src
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("struct {name}"));
    assert!(
        src[..start]
            .lines()
            .rev()
            .take(4)
            .any(|l| l.trim() == "#[repr(C)]"),
        "{name} must be #[repr(C)]"
    );
    let body = &src[start..];
    let body = &body[body.find('{').expect("{") + 1..body.find('}').expect("}")];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .map(|l| {
            let (field, ty) = l.split_once(':').expect("`name: type,`");
            (field.trim().to_owned(), c_type(ty.trim_end_matches(',')))
        })
        .collect()
}

fn int(text: &str) -> i64 {
    let t = text.trim().trim_start_matches('(').trim_end_matches(')');
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let v = match t.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(&hex.replace('_', ""), 16),
        None => t.replace('_', "").parse(),
    }
    .unwrap_or_else(|_| panic!("not an integer literal: {text:?}"));
    if neg {
        -v
    } else {
        v
    }
}

/// The header with comments removed.
fn strip_comments(c: &str) -> String {
    let mut out = String::new();
    let mut rest = c;
    while let Some(at) = rest.find("/*") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find("*/").expect("closed comment");
        rest = &rest[at + end + 2..];
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the header declares.
struct Header {
    functions: BTreeMap<String, Signature>,
    constants: BTreeMap<String, i64>,
    structs: BTreeMap<String, Vec<(String, String)>>,
}

fn parse_header(text: &str) -> Header {
    let text = strip_comments(text);
    let mut constants = BTreeMap::new();
    let mut code = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(def) = t.strip_prefix("#define ") {
            let mut parts = def.splitn(2, char::is_whitespace);
            let name = parts.next().expect("macro name");
            if let Some(value) = parts.next() {
                constants.insert(name.to_owned(), int(value));
            }
        } else if !t.starts_with('#') && t != "extern \"C\" {" && t != "}" {
            code.push_str(t);
            code.push('\n');
        }
    }
    let mut structs = BTreeMap::new();
    while let Some(at) = code.find("typedef struct ") {
        let end = at + code[at..].find(';').expect("typedef ends with ;");
        let open = match code[at..end].find('{') {
            Some(i) => at + i,
            None => {
                // `typedef struct x x;`: an opaque type; drop the statement.
                code.replace_range(at..=end, "");
                continue;
            }
        };
        let name = code[at + "typedef struct ".len()..open].trim().to_owned();
        let close = open + code[open..].find('}').expect("struct end");
        let fields = code[open + 1..close]
            .split(';')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (ty, field) = f
                    .rsplit_once(|c: char| c.is_whitespace() || c == '*')
                    .expect("type and name");
                let ty = &f[..ty.len() + 1];
                (field.trim().to_owned(), canon(ty))
            })
            .collect();
        structs.insert(name, fields);
        let end = close + code[close..].find(';').expect("typedef end") + 1;
        code.replace_range(at..end, "");
    }
    let mut functions = BTreeMap::new();
    for stmt in code.split(';') {
        let stmt = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
        if stmt.is_empty() {
            continue;
        }
        let open = stmt
            .find('(')
            .unwrap_or_else(|| panic!("not a prototype: {stmt:?}"));
        let head = &stmt[..open];
        let name_at = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = head[name_at..].to_owned();
        let ret = canon(&head[..name_at]);
        let list = stmt[open + 1..stmt.rfind(')').expect(")")].trim();
        let params = if list == "void" {
            Vec::new()
        } else {
            split_params(list)
                .into_iter()
                .map(|p| {
                    // Drop the parameter name: the last identifier.
                    let cut = p
                        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .expect("a type before the parameter name");
                    canon(&p[..=cut])
                })
                .collect()
        };
        functions.insert(name, Signature { ret, params });
    }
    Header {
        functions,
        constants,
        structs,
    }
}

fn header() -> Header {
    parse_header(&read("include/ami.h"))
}

#[test]
fn functions_match_both_ways_with_their_types() {
    let rust = rust_functions(&rust_source());
    let c = header().functions;
    assert!(
        rust.len() >= 30,
        "parsed only {} Rust functions",
        rust.len()
    );
    let only_rust: Vec<_> = rust.keys().filter(|k| !c.contains_key(*k)).collect();
    let only_c: Vec<_> = c.keys().filter(|k| !rust.contains_key(*k)).collect();
    assert!(only_rust.is_empty(), "missing from ami.h: {only_rust:?}");
    assert!(
        only_c.is_empty(),
        "declared in ami.h, not in src: {only_c:?}"
    );
    for (name, sig) in &rust {
        assert_eq!(&c[name], sig, "signature of {name} (ami.h vs src)");
    }
}

#[test]
fn constants_match_both_ways() {
    let rust = rust_constants(&rust_source());
    let mut c = header().constants;
    c.remove("AMI_H");
    assert!(
        rust.len() >= 50,
        "parsed only {} Rust constants",
        rust.len()
    );
    let differ: Vec<_> = rust
        .keys()
        .chain(c.keys())
        .filter(|k| rust.get(*k) != c.get(*k))
        .map(|k| format!("{k}: src {:?}, ami.h {:?}", rust.get(k), c.get(k)))
        .collect();
    assert!(differ.is_empty(), "constants differ: {differ:#?}");
}

#[test]
fn structs_match_field_for_field() {
    let src = rust_source();
    let c = header().structs;
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        ["ami_options", "ami_stats"],
        "structs in ami.h"
    );
    for (rust_name, c_name) in [("AmiOptions", "ami_options"), ("AmiStats", "ami_stats")] {
        assert_eq!(
            rust_struct(&src, rust_name),
            c[c_name],
            "fields of {c_name} (src vs ami.h)"
        );
    }
}

#[test]
fn the_c_programs_call_every_function() {
    let programs = ["tests/c/session.c", "examples/c/decode.c"]
        .map(|path| strip_comments(&read(path)))
        .join("\n");
    let missing: Vec<_> = header()
        .functions
        .into_keys()
        .filter(|name| !programs.contains(&format!("{name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "neither tests/c/session.c nor examples/c/decode.c calls {missing:?}"
    );
}

/// Every code of the header's state, close-reason, failure and output-kind
/// families has its own name in `ami_state_name` and friends.
#[test]
fn every_code_of_the_header_has_its_name() {
    use std::ffi::{c_char, c_int, CStr};
    let families: [(&str, extern "C" fn(c_int) -> *const c_char); 4] = [
        ("AMI_STATE_", ami_ffi::ami_state_name),
        ("AMI_CLOSE_", ami_ffi::ami_close_reason_name),
        ("AMI_FAIL_", ami_ffi::ami_fail_name),
        ("AMI_OUTPUT_", ami_ffi::ami_output_kind_name),
    ];
    let constants = header().constants;
    for (prefix, name_of) in families {
        let codes: Vec<_> = constants
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .collect();
        assert!(codes.len() >= 6, "{prefix}: {codes:?}");
        for (name, &value) in codes {
            let code = c_int::try_from(value).expect("an int");
            // SAFETY: the name functions return static NUL-terminated strings.
            let named = unsafe { CStr::from_ptr(name_of(code)) };
            assert_eq!(named.to_str(), Ok(name.as_str()), "{prefix} {value}");
        }
    }
}

#[test]
fn the_python_example_mirrors_the_structs() {
    let py = read("examples/python/ami_ctypes.py");
    let c = header().structs;
    let names =
        |fields: &[(String, String)]| fields.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    // `Options._fields_`: one `("name", C.type)` per line.
    let start = py.find("class Options").expect("class Options");
    let block = &py[start..start + py[start..].find("]\n").expect("end of _fields_")];
    let options: Vec<_> = block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("(\""))
        .map(|l| l.split('"').next().expect("field name").to_owned())
        .collect();
    assert_eq!(options, names(&c["ami_options"]), "Options._fields_");
    // `STAT_FIELDS`: the counter names in order.
    let start = py.find("STAT_FIELDS = (").expect("STAT_FIELDS");
    let block = &py[start..start + py[start..].find(").split()").expect("end of STAT_FIELDS")];
    let stats: Vec<_> = block
        .split('"')
        .skip(1)
        .step_by(2)
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect();
    assert_eq!(stats, names(&c["ami_stats"]), "STAT_FIELDS");
}

#[test]
fn the_parsers_read_what_they_claim() {
    // A guard against a parser that silently finds nothing.
    let h = parse_header(
        "#define AMI_X (-3)\ntypedef struct ami_s { const char* a; uint64_t b; } ami_s;\n\
         typedef struct ami_o ami_o;\nint ami_f(const char* const* n, size_t c);\nuint32_t ami_v(void);",
    );
    assert_eq!(h.constants["AMI_X"], -3);
    assert_eq!(
        h.structs["ami_s"],
        [
            ("a".to_owned(), "const char *".to_owned()),
            ("b".to_owned(), "uint64_t".to_owned())
        ]
    );
    assert_eq!(
        h.functions["ami_f"],
        Signature {
            ret: "int".into(),
            params: vec!["const char * const *".into(), "size_t".into()]
        }
    );
    assert_eq!(h.functions["ami_v"].params, Vec::<String>::new());
    assert_eq!(c_type("*const *const c_char"), "const char * const *");
    assert_eq!(c_type("*mut *mut AmiConn"), "ami_conn * *");
    let r = rust_functions("/// extern \"C\" fn no(\npub unsafe extern \"C\" fn ami_a(x: *mut u64) -> c_int {\n}\npub extern \"C\" fn ami_b() {}");
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r["ami_b"].ret, "void");
}
