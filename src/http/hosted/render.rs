//! The page's HTML: templates compiled in from `templates/` (`include_str!`), filled by
//! [`fill`]. Every value is text and is escaped on the way in, unless it is [`Html`] this
//! module made (a filled template, escaped text), so nothing a user or partner typed can open
//! a tag or end an attribute. Placeholders are `{{name}}`; values go in element content or
//! double-quoted attributes only.

use std::fmt::Write as _;

use crate::http::html::escape_into;

pub const PAGE: &str = include_str!("templates/page.html");
pub const FORM: &str = include_str!("templates/form.html");
pub const ERRORS: &str = include_str!("templates/errors.html");
pub const NOTICE: &str = include_str!("templates/notice.html");
/// One line of the error summary: a link to the field.
const ERROR_ITEM: &str = r##"<li><a href="#{{field}}">{{label}}: {{message}}</a></li>"##;
/// A field's own message, which the field names in `aria-describedby`.
const FIELD_ERROR: &str = r#"<p class="field-error" id="{{field}}-error">{{message}}</p>"#;
const FIELD_INVALID: &str = r#" aria-invalid="true" aria-describedby="{{field}}-error""#;

/// Markup this module made: safe to put in a page as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    pub fn into_string(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A value for a placeholder.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// Escaped on the way in.
    Text(&'a str),
    /// Put in as is.
    Markup(&'a Html),
}

/// `template` with each `{{name}}` replaced by its value in `values`; a placeholder with no
/// value becomes nothing (the tests fill every template and look for leftovers).
pub fn fill(template: &str, values: &[(&str, Value<'_>)]) -> Html {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Html(out);
        };
        let name = &after[..end];
        match values.iter().find(|(n, _)| *n == name).map(|(_, v)| v) {
            Some(Value::Text(text)) => escape_into(&mut out, text),
            Some(Value::Markup(html)) => out.push_str(&html.0),
            None => {}
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Html(out)
}

/// `text` escaped for element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> Html {
    Html(crate::http::html::escape(text))
}

/// A field's markup when it is invalid: the `aria-invalid`/`aria-describedby` attributes and
/// the message they point to (both empty when it is valid).
pub struct FieldState {
    pub class: &'static str,
    pub aria: Html,
    pub error: Html,
}

impl FieldState {
    pub fn of(field: &str, message: Option<&str>) -> Self {
        match message {
            None => Self {
                class: "",
                aria: Html::default(),
                error: Html::default(),
            },
            Some(message) => Self {
                class: " invalid",
                aria: fill(FIELD_INVALID, &[("field", Value::Text(field))]),
                error: fill(
                    FIELD_ERROR,
                    &[
                        ("field", Value::Text(field)),
                        ("message", Value::Text(message)),
                    ],
                ),
            },
        }
    }
}

/// The error summary's list: one linked line per invalid field (nothing when there is none).
pub fn error_items<'a>(items: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> Html {
    let mut out = String::new();
    for (field, label, message) in items {
        let item = fill(
            ERROR_ITEM,
            &[
                ("field", Value::Text(field)),
                ("label", Value::Text(label)),
                ("message", Value::Text(message)),
            ],
        );
        let _ = write!(out, "{}", item.0);
    }
    if out.is_empty() {
        return Html(out);
    }
    Html(format!("<ul>{out}</ul>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_markup_is_not() {
        let hostile = r#""><script>alert('x')</script>&"#;
        let inner = fill("<b>{{v}}</b>", &[("v", Value::Text("bold"))]);
        let page = fill(
            r#"<input value="{{text}}">{{inner}}{{missing}}"#,
            &[
                ("text", Value::Text(hostile)),
                ("inner", Value::Markup(&inner)),
            ],
        );
        assert_eq!(
            page.as_str(),
            "<input value=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\">\
             <b>bold</b>"
        );
        assert_eq!(escape("a<b").as_str(), "a&lt;b");
        // An unclosed placeholder is left as written.
        assert_eq!(fill("x {{y", &[]).as_str(), "x {{y");
    }

    #[test]
    fn an_invalid_field_points_at_its_message() {
        let state = FieldState::of("cvv", Some("must have 3 to 4 digits"));
        assert_eq!(
            state.aria.as_str(),
            r#" aria-invalid="true" aria-describedby="cvv-error""#
        );
        assert!(state.error.as_str().contains(r#"id="cvv-error""#));
        let valid = FieldState::of("cvv", None);
        assert!(valid.aria.as_str().is_empty() && valid.error.as_str().is_empty());
    }
}
