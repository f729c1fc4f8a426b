//! The query protocol, driven by the model: form parameters (`Action=…&Name.member.1=…`)
//! decoded into an operation's input in the JSON shape, and an output in the JSON shape
//! encoded as the XML inside `<{Op}Result>`.
//!
//! Names follow the model: a member's `locationName` (else its name); lists are
//! `Name.member.N` (`Name.N` when flattened, the list member's own `locationName` replacing
//! `member`); maps are `Name.entry.N.key` / `.value` (`Name.N.key` when flattened). Numbers,
//! booleans and timestamps are converted by the shape's kind.

use serde_json::{Map, Value};

use super::model::{K, M, Model, O, S, member_flags, shape_flags};
use super::shape_xml;
use super::xml::XmlWriter;
use super::{AwsError, AwsResult, scalar_from_text};

/// Decodes the parameters of a query request into `op`'s input.
pub fn decode(model: &Model, op: &O, params: &[(String, String)]) -> AwsResult<Value> {
    let Some(input) = op.input else {
        return Ok(Value::Object(Map::new()));
    };
    let form = Form(params);
    Ok(form
        .structure(model, model.shape(input), "")?
        .unwrap_or_else(|| Value::Object(Map::new())))
}

/// The parameters, looked up by full name.
struct Form<'a>(&'a [(String, String)]);

impl Form<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any parameter is `key` or starts with `key.`.
    fn has_prefix(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| {
            k.strip_prefix(key)
                .is_some_and(|r| r.is_empty() || r.starts_with('.'))
        })
    }

    fn structure(&self, model: &Model, s: &S, prefix: &str) -> AwsResult<Option<Value>> {
        let mut out = Map::new();
        for m in s.members {
            let key = format!("{prefix}{}", m.wire_name());
            if let Some(v) = self.value(model, m, &key)? {
                out.insert(m.name.to_owned(), v);
            }
        }
        Ok((!out.is_empty()).then_some(Value::Object(out)))
    }

    fn value(&self, model: &Model, m: &M, key: &str) -> AwsResult<Option<Value>> {
        let s = model.shape(m.shape);
        let flattened = m.flags & member_flags::FLATTENED != 0 || s.has(shape_flags::FLATTENED);
        match s.kind {
            K::Structure => self.structure(model, s, &format!("{key}.")),
            K::List => self.list(model, s, key, flattened),
            K::Map => self.map(model, s, key, flattened),
            _ => self.get(key).map(|v| scalar(s, key, v)).transpose(),
        }
    }

    fn list(&self, model: &Model, s: &S, key: &str, flattened: bool) -> AwsResult<Option<Value>> {
        if !self.has_prefix(key) {
            return Ok(None);
        }
        let item = &s.members[0];
        let base = if flattened {
            key.to_owned()
        } else {
            format!("{key}.{}", item.wire.unwrap_or("member"))
        };
        let mut out = Vec::new();
        for i in 1.. {
            match self.value(model, item, &format!("{base}.{i}"))? {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(Some(Value::Array(out)))
    }

    fn map(&self, model: &Model, s: &S, key: &str, flattened: bool) -> AwsResult<Option<Value>> {
        if !self.has_prefix(key) {
            return Ok(None);
        }
        let (k, v) = (&s.members[0], &s.members[1]);
        let base = if flattened {
            key.to_owned()
        } else {
            format!("{key}.entry")
        };
        let mut out = Map::new();
        for i in 1.. {
            let entry = format!("{base}.{i}");
            let Some(name) = self.get(&format!("{entry}.{}", k.wire.unwrap_or("key"))) else {
                break;
            };
            let value = self.value(model, v, &format!("{entry}.{}", v.wire.unwrap_or("value")))?;
            out.insert(name.to_owned(), value.unwrap_or(Value::Null));
        }
        Ok(Some(Value::Object(out)))
    }
}

/// A scalar parameter in the JSON shape of its kind.
fn scalar(s: &S, key: &str, v: &str) -> AwsResult<Value> {
    scalar_from_text(s.kind, v).ok_or_else(|| {
        AwsError::client(
            "InvalidParameterValue",
            format!("Value ({v}) for parameter {key} is invalid."),
        )
    })
}

/// Encodes `output` (the JSON shape of `op`'s output) as the inner XML of `<{Op}Result>`.
pub fn encode(model: &Model, op: &O, output: &Value) -> String {
    let mut w = XmlWriter::default();
    if let Some(shape) = op.output {
        shape_xml::members(&mut w, model, model.shape(shape), output);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::models::sts::MODEL;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn form_parameters_become_the_input_shape() {
        let op = MODEL.operation("AssumeRole").expect("op");
        let p = params(&[
            ("Action", "AssumeRole"),
            ("RoleArn", "arn:aws:iam::111122223333:role/r"),
            ("DurationSeconds", "1800"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "a"),
            ("Tags.member.2.Key", "env"),
            ("Tags.member.2.Value", "b"),
            ("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/P"),
            ("TransitiveTagKeys", ""),
        ]);
        let v = decode(&MODEL, op, &p).expect("decoded");
        assert_eq!(
            v,
            json!({
                "RoleArn": "arn:aws:iam::111122223333:role/r",
                "DurationSeconds": 1800,
                "Tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "b"}],
                "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/P"}],
                "TransitiveTagKeys": [],
            })
        );
        let bad = params(&[("DurationSeconds", "soon")]);
        let e = decode(&MODEL, op, &bad).expect_err("not a number");
        assert_eq!(e.code, "InvalidParameterValue");
        assert!(e.message.contains("DurationSeconds"), "{}", e.message);
    }

    #[test]
    fn outputs_become_the_result_xml() {
        let op = MODEL.operation("AssumeRole").expect("op");
        let out = json!({
            "Credentials": {"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t",
                            "Expiration": 1_700_000_000.5},
            "AssumedRoleUser": {"AssumedRoleId": "AROA:x", "Arn": "arn:a<b"},
            "PackedPolicySize": 6,
        });
        assert_eq!(
            encode(&MODEL, op, &out),
            "<Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
             <SessionToken>t</SessionToken><Expiration>2023-11-14T22:13:20.500Z</Expiration>\
             </Credentials><AssumedRoleUser><AssumedRoleId>AROA:x</AssumedRoleId>\
             <Arn>arn:a&lt;b</Arn></AssumedRoleUser><PackedPolicySize>6</PackedPolicySize>"
        );
    }
}
