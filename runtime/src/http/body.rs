//! Request bodies: JSON decoded with serde and checked against the
//! request type's own JSON Schema (derived with schemars, the same schema
//! the OpenAPI document publishes).
//!
//! - not JSON → 400 `invalid_json` with the line and column;
//! - JSON that breaks the schema → 422 `invalid_request` listing every
//!   field error, each with its JSON pointer (serde alone stops at the
//!   first);
//! - a `content-type` other than JSON → 415 `unsupported_media_type`.
//!
//! Reading the bytes (the hard cap per route, never trusting
//! `content-length`) is the adapter's [`super::Incoming::read_body`]; the
//! pipeline maps an over-long body to 413.
//!
//! The validator covers the keywords schemars emits for our request types
//! (`type`, `properties`, `required`, `additionalProperties`, `items`,
//! `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum`,
//! `enum`, `const`, `anyOf`/`oneOf`/`allOf`, `$ref` into `$defs`); a
//! keyword it does not know is not checked by it, and serde still
//! rejects what does not fit the type.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::app::envelope::{ErrorCode, Failure};

/// One problem with a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Detail {
    /// JSON pointer (RFC 6901) to the offending value; `""` is the whole body.
    pub pointer: String,
    pub message: String,
    /// For `invalid_json`: where the parser stopped (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl Detail {
    pub fn at(pointer: impl Into<String>, message: impl Into<String>) -> Detail {
        Detail {
            pointer: pointer.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

thread_local! {
    static SCHEMAS: RefCell<HashMap<TypeId, Rc<Value>>> = RefCell::new(HashMap::new());
}

/// The JSON Schema of `T`, built once per isolate.
pub fn schema_of<T: JsonSchema + 'static>() -> Rc<Value> {
    let id = TypeId::of::<T>();
    if let Some(s) = SCHEMAS.with(|m| m.borrow().get(&id).cloned()) {
        return s;
    }
    let s = Rc::new(schemars::schema_for!(T).to_value());
    SCHEMAS.with(|m| m.borrow_mut().insert(id, s.clone()));
    s
}

/// Whether a `content-type` names JSON (`application/json`, `…+json`,
/// with or without parameters). A missing header counts as JSON.
pub fn is_json_media_type(ct: Option<&str>) -> bool {
    let Some(ct) = ct else { return true };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decode a JSON body into `T`, reporting every schema violation.
pub fn decode<T: DeserializeOwned + JsonSchema + 'static>(content_type: Option<&str>, bytes: &[u8]) -> Result<T, Failure> {
    if !is_json_media_type(content_type) {
        return Err(Failure::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON (`content-type: application/json`)",
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::new(ErrorCode::InvalidJson, "the body is empty; send a JSON object")
            .with_details(vec![Detail::at("", "expected a JSON object")]));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let (line, column) = (e.line() as u32, e.column() as u32);
        let what = e.to_string();
        // serde_json appends " at line L column C"; keep the message alone.
        let what = what.split(" at line ").next().unwrap_or(&what).to_string();
        Failure::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {what} at line {line}, column {column}"),
        )
        .with_details(vec![Detail {
            pointer: String::new(),
            message: what,
            line: Some(line),
            column: Some(column),
        }])
    })?;
    let schema = schema_of::<T>();
    let mut errs = Vec::new();
    check(&schema, &schema, &value, &mut String::new(), &mut errs);
    if !errs.is_empty() {
        let n = errs.len();
        return Err(Failure::new(
            ErrorCode::InvalidRequest,
            format!(
                "the body does not match the request schema ({n} problem{}); see `details`",
                if n == 1 { "" } else { "s" }
            ),
        )
        .with_details(errs));
    }
    serde_json::from_value(value).map_err(|e| {
        Failure::new(
            ErrorCode::InvalidRequest,
            format!("the body does not match the request schema: {e}"),
        )
        .with_details(vec![Detail::at("", e.to_string())])
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    let got = type_name(v);
    want == got || (want == "number" && got == "integer") || (want == "integer" && v.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn push_ptr(ptr: &str, key: &str) -> String {
    let mut p = String::with_capacity(ptr.len() + key.len() + 1);
    p.push_str(ptr);
    p.push('/');
    for c in key.chars() {
        match c {
            '~' => p.push_str("~0"),
            '/' => p.push_str("~1"),
            c => p.push(c),
        }
    }
    p
}

fn resolve<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .map(|s| resolve(root, s))
            .unwrap_or(schema),
        None => schema,
    }
}

/// Collect every violation of `schema` by `v` into `errs`.
pub fn check(root: &Value, schema: &Value, v: &Value, ptr: &mut String, errs: &mut Vec<Detail>) {
    let schema = resolve(root, schema);
    let Some(s) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errs.push(Detail::at(ptr.clone(), "no value is allowed here"));
        }
        return;
    };
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(xs) => xs.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|w| type_matches(w, v)) {
            let want: Vec<&str> = types.iter().filter(|t| **t != "null").copied().collect();
            errs.push(Detail::at(
                ptr.clone(),
                format!("expected {}, found {}", want.join(" or "), type_name(v)),
            ));
            return;
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            errs.push(Detail::at(ptr.clone(), format!("must be one of: {}", list.join(", "))));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errs.push(Detail::at(ptr.clone(), format!("must be {c}")));
            return;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let mut best: Option<Vec<Detail>> = None;
            let mut ok = false;
            for alt in alts {
                let mut e = Vec::new();
                check(root, alt, v, ptr, &mut e);
                if e.is_empty() {
                    ok = true;
                    break;
                }
                // Prefer the alternative whose type fits (its errors are deeper).
                let deeper = e.iter().any(|d| d.pointer.len() > ptr.len());
                if best.is_none() || deeper {
                    best = Some(e);
                }
            }
            if !ok {
                match best {
                    Some(e) if e.iter().any(|d| d.pointer.len() > ptr.len()) => errs.extend(e),
                    _ => errs.push(Detail::at(ptr.clone(), "does not match any allowed shape")),
                }
                return;
            }
        }
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(root, sub, v, ptr, errs);
        }
    }
    match v {
        Value::String(text) => {
            let n = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                if n < min {
                    errs.push(Detail::at(ptr.clone(), format!("must be at least {min} characters long")));
                }
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if n > max {
                    errs.push(Detail::at(ptr.clone(), format!("must be at most {max} characters long")));
                }
            }
        }
        Value::Number(num) => {
            let x = num.as_f64().unwrap_or(0.0);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if x < min {
                    errs.push(Detail::at(ptr.clone(), format!("must be at least {min}")));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if x > max {
                    errs.push(Detail::at(ptr.clone(), format!("must be at most {max}")));
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    errs.push(Detail::at(ptr.clone(), format!("must have at least {min} items")));
                }
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    errs.push(Detail::at(ptr.clone(), format!("must have at most {max} items")));
                }
            }
            if let Some(item) = s.get("items") {
                for (i, it) in items.iter().enumerate() {
                    let mut p = push_ptr(ptr, &i.to_string());
                    check(root, item, it, &mut p, errs);
                }
            }
        }
        Value::Object(map) => {
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for name in req.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        errs.push(Detail::at(push_ptr(ptr, name), "is required"));
                    }
                }
            }
            for (k, val) in map {
                let mut p = push_ptr(ptr, k);
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => check(root, sub, val, &mut p, errs),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            let known: Vec<String> = props.map(|p| p.keys().map(|k| format!("`{k}`")).collect()).unwrap_or_default();
                            errs.push(Detail::at(p, format!("unknown field; expected {}", known.join(", "))));
                        }
                        Some(extra @ Value::Object(_)) => check(root, extra, val, &mut p, errs),
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Req {
        #[schemars(length(min = 1, max = 8))]
        name: String,
        #[serde(default)]
        roles: Vec<Role>,
        #[schemars(range(min = 1, max = 365))]
        days: Option<u32>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        Admin,
        Reader,
    }

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Inner {
        flag: bool,
    }

    fn errors(body: &str) -> (ErrorCode, Vec<(String, String)>) {
        let f = decode::<Req>(Some("application/json"), body.as_bytes()).unwrap_err();
        (f.code, f.details.iter().map(|d| (d.pointer.clone(), d.message.clone())).collect())
    }

    #[test]
    fn valid_body_decodes() {
        let r: Req = decode(None, br#"{"name":"ci","roles":["admin"],"days":30,"inner":{"flag":true}}"#).unwrap();
        assert_eq!(r.roles, [Role::Admin]);
        assert_eq!(r.inner, Some(Inner { flag: true }));
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let f = decode::<Req>(None, b"{\n  \"name\": \"x\",\n  oops\n}").unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidJson);
        assert_eq!((f.details[0].line, f.details[0].column), (Some(3), Some(3)));
        assert!(f.message.contains("line 3, column 3"), "{}", f.message);
        assert_eq!(decode::<Req>(None, b"  ").unwrap_err().code, ErrorCode::InvalidJson);
    }

    #[test]
    fn every_field_error_is_listed_with_its_pointer() {
        let (code, errs) = errors(r#"{"name":"much too long","roles":["admin","root",3],"days":0,"inner":{"flag":"yes"},"extra/x":1}"#);
        assert_eq!(code, ErrorCode::InvalidRequest);
        let ptrs: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            ptrs,
            ["/name", "/roles/1", "/roles/2", "/days", "/inner/flag", "/extra~1x"],
            "{errs:?}"
        );
        assert!(errs[1].1.contains("\"admin\""), "{errs:?}");
        assert!(errs[5].1.starts_with("unknown field"), "{errs:?}");
    }

    #[test]
    fn missing_required_and_wrong_top_level_type() {
        let (_, errs) = errors(r#"{"roles":[]}"#);
        assert_eq!(errs, [("/name".to_string(), "is required".to_string())]);
        let (_, errs) = errors("[1]");
        assert_eq!(errs[0].0, "");
        assert!(errs[0].1.contains("expected object, found array"));
    }

    #[test]
    fn only_json_media_types_are_accepted() {
        assert!(is_json_media_type(Some("application/json; charset=utf-8")));
        assert!(is_json_media_type(Some("application/merge-patch+json")));
        assert!(is_json_media_type(None));
        let f = decode::<Req>(Some("text/plain"), b"{}").unwrap_err();
        assert_eq!(f.code, ErrorCode::UnsupportedMediaType);
    }
}
