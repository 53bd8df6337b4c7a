//! Closed sets of names stored as text: [`string_enum!`](crate::string_enum) declares one, and
//! [`UnknownName`] is what parsing a name outside the set gives.

/// An unknown string where one of a fixed set of names was expected (from the CLI or the DB).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}' (expected one of: {expected})")]
pub struct UnknownName {
    /// What kind of name it was, e.g. "event type".
    pub kind: &'static str,
    /// The string that was given.
    pub value: String,
    /// The accepted names, comma separated.
    pub expected: String,
}

/// Declares a string-backed enum: `as_str`, `ALL`, `Display`, `FromStr` (exact names; aliases
/// and any letter case accepted), and serde as the stored string.
///
/// Attributes written before the name (doc comments, extra derives such as diesel's
/// `AsExpression`/`FromSqlRow` on the storage side) are passed through to the enum.
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database and shown to users.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(
                    if s == $text $(|| s.eq_ignore_ascii_case($alias))* || s.eq_ignore_ascii_case($text) {
                        return Ok($name::$variant);
                    }
                )+
                Err($crate::UnknownName {
                    kind: $kind,
                    value: s.to_owned(),
                    expected: [$($text),+].join(", "),
                })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
