//! serde-style `rename_all` rules for variant names.

/// A `rename_all` rule, spelled as serde spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    pub(crate) const NAMES: &'static str = "\"lowercase\", \"UPPERCASE\", \"PascalCase\", \
        \"camelCase\", \"snake_case\", \"SCREAMING_SNAKE_CASE\", \"kebab-case\", \
        \"SCREAMING-KEBAB-CASE\"";

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => Self::Lower,
            "UPPERCASE" => Self::Upper,
            "PascalCase" => Self::Pascal,
            "camelCase" => Self::Camel,
            "snake_case" => Self::Snake,
            "SCREAMING_SNAKE_CASE" => Self::ScreamingSnake,
            "kebab-case" => Self::Kebab,
            "SCREAMING-KEBAB-CASE" => Self::ScreamingKebab,
            _ => return None,
        })
    }

    /// Applies the rule to a `PascalCase` variant name, as serde does.
    pub(crate) fn apply(self, variant: &str) -> String {
        match self {
            Self::Pascal => variant.to_owned(),
            Self::Lower => variant.to_ascii_lowercase(),
            Self::Upper => variant.to_ascii_uppercase(),
            Self::Camel => {
                let mut chars = variant.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_lowercase().to_string() + chars.as_str()
                })
            }
            Self::Snake => separated(variant, '_'),
            Self::ScreamingSnake => separated(variant, '_').to_ascii_uppercase(),
            Self::Kebab => separated(variant, '-'),
            Self::ScreamingKebab => separated(variant, '-').to_ascii_uppercase(),
        }
    }
}

fn separated(variant: &str, sep: char) -> String {
    let mut out = String::with_capacity(variant.len() + 4);
    for (i, ch) in variant.char_indices() {
        if i > 0 && ch.is_uppercase() {
            out.push(sep);
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_serde() {
        let cases = [
            ("lowercase", "tokendelta"),
            ("UPPERCASE", "TOKENDELTA"),
            ("PascalCase", "TokenDelta"),
            ("camelCase", "tokenDelta"),
            ("snake_case", "token_delta"),
            ("SCREAMING_SNAKE_CASE", "TOKEN_DELTA"),
            ("kebab-case", "token-delta"),
            ("SCREAMING-KEBAB-CASE", "TOKEN-DELTA"),
        ];
        for (rule, want) in cases {
            let rule = RenameRule::from_name(rule).unwrap();
            assert_eq!(rule.apply("TokenDelta"), want);
        }
        assert!(RenameRule::from_name("Snake").is_none());
    }
}
