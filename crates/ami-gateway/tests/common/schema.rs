//! Checks JSON values against `schema/gateway.schema.json`: the subset of
//! JSON Schema the file uses (`type`, `const`, `enum`, `required`,
//! `properties`, `additionalProperties: false`, `items`, `prefixItems`,
//! `minItems`, `maxItems`, `minimum`, `oneOf`, `$ref` to `#/$defs/...`).

use serde_json::Value;

/// The schema file.
pub fn schema() -> Value {
    let text = include_str!("../../schema/gateway.schema.json");
    serde_json::from_str(text).expect("the schema is JSON")
}

/// Panics with the path of the first place `value` breaks `$defs/<def>`.
pub fn assert_valid(def: &str, value: &Value) {
    let root = schema();
    let node = &root["$defs"][def];
    assert!(node.is_object(), "no $defs/{def} in the schema");
    if let Err(e) = check(&root, node, value, def) {
        panic!("{e}\nin {value}");
    }
}

fn check(root: &Value, s: &Value, v: &Value, path: &str) -> Result<(), String> {
    if let Some(r) = s["$ref"].as_str() {
        let name = r
            .strip_prefix("#/$defs/")
            .ok_or(format!("{path}: unsupported $ref {r}"))?;
        check(root, &root["$defs"][name], v, path)?;
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Err(format!("{path}: {v} is not {c}"));
        }
    }
    if let Some(options) = s["enum"].as_array() {
        if !options.contains(v) {
            return Err(format!("{path}: {v} is not one of {options:?}"));
        }
    }
    if let Some(options) = s["oneOf"].as_array() {
        let fits = options
            .iter()
            .filter(|o| check(root, o, v, path).is_ok())
            .count();
        if fits != 1 {
            return Err(format!("{path}: {v} fits {fits} of oneOf"));
        }
    }
    let ok = match s["type"].as_str() {
        None => true,
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_u64() || v.is_i64(),
        Some("null") => v.is_null(),
        Some(t) => return Err(format!("{path}: unsupported type {t}")),
    };
    if !ok {
        return Err(format!("{path}: {v} is not of type {}", s["type"]));
    }
    if let (Some(min), Some(n)) = (s["minimum"].as_f64(), v.as_f64()) {
        if n < min {
            return Err(format!("{path}: {n} < {min}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for req in s["required"].as_array().into_iter().flatten() {
            let key = req.as_str().unwrap_or_default();
            if !obj.contains_key(key) {
                return Err(format!("{path}: missing {key}"));
            }
        }
        for (key, value) in obj {
            match s["properties"].get(key) {
                Some(p) => check(root, p, value, &format!("{path}.{key}"))?,
                None if s["additionalProperties"] == false => {
                    return Err(format!("{path}: unexpected {key}"))
                }
                None => {}
            }
        }
    }
    if let Some(items) = v.as_array() {
        let len = items.len() as u64;
        if s["minItems"].as_u64().is_some_and(|m| len < m)
            || s["maxItems"].as_u64().is_some_and(|m| len > m)
        {
            return Err(format!("{path}: {len} items"));
        }
        let prefix = s["prefixItems"].as_array();
        for (i, item) in items.iter().enumerate() {
            let p = prefix.and_then(|p| p.get(i)).unwrap_or(&s["items"]);
            if p.is_object() {
                check(root, p, item, &format!("{path}[{i}]"))?;
            }
        }
    }
    Ok(())
}
