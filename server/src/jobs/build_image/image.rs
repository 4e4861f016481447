//! What a build makes: the image's description and tags, and the builder's user data (the
//! install script, with the license of a licensed product).

use app::services::secrets::SecretValue;
use base64::Engine as _;

use super::Plan;
use crate::sim::ec2::INSTALL_DONE_TAG;

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

/// The builder's user data: install the release's package without configuring it, clean
/// up, install the first-boot script, and tag the instance when done.
pub(super) fn install_script(plan: &Plan) -> String {
    let (package, suffix) = match plan.product.edition {
        app::domain::Edition::Ce => ("gitlab-ce", "ce"),
        _ => ("gitlab-ee", "ee"),
    };
    let version = &plan.version;
    format!(
        r#"#!/bin/bash
# GitLab {version} ({arch}) image builder, rendered by the Partner Image Portal.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y curl openssh-server ca-certificates tzdata perl awscli
curl -fsSL https://packages.gitlab.com/install/repositories/gitlab/{package}/script.deb.sh | bash
# Installed without configuring: the first boot configures it for the instance's own address.
EXTERNAL_URL="http://gitlab.example.com" apt-get install -y {package}={version}-{suffix}.0

install -d /var/lib/cloud/scripts/per-instance
cat > /var/lib/cloud/scripts/per-instance/gitlab-first-boot <<'FIRSTBOOT'
#!/bin/bash
set -euo pipefail
TOKEN=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
meta() {{ curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }}
HOST=$(meta public-hostname || meta local-ipv4)
sed -i "s|^external_url .*|external_url 'http://$HOST'|" /etc/gitlab/gitlab.rb
export GITLAB_ROOT_PASSWORD="${{GITLAB_ROOT_PASSWORD:-$(meta instance-id)}}"
gitlab-ctl reconfigure
FIRSTBOOT
chmod 0755 /var/lib/cloud/scripts/per-instance/gitlab-first-boot

{license_block}
# Nothing of the build may ship: keys, histories, logs.
rm -f /etc/ssh/ssh_host_* /root/.ssh/authorized_keys /home/ubuntu/.ssh/authorized_keys
rm -f /root/.bash_history /home/ubuntu/.bash_history
cloud-init clean --logs

# Tell the portal the install is done.
TOKEN=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
ID=$(curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/instance-id)
REGION=$(curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/placement/region)
aws ec2 create-tags --region "$REGION" --resources "$ID" --tags Key={done_tag},Value=done
"#,
        arch = plan.arch,
        done_tag = INSTALL_DONE_TAG,
        license_block = license_block(plan.license.as_ref()),
    )
}

/// Writes the license where the first `gitlab-ctl reconfigure` picks it up. The script runs
/// without `-x`, so the license is never echoed into a log.
fn license_block(license: Option<&SecretValue>) -> String {
    match license {
        None => String::new(),
        Some(license) => format!(
            "# The license the first reconfigure installs.\ninstall -d -m 0755 /etc/gitlab\ninstall -m 0600 /dev/null /etc/gitlab/predefined.gitlab-license\nbase64 -d > /etc/gitlab/predefined.gitlab-license <<'LICENSE'\n{}\nLICENSE\n",
            base64::engine::general_purpose::STANDARD.encode(license.expose())
        ),
    }
}
