//! The SQS query protocol: form parameters → the JSON input shape, and JSON output → XML.
//!
//! Form keys are split on `.` into a tree whose numeric segments are list positions
//! (`Attribute.1.Name`), then SQS's flattened names are mapped to the JSON members:
//! `Attribute.N.{Name,Value}` → `Attributes{}`, `MessageAttribute.N.{Name,Value.*}` →
//! `MessageAttributes{}`, `Tag.N.{Key,Value}` → `Tags{}`/`tags{}`, `AttributeName.N` →
//! `AttributeNames[]`, `*BatchRequestEntry.N.*` → `Entries[]`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::protocol::xml::XmlWriter;

#[derive(Debug, Default)]
struct Tree {
    value: Option<String>,
    children: BTreeMap<String, Tree>,
}

fn build(params: &[(String, String)]) -> Tree {
    let mut root = Tree::default();
    for (k, v) in params {
        let mut node = &mut root;
        for seg in k.split('.') {
            node = node.children.entry(seg.to_owned()).or_default();
        }
        node.value = Some(v.clone());
    }
    root
}

/// Children with numeric names, in numeric order.
fn indexed(t: &Tree) -> Vec<&Tree> {
    let mut v: Vec<(u64, &Tree)> = t
        .children
        .iter()
        .filter_map(|(k, c)| k.parse().ok().map(|n| (n, c)))
        .collect();
    v.sort_by_key(|(n, _)| *n);
    v.into_iter().map(|(_, c)| c).collect()
}

fn text(t: Option<&Tree>) -> Option<String> {
    t.and_then(|t| t.value.clone())
}

fn plain(t: &Tree) -> Value {
    if t.children.is_empty() {
        return Value::String(t.value.clone().unwrap_or_default());
    }
    Value::Object(
        t.children
            .iter()
            .map(|(k, c)| (k.clone(), plain(c)))
            .collect(),
    )
}

/// Converts a node's children into JSON members (used for the request and for entries).
fn members(t: &Tree, out: &mut Map<String, Value>) {
    for (k, c) in &t.children {
        match k.as_str() {
            "Action" | "Version" => {}
            "Attribute" => {
                let m: Map<String, Value> = indexed(c)
                    .into_iter()
                    .filter_map(|e| {
                        Some((
                            text(e.children.get("Name"))?,
                            Value::String(text(e.children.get("Value")).unwrap_or_default()),
                        ))
                    })
                    .collect();
                out.insert("Attributes".into(), Value::Object(m));
            }
            "Tag" => {
                let m: Map<String, Value> = indexed(c)
                    .into_iter()
                    .filter_map(|e| {
                        Some((
                            text(e.children.get("Key"))?,
                            Value::String(text(e.children.get("Value")).unwrap_or_default()),
                        ))
                    })
                    .collect();
                out.insert("Tags".into(), Value::Object(m.clone()));
                out.insert("tags".into(), Value::Object(m));
            }
            "MessageAttribute" | "MessageSystemAttribute" => {
                let m: Map<String, Value> = indexed(c)
                    .into_iter()
                    .filter_map(|e| {
                        Some((
                            text(e.children.get("Name"))?,
                            e.children.get("Value").map(plain).unwrap_or_default(),
                        ))
                    })
                    .collect();
                out.insert(format!("{k}s"), Value::Object(m));
            }
            "AttributeName" | "MessageAttributeName" | "MessageSystemAttributeName" | "TagKey" => {
                let list: Vec<Value> = indexed(c)
                    .into_iter()
                    .filter_map(|e| e.value.clone().map(Value::String))
                    .collect();
                out.insert(format!("{k}s"), Value::Array(list));
            }
            k if k.ends_with("BatchRequestEntry") => {
                let list: Vec<Value> = indexed(c)
                    .into_iter()
                    .map(|e| {
                        let mut m = Map::new();
                        members(e, &mut m);
                        Value::Object(m)
                    })
                    .collect();
                out.insert("Entries".into(), Value::Array(list));
            }
            _ => {
                out.insert(k.clone(), plain(c));
            }
        }
    }
}

/// Form parameters → JSON input.
pub fn to_json(params: &[(String, String)]) -> Value {
    let mut out = Map::new();
    members(&build(params), &mut out);
    Value::Object(out)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn name_value(w: &mut XmlWriter, tag: &str, map: &Map<String, Value>, key: &str, value: &str) {
    for (k, v) in map {
        w.open(tag, None);
        w.elem(key, k);
        w.elem(value, &scalar(v));
        w.close(tag);
    }
}

fn message(w: &mut XmlWriter, m: &Map<String, Value>) {
    w.open("Message", None);
    for (k, v) in m {
        match (k.as_str(), v) {
            ("Attributes", Value::Object(a)) => name_value(w, "Attribute", a, "Name", "Value"),
            ("MessageAttributes", Value::Object(a)) => {
                for (name, val) in a {
                    w.open("MessageAttribute", None);
                    w.elem("Name", name);
                    w.open("Value", None);
                    if let Value::Object(fields) = val {
                        for (fk, fv) in fields {
                            w.elem(fk, &scalar(fv));
                        }
                    }
                    w.close("Value");
                    w.close("MessageAttribute");
                }
            }
            (_, Value::Null) => {}
            _ => w.elem(k, &scalar(v)),
        }
    }
    w.close("Message");
}

/// JSON output of `action` → the inner XML of its `<…Result>`.
pub fn to_xml(action: &str, v: &Value) -> String {
    let mut w = XmlWriter::default();
    let Some(obj) = v.as_object() else {
        return String::new();
    };
    for (k, val) in obj {
        match (k.as_str(), val) {
            ("QueueUrls" | "queueUrls", Value::Array(a)) => {
                a.iter().for_each(|u| w.elem("QueueUrl", &scalar(u)))
            }
            ("Attributes", Value::Object(m)) => name_value(&mut w, "Attribute", m, "Name", "Value"),
            ("Tags", Value::Object(m)) => name_value(&mut w, "Tag", m, "Key", "Value"),
            ("Messages", Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_object)
                .for_each(|m| message(&mut w, m)),
            ("Successful", Value::Array(a)) => {
                let tag = format!("{action}ResultEntry");
                for e in a.iter().filter_map(Value::as_object) {
                    w.open(&tag, None);
                    e.iter().for_each(|(ek, ev)| w.elem(ek, &scalar(ev)));
                    w.close(&tag);
                }
            }
            ("Failed", Value::Array(a)) => {
                for e in a.iter().filter_map(Value::as_object) {
                    w.open("BatchResultErrorEntry", None);
                    e.iter().for_each(|(ek, ev)| w.elem(ek, &scalar(ev)));
                    w.close("BatchResultErrorEntry");
                }
            }
            (_, Value::Array(a)) => a.iter().for_each(|x| w.elem(k, &scalar(x))),
            (_, Value::Null) => {}
            _ => w.elem(k, &scalar(val)),
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Vec<(String, String)> {
        crate::http::util::Query::parse(Some(s)).0
    }

    #[test]
    fn form_to_json() {
        let v = to_json(&params(
            "Action=SendMessageBatch&QueueUrl=u&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.1.Id=a\
             &SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String",
        ));
        assert_eq!(v["QueueUrl"], "u");
        assert_eq!(v["Entries"][0]["Id"], "a");
        assert_eq!(v["Entries"][1]["Id"], "b");
        assert_eq!(
            v["Entries"][0]["MessageAttributes"]["k"]["StringValue"],
            "v"
        );
        let v = to_json(&params(
            "Action=CreateQueue&QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&AttributeName.1=All",
        ));
        assert_eq!(v["Attributes"]["DelaySeconds"], "5");
        assert_eq!(v["AttributeNames"][0], "All");
    }

    #[test]
    fn json_to_xml() {
        let v = serde_json::json!({"Attributes": {"A": "1"}, "QueueUrls": ["u1", "u2"]});
        assert_eq!(
            to_xml("X", &v),
            "<Attribute><Name>A</Name><Value>1</Value></Attribute><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl>"
        );
        let v =
            serde_json::json!({"Failed": [{"Id": "a", "Code": "C"}], "Successful": [{"Id": "b"}]});
        assert_eq!(
            to_xml("DeleteMessageBatch", &v),
            "<BatchResultErrorEntry><Code>C</Code><Id>a</Id></BatchResultErrorEntry><DeleteMessageBatchResultEntry><Id>b</Id></DeleteMessageBatchResultEntry>"
        );
    }
}
