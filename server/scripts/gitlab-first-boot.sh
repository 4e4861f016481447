#!/bin/bash
# GitLab's first boot on a new instance, installed by the Partner Image Portal's image
# builder and run once per instance by cloud-init: GitLab gets the instance's own address,
# `gitlab-ctl reconfigure` configures it, and root gets its password (the instance id
# unless GITLAB_ROOT_PASSWORD is given).
set -euo pipefail

IMDS=http://169.254.169.254
TOKEN=$(curl -fsS --retry 5 --retry-connrefused -X PUT "$IMDS/latest/api/token" \
  -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')

meta() {
  curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/$1"
}

# An instance without a public address is reached at its private one.
HOST=$(meta public-hostname || true)
if [ -z "$HOST" ]; then
  HOST=$(meta local-ipv4)
fi

if grep -q '^external_url ' /etc/gitlab/gitlab.rb; then
  sed -i "s|^external_url .*|external_url 'http://$HOST'|" /etc/gitlab/gitlab.rb
else
  printf "external_url 'http://%s'\n" "$HOST" >>/etc/gitlab/gitlab.rb
fi

if [ -z "${GITLAB_ROOT_PASSWORD:-}" ]; then
  GITLAB_ROOT_PASSWORD=$(meta instance-id)
fi
export GITLAB_ROOT_PASSWORD

gitlab-ctl reconfigure

# The package was configured once while the image was built, so root already has a
# password GitLab chose. As GitLab's own images do, the first boot replaces it, unless
# someone has set one since. The password goes through the environment, never the
# command line.
gitlab-rails runner '
  user = User.find_by_username("root")
  if user&.password_automatically_set?
    password = ENV.fetch("GITLAB_ROOT_PASSWORD")
    user.update!(password: password, password_confirmation: password, password_automatically_set: false)
  end
'
