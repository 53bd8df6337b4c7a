//! Cleaning of user text (from TikTok or the command line) before it is stored.
//!
//! Emojis, every script, RTL marks and zero-width joiners are kept: they are what people type.
//! Control characters (NUL included) are removed: they break terminals, logs and some drivers.
//! Lengths are cut by characters, never by bytes, so a multi-byte character is never split.

/// Removes control characters, keeping line breaks and tabs (for free text like comments).
pub fn clean_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// Removes every control character and cuts to `max_chars` characters (for names, handles and
/// other one-line columns).
pub fn clean_line(s: &str, max_chars: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

/// `value` serialised as JSON text with every string cleaned as by [`clean_json`]; the value
/// is copied only when something in it needs cleaning, which on the capture path is almost
/// never (one copy less per event).
pub fn clean_json_string(value: &serde_json::Value) -> String {
    if needs_cleaning(value) {
        let mut copy = value.clone();
        clean_json(&mut copy);
        copy.to_string()
    } else {
        value.to_string()
    }
}

/// Whether [`clean_text`] would change `s`.
fn text_needs_cleaning(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Whether [`clean_json`] would change `value`.
fn needs_cleaning(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => text_needs_cleaning(s),
        Value::Array(items) => items.iter().any(needs_cleaning),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| text_needs_cleaning(k) || needs_cleaning(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Cleans every string inside a JSON value (keys included) with [`clean_text`].
pub fn clean_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if text_needs_cleaning(s) {
                *s = clean_text(s);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_json),
        Value::Object(map) => {
            if map.keys().any(|k| text_needs_cleaning(k)) {
                let cleaned = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (clean_text(&k), v))
                    .collect();
                *map = cleaned;
            }
            map.values_mut().for_each(clean_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_emoji_scripts_and_joiners() {
        let s = "👩‍👩‍👧 مرحبا שלום 你好 \u{200f}x\u{200d}y 🎁";
        assert_eq!(clean_text(s), s);
        assert_eq!(clean_line(s, 1000), s);
    }

    #[test]
    fn removes_controls() {
        assert_eq!(clean_text("a\0b\x07c\nd\te\x1b[31m"), "abc\nd\te[31m");
        assert_eq!(clean_line("a\nb\0c", 10), "abc");
    }

    #[test]
    fn cuts_by_characters() {
        assert_eq!(clean_line("🎁🎁🎁", 2), "🎁🎁");
        assert_eq!(clean_line("abc", 0), "");
    }

    #[test]
    fn cleans_nested_json() {
        let mut v = serde_json::json!({"comment": "hi\0!", "user": {"nick\u{1}": ["a\u{7f}b", 3]}});
        clean_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"comment": "hi!", "user": {"nick": ["ab", 3]}})
        );
    }

    #[test]
    fn json_text_is_cleaned_and_clean_json_kept_as_is() {
        let dirty =
            serde_json::json!({"a\u{1}": ["x\u{0}y", {"n": 1}], "ok": "line\nnext\ttab 🎁"});
        assert_eq!(
            clean_json_string(&dirty),
            r#"{"a":["xy",{"n":1}],"ok":"line\nnext\ttab 🎁"}"#
        );
        let clean = serde_json::json!({"comment": "hi\n👋", "n": [1, 2]});
        assert!(!needs_cleaning(&clean));
        assert_eq!(clean_json_string(&clean), clean.to_string());
    }
}
