//! What an account image or marketplace version is, as far as its own data says: its state
//! in the region, the product, architecture and release its name or tags name, and what a
//! difference from the catalogue is called. Pure functions, so each rule is tested alone.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::SeenImage;
use crate::{
    domain::{Arch, DriftAction, DriftKind, ListingVersionVisibility, RegionImageState, Version},
    dto::AdoptInput,
};

/// The tag the portal's own builds carry on their images while the build runs.
pub const PORTAL_JOB_TAG: &str = "portal:job";
/// The tags GitLab's images carry: the image type and the release.
pub const TYPE_TAG: &str = "Type";
pub const VERSION_TAG: &str = "Version";

/// An image's state in one region, as the account has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Gone,
    Private,
    Public,
    /// Public, with a deprecation time that has passed.
    Deprecated,
}

impl AccountState {
    /// The word drift items show for it.
    pub fn word(self) -> &'static str {
        match self {
            AccountState::Gone => "gone",
            AccountState::Private => "private",
            AccountState::Public => "public",
            AccountState::Deprecated => "deprecated",
        }
    }

    /// The catalogue's state for an image the account has in this state.
    pub fn region_state(self) -> RegionImageState {
        match self {
            AccountState::Gone => RegionImageState::Deregistered,
            AccountState::Private => RegionImageState::Private,
            AccountState::Public => RegionImageState::Public,
            AccountState::Deprecated => RegionImageState::Deprecated,
        }
    }
}

/// The state of an image in its region: gone when the account no longer lists it.
pub fn account_state(seen: Option<&SeenImage>, now: DateTime<Utc>) -> AccountState {
    match seen {
        None => AccountState::Gone,
        Some(i) if i.state.eq_ignore_ascii_case("deregistered") => AccountState::Gone,
        Some(i) if !i.public => AccountState::Private,
        Some(i) if i.deprecation_time.is_some_and(|t| t <= now) => AccountState::Deprecated,
        Some(_) => AccountState::Public,
    }
}

/// What differs between the catalogue's state of an image and the account's, if anything.
/// A live image (behind a public marketplace version) that is gone is an incident whatever
/// the catalogue says of it.
pub fn image_drift(
    catalogue: RegionImageState,
    account: AccountState,
    live: bool,
) -> Option<DriftKind> {
    use AccountState as A;
    use RegionImageState as C;
    match (catalogue, account) {
        (_, A::Gone) if live => Some(DriftKind::LiveImageGone),
        (C::Pending | C::Deregistered, _) => None,
        (_, A::Gone) => Some(DriftKind::ImageGone),
        (C::Public | C::Deprecated, A::Private) => Some(DriftKind::ImageMadePrivate),
        (C::Public, A::Deprecated) => Some(DriftKind::ImageDeprecated),
        (C::Private, A::Public | A::Deprecated) | (C::Deprecated, A::Public) => {
            Some(DriftKind::ImageMadePublic)
        }
        _ => None,
    }
}

/// The actions that resolve a kind of drift.
pub fn actions_of(kind: DriftKind) -> &'static [DriftAction] {
    use DriftAction::*;
    match kind {
        DriftKind::OutsideImage => &[Adopt, Forget],
        DriftKind::ImageMadePrivate | DriftKind::ImageDeprecated => &[Adopt],
        DriftKind::ImageMadePublic => &[Adopt, ProposeRetirement],
        DriftKind::ImageGone => &[Forget],
        DriftKind::LiveImageGone => &[ProposeRetirement],
        DriftKind::VersionAdded => &[Adopt, ProposeRetirement],
        DriftKind::VersionRestricted => &[Adopt],
        DriftKind::VersionGone => &[Forget],
    }
}

/// Whether a kind of drift is about an image in a region (otherwise a listing's version).
pub fn is_image_kind(kind: DriftKind) -> bool {
    !matches!(
        kind,
        DriftKind::VersionAdded | DriftKind::VersionRestricted | DriftKind::VersionGone
    )
}

/// A marketplace visibility as AWS says it: only "Public" is public.
pub fn visibility(aws: &str) -> ListingVersionVisibility {
    if aws.trim().eq_ignore_ascii_case("public") {
        ListingVersionVisibility::Public
    } else {
        ListingVersionVisibility::Restricted
    }
}

/// EC2's architecture as the portal's.
pub fn arch_of(ec2: &str) -> Option<Arch> {
    match ec2.trim() {
        "x86_64" | "amd64" => Some(Arch::Amd64),
        "arm64" | "aarch64" => Some(Arch::Arm64),
        _ => None,
    }
}

/// How a product architecture names and tags its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    pub product_id: i32,
    pub arch: Arch,
    /// `GitLab EE {version} Premium`.
    pub template: String,
    /// `GitLab Enterprise Edition Premium`.
    pub type_tag: String,
}

/// The product, architecture and release an image belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    pub product_id: i32,
    pub arch: Arch,
    pub version: Version,
}

/// The release a template gives a name, when the name is exactly the template rendered.
fn version_in(template: &str, name: &str) -> Option<Version> {
    let (prefix, suffix) = template.split_once("{version}")?;
    let middle = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if middle.is_empty() || middle.contains(char::is_whitespace) {
        return None;
    }
    Version::parse(middle).ok()
}

/// The product, architecture and release an image's tags (`Type` and `Version`) or name
/// (a product's image name template with `{version}`) say, if any says one. An image of
/// another architecture than the naming's is not its.
pub fn recognise(
    namings: &[Naming],
    name: &str,
    tags: &BTreeMap<String, String>,
    ec2_arch: &str,
) -> Option<Recognised> {
    let arch = arch_of(ec2_arch);
    let fits = |n: &&Naming| arch.is_none_or(|a| a == n.arch);
    let by_tags = tags
        .get(TYPE_TAG)
        .zip(tags.get(VERSION_TAG).and_then(|v| Version::parse(v).ok()))
        .and_then(|(type_tag, version)| {
            namings
                .iter()
                .filter(fits)
                .find(|n| !n.type_tag.is_empty() && n.type_tag == type_tag.trim())
                .map(|n| Recognised {
                    product_id: n.product_id,
                    arch: n.arch,
                    version,
                })
        });
    by_tags.or_else(|| {
        namings.iter().filter(fits).find_map(|n| {
            version_in(&n.template, name.trim()).map(|version| Recognised {
                product_id: n.product_id,
                arch: n.arch,
                version,
            })
        })
    })
}

/// What an image made outside the portal may be, to adopt it as: the product whose `Type`
/// tag it carries or whose name it starts like, the release its `Version` tag or name
/// holds, its architecture.
pub fn suggest(
    namings: &[Naming],
    name: &str,
    tags: &BTreeMap<String, String>,
    ec2_arch: &str,
) -> AdoptInput {
    let arch = arch_of(ec2_arch);
    let fits = |n: &&Naming| arch.is_none_or(|a| a == n.arch);
    let product = tags
        .get(TYPE_TAG)
        .and_then(|t| {
            namings
                .iter()
                .filter(fits)
                .find(|n| !n.type_tag.is_empty() && n.type_tag == t.trim())
        })
        .or_else(|| {
            // The template the name follows most of: its text before `{version}` starts
            // the name, its text after it is in the name; the plainest template on a tie.
            namings
                .iter()
                .filter(fits)
                .filter_map(|n| {
                    let (prefix, suffix) = n.template.split_once("{version}")?;
                    if prefix.trim().is_empty() || !name.starts_with(prefix) {
                        return None;
                    }
                    let follows = prefix.len()
                        + if !suffix.trim().is_empty() && name.contains(suffix) {
                            suffix.len()
                        } else {
                            0
                        };
                    Some(((follows, std::cmp::Reverse(n.template.len())), n))
                })
                .max_by_key(|(score, _)| *score)
                .map(|(_, n)| n)
        })
        .map(|n| n.product_id);
    let release = tags
        .get(VERSION_TAG)
        .and_then(|v| Version::parse(v).ok())
        .or_else(|| release_in_title(name));
    AdoptInput {
        product_id: product,
        release: release.map(|v| v.to_string()),
        arch: arch.map(|a| a.as_str().to_owned()),
    }
}

/// The release a title names (`GitLab Premium 17.5.1 Release`), if one word of it is one.
pub fn release_in_title(title: &str) -> Option<Version> {
    title
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == 'v')
        })
        .find_map(|w| Version::parse(w).ok())
}

/// Public images in the Recycle Bin: of the images there, those the account last showed
/// as public, and those it never showed (AWS counts them until it is known otherwise).
pub fn recycle_bin_public(ids: &[String], last_public: &HashMap<String, bool>) -> i32 {
    ids.iter()
        .filter(|id| last_public.get(id.as_str()).copied().unwrap_or(true))
        .count() as i32
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn namings() -> Vec<Naming> {
        vec![
            Naming {
                product_id: 1,
                arch: Arch::Amd64,
                template: "GitLab EE {version}".into(),
                type_tag: "GitLab Enterprise Edition".into(),
            },
            Naming {
                product_id: 1,
                arch: Arch::Arm64,
                template: "GitLab EE {version} (ARM64)".into(),
                type_tag: "GitLab Enterprise Edition (ARM64)".into(),
            },
            Naming {
                product_id: 2,
                arch: Arch::Amd64,
                template: "GitLab EE {version} Premium".into(),
                type_tag: "GitLab Enterprise Edition Premium".into(),
            },
        ]
    }

    fn image(public: bool, deprecation: Option<DateTime<Utc>>) -> SeenImage {
        SeenImage {
            image_id: "ami-1".into(),
            state: "available".into(),
            public,
            deprecation_time: deprecation,
            ..Default::default()
        }
    }

    #[test]
    fn an_image_is_gone_private_public_or_deprecated_once_its_time_came() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
            .single()
            .expect("a time of the calendar");
        assert_eq!(account_state(None, now), AccountState::Gone);
        assert_eq!(
            account_state(Some(&image(false, None)), now),
            AccountState::Private
        );
        assert_eq!(
            account_state(Some(&image(true, None)), now),
            AccountState::Public
        );
        let later = now + chrono::Duration::days(1);
        assert_eq!(
            account_state(Some(&image(true, Some(later))), now),
            AccountState::Public
        );
        assert_eq!(
            account_state(Some(&image(true, Some(now))), now),
            AccountState::Deprecated
        );
        let mut gone = image(true, None);
        gone.state = "deregistered".into();
        assert_eq!(account_state(Some(&gone), now), AccountState::Gone);
    }

    #[test]
    fn differences_are_named_as_the_catalogue_sees_them() {
        use AccountState as A;
        use RegionImageState as C;
        assert_eq!(
            image_drift(C::Public, A::Private, false),
            Some(DriftKind::ImageMadePrivate)
        );
        assert_eq!(
            image_drift(C::Private, A::Public, false),
            Some(DriftKind::ImageMadePublic)
        );
        assert_eq!(
            image_drift(C::Public, A::Deprecated, false),
            Some(DriftKind::ImageDeprecated)
        );
        assert_eq!(
            image_drift(C::Private, A::Gone, false),
            Some(DriftKind::ImageGone)
        );
        assert_eq!(
            image_drift(C::Public, A::Gone, true),
            Some(DriftKind::LiveImageGone)
        );
        assert_eq!(
            image_drift(C::Deregistered, A::Gone, true),
            Some(DriftKind::LiveImageGone)
        );
        for (c, a) in [
            (C::Public, A::Public),
            (C::Private, A::Private),
            (C::Deprecated, A::Deprecated),
            (C::Pending, A::Public),
            (C::Deregistered, A::Gone),
        ] {
            assert_eq!(image_drift(c, a, false), None, "{c:?} {a:?}");
        }
    }

    #[test]
    fn every_kind_of_drift_has_an_action_that_resolves_it() {
        for kind in DriftKind::ALL {
            assert!(!actions_of(*kind).is_empty(), "{kind:?}");
        }
        assert_eq!(
            actions_of(DriftKind::LiveImageGone),
            &[DriftAction::ProposeRetirement]
        );
        assert!(is_image_kind(DriftKind::LiveImageGone));
        assert!(!is_image_kind(DriftKind::VersionGone));
    }

    #[test]
    fn tags_or_a_name_rendered_from_a_template_say_what_an_image_is() {
        let tags = BTreeMap::from([
            (
                TYPE_TAG.to_owned(),
                "GitLab Enterprise Edition Premium".to_owned(),
            ),
            (VERSION_TAG.to_owned(), "17.5.1".to_owned()),
        ]);
        let by_tags = recognise(&namings(), "anything", &tags, "x86_64").expect("tags");
        assert_eq!((by_tags.product_id, by_tags.arch), (2, Arch::Amd64));
        assert_eq!(by_tags.version.to_string(), "17.5.1");

        let none = BTreeMap::new();
        let arm = recognise(&namings(), "GitLab EE 17.4.2 (ARM64)", &none, "arm64").expect("name");
        assert_eq!((arm.product_id, arm.arch), (1, Arch::Arm64));
        assert_eq!(arm.version.to_string(), "17.4.2");
        let ee = recognise(&namings(), "GitLab EE 17.4.2", &none, "x86_64").expect("name");
        assert_eq!((ee.product_id, ee.arch), (1, Arch::Amd64));
        // Not exactly a template: a rebuild's name, a hand-made name, another architecture.
        assert_eq!(
            recognise(&namings(), "GitLab EE 17.4.2 (rebuild 2)", &none, "x86_64"),
            None
        );
        assert_eq!(
            recognise(&namings(), "gitlab-by-hand", &none, "x86_64"),
            None
        );
        assert_eq!(
            recognise(&namings(), "GitLab EE 17.4.2", &none, "arm64"),
            None
        );
    }

    #[test]
    fn an_outside_image_gets_what_its_name_suggests() {
        let none = BTreeMap::new();
        let s = suggest(
            &namings(),
            "GitLab EE 17.5.1 Premium hotfix",
            &none,
            "x86_64",
        );
        assert_eq!(s.product_id, Some(2), "the template it follows most of");
        let plain = suggest(&namings(), "GitLab EE 18.1.0 hotfix", &none, "x86_64");
        assert_eq!(plain.product_id, Some(1), "the plainest template on a tie");
        assert_eq!(s.release.as_deref(), Some("17.5.1"));
        assert_eq!(s.arch.as_deref(), Some("amd64"));
        let nothing = suggest(&namings(), "scratch", &none, "i386");
        assert_eq!(nothing, AdoptInput::default());
    }

    #[test]
    fn a_title_names_its_release() {
        assert_eq!(
            release_in_title("GitLab Premium 17.5.1 Release").map(|v| v.to_string()),
            Some("17.5.1".into())
        );
        assert_eq!(release_in_title("Hotfix build"), None);
    }

    #[test]
    fn the_recycle_bin_counts_what_was_public_or_unknown() {
        let last = HashMap::from([("ami-a".to_owned(), true), ("ami-b".to_owned(), false)]);
        let ids = ["ami-a", "ami-b", "ami-c"].map(String::from);
        assert_eq!(recycle_bin_public(&ids, &last), 2);
    }

    #[test]
    fn only_public_is_public_on_the_marketplace() {
        assert_eq!(visibility("Public"), ListingVersionVisibility::Public);
        assert_eq!(
            visibility("Restricted"),
            ListingVersionVisibility::Restricted
        );
        assert_eq!(visibility("Limited"), ListingVersionVisibility::Restricted);
    }
}
