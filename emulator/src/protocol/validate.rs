//! Input validation against the model, before a handler runs, with AWS's codes and messages.
//!
//! Two kinds of fault, as AWS reports them:
//! - a value of the wrong JSON type (a number where the model has a string) is a
//!   `SerializationException`, reported at once;
//! - constraint violations (required members, lengths, ranges, enums) are collected and
//!   reported together: `N validation error(s) detected: Value 'x' at 'roleSessionName'
//!   failed to satisfy constraint: Member must have length greater than or equal to 2; …`,
//!   as `ValidationException` (JSON) or `ValidationError` (query).
//!
//! Paths are AWS's: member names with a lower-case first letter, joined by `.`, with list
//! items as `name.N.member` (from 1). Patterns are not checked: the emulator carries no regular
//! expression engine, and the handlers check the formats that matter (ARNs, names).

use serde_json::Value;

use super::AwsError;
use super::model::{K, Model, Protocol, S, shape_flags};

/// Validates `input` against shape `shape` of `model`; `protocol` chooses the error code.
pub fn validate(
    model: &Model,
    shape: u16,
    input: &Value,
    protocol: Protocol,
) -> Result<(), AwsError> {
    let mut v = Validator {
        model,
        problems: Vec::new(),
    };
    v.structure(model.shape(shape), input, &At::ROOT)?;
    if v.problems.is_empty() {
        return Ok(());
    }
    let n = v.problems.len();
    let code = match protocol {
        Protocol::Query | Protocol::Ec2 => "ValidationError",
        _ => "ValidationException",
    };
    let plural = if n == 1 { "" } else { "s" };
    Err(AwsError::client(
        code,
        format!(
            "{n} validation error{plural} detected: {}",
            v.problems.join("; ")
        ),
    ))
}

struct Validator<'m> {
    model: &'m Model,
    problems: Vec<String>,
}

/// One step of a path in AWS's form.
#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    /// A structure member (shown with a lower-case first letter).
    Member(&'a str),
    /// A list item (shown as `N.member`, from 1).
    Item(usize),
    /// A map key.
    Key(&'a str),
}

/// Where a value sits, built as the walk descends and written out only for a problem, so a
/// valid input costs no allocation.
#[derive(Clone, Copy, Debug)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    step: Option<Step<'a>>,
}

impl<'a> At<'a> {
    const ROOT: At<'static> = At {
        parent: None,
        step: None,
    };

    fn then(&'a self, step: Step<'a>) -> At<'a> {
        At {
            parent: Some(self),
            step: Some(step),
        }
    }

    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut at = Some(self);
        while let Some(a) = at {
            steps.extend(a.step);
            at = a.parent;
        }
        let parts: Vec<String> = steps
            .iter()
            .rev()
            .map(|s| match s {
                Step::Member(name) => lower_first(name),
                Step::Item(i) => format!("{}.member", i + 1),
                Step::Key(k) => (*k).to_owned(),
            })
            .collect();
        parts.join(".")
    }
}

/// `QueueName` → `queueName`, as AWS names members in messages.
fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_lowercase().chain(c).collect::<String>()
    })
}

/// How a value is shown in a message: strings bare, everything else as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL_VALUE",
        Value::Bool(_) => "BOOLEAN_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::String(_) => "STRING_VALUE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

fn mismatch(v: &Value, at: &At<'_>, want: &str) -> AwsError {
    AwsError::client(
        "SerializationException",
        format!(
            "{} can not be converted to {want} (at '{}')",
            type_name(v),
            at.render()
        ),
    )
}

impl Validator<'_> {
    fn structure(&mut self, s: &S, v: &Value, at: &At<'_>) -> Result<(), AwsError> {
        if s.has(shape_flags::DOCUMENT) {
            return Ok(());
        }
        let Value::Object(fields) = v else {
            return Err(mismatch(v, at, "a structure"));
        };
        for m in s.members {
            let here = at.then(Step::Member(m.name));
            match fields.get(m.name).filter(|x| !x.is_null()) {
                Some(x) => self.value(self.model.shape(m.shape), x, &here)?,
                None if m.required => self.problems.push(format!(
                    "Value null at '{}' failed to satisfy constraint: Member must not be null",
                    here.render()
                )),
                None => {}
            }
        }
        Ok(())
    }

    fn value(&mut self, s: &S, v: &Value, at: &At<'_>) -> Result<(), AwsError> {
        match (s.kind, v) {
            (K::Structure, _) => self.structure(s, v, at),
            (K::List, Value::Array(items)) => {
                self.length(s, v, items.len(), at);
                let item = self.model.shape(s.members[0].shape);
                for (i, x) in items.iter().enumerate() {
                    self.value(item, x, &at.then(Step::Item(i)))?;
                }
                Ok(())
            }
            (K::Map, Value::Object(entries)) => {
                self.length(s, v, entries.len(), at);
                let (key, value) = (
                    self.model.shape(s.members[0].shape),
                    self.model.shape(s.members[1].shape),
                );
                for (k, x) in entries {
                    let here = at.then(Step::Key(k));
                    self.value(key, &Value::String(k.clone()), &here)?;
                    self.value(value, x, &here)?;
                }
                Ok(())
            }
            (K::String, Value::String(text)) => {
                self.length(s, v, text.chars().count(), at);
                if !s.enums.is_empty() && !s.enums.contains(&text.as_str()) {
                    self.problems.push(format!(
                        "Value '{text}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        at.render(),
                        s.enums.join(", ")
                    ));
                }
                Ok(())
            }
            (K::Blob, Value::String(text)) => {
                self.length(s, v, text.len() / 4 * 3, at);
                Ok(())
            }
            (
                K::Integer | K::Long | K::Float | K::Double | K::BigDecimal | K::BigInteger,
                Value::Number(n),
            ) => {
                self.range(s, v, n.as_f64().unwrap_or_default(), at);
                Ok(())
            }
            (K::Boolean, Value::Bool(_)) | (K::Timestamp, Value::Number(_) | Value::String(_)) => {
                Ok(())
            }
            (kind, _) => Err(mismatch(v, at, &format!("{kind:?}").to_ascii_lowercase())),
        }
    }

    fn length(&mut self, s: &S, v: &Value, len: usize, at: &At<'_>) {
        let len = len as f64;
        if let Some(min) = s.min.filter(|m| len < *m) {
            self.problems.push(format!(
                "Value '{}' at '{}' failed to satisfy constraint: Member must have length greater than or equal to {min}",
                shown(v),
                at.render()
            ));
        }
        if let Some(max) = s.max.filter(|m| len > *m) {
            self.problems.push(format!(
                "Value '{}' at '{}' failed to satisfy constraint: Member must have length less than or equal to {max}",
                shown(v),
                at.render()
            ));
        }
    }

    fn range(&mut self, s: &S, v: &Value, n: f64, at: &At<'_>) {
        if let Some(min) = s.min.filter(|m| n < *m) {
            self.problems.push(format!(
                "Value '{}' at '{}' failed to satisfy constraint: Member must have value greater than or equal to {min}",
                shown(v),
                at.render()
            ));
        }
        if let Some(max) = s.max.filter(|m| n > *m) {
            self.problems.push(format!(
                "Value '{}' at '{}' failed to satisfy constraint: Member must have value less than or equal to {max}",
                shown(v),
                at.render()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::models::{secretsmanager, sts};
    use serde_json::json;

    fn check(model: &Model, op: &str, input: Value, protocol: Protocol) -> Result<(), AwsError> {
        let o = model.operation(op).expect("op");
        validate(model, o.input.expect("input"), &input, protocol)
    }

    #[test]
    fn constraint_violations_are_reported_together_in_aws_words() {
        let e = check(
            &sts::MODEL,
            "AssumeRole",
            json!({"RoleSessionName": "s", "DurationSeconds": 100}),
            Protocol::Query,
        )
        .expect_err("three problems");
        assert_eq!(e.code, "ValidationError");
        assert_eq!(
            e.message,
            "3 validation errors detected: \
             Value null at 'roleArn' failed to satisfy constraint: Member must not be null; \
             Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; \
             Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        );
        let ok = json!({"RoleArn": "arn:aws:iam::111122223333:role/r", "RoleSessionName": "s1",
                        "Tags": [{"Key": "k", "Value": "v"}]});
        check(&sts::MODEL, "AssumeRole", ok, Protocol::Query).expect("valid");
        let e = check(
            &sts::MODEL,
            "AssumeRole",
            json!({"RoleArn": "arn:aws:iam::111122223333:role/r", "RoleSessionName": "s1",
                   "Tags": [{"Key": "k"}]}),
            Protocol::Query,
        )
        .expect_err("tag without value");
        assert!(
            e.message.contains("Value null at 'tags.1.member.value'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn wrong_types_are_serialization_errors_and_enums_are_checked() {
        let e = check(
            &secretsmanager::MODEL,
            "GetSecretValue",
            json!({"SecretId": 7}),
            Protocol::Json,
        )
        .expect_err("a number for a string");
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("'secretId'"), "{}", e.message);
        let e = check(
            &secretsmanager::MODEL,
            "ListSecrets",
            json!({"SortOrder": "sideways"}),
            Protocol::Json,
        )
        .expect_err("not in the enum");
        assert_eq!(e.code, "ValidationException");
        assert!(
            e.message
                .contains("Member must satisfy enum value set: [asc, desc]"),
            "{}",
            e.message
        );
        check(
            &secretsmanager::MODEL,
            "ListSecrets",
            json!({"SortOrder": "asc"}),
            Protocol::Json,
        )
        .expect("valid");
    }
}
