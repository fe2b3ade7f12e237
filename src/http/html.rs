//! HTML escaping for every page the gateway writes (the problem type pages, the hosted payment
//! page): text put in element content or a quoted attribute value can never open a tag, end the
//! attribute or start an entity of its own.

/// `text` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// `text` escaped, appended to `out`.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>Zoë & co</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;Zoë &amp; co&lt;/a&gt;"
        );
    }
}
