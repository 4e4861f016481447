//! What each kind of asset is made of, as marketing uses it: a file (logo, screenshot,
//! other), a link (video), a link and a text (blog post, social post), or a text with its
//! attribution and whether the customer agreed (customer quote). A field the kind does not
//! take is an error on that field, never dropped. A file's type is read from its bytes,
//! never from its name, and an SVG that could run script or fetch anything is refused.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::{
    domain::AssetKind,
    dto::AssetContent,
    error::{AppError, AppResult, ErrorCode, FieldError, Validator, required_text},
    services::https_url,
};

const MB: usize = 1024 * 1024;

/// The largest file any kind takes (an `other` file).
pub const MAX_ASSET_BYTES: usize = 25 * MB;

/// The most an upload's body may carry: the largest file and room for the form's other
/// fields, so a file too large for its kind is answered with the kind's limit rather than
/// a dropped connection.
pub const UPLOAD_BODY_LIMIT: usize = MAX_ASSET_BYTES + 2 * MB;

/// A type of file the portal keeps and serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Png,
    Jpeg,
    WebP,
    Svg,
    Pdf,
    Text,
}

impl FileType {
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
            FileType::WebP => "image/webp",
            FileType::Svg => "image/svg+xml",
            FileType::Pdf => "application/pdf",
            FileType::Text => "text/plain; charset=utf-8",
        }
    }

    fn label(self) -> &'static str {
        match self {
            FileType::Png => "PNG",
            FileType::Jpeg => "JPEG",
            FileType::WebP => "WebP",
            FileType::Svg => "SVG",
            FileType::Pdf => "PDF",
            FileType::Text => "plain text",
        }
    }
}

/// The file a kind takes: how large, and of which types.
#[derive(Debug, Clone, Copy)]
pub struct FileRule {
    pub max_bytes: usize,
    pub types: &'static [FileType],
}

/// What a version of one kind of asset is made of.
#[derive(Debug, Clone, Copy)]
pub struct KindRules {
    /// A file, required; `None`: the kind takes no file.
    pub file: Option<FileRule>,
    /// An https link, required.
    pub link: bool,
    /// A text of at most this many characters, required.
    pub text: Option<usize>,
    /// Who said it, at most this many characters, required.
    pub attribution: Option<usize>,
    /// Whether the customer agreed to its use.
    pub agreement: bool,
}

const NOTHING: KindRules = KindRules {
    file: None,
    link: false,
    text: None,
    attribution: None,
    agreement: false,
};

pub const fn rules(kind: AssetKind) -> KindRules {
    use FileType::*;
    match kind {
        AssetKind::Logo => KindRules {
            file: Some(FileRule {
                max_bytes: 5 * MB,
                types: &[Png, Jpeg, Svg],
            }),
            ..NOTHING
        },
        AssetKind::Screenshot => KindRules {
            file: Some(FileRule {
                max_bytes: 10 * MB,
                types: &[Png, Jpeg, WebP, Svg],
            }),
            ..NOTHING
        },
        AssetKind::Video => KindRules {
            link: true,
            ..NOTHING
        },
        AssetKind::BlogPost => KindRules {
            link: true,
            text: Some(10_000),
            ..NOTHING
        },
        AssetKind::SocialPost => KindRules {
            link: true,
            text: Some(3_000),
            ..NOTHING
        },
        AssetKind::CustomerQuote => KindRules {
            text: Some(2_000),
            attribution: Some(200),
            agreement: true,
            ..NOTHING
        },
        AssetKind::Other => KindRules {
            file: Some(FileRule {
                max_bytes: MAX_ASSET_BYTES,
                types: &[Pdf, Png, Jpeg, WebP, Svg, Text],
            }),
            ..NOTHING
        },
    }
}

/// "a logo", "a customer quote": how messages name a kind.
fn a(kind: AssetKind) -> String {
    format!("a {}", kind.label().to_lowercase())
}

/// One version's content once checked against its kind.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    pub file: Option<CheckedFile>,
    pub link: Option<String>,
    pub text: Option<String>,
    pub attribution: Option<String>,
    pub customer_agreed: bool,
    /// Of the file, or of the link, text and attribution of a version without one.
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub(super) struct CheckedFile {
    pub bytes: Bytes,
    pub content_type: &'static str,
}

/// The fields of a version as its kind wants them. Each problem is recorded on its field
/// in `v` (whose `finish` then fails); the file's bytes are checked by [`check_file`] once
/// every field is right.
#[derive(Debug, Default)]
pub(super) struct Fields {
    link: Option<String>,
    text: Option<String>,
    attribution: Option<String>,
    customer_agreed: bool,
}

pub(super) fn check_fields(
    v: &mut Validator,
    kind: AssetKind,
    bytes: &Bytes,
    content: &AssetContent,
) -> Fields {
    let rules = rules(kind);
    let refuse = |v: &mut Validator, field: &str, what: &str| {
        v.add(field, format!("{} takes no {what}", a(kind)));
    };
    match rules.file {
        Some(_) if bytes.is_empty() => {
            v.add("file", format!("choose a file: {} is a file", a(kind)));
        }
        None if !bytes.is_empty() => refuse(v, "file", "file"),
        _ => {}
    }
    let link = if rules.link {
        let link = v.check("link", https_url(&content.link));
        if link == Some(None) {
            v.add("link", format!("is required: {}'s https address", a(kind)));
        }
        link.flatten()
    } else {
        if !content.link.trim().is_empty() {
            refuse(v, "link", "link");
        }
        None
    };
    let required = |v: &mut Validator, field: &str, value: &str, max: Option<usize>| match max {
        Some(max) => v.check(field, required_text(value, max)),
        None => {
            if !value.trim().is_empty() {
                refuse(v, field, field);
            }
            None
        }
    };
    let text = required(v, "text", &content.text, rules.text);
    let attribution = required(v, "attribution", &content.attribution, rules.attribution);
    if content.customer_agreed && !rules.agreement {
        v.add(
            "customer_agreed",
            format!(
                "only a customer quote records the customer's agreement, not {}",
                a(kind)
            ),
        );
    }
    Fields {
        link,
        text,
        attribution,
        customer_agreed: content.customer_agreed && rules.agreement,
    }
}

/// Checks the file (its size for the kind, then its type from its bytes) and makes the
/// version's content.
pub(super) fn check_file(kind: AssetKind, bytes: Bytes, fields: Fields) -> AppResult<Checked> {
    let file = match rules(kind).file {
        Some(rule) => {
            let file_type = check_bytes(kind, rule, &bytes)?;
            Some(CheckedFile {
                bytes,
                content_type: file_type.content_type(),
            })
        }
        None => None,
    };
    let sha256 = match &file {
        Some(f) => hex::encode(Sha256::digest(&f.bytes)),
        None => content_sha256(
            fields.link.as_deref(),
            fields.text.as_deref(),
            fields.attribution.as_deref(),
        ),
    };
    Ok(Checked {
        file,
        link: fields.link,
        text: fields.text,
        attribution: fields.attribution,
        customer_agreed: fields.customer_agreed,
        sha256,
    })
}

/// The checksum of a version without a file: of its link, text and attribution, each
/// ended by a NUL so that no two different versions share it.
pub(super) fn content_sha256(
    link: Option<&str>,
    text: Option<&str>,
    attribution: Option<&str>,
) -> String {
    let mut hash = Sha256::new();
    for part in [link, text, attribution] {
        hash.update(part.unwrap_or_default().as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

fn file_error(code: ErrorCode, message: String) -> AppError {
    AppError {
        code,
        message: message.clone(),
        fields: vec![FieldError {
            field: "file".into(),
            message,
        }],
    }
}

fn check_bytes(kind: AssetKind, rule: FileRule, bytes: &[u8]) -> AppResult<FileType> {
    if bytes.len() > rule.max_bytes {
        return Err(file_error(
            ErrorCode::PayloadTooLarge,
            format!(
                "the file is {:.1} MB; {} may be at most {} MB",
                bytes.len() as f64 / MB as f64,
                a(kind),
                rule.max_bytes / MB
            ),
        ));
    }
    let found = sniff(bytes)?;
    if rule.types.contains(&found) {
        return Ok(found);
    }
    let allowed: Vec<&str> = rule.types.iter().map(|t| t.label()).collect();
    Err(file_error(
        ErrorCode::UnsupportedMediaType,
        format!(
            "{} must be {}; this file is {} (its content was checked, not its name)",
            a(kind),
            one_of(&allowed),
            found.label()
        ),
    ))
}

/// "PNG, JPEG or SVG".
fn one_of(labels: &[&str]) -> String {
    match labels {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Reads the type from the leading bytes: only the types the portal keeps. An SVG is
/// checked for anything that could run or fetch.
pub fn sniff(bytes: &[u8]) -> AppResult<FileType> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(FileType::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(FileType::Jpeg)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Ok(FileType::WebP)
    } else if bytes.starts_with(b"%PDF-") {
        Ok(FileType::Pdf)
    } else if looks_like_svg(bytes) {
        check_svg(bytes)?;
        Ok(FileType::Svg)
    } else if is_plain_text(bytes) {
        Ok(FileType::Text)
    } else {
        Err(file_error(
            ErrorCode::UnsupportedMediaType,
            "the file is not a PNG, JPEG, WebP or SVG image, a PDF or plain UTF-8 text \
             (its content was checked, not its name)"
                .into(),
        ))
    }
}

/// The content type of a file the portal keeps, read from its bytes.
pub fn sniff_content_type(bytes: &[u8]) -> Result<&'static str, AppError> {
    sniff(bytes).map(FileType::content_type)
}

/// UTF-8 with no control characters but tabs, line ends and form feeds.
fn is_plain_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| {
        !text.is_empty()
            && !text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
    })
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let head: String = text
        .trim_start_matches('\u{feff}')
        .chars()
        .take(4096)
        .collect::<String>()
        .to_lowercase();
    head.contains("<svg")
}

/// Refuses an SVG with script, event handlers, external references or entity tricks.
pub fn check_svg(bytes: &[u8]) -> Result<(), AppError> {
    let hostile = |why: String| AppError {
        code: ErrorCode::ValidationFailed,
        message: format!("the SVG was refused: {why}"),
        fields: vec![FieldError {
            field: "file".into(),
            message: format!("the SVG was refused: {why}"),
        }],
    };
    let text = std::str::from_utf8(bytes).map_err(|_| hostile("it is not UTF-8 text".into()))?;
    let lowered = text.to_lowercase();
    if lowered.contains("<!entity") || lowered.contains("<!doctype") {
        return Err(hostile("it declares a DOCTYPE or entities".into()));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| hostile(format!("it is not well-formed XML ({e})")))?;
    if doc.root_element().tag_name().name() != "svg" {
        return Err(hostile("its root element is not <svg>".into()));
    }
    for node in doc.descendants() {
        if node.is_element() {
            let name = node.tag_name().name().to_lowercase();
            if matches!(
                name.as_str(),
                "script" | "foreignobject" | "iframe" | "embed" | "object" | "handler" | "listener"
            ) {
                return Err(hostile(format!(
                    "it contains a <{}> element",
                    node.tag_name().name()
                )));
            }
            for attr in node.attributes() {
                let attr_name = attr.name().to_lowercase();
                let value = attr.value().trim().to_lowercase();
                if attr_name.starts_with("on") {
                    return Err(hostile(format!(
                        "it has an event handler attribute '{}'",
                        attr.name()
                    )));
                }
                if (attr_name == "href" || attr_name == "src") && !value.starts_with('#') {
                    return Err(hostile(format!(
                        "it references '{}' outside the file",
                        attr.value()
                    )));
                }
                if value.contains("javascript:")
                    || (value.contains("url(") && !value.contains("url(#"))
                {
                    return Err(hostile(format!(
                        "attribute '{}' refers outside the file",
                        attr.name()
                    )));
                }
            }
            if name == "style" {
                let css = node.text().unwrap_or_default().to_lowercase();
                if css.contains("@import")
                    || (css.contains("url(") && !css.contains("url(#"))
                    || css.contains("javascript:")
                {
                    return Err(hostile("its stylesheet refers outside the file".into()));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(
            sniff_content_type(b"\x89PNG\r\n\x1a\nrest").ok(),
            Some("image/png")
        );
        assert_eq!(
            sniff_content_type(&[0xFF, 0xD8, 0xFF, 0xE0]).ok(),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_content_type(b"RIFF\0\0\0\0WEBPVP8 ").ok(),
            Some("image/webp")
        );
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3").ok(), Some(FileType::Pdf));
        assert_eq!(
            sniff("Release checklist\n\t– done\r\n".as_bytes()).ok(),
            Some(FileType::Text)
        );
        let err = sniff_content_type(b"GIF89a\x01\x00\x01\x00\x80").expect_err("gif");
        assert_eq!(err.code, ErrorCode::UnsupportedMediaType);
        let err = sniff(b"text with a \x1b escape").expect_err("control characters");
        assert_eq!(err.code, ErrorCode::UnsupportedMediaType);
        assert!(sniff(b"\xff\xfe not utf-8").is_err());
    }

    #[test]
    fn a_plain_svg_is_accepted() {
        let svg = br##"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><defs><linearGradient id="g"/></defs><rect fill="url(#g)" width="10" height="10"/><use href="#g"/></svg>"##;
        assert_eq!(sniff_content_type(svg).ok(), Some("image/svg+xml"));
    }

    #[test]
    fn hostile_svgs_are_refused() {
        let cases: [&[u8]; 7] = [
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="https://evil.example/x.png"/></svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><text>x</text></a></svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://evil.example/x.css);</style></svg>"#,
            br#"<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div/></foreignObject></svg>"#,
        ];
        for svg in cases {
            assert!(sniff(svg).is_err(), "{}", String::from_utf8_lossy(svg));
            // Whatever kind takes SVG files.
            let fields = Fields::default();
            assert!(check_file(AssetKind::Other, Bytes::from_static(svg), fields).is_err());
        }
    }

    fn fields_of(kind: AssetKind, file: &'static [u8], content: AssetContent) -> AppResult<Fields> {
        let mut v = Validator::new();
        let fields = check_fields(&mut v, kind, &Bytes::from_static(file), &content);
        v.finish(|| Some(fields))
    }

    #[test]
    fn each_kind_takes_what_it_is_made_of_and_names_the_field_it_does_not_take() {
        let png: &[u8] = b"\x89PNG\r\n\x1a\nrest";
        let post = AssetContent {
            link: "https://about.gitlab.com/blog/gitlab-on-aws/".into(),
            text: "GitLab on AWS".into(),
            ..Default::default()
        };
        assert!(fields_of(AssetKind::BlogPost, b"", post.clone()).is_ok());
        assert!(fields_of(AssetKind::SocialPost, b"", post.clone()).is_ok());
        let err = fields_of(AssetKind::BlogPost, png, post.clone()).expect_err("a file");
        assert_eq!(err.field("file"), Some("a blog post takes no file"));
        let err = fields_of(AssetKind::Logo, png, post).expect_err("link and text");
        assert_eq!(err.field("link"), Some("a logo takes no link"));
        assert_eq!(err.field("text"), Some("a logo takes no text"));
        let err = fields_of(AssetKind::Video, b"", AssetContent::default()).expect_err("no link");
        assert!(err.field("link").is_some_and(|m| m.contains("is required")));
        let http = AssetContent {
            link: "http://youtube.example/watch".into(),
            ..Default::default()
        };
        let err = fields_of(AssetKind::Video, b"", http).expect_err("http");
        assert!(err.field("link").is_some_and(|m| m.contains("https")));
        let quote = AssetContent {
            text: "It just works.".into(),
            ..Default::default()
        };
        let err = fields_of(AssetKind::CustomerQuote, b"", quote).expect_err("attribution");
        assert_eq!(err.field("attribution"), Some("is required"));
        let agreed = AssetContent {
            link: "https://youtube.example/watch".into(),
            customer_agreed: true,
            ..Default::default()
        };
        let err = fields_of(AssetKind::Video, b"", agreed).expect_err("agreement");
        assert!(err.field("customer_agreed").is_some());
        let err = fields_of(AssetKind::Screenshot, b"", AssetContent::default()).expect_err("file");
        assert!(
            err.field("file")
                .is_some_and(|m| m.contains("choose a file"))
        );
        let long = AssetContent {
            link: "https://social.example/post/1".into(),
            text: "x".repeat(3_001),
            ..Default::default()
        };
        let err = fields_of(AssetKind::SocialPost, b"", long).expect_err("too long");
        assert_eq!(err.field("text"), Some("must be at most 3000 characters"));
    }

    #[test]
    fn a_file_too_large_or_of_the_wrong_type_for_its_kind_names_the_kinds_limit() {
        let none = Fields::default;
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(6 * MB, 0);
        let err = check_file(AssetKind::Logo, big.clone().into(), none()).expect_err("6 MB");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(
            err.message.contains("a logo may be at most 5 MB"),
            "{}",
            err.message
        );
        assert!(check_file(AssetKind::Screenshot, big.into(), none()).is_ok());
        let pdf = Bytes::from_static(b"%PDF-1.4\n1 0 obj");
        let err = check_file(AssetKind::Logo, pdf.clone(), none()).expect_err("pdf logo");
        assert_eq!(err.code, ErrorCode::UnsupportedMediaType);
        assert!(err.message.contains("PNG, JPEG or SVG"), "{}", err.message);
        let other = check_file(AssetKind::Other, pdf, none()).expect("pdf other");
        assert_eq!(other.file.map(|f| f.content_type), Some("application/pdf"));
    }

    #[test]
    fn a_version_without_a_file_is_known_by_its_link_text_and_attribution() {
        let a = content_sha256(Some("https://x.example"), Some("ab"), None);
        assert_eq!(
            a,
            content_sha256(Some("https://x.example"), Some("ab"), None)
        );
        assert_ne!(
            a,
            content_sha256(Some("https://x.example"), Some("a"), Some("b"))
        );
        assert_eq!(a.len(), 64);
    }
}
