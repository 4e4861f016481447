//! Two revisions of a listing's copy side by side, field by field and line by line.

use sea_orm::ConnectionTrait;

use super::revisions::{fields_of, find_revision, summary_of};
use crate::{dto::*, error::AppResult};

const FIELDS: [(&str, &str); 13] = [
    ("title", "Product title"),
    ("short_description", "Short description"),
    ("long_description", "Long description"),
    ("highlights", "Highlights"),
    ("categories", "Categories"),
    ("search_keywords", "Search keywords"),
    ("sku", "SKU"),
    ("support_description", "Support description"),
    ("logo", "Logo"),
    ("video_url", "Video URL"),
    ("additional_resources", "Additional resources"),
    ("usage_instructions", "Usage instructions"),
    ("release_notes_template", "Release notes template"),
];

/// Additional resources one per line, as the editor writes them.
pub(super) fn resources_text(resources: &[AdditionalResource]) -> String {
    resources
        .iter()
        .map(|r| format!("{} | {}", r.text, r.url))
        .collect::<Vec<_>>()
        .join("\n")
}

fn field_text(f: &CopyFields, key: &str) -> String {
    match key {
        "title" => f.title.clone(),
        "short_description" => f.short_description.clone(),
        "long_description" => f.long_description.clone(),
        "highlights" => f.highlights.join("\n"),
        "categories" => f.categories.join("\n"),
        "search_keywords" => f.search_keywords.join("\n"),
        "sku" => f.sku.clone(),
        "support_description" => f.support_description.clone(),
        "logo" => match (f.logo_asset_id, f.logo_version) {
            (Some(asset), Some(version)) => format!("asset {asset}, version {version}"),
            (Some(asset), None) => format!("asset {asset}"),
            _ => String::new(),
        },
        "video_url" => f.video_url.clone(),
        "additional_resources" => resources_text(&f.additional_resources),
        "usage_instructions" => f.usage_instructions.clone(),
        _ => f.release_notes_template.clone(),
    }
}

/// Line-by-line, side by side: unchanged lines face each other, replaced lines are paired,
/// and removed or added lines face a blank.
pub fn diff_rows(left: &str, right: &str) -> Vec<DiffRow> {
    use similar::{Algorithm, DiffTag, capture_diff_slices};
    let l: Vec<&str> = left.lines().collect();
    let r: Vec<&str> = right.lines().collect();
    let mut rows = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, &l, &r) {
        let (tag, old, new) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => rows.extend(old.map(|i| DiffRow {
                left: Some(l[i].to_owned()),
                right: Some(l[i].to_owned()),
                kind: "same".into(),
            })),
            DiffTag::Delete => rows.extend(old.map(|i| DiffRow {
                left: Some(l[i].to_owned()),
                right: None,
                kind: "removed".into(),
            })),
            DiffTag::Insert => rows.extend(new.map(|i| DiffRow {
                left: None,
                right: Some(r[i].to_owned()),
                kind: "added".into(),
            })),
            DiffTag::Replace => {
                let (old, new): (Vec<usize>, Vec<usize>) = (old.collect(), new.collect());
                for k in 0..old.len().max(new.len()) {
                    let left = old.get(k).map(|&i| l[i].to_owned());
                    let right = new.get(k).map(|&i| r[i].to_owned());
                    let kind = match (&left, &right) {
                        (Some(_), Some(_)) => "changed",
                        (Some(_), None) => "removed",
                        _ => "added",
                    };
                    rows.push(DiffRow {
                        left,
                        right,
                        kind: kind.into(),
                    });
                }
            }
        }
    }
    rows
}

/// Two revisions of a listing's copy, field by field.
pub async fn diff(
    db: &impl ConnectionTrait,
    listing_id: i32,
    left: i32,
    right: i32,
) -> AppResult<CopyDiff> {
    let a = find_revision(db, listing_id, left).await?;
    let b = find_revision(db, listing_id, right).await?;
    let (fa, fb) = (fields_of(&a), fields_of(&b));
    let fields = FIELDS
        .iter()
        .map(|(key, label)| {
            let (x, y) = (field_text(&fa, key), field_text(&fb, key));
            FieldDiff {
                field: (*key).to_owned(),
                label: (*label).to_owned(),
                changed: x != y,
                rows: diff_rows(&x, &y),
            }
        })
        .collect();
    Ok(CopyDiff {
        left: summary_of(&a),
        right: summary_of(&b),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_pair_changed_lines_and_face_blanks() {
        let rows = diff_rows("one\ntwo\nthree", "one\n2\nthree\nfour");
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["same", "changed", "same", "added"]);
        assert_eq!(rows[1].left.as_deref(), Some("two"));
        assert_eq!(rows[1].right.as_deref(), Some("2"));
        assert_eq!(rows[3].left, None);
    }

    #[test]
    fn every_field_of_the_copy_is_compared() {
        let a = CopyFields::default();
        let b = CopyFields {
            search_keywords: vec!["gitlab".into()],
            sku: "GL-PREM".into(),
            support_description: "Support".into(),
            logo_asset_id: Some(4),
            logo_version: Some(2),
            video_url: "https://v.example".into(),
            additional_resources: vec![AdditionalResource {
                text: "Docs".into(),
                url: "https://docs.gitlab.com".into(),
            }],
            ..CopyFields::default()
        };
        for (key, _) in FIELDS {
            let changed = field_text(&a, key) != field_text(&b, key);
            let expected = !matches!(
                key,
                "title"
                    | "short_description"
                    | "long_description"
                    | "highlights"
                    | "categories"
                    | "usage_instructions"
                    | "release_notes_template"
            );
            assert_eq!(changed, expected, "{key}");
        }
        assert_eq!(field_text(&b, "logo"), "asset 4, version 2");
        assert_eq!(
            field_text(&b, "additional_resources"),
            "Docs | https://docs.gitlab.com"
        );
    }
}
