//! Domain vocabulary shared by the server and the browser: the closed sets the catalogue
//! is made of (roles, editions, architectures, states…) and the newtypes that parse user
//! input once (`Version`, `Slug`, `Region`) so nothing downstream re-checks it.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

mod access;

pub use access::{CurrentUser, Permission};

/// Declares a closed set stored and sent as a lowercase string, with a human label. On the
/// server it is also a sea-orm value type (through `Display` and `FromStr`), so an entity's
/// column holds the value itself and a row with anything else fails to load instead of
/// being parsed at every use.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => ($wire:literal, $label:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, sea_orm::DeriveValueType))]
        #[cfg_attr(feature = "ssr", sea_orm(value_type = "String", from_str = "Self::from_stored"))]
        pub enum $name { $(#[serde(rename = $wire)] $variant),+ }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable identifier used in the database, the API and URLs.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// How the value is shown to a person.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }

        #[cfg(feature = "ssr")]
        impl $name {
            /// A value read from the database: anything else was written by something else.
            fn from_stored(s: &str) -> Result<Self, UnreadableValue> {
                s.parse().map_err(UnreadableValue)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} '{}': expected one of {}",
                        stringify!($name).to_lowercase(),
                        other,
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }
    };
}

/// A stored value that is not one of its closed set.
#[cfg(feature = "ssr")]
#[derive(Debug)]
pub struct UnreadableValue(String);

#[cfg(feature = "ssr")]
impl fmt::Display for UnreadableValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "ssr")]
impl std::error::Error for UnreadableValue {}

string_enum!(
    /// A team of the cloud image process, and the permissions that come with it.
    Role {
        Partnerships => ("partnerships", "Partnerships"),
        Omnibus => ("omnibus", "Omnibus"),
        Marketing => ("marketing", "Marketing"),
        Admin => ("admin", "Admin"),
        Viewer => ("viewer", "Viewer"),
    }
);

string_enum!(
    /// Which cloud a partner runs; decides the region catalogue and what the portal automates.
    Cloud {
        Aws => ("aws", "Amazon Web Services"),
        Azure => ("azure", "Microsoft Azure"),
        Gcp => ("gcp", "Google Cloud"),
        DigitalOcean => ("digitalocean", "DigitalOcean"),
        Other => ("other", "Other"),
    }
);

string_enum!(
    /// Where a partnership stands.
    PartnerStatus {
        Prospect => ("prospect", "Prospect"),
        Onboarding => ("onboarding", "Onboarding"),
        Live => ("live", "Live"),
        Retired => ("retired", "Retired"),
    }
);

string_enum!(
    /// Role of a contact at the partner.
    ContactRole {
        Partnership => ("partnership", "Partnership"),
        Technical => ("technical", "Technical"),
        Marketing => ("marketing", "Marketing"),
    }
);

string_enum!(
    /// GitLab edition and tier an image carries.
    Edition {
        Ce => ("ce", "GitLab CE"),
        Ee => ("ee", "GitLab EE"),
        EePremium => ("ee_premium", "GitLab EE Premium"),
        EeUltimate => ("ee_ultimate", "GitLab EE Ultimate"),
    }
);

string_enum!(
    /// Public community image, or private licensed image behind a marketplace listing.
    Visibility {
        Public => ("public", "Public community image"),
        Private => ("private", "Private licensed image"),
    }
);

string_enum!(
    /// CPU architecture of an image.
    Arch {
        Amd64 => ("amd64", "amd64 (x86_64)"),
        Arm64 => ("arm64", "arm64 (Graviton)"),
    }
);

string_enum!(
    /// Whether the portal maintains an image each release, or the partner installs the package.
    MaintenanceMode {
        Image => ("image", "Image maintained each release"),
        PartnerPackage => ("partner_package", "Package installed by the partner"),
    }
);

string_enum!(
    /// Whether a step of the release train runs by itself or waits for a person.
    Policy {
        Automatic => ("automatic", "Automatic"),
        Manual => ("manual", "By hand"),
    }
);

string_enum!(
    /// What set a train moving.
    TrainKind {
        Release => ("release", "Release"),
        Rebuild => ("rebuild", "Security rebuild"),
    }
);

string_enum!(
    /// Where a train stands, derived from its steps.
    TrainState {
        Running => ("running", "Running"),
        Waiting => ("waiting", "Waiting"),
        Stopped => ("stopped", "Stopped"),
        Done => ("done", "Done"),
    }
);

string_enum!(
    /// What a step of a train does.
    TrainStepKind {
        Build => ("build", "Build"),
        Publish => ("publish", "Publish"),
    }
);

string_enum!(
    /// Where one step of a train stands.
    TrainStepState {
        Pending => ("pending", "Not started"),
        Waiting => ("waiting", "Waiting"),
        Running => ("running", "Running"),
        Manual => ("manual", "By hand"),
        Skipped => ("skipped", "Skipped"),
        Failed => ("failed", "Failed"),
        Done => ("done", "Done"),
    }
);

impl TrainStepState {
    /// Nothing more happens to the step by itself.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            TrainStepState::Done | TrainStepState::Skipped | TrainStepState::Failed
        )
    }
}

string_enum!(
    /// Why a release was cut.
    ReleaseKind {
        Regular => ("regular", "Regular"),
        Patch => ("patch", "Patch"),
        Security => ("security", "Security"),
    }
);

string_enum!(
    /// Life of one image version (product × release × architecture).
    ImageState {
        Planned => ("planned", "Planned"),
        Building => ("building", "Building"),
        Available => ("available", "Available"),
        Failed => ("failed", "Failed"),
        Retired => ("retired", "Retired"),
    }
);

string_enum!(
    /// State of an image in one region.
    RegionImageState {
        Pending => ("pending", "Pending"),
        Public => ("public", "Public"),
        Private => ("private", "Private"),
        Deprecated => ("deprecated", "Deprecated"),
        Deregistered => ("deregistered", "Deregistered"),
    }
);

string_enum!(
    /// Visibility of a published marketplace version (delivery option).
    ListingVersionVisibility {
        Public => ("public", "Public"),
        Restricted => ("restricted", "Restricted"),
    }
);

string_enum!(
    /// What a marketing asset is.
    AssetKind {
        Logo => ("logo", "Logo"),
        Screenshot => ("screenshot", "Screenshot"),
        Video => ("video", "Video"),
        BlogPost => ("blog_post", "Blog post"),
        SocialPost => ("social_post", "Social post"),
        CustomerQuote => ("customer_quote", "Customer quote"),
        Other => ("other", "Other"),
    }
);

string_enum!(
    /// Where a background job stands.
    JobState {
        Queued => ("queued", "Queued"),
        Running => ("running", "Running"),
        Waiting => ("waiting", "Waiting"),
        Succeeded => ("succeeded", "Succeeded"),
        Failed => ("failed", "Failed"),
        Cancelled => ("cancelled", "Cancelled"),
        // Stopped by something outside that a person must clear (a change set someone
        // else left open on the listing); retried once they have.
        Blocked => ("blocked", "Blocked"),
    }
);

string_enum!(
    /// Where a proposal Partnerships decides on (restricting old marketplace versions,
    /// retiring old public images) stands.
    ProposalState {
        Proposed => ("proposed", "Waiting for Partnerships"),
        Rejected => ("rejected", "Rejected"),
        Approved => ("approved", "Approved: running"),
        Applied => ("applied", "Done"),
        Failed => ("failed", "Failed"),
    }
);

string_enum!(
    /// What an API token may do on `/api/v1`, on top of its owner's roles.
    TokenScope {
        Read => ("read", "Read"),
        Write => ("write", "Write"),
        Jobs => ("jobs", "Run jobs"),
    }
);

string_enum!(
    /// What a retention policy does to a public image past it.
    RetentionAction {
        // Stays public and launchable, marked deprecated: still counts against the quota.
        Deprecate => ("deprecate", "Deprecate"),
        MakePrivate => ("make_private", "Make private"),
        Deregister => ("deregister", "Deregister and delete snapshots"),
    }
);

string_enum!(
    /// What a workflow is for.
    WorkflowKind {
        FirstTimeImage => ("first_time_image", "First-time image"),
        Maintenance => ("maintenance", "Release maintenance"),
    }
);

string_enum!(
    /// Where a workflow stands.
    WorkflowState {
        Open => ("open", "Open"),
        Done => ("done", "Done"),
        Launched => ("launched", "Launched"),
    }
);

string_enum!(
    /// Where a stage of a workflow stands; derived from its dependencies and tasks.
    StageState {
        Blocked => ("blocked", "Waiting on an earlier stage"),
        Active => ("active", "In progress"),
        Done => ("done", "Done"),
    }
);

string_enum!(
    /// Where a task stands.
    TaskState {
        Todo => ("todo", "To do"),
        InProgress => ("in_progress", "In progress"),
        WaitingOnPartner => ("waiting_on_partner", "Waiting on the partner"),
        Done => ("done", "Done"),
        Skipped => ("skipped", "Skipped"),
    }
);

impl TaskState {
    /// Finished, one way or the other.
    pub fn is_closed(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Skipped)
    }
}

string_enum!(
    /// The clock of a maintenance run against its due date.
    SlaStatus {
        OnTrack => ("on_track", "On track"),
        AtRisk => ("at_risk", "At risk"),
        Breached => ("breached", "Breached"),
        MetOnTime => ("met_on_time", "Done on time"),
        MetLate => ("met_late", "Done late"),
    }
);

string_enum!(
    /// Where a revision of listing copy stands in its approvals.
    CopyState {
        Draft => ("draft", "Draft"),
        AwaitingPartnerships => ("awaiting_partnerships", "Awaiting Partnerships"),
        AwaitingOmnibus => ("awaiting_omnibus", "Awaiting Omnibus"),
        Approved => ("approved", "Approved"),
        Superseded => ("superseded", "Replaced by a later revision"),
    }
);

impl CopyState {
    /// The team whose approval the revision waits for, if any.
    pub fn awaiting(self) -> Option<Role> {
        match self {
            CopyState::AwaitingPartnerships => Some(Role::Partnerships),
            CopyState::AwaitingOmnibus => Some(Role::Omnibus),
            _ => None,
        }
    }
}

string_enum!(
    /// What an in-app notification (and its outbound webhook) is about.
    NotificationKind {
        ApprovalRequested => ("approval_requested", "Approval requested"),
        Approved => ("approved", "Approved"),
        Rejected => ("rejected", "Rejected"),
        SlaAtRisk => ("sla_at_risk", "SLA at risk"),
        SlaBreached => ("sla_breached", "SLA breached"),
        Escalated => ("escalated", "Escalated"),
        JobFailed => ("job_failed", "Job failed"),
        MaintenanceOpened => ("maintenance_opened", "Maintenance run opened"),
        SignOff => ("sign_off", "Sign-off"),
        Launched => ("launched", "Launch approved"),
        TrainWaiting => ("train_waiting", "Release train waiting"),
        TrainStopped => ("train_stopped", "Release train stopped"),
        RebuildProposed => ("rebuild_proposed", "Rebuild proposed"),
        QuotaWarning => ("quota_warning", "Public-image quota nearly used"),
        VersionLimitWarning => ("version_limit_warning", "Version limit near"),
        CloudIncident => ("cloud_incident", "Live version's image missing"),
    }
);

string_enum!(
    /// Where a region's public-image quota comes from.
    QuotaSource {
        ServiceQuotas => ("service_quotas", "Service Quotas"),
        Manual => ("manual", "set by hand"),
        Default => ("default", "AWS's default"),
    }
);

string_enum!(
    /// Where an image the account holds (or a catalogue image version) came from.
    ImageSource {
        Portal => ("portal", "built by the portal"),
        Imported => ("imported", "imported from the account"),
        Outside => ("outside", "made outside the portal"),
    }
);

string_enum!(
    /// Where a marketplace version came from.
    VersionSource {
        Portal => ("portal", "published by the portal"),
        Console => ("console", "added in the console"),
    }
);

string_enum!(
    /// What differs between the catalogue and the account.
    DriftKind {
        OutsideImage => ("outside_image", "Image made outside the portal"),
        ImageMadePrivate => ("image_private", "Image made private in the account"),
        ImageMadePublic => ("image_public", "Image made public in the account"),
        ImageDeprecated => ("image_deprecated", "Image deprecated in the account"),
        ImageGone => ("image_gone", "Image gone from the account"),
        VersionAdded => ("version_added", "Version added in the console"),
        VersionRestricted => ("version_restricted", "Version restricted in the console"),
        VersionGone => ("version_gone", "Version gone from the listing"),
        LiveImageGone => ("live_image_gone", "Live version's image is gone"),
    }
);

string_enum!(
    /// Whether a drift item still waits for someone.
    DriftState {
        Open => ("open", "Open"),
        Resolved => ("resolved", "Resolved"),
    }
);

string_enum!(
    /// What resolves a drift item.
    DriftAction {
        Adopt => ("adopt", "Adopt"),
        Forget => ("forget", "Forget"),
        ProposeRetirement => ("propose_retirement", "Propose retirement"),
    }
);

/// The teams that sign off a launch, in the order of the process.
pub const SIGN_OFF_TEAMS: [Role; 3] = [Role::Partnerships, Role::Omnibus, Role::Marketing];

/// The steps of an image build, in order: the stored name and how it reads.
pub const BUILD_STEPS: [(&str, &str); 12] = [
    ("find_base", "finding the base image"),
    ("launch", "launching the builder"),
    ("wait_install", "installing GitLab on the builder"),
    ("stop", "stopping the builder"),
    ("create_image", "creating the image"),
    ("wait_image", "waiting for the image"),
    ("permission", "setting the launch permission"),
    ("copy", "copying to the target regions"),
    ("wait_copies", "waiting for the copies"),
    ("publish_copies", "publishing the copies"),
    ("terminate", "terminating the builder"),
    ("record", "recording the images"),
];

/// A GitLab release number: `MAJOR.MINOR.PATCH` with an optional pre-release such as
/// `-rc42`. Ordered numerically, pre-releases before their release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    pub pre: Option<String>,
}

impl Version {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let invalid = || {
            format!(
                "'{input}' is not a release version: expected MAJOR.MINOR.PATCH such as 17.5.1 or 17.6.0-rc42"
            )
        };
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (s, None),
        };
        let mut parts = core.split('.');
        let mut number = || -> Result<u32, String> {
            let part = parts.next().ok_or_else(invalid)?;
            if part.is_empty()
                || !part.bytes().all(|b| b.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return Err(invalid());
            }
            part.parse().map_err(|_| invalid())
        };
        let (major, minor, patch) = (number()?, number()?, number()?);
        if parts.next().is_some() {
            return Err(invalid());
        }
        let pre = match pre {
            None => None,
            Some(p)
                if !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') =>
            {
                Some(p.to_owned())
            }
            Some(_) => return Err(invalid()),
        };
        Ok(Version {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// A release without a pre-release part.
    pub fn is_stable(&self) -> bool {
        self.pre.is_none()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(a), Some(b)) => natural_cmp(a, b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares `rc9` < `rc10`: digit runs by value, the rest as text.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let digits: String = s
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let head = s[..s.len() - digits.len()].to_owned();
        (head, digits.parse::<u64>().ok())
    };
    split(a).cmp(&split(b))
}

impl TryFrom<String> for Version {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Version::parse(&value)
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

/// A URL-safe identifier: lowercase letters, digits and single dashes, 2–48 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(2..=48).contains(&s.len())
            || !ok_chars
            || s.starts_with('-')
            || s.ends_with('-')
            || s.contains("--")
        {
            return Err(format!(
                "'{s}' is not a valid slug: use 2–48 lowercase letters, digits and single dashes, such as 'aws' or 'gitlab-ee'"
            ));
        }
        Ok(Slug(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A slug made from a display name, for forms that suggest one.
    pub fn suggest(name: &str) -> String {
        let mut out = String::new();
        for c in name.trim().to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        out.trim_end_matches('-').chars().take(48).collect()
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Slug::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

/// Commercial AWS regions, with the 19 GitLab builds in and copies to first.
pub const AWS_REGIONS: &[&str] = &[
    "us-east-1",
    "af-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// The 19 regions GitLab's AWS images are in: the build region and the 18 they are copied to.
pub const GITLAB_AWS_REGIONS: &[&str] = AWS_REGIONS.split_at(19).0;

/// Azure regions GitLab images are offered in.
pub const AZURE_REGIONS: &[&str] = &[
    "eastus",
    "eastus2",
    "westus",
    "westus2",
    "westus3",
    "centralus",
    "northcentralus",
    "southcentralus",
    "canadacentral",
    "brazilsouth",
    "northeurope",
    "westeurope",
    "uksouth",
    "francecentral",
    "germanywestcentral",
    "swedencentral",
    "switzerlandnorth",
    "norwayeast",
    "japaneast",
    "koreacentral",
    "australiaeast",
    "southeastasia",
    "eastasia",
    "centralindia",
    "southafricanorth",
    "uaenorth",
];

/// Google Cloud regions.
pub const GCP_REGIONS: &[&str] = &[
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "us-west2",
    "northamerica-northeast1",
    "southamerica-east1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-north1",
    "asia-east1",
    "asia-northeast1",
    "asia-south1",
    "asia-southeast1",
    "australia-southeast1",
];

/// DigitalOcean datacenter regions.
pub const DIGITALOCEAN_REGIONS: &[&str] = &[
    "nyc1", "nyc3", "sfo2", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1",
];

impl Cloud {
    /// The regions this cloud is known to have; `None` for clouds the portal does not list.
    pub fn regions(self) -> Option<&'static [&'static str]> {
        match self {
            Cloud::Aws => Some(AWS_REGIONS),
            Cloud::Azure => Some(AZURE_REGIONS),
            Cloud::Gcp => Some(GCP_REGIONS),
            Cloud::DigitalOcean => Some(DIGITALOCEAN_REGIONS),
            Cloud::Other => None,
        }
    }

    /// Checks a region name against the cloud's catalogue.
    pub fn parse_region(self, input: &str) -> Result<String, String> {
        let region = input.trim();
        let plausible = !region.is_empty()
            && region.len() <= 40
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        match self.regions() {
            Some(known) if known.contains(&region) => Ok(region.to_owned()),
            Some(_) => Err(format!("unknown {} region '{region}'", self.label())),
            None if plausible => Ok(region.to_owned()),
            None => Err(format!("'{region}' is not a region name")),
        }
    }
}

/// Percent-encodes a value for a query string (keeping `/` readable in paths).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order_like_gitlab_releases() {
        let mut versions: Vec<Version> = [
            "17.5.1",
            "17.10.0",
            "17.6.0-rc10",
            "17.6.0-rc9",
            "17.6.0",
            "v16.11.10",
        ]
        .iter()
        .map(|v| Version::parse(v).expect("valid"))
        .collect();
        versions.sort();
        let shown: Vec<String> = versions.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "16.11.10",
                "17.5.1",
                "17.6.0-rc9",
                "17.6.0-rc10",
                "17.6.0",
                "17.10.0"
            ]
        );
    }

    #[test]
    fn malformed_versions_are_refused_with_a_reason() {
        for bad in [
            "",
            "17",
            "17.5",
            "17.5.1.2",
            "17.05.1",
            "a.b.c",
            "17.5.1-",
            "17.5.1-rc 1",
            "-1.0.0",
        ] {
            let err = Version::parse(bad).expect_err(bad);
            assert!(err.contains("MAJOR.MINOR.PATCH"), "{err}");
        }
    }

    #[test]
    fn slugs_are_lowercase_dashed_words() {
        assert!(Slug::parse("gitlab-ee-premium").is_ok());
        for bad in [
            "A",
            "Aws",
            "two--dashes",
            "-lead",
            "trail-",
            "has space",
            "x",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Slug::suggest("Google Cloud (GCP)"), "google-cloud-gcp");
    }

    #[test]
    fn regions_are_checked_against_the_partners_cloud() {
        assert_eq!(
            Cloud::Aws.parse_region(" eu-west-3 ").as_deref(),
            Ok("eu-west-3")
        );
        assert!(Cloud::Aws.parse_region("mars-north-1").is_err());
        assert!(Cloud::Azure.parse_region("us-east-1").is_err());
        assert!(Cloud::Other.parse_region("fra-1").is_ok());
    }

    #[test]
    fn closed_sets_serialise_as_they_are_stored() {
        for cloud in Cloud::ALL {
            assert_eq!(
                serde_json::to_value(cloud).expect("json"),
                serde_json::Value::String(cloud.as_str().to_owned())
            );
        }
        assert_eq!(
            serde_json::from_str::<Cloud>("\"digitalocean\"").expect("parse"),
            Cloud::DigitalOcean
        );
    }
}
