//! The expression environment of the `generic` receiver, on the `expr-lang` crate: what
//! `whenExpression` and the `${{ ... }}` templates of target selection can read, exactly as
//! Kargo's `newBaseEnv`/`newActionEnv` build it: `request.header(name)`,
//! `request.headers(name)`, `request.body`, `request.params(name)`, `normalizeGit`,
//! `normalizeImage`, `normalizeChart` and `params` (the action's parameters).
//!
//! # What expr-lang lacks, and how this file covers it
//! Go's expr calls a function stored in a map (`request.header("X")`); expr-lang has no function
//! values, and parses `.header(...)` as a method call, which it only dispatches on date values.
//! So before compiling, [`rewrite`] turns the three `request.<fn>(` calls (outside string
//! literals) into calls of registered functions (`__request_header(`...). Any other spelling,
//! such as `request["header"]("X")`, is not supported (an evaluation error, as for a typo).
//!
//! # Bounds
//! No I/O and no clock: expr-lang's `temporal` feature (`now()`, `date()`) is off, so a
//! delivery's decision depends only on the request. The language has no loops or recursion;
//! the closures of `all`/`map`/`filter`... run once per element of a value, and every value
//! comes from the request body, which the listener caps (`--max-body-bytes`). expr-lang bounds
//! `repeat` (1e6) itself. The expressions are the operator's, from the ProjectConfig.

use std::collections::BTreeMap;

use expr::{Context, Environment, Program, Value};
use http::HeaderMap;
use indexmap::IndexMap;

/// The calls Kargo's environment makes through map members, and the names they get here.
const MEMBER_CALLS: [(&str, &str); 3] = [
    ("request.header(", "__request_header("),
    ("request.headers(", "__request_headers("),
    ("request.params(", "__request_params("),
];

/// Rewrites `request.header(` / `request.headers(` / `request.params(` outside string literals
/// into calls of functions expr-lang can dispatch (see the module doc).
pub fn rewrite(expression: &str) -> String {
    let mut out = String::with_capacity(expression.len() + 16);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut rest = expression;
    while let Some(c) = rest.chars().next() {
        if let Some(q) = quote {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let at_word_start = out
            .chars()
            .next_back()
            .is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '.' || p == '$'));
        if at_word_start {
            if let Some((from, to)) = MEMBER_CALLS.iter().find(|(from, _)| rest.starts_with(from)) {
                out.push_str(to);
                rest = &rest[from.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Compiles one expression (after [`rewrite`]).
pub fn compile(expression: &str) -> Result<Program, String> {
    expr::compile(&rewrite(expression)).map_err(|e| e.to_string())
}

/// What one request offers the expressions of one receiver.
pub struct RequestEnv<'a> {
    env: Environment<'a>,
    base: Context,
}

impl<'a> RequestEnv<'a> {
    /// `body` is the parsed JSON body (`Null` for an empty one); `query` the URL's query string.
    pub fn new(headers: &'a HeaderMap, query: Option<&'a str>, body: &serde_json::Value) -> Self {
        let mut env = Environment::new();
        env.add_function("__request_header", move |c| {
            let name = one_string_arg(&c.args, "request.header")?;
            // Go's Header.Get: the first value, "" when absent.
            Ok(headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .into())
        });
        env.add_function("__request_headers", move |c| {
            let name = one_string_arg(&c.args, "request.headers")?;
            Ok(Value::Array(
                headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(Value::from)
                    .collect(),
            ))
        });
        env.add_function("__request_params", move |c| {
            let name = one_string_arg(&c.args, "request.params")?;
            // Go's Query().Get: the first value, "" when absent.
            let found = query
                .unwrap_or("")
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
                .find(|(k, _)| percent_decode(k) == name)
                .map(|(_, v)| percent_decode(v))
                .unwrap_or_default();
            Ok(found.into())
        });
        env.add_function("normalizeGit", |c| {
            Ok(super::normalize::git(one_string_arg(&c.args, "normalizeGit")?).into())
        });
        env.add_function("normalizeImage", |c| {
            Ok(super::normalize::image(one_string_arg(&c.args, "normalizeImage")?).into())
        });
        env.add_function("normalizeChart", |c| {
            Ok(super::normalize::chart(one_string_arg(&c.args, "normalizeChart")?).into())
        });
        let mut request = IndexMap::new();
        request.insert("body".to_string(), from_json(body));
        let mut base = Context::default();
        base.insert("request", Value::Map(request));
        RequestEnv { env, base }
    }

    /// The context of one action: the request plus `params`.
    pub fn with_params(&self, params: &BTreeMap<String, String>) -> Context {
        let mut ctx = self.base.clone();
        let params: IndexMap<String, Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        ctx.insert("params", Value::Map(params));
        ctx
    }

    /// Kargo's `whenExpression`: empty is true; otherwise it must give a bool.
    pub fn when(&self, expression: &str, ctx: &Context) -> Result<bool, String> {
        if expression.is_empty() {
            return Ok(true);
        }
        let program = compile(expression)?;
        match self.env.run(&program, ctx).map_err(|e| e.to_string())? {
            Value::Bool(b) => Ok(b),
            other => Err(format!(
                "match expression result {other} is of type {}; expected bool",
                type_name(&other)
            )),
        }
    }

    /// Kargo's `evalAsString` over `EvaluateTemplate`: text without `${{`/`${%` is itself; with
    /// them, each expression's value is written in place, and the whole must read as a string
    /// (not a number, a bool or JSON, which Kargo would turn into those).
    pub fn template(&self, template: &str, ctx: &Context) -> Result<String, String> {
        const DELIMITERS: [(&str, &str); 2] = [("${{", "}}"), ("${%", "%}")];
        if !DELIMITERS.iter().any(|(start, _)| template.contains(start)) {
            return Ok(template.to_string());
        }
        let mut out = String::new();
        let mut rest = template;
        loop {
            let next = DELIMITERS
                .iter()
                .filter_map(|(start, end)| rest.find(start).map(|i| (i, *start, *end)))
                .min_by_key(|(i, _, _)| *i);
            let Some((i, start, end)) = next else {
                out.push_str(rest);
                break;
            };
            out.push_str(&rest[..i]);
            let after = &rest[i + start.len()..];
            let Some(j) = after.find(end) else {
                return Err(format!(
                    "failed to evaluate expression: unclosed expression: expected {end:?} but reached end of template"
                ));
            };
            let program =
                compile(&after[..j]).map_err(|e| format!("failed to evaluate expression: {e}"))?;
            let value = self
                .env
                .run(&program, ctx)
                .map_err(|e| format!("failed to evaluate expression: {e}"))?;
            out.push_str(&as_text(&value));
            rest = &after[j + end.len()..];
        }
        let trimmed = out.strip_suffix('\n').unwrap_or(&out);
        if trimmed.len() > 1 && trimmed.starts_with('"') && trimmed.ends_with('"') {
            return Ok(trimmed[1..trimmed.len() - 1].to_string());
        }
        let parses_as_other = trimmed.parse::<f64>().is_ok()
            || matches!(
                trimmed,
                "1" | "t"
                    | "T"
                    | "TRUE"
                    | "true"
                    | "True"
                    | "0"
                    | "f"
                    | "F"
                    | "FALSE"
                    | "false"
                    | "False"
            )
            || serde_json::from_str::<serde_json::Value>(trimmed).is_ok();
        if parses_as_other {
            return Err(format!("expression result {trimmed:?} is not a string"));
        }
        Ok(out)
    }
}

/// A value written into a template: strings as themselves, the rest as expr-lang shows them.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "int",
        Value::Float(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Nil => "nil",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) | Value::KeyedMap(_) => "map[string]interface {}",
        _ => "value",
    }
}

fn one_string_arg<'v>(args: &'v [Value], function: &str) -> expr::Result<&'v str> {
    match args {
        [Value::String(s)] => Ok(s),
        _ => Err(expr::Error::ExprError(format!(
            "{function}() takes one string argument"
        ))),
    }
}

/// JSON → expr value (numbers that fit stay integers, as Go's expr compares them).
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// `%XX` and `+` decoding of one query component (Go's `url.ParseQuery`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
