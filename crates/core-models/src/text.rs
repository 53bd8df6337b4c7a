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

/// Cleans every string inside a JSON value (keys included) with [`clean_text`].
pub fn clean_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if s.chars().any(char::is_control) {
                *s = clean_text(s);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_json),
        Value::Object(map) => {
            if map.keys().any(|k| k.chars().any(char::is_control)) {
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
}
