//! What a build makes: the image's description and tags, and the builder's user data (the
//! install script of `server/scripts/`, with the license of a licensed product).

use app::domain::{Arch, Edition, Version, Visibility};
use base64::Engine as _;

use super::{Plan, console::RESULT_MARKER};

/// The install script; `{{name}}` marks what is filled in.
const INSTALL_TEMPLATE: &str = include_str!("../../../scripts/build-image.sh.tmpl");
/// The script cloud-init runs once on every instance made from the image.
const FIRST_BOOT_SCRIPT: &str = include_str!("../../../scripts/gitlab-first-boot.sh");

/// What the job page and the API show instead of the license.
pub const LICENSE_REDACTED: &str = "<license redacted>";

/// EC2 takes at most 16 KB of user data (before its base64 encoding).
pub const USER_DATA_LIMIT: usize = 16 * 1024;

pub(super) fn description(plan: &Plan) -> String {
    format!(
        "{} {} ({}) built by the Partner Image Portal",
        plan.product.name, plan.version, plan.arch
    )
}

pub(super) fn image_tags(plan: &Plan, job_id: i32) -> Vec<(String, String)> {
    vec![
        ("Type".to_owned(), plan.type_tag.clone()),
        ("Version".to_owned(), plan.version.to_string()),
        ("portal:job".to_owned(), job_id.to_string()),
    ]
}

/// The builder's user data: the install script rendered for the plan's product, release
/// and architecture, with the product's license.
pub(super) fn install_script(plan: &Plan) -> String {
    builder_script(plan).render()
}

/// The same user data with the license replaced by [`LICENSE_REDACTED`]: what may be shown.
pub(super) fn redacted_user_data(plan: &Plan) -> String {
    builder_script(plan).render_redacted()
}

fn builder_script(plan: &Plan) -> BuilderScript<'_> {
    BuilderScript {
        edition: plan.product.edition,
        version: &plan.version,
        arch: plan.arch,
        license: plan.license.as_ref().map(|l| l.expose()),
        marketplace: plan.product.visibility == Visibility::Private,
        repository: Repository::GitLab,
    }
}

/// Where the builder installs GitLab's package from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    /// packages.gitlab.com, set up by GitLab's own repository script.
    GitLab,
    /// A local apt repository (a directory with `Packages` and `Release`), for testing the
    /// script in a root filesystem without network.
    LocalDirectory(String),
}

/// Everything the install script is rendered from.
#[derive(Debug, Clone)]
pub struct BuilderScript<'a> {
    pub edition: Edition,
    pub version: &'a Version,
    pub arch: Arch,
    /// The license file's text, for licensed products.
    pub license: Option<&'a str>,
    /// A marketplace image (a private image behind a marketplace listing) is marked as one
    /// in GitLab's installation type.
    pub marketplace: bool,
    pub repository: Repository,
}

impl BuilderScript<'_> {
    /// GitLab's package name for the edition.
    pub fn package(&self) -> &'static str {
        match self.edition {
            Edition::Ce => "gitlab-ce",
            Edition::Ee | Edition::EePremium | Edition::EeUltimate => "gitlab-ee",
        }
    }

    /// The package's version in GitLab's repository, e.g. `17.5.1-ee.0`.
    pub fn package_version(&self) -> String {
        let suffix = match self.edition {
            Edition::Ce => "ce",
            Edition::Ee | Edition::EePremium | Edition::EeUltimate => "ee",
        };
        format!("{}-{suffix}.0", self.version)
    }

    /// What GitLab records as its installation type.
    pub fn installation_type(&self) -> &'static str {
        if self.marketplace {
            "gitlab-aws-marketplace-ami"
        } else {
            "gitlab-aws-ami"
        }
    }

    /// The user data the builder runs, license included.
    pub fn render(&self) -> String {
        self.fill(false)
    }

    /// The same text with the license replaced by [`LICENSE_REDACTED`].
    pub fn render_redacted(&self) -> String {
        self.fill(true)
    }

    fn fill(&self, redact: bool) -> String {
        let package = self.package();
        let repository = match &self.repository {
            Repository::GitLab => format!(
                "curl -fsSL https://packages.gitlab.com/install/repositories/gitlab/{package}/script.deb.sh | bash"
            ),
            Repository::LocalDirectory(dir) => format!(
                "echo 'deb [trusted=yes] file:{dir} ./' >/etc/apt/sources.list.d/gitlab_{package}.list\napt-get update"
            ),
        };
        let license = match self.license {
            None => "# This product carries no license file.".to_owned(),
            Some(text) => license_step(if redact {
                LICENSE_REDACTED.to_owned()
            } else {
                base64::engine::general_purpose::STANDARD.encode(text)
            }),
        };
        let values = [
            ("version", self.version.to_string()),
            ("arch", self.arch.to_string()),
            ("result_marker", RESULT_MARKER.to_owned()),
            ("repository", repository),
            ("license", license),
            ("package", package.to_owned()),
            ("package_version", self.package_version()),
            ("installation_type", self.installation_type().to_owned()),
            ("first_boot", FIRST_BOOT_SCRIPT.trim_end().to_owned()),
        ];
        match fill_template(INSTALL_TEMPLATE, &values) {
            Ok(text) => text,
            // The template is part of the program and a unit test renders every variant.
            Err(e) => unreachable!("server/scripts/build-image.sh.tmpl: {e}"),
        }
    }
}

/// Puts the license where the package's configure run picks it up, before the package is
/// installed. The text arrives base64-encoded, so no line of it can end the here-document.
fn license_step(encoded: String) -> String {
    format!(
        "step license\n\
         # In place before the package installs: its configure run consumes it.\n\
         install -d -m 0755 /etc/gitlab\n\
         install -m 0600 /dev/null /etc/gitlab/predefined.gitlab-license\n\
         base64 -d >/etc/gitlab/predefined.gitlab-license <<'LICENSE'\n\
         {encoded}\n\
         LICENSE"
    )
}

/// Replaces every `{{name}}` of the template in one pass (a value is never read for
/// placeholders). A placeholder without a value, or a value the template never uses, is an
/// error naming it.
fn fill_template(template: &str, values: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 4096);
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("an unclosed placeholder at “{}”", &rest[start..]))?;
        let name = &after[..end];
        let index = values
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| format!("the placeholder {{{{{name}}}}} has no value"))?;
        used[index] = true;
        out.push_str(&values[index].1);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    match values.iter().zip(&used).find(|(_, used)| !**used) {
        Some(((name, _), _)) => Err(format!("the template has no placeholder {{{{{name}}}}}")),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> Version {
        Version::parse("17.5.1").expect("a valid version")
    }

    /// Every variant a build can render: CE and EE, licensed or not, marketplace or not,
    /// both architectures.
    fn variants<'a>(version: &'a Version, license: &'a str) -> Vec<(String, BuilderScript<'a>)> {
        let mut out = Vec::new();
        for arch in [Arch::Amd64, Arch::Arm64] {
            for (edition, license, marketplace) in [
                (Edition::Ce, None, false),
                (Edition::Ee, None, false),
                (Edition::EePremium, Some(license), true),
                (Edition::EeUltimate, Some(license), false),
            ] {
                out.push((
                    format!(
                        "{edition}-{arch}-licensed={}-marketplace={marketplace}",
                        license.is_some()
                    ),
                    BuilderScript {
                        edition,
                        version,
                        arch,
                        license,
                        marketplace,
                        repository: Repository::GitLab,
                    },
                ));
            }
        }
        out
    }

    /// A license file of a realistic size: GitLab's are a few KB of base64 text.
    fn sample_license() -> String {
        let line = "eyJkYXRhIjoiUG9ydGFsVGVzdExpY2Vuc2VTYW1wbGVOb3RoaW5nTGljZW5zZWQ9PSJ9";
        let mut text = String::new();
        while text.len() < 4096 {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    #[test]
    fn a_placeholder_without_a_value_or_a_value_without_a_placeholder_is_refused() {
        let values = [("a", "1".to_owned())];
        assert_eq!(fill_template("x {{a}} y", &values).as_deref(), Ok("x 1 y"));
        let missing = fill_template("{{a}} {{b}}", &values).expect_err("b has no value");
        assert!(missing.contains("{{b}}"), "{missing}");
        let unused = fill_template("no placeholder", &values).expect_err("a is unused");
        assert!(unused.contains("{{a}}"), "{unused}");
        assert!(fill_template("{{a", &values).is_err());
        // A value is not read for placeholders.
        let nested = [("a", "{{b}}".to_owned())];
        assert_eq!(fill_template("{{a}}", &nested).as_deref(), Ok("{{b}}"));
    }

    #[test]
    fn every_variant_renders_completely_in_gitlabs_order() {
        let version = version();
        let license = sample_license();
        for (name, script) in variants(&version, &license) {
            let text = script.render();
            assert!(!text.contains("{{"), "{name}: a placeholder is left");
            for gone in [
                "awscli",
                "aws ec2",
                "create-tags",
                "set -x",
                "portal:install",
            ] {
                assert!(!text.contains(gone), "{name}: still mentions {gone}");
            }
            assert!(text.contains("set -Eeuo pipefail"), "{name}");
            assert!(text.contains(&format!("{RESULT_MARKER} $*")), "{name}");
            let at = |needle: &str| {
                text.find(needle)
                    .unwrap_or_else(|| panic!("{name}: no {needle}"))
            };
            let mut order = vec![
                at("step prerequisites"),
                at("step repository"),
                at("step package"),
                at("EXTERNAL_URL=\"http://gitlab.example.com\" apt-get install"),
                at("step installation-type"),
                at("step clean-up"),
                at("rm -rf /var/lib/apt/lists/*"),
                at("cloud-init clean --logs"),
                at("step first-boot"),
                at("cat >/var/lib/cloud/scripts/per-instance/gitlab-first-boot"),
                at("report ok"),
            ];
            if script.license.is_some() {
                order.insert(2, at("step license"));
                order.insert(3, at("base64 -d >/etc/gitlab/predefined.gitlab-license"));
            } else {
                assert!(!text.contains("step license"), "{name}");
            }
            assert!(order.is_sorted(), "{name}: the steps are out of order");
            assert!(
                text.contains(&format!(
                    "apt-get install -y {}={}",
                    script.package(),
                    script.package_version()
                )),
                "{name}"
            );
            assert!(
                text.contains(&format!(
                    "'{}' >/opt/gitlab/embedded/service/gitlab-rails/INSTALLATION_TYPE",
                    script.installation_type()
                )),
                "{name}"
            );
            assert!(text.contains(FIRST_BOOT_SCRIPT.trim_end()), "{name}");
        }
    }

    #[test]
    fn the_package_and_installation_type_follow_the_product() {
        let version = version();
        let ce = BuilderScript {
            edition: Edition::Ce,
            version: &version,
            arch: Arch::Amd64,
            license: None,
            marketplace: false,
            repository: Repository::GitLab,
        };
        assert_eq!(ce.package(), "gitlab-ce");
        assert_eq!(ce.package_version(), "17.5.1-ce.0");
        assert_eq!(ce.installation_type(), "gitlab-aws-ami");
        assert!(ce.render().contains(
            "curl -fsSL https://packages.gitlab.com/install/repositories/gitlab/gitlab-ce/script.deb.sh | bash"
        ));
        let premium = BuilderScript {
            edition: Edition::EePremium,
            marketplace: true,
            ..ce.clone()
        };
        assert_eq!(premium.package(), "gitlab-ee");
        assert_eq!(premium.package_version(), "17.5.1-ee.0");
        assert_eq!(premium.installation_type(), "gitlab-aws-marketplace-ami");
    }

    #[test]
    fn the_license_is_in_the_user_data_only_encoded_and_redacted_where_shown() {
        let version = version();
        let license = sample_license();
        let script = BuilderScript {
            edition: Edition::EePremium,
            version: &version,
            arch: Arch::Arm64,
            license: Some(&license),
            marketplace: true,
            repository: Repository::GitLab,
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(&license);
        let text = script.render();
        assert!(text.contains(&encoded));
        assert!(!text.contains(license.lines().next().unwrap_or_default()));
        let redacted = script.render_redacted();
        assert!(!redacted.contains(&encoded));
        assert!(redacted.contains(&format!("<<'LICENSE'\n{LICENSE_REDACTED}\nLICENSE")));
        // Apart from the license, the shown text is what the builder got.
        assert_eq!(text.replace(&encoded, LICENSE_REDACTED), redacted);
    }

    #[test]
    fn the_largest_license_taken_still_fits_ec2s_limit() {
        let version = version();
        let line = "A".repeat(63);
        let mut license = String::new();
        while license.len() + 64 <= app::services::products::LICENSE_MAX_BYTES {
            license.push_str(&line);
            license.push('\n');
        }
        for (name, script) in variants(&version, &license) {
            let size = script.render().len();
            assert!(
                size <= USER_DATA_LIMIT,
                "{name}: {size} bytes of user data, over EC2's {USER_DATA_LIMIT}"
            );
        }
    }

    #[test]
    fn the_user_data_with_a_realistic_license_fits_ec2s_limit() {
        let version = version();
        let license = sample_license();
        for (name, script) in variants(&version, &license) {
            let size = script.render().len();
            assert!(
                size < USER_DATA_LIMIT,
                "{name}: {size} bytes of user data, over EC2's {USER_DATA_LIMIT}"
            );
        }
    }

    #[test]
    fn shellcheck_passes_every_rendered_variant_and_the_first_boot_script() {
        let available = std::process::Command::new("shellcheck")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !available {
            assert!(
                std::env::var_os("PORTAL_TEST_REQUIRE_ROOTFS").is_none(),
                "PORTAL_TEST_REQUIRE_ROOTFS is set but shellcheck is not installed (apt-get install shellcheck)"
            );
            tracing::warn!(
                "SKIPPED: shellcheck is not installed; the builder scripts are not linted"
            );
            return;
        }
        let dir = std::env::temp_dir().join(format!("portal-shellcheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let version = version();
        let license = sample_license();
        let mut files = vec![(
            "gitlab-first-boot.sh".to_owned(),
            FIRST_BOOT_SCRIPT.to_owned(),
        )];
        for (name, script) in variants(&version, &license) {
            files.push((format!("{name}.sh"), script.render()));
            files.push((format!("{name}-redacted.sh"), script.render_redacted()));
            let local = BuilderScript {
                repository: Repository::LocalDirectory("/srv/portal-repo".into()),
                ..script
            };
            files.push((format!("{name}-local.sh"), local.render()));
        }
        for (name, text) in files {
            let path = dir.join(&name);
            std::fs::write(&path, text).expect("writing the rendered script");
            let out = std::process::Command::new("shellcheck")
                .args(["--shell=bash", "--severity=style"])
                .arg(&path)
                .output()
                .expect("running shellcheck");
            assert!(
                out.status.success(),
                "shellcheck finds problems in {name}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
