//! Values in the JSON shape of a model's shapes, written as XML: the query protocol's
//! `<{Op}Result>` content and REST-XML bodies share it. Lists are `<Name><member>…` (the list
//! member's `locationName` replacing `member`), maps `<Name><entry><key/><value/>…`; flattened
//! ones repeat `<Name>`; timestamps are ISO 8601 with milliseconds.

use serde_json::Value;

use super::model::{K, Loc, M, Model, S, member_flags, shape_flags};
use super::xml::XmlWriter;
use crate::http::util::iso8601_ms;

/// The members of structure `s` present in `v`, each as an element named by its wire name
/// (members bound to headers, the URI or the status are not body content and are skipped).
pub fn members(w: &mut XmlWriter, model: &Model, s: &S, v: &Value) {
    for m in s.members.iter().filter(|m| m.loc == Loc::Body) {
        if let Some(value) = v.get(m.name).filter(|x| !x.is_null()) {
            element(w, model, m, m.wire_name(), value);
        }
    }
}

/// Member `m` holding `v`, as the element `name` (a flattened list or map as repeated
/// elements).
pub fn element(w: &mut XmlWriter, model: &Model, m: &M, name: &str, v: &Value) {
    let s = model.shape(m.shape);
    let flattened = m.flags & member_flags::FLATTENED != 0 || s.has(shape_flags::FLATTENED);
    match (s.kind, v) {
        (K::Structure, _) => {
            w.open(name, None);
            members(w, model, s, v);
            w.close(name);
        }
        (K::List, Value::Array(items)) => {
            let item = &s.members[0];
            if flattened {
                let n = item.wire.unwrap_or(name);
                items.iter().for_each(|x| element(w, model, item, n, x));
            } else {
                w.open(name, None);
                let n = item.wire.unwrap_or("member");
                items.iter().for_each(|x| element(w, model, item, n, x));
                w.close(name);
            }
        }
        (K::Map, Value::Object(entries)) => {
            let (k, val) = (&s.members[0], &s.members[1]);
            if !flattened {
                w.open(name, None);
            }
            for (key, value) in entries {
                let entry = if flattened { name } else { "entry" };
                w.open(entry, None);
                w.elem(k.wire.unwrap_or("key"), key);
                element(w, model, val, val.wire.unwrap_or("value"), value);
                w.close(entry);
            }
            if !flattened {
                w.close(name);
            }
        }
        (K::Timestamp, Value::Number(n)) => {
            let ms = n.as_f64().map_or(0, |f| (f * 1000.0).round() as i64);
            w.elem(name, &iso8601_ms(ms));
        }
        (_, Value::String(text)) => w.elem(name, text),
        (_, other) => w.elem(name, &other.to_string()),
    }
}
