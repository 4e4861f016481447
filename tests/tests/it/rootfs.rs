//! The builder's scripts run for real: the rendered install script executes in a Debian
//! bookworm root filesystem with Debian's cloud-init, installing a stub GitLab package from
//! a local apt repository, inside a network namespace of its own where a fake instance
//! metadata service (IMDSv2) answers at 169.254.169.254. Then the first-boot script runs as
//! cloud-init's per-instance stage would run it on a new instance.
//!
//! The root filesystem is built once with debootstrap and cached under
//! `~/.cache/partner-image-portal/rootfs-bookworm`; every test works on a copy of its own.
//! Needs root and debootstrap; without them the tests are skipped with a message, unless
//! `PORTAL_TEST_REQUIRE_ROOTFS` is set (CI sets it), in which case they fail.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use app::domain::{Arch, Edition, Version};
use server::jobs::build_image::{
    console::{BuildResult, read_result},
    image::{BuilderScript, Repository},
};
use sha2::{Digest, Sha256};

/// Where the cached root filesystem lives (with `.ready` beside it once complete).
fn cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/partner-image-portal/rootfs-bookworm")
}

/// Builds the cached root filesystem unless it is complete; run under `flock`, so tests
/// running side by side build it once.
const BUILD_ROOTFS: &str = r#"set -eu
dest="$1"
if [ -e "$dest.ready" ]; then exit 0; fi
rm -rf "$dest.partial" "$dest"
debootstrap --variant=minbase bookworm "$dest.partial" http://deb.debian.org/debian
chroot "$dest.partial" /usr/bin/env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  apt-get install -y --no-install-recommends cloud-init curl ca-certificates openssh-server tzdata perl
chroot "$dest.partial" apt-get clean
mv "$dest.partial" "$dest"
touch "$dest.ready"
"#;

/// A fake IMDSv2: a session token from `PUT /latest/api/token`, then metadata only with
/// that token. It binds, then forks and writes the server's pid to the file given, so the
/// caller knows it is listening when this returns. Without `IMDS_PUBLIC_HOSTNAME` the
/// instance has no public hostname (404), as in a private subnet.
const FAKE_IMDS: &str = r#"import http.server, os, sys
TOKEN = "portal-test-imds-token"
META = {"instance-id": "i-0fa1c2b3d4e5f6789", "local-ipv4": "10.0.3.25"}
if os.environ.get("IMDS_PUBLIC_HOSTNAME"):
    META["public-hostname"] = os.environ["IMDS_PUBLIC_HOSTNAME"]
class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=""):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, TOKEN)
        else:
            self.reply(400)
    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self.reply(401)
        key = self.path.removeprefix("/latest/meta-data/")
        if key in META:
            self.reply(200, META[key])
        else:
            self.reply(404)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("169.254.169.254", 80), Handler)
pid = os.fork()
if pid:
    with open(sys.argv[1], "w") as f:
        f.write(str(pid))
    os._exit(0)
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
server.serve_forever()
"#;

/// Runs `$@` in a new network namespace with the fake metadata service on its loopback.
const IN_NAMESPACE: &str = r#"set -eu
work="$1"; shift
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
python3 "$work/imds.py" "$work/imds.pid"
trap 'kill "$(cat "$work/imds.pid")"' EXIT
"$@"
"#;

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const INSTANCE_ID: &str = "i-0fa1c2b3d4e5f6789";
const PUBLIC_HOSTNAME: &str = "ec2-203-0-113-25.compute-1.amazonaws.com";
/// Where the install script is, as cloud-init keeps a builder's user data.
const USER_DATA: &str = "/var/lib/cloud/instance/scripts/part-001";
const FIRST_BOOT: &str = "/var/lib/cloud/scripts/per-instance/gitlab-first-boot";

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the machine can run these tests; says why not, loudly, when it cannot.
#[allow(clippy::print_stderr)] // a skipped test must be seen in the test output
fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing: Vec<&str> = [
        "debootstrap",
        "chroot",
        "unshare",
        "ip",
        "flock",
        "dpkg-deb",
        "python3",
    ]
    .into_iter()
    .filter(|p| !have(p))
    .collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = format!(
        "the builder-script tests need root and {}; {}",
        "debootstrap, chroot, unshare, ip, flock, dpkg-deb and python3",
        if root {
            format!("missing: {}", missing.join(", "))
        } else {
            "not running as root".to_owned()
        }
    );
    assert!(
        std::env::var_os("PORTAL_TEST_REQUIRE_ROOTFS").is_none(),
        "PORTAL_TEST_REQUIRE_ROOTFS is set, but {why}"
    );
    eprintln!("SKIPPED: {why} (set PORTAL_TEST_REQUIRE_ROOTFS=1 to make this a failure)");
    false
}

fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("creating a directory");
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    write(path, text);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A builder of a test's own: a copy of the cached root filesystem, with the console and
/// the serial port as files and `poweroff`/`systemctl` recording instead of acting.
struct Builder {
    work: tempfile::TempDir,
}

impl Builder {
    fn new() -> Self {
        let cache = cache_dir();
        fs::create_dir_all(cache.parent().expect("a parent")).expect("the cache directory");
        let lock = cache.with_extension("lock");
        run(Command::new("flock")
            .arg(&lock)
            .args(["sh", "-c", BUILD_ROOTFS, "build-rootfs"])
            .arg(&cache));
        let work = tempfile::tempdir().expect("a temporary directory");
        let builder = Builder { work };
        run(Command::new("cp").arg("-a").arg(&cache).arg(builder.root()));
        let root = builder.root();
        // Offline: apt knows only the local repository the install script adds.
        write(&root.join("etc/apt/sources.list"), "");
        for device in ["dev/console", "dev/ttyS0"] {
            let _ = fs::remove_file(root.join(device));
            write(&root.join(device), "");
        }
        let record = "#!/bin/sh\nmkdir -p /var/lib/portal-test\necho \"$(basename \"$0\") $*\" >>/var/lib/portal-test/power\n";
        write_executable(&root.join("usr/local/sbin/poweroff"), record);
        write_executable(&root.join("usr/local/bin/systemctl"), record);
        // What a builder made from an Ubuntu image has that must not ship.
        for (path, text) in [
            (
                "root/.ssh/authorized_keys",
                "ssh-ed25519 AAAAC3Nza-builder-key builder\n",
            ),
            (
                "home/ubuntu/.ssh/authorized_keys",
                "ssh-ed25519 AAAAC3Nza-builder-key builder\n",
            ),
            ("root/.bash_history", "ls\n"),
            ("home/ubuntu/.bash_history", "ls\n"),
        ] {
            write(&root.join(path), text);
        }
        write(&builder.work.path().join("imds.py"), FAKE_IMDS);
        builder
    }

    fn root(&self) -> PathBuf {
        self.work.path().join("root")
    }

    /// A stub of GitLab's package in a local apt repository at `/srv/portal-repo`: its
    /// configure step records `EXTERNAL_URL` and whether the license was in place, writes
    /// `gitlab.rb`, and exits with `postinst_exit`; its `gitlab-ctl` records its calls.
    fn stub_package(&self, package: &str, version: &str, postinst_exit: i32) {
        let tree = self.work.path().join("package");
        write(
            &tree.join("DEBIAN/control"),
            &format!(
                "Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: Partner Image Portal tests <tests@example.com>\nDescription: stand-in for GitLab's package\n"
            ),
        );
        write_executable(
            &tree.join("DEBIAN/postinst"),
            &format!(
                r#"#!/bin/sh
set -e
if [ "$1" = configure ]; then
  mkdir -p /var/lib/portal-test /etc/gitlab
  {{
    echo "EXTERNAL_URL=${{EXTERNAL_URL:-}}"
    if [ -f /etc/gitlab/predefined.gitlab-license ]; then echo license=present; else echo license=absent; fi
  }} >/var/lib/portal-test/postinst
  printf "external_url '%s'\n" "${{EXTERNAL_URL:-http://gitlab.example.com}}" >/etc/gitlab/gitlab.rb
  exit {postinst_exit}
fi
"#
            ),
        );
        write_executable(
            &tree.join("usr/bin/gitlab-ctl"),
            "#!/bin/sh\nmkdir -p /var/lib/portal-test\necho \"gitlab-ctl $* GITLAB_ROOT_PASSWORD=${GITLAB_ROOT_PASSWORD:-}\" >>/var/lib/portal-test/gitlab-ctl\n",
        );
        // `gitlab-rails runner CODE` records its command and environment, and the code.
        write_executable(
            &tree.join("usr/bin/gitlab-rails"),
            "#!/bin/sh\nmkdir -p /var/lib/portal-test\necho \"gitlab-rails $1 GITLAB_ROOT_PASSWORD=${GITLAB_ROOT_PASSWORD:-}\" >>/var/lib/portal-test/gitlab-rails\nprintf '%s' \"$2\" >/var/lib/portal-test/gitlab-rails-code\n",
        );
        write(
            &tree.join("opt/gitlab/embedded/service/gitlab-rails/VERSION"),
            version,
        );
        let repo = self.root().join("srv/portal-repo");
        fs::create_dir_all(&repo).expect("the repository directory");
        let file = format!("{package}_{version}_all.deb");
        run(Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(&tree)
            .arg(repo.join(&file)));
        let deb = fs::read(repo.join(&file)).expect("the package");
        let control = read(&tree.join("DEBIAN/control"));
        let packages = format!(
            "{control}Filename: ./{file}\nSize: {}\nSHA256: {}\n\n",
            deb.len(),
            hex(&Sha256::digest(&deb))
        );
        write(&repo.join("Packages"), &packages);
        write(
            &repo.join("Release"),
            &format!(
                "Origin: portal-tests\nLabel: portal-tests\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n {} {} Packages\n",
                hex(&Sha256::digest(packages.as_bytes())),
                packages.len()
            ),
        );
    }

    /// Runs `args` in the builder's root, in a network namespace of its own with the fake
    /// metadata service (with a public hostname when given); `env` is all the environment
    /// it gets besides `PATH`.
    fn in_namespace(
        &self,
        public_hostname: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Output {
        let mut command = self.namespace_command();
        for (key, value) in env {
            command.arg(format!("{key}={value}"));
        }
        command.args(args);
        if let Some(hostname) = public_hostname {
            command.env("IMDS_PUBLIC_HOSTNAME", hostname);
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
    }

    /// `unshare … chroot <root> env -i PATH=… HOME=/root`, to be completed.
    fn namespace_command(&self) -> Command {
        let mut command = Command::new("unshare");
        command
            .args(["--net", "--", "sh", "-c", IN_NAMESPACE, "in-namespace"])
            .arg(self.work.path())
            .arg("chroot")
            .arg(self.root())
            .args(["/usr/bin/env", "-i", PATH, "HOME=/root", "LANG=C.UTF-8"]);
        command
    }

    /// Runs the install script as cloud-init runs user data: its output goes to the console.
    fn install(&self, script: &str) -> Output {
        let root = self.root();
        write_executable(&root.join(USER_DATA.trim_start_matches('/')), script);
        let console = fs::OpenOptions::new()
            .append(true)
            .open(root.join("dev/console"))
            .expect("the console file");
        let mut command = self.namespace_command();
        command
            .args(["/bin/bash", USER_DATA])
            .stdout(console.try_clone().expect("the console file"))
            .stderr(console);
        command
            .output()
            .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
    }

    fn file(&self, path: &str) -> String {
        read(&self.root().join(path.trim_start_matches('/')))
    }

    fn exists(&self, path: &str) -> bool {
        self.root().join(path.trim_start_matches('/')).exists()
    }

    /// Every file under `dir` of the root whose text contains `needle`.
    fn files_containing(&self, dir: &str, needle: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.root().join(dir.trim_start_matches('/'))];
        while let Some(path) = stack.pop() {
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if let Ok(entries) = fs::read_dir(&path) {
                    stack.extend(entries.flatten().map(|e| e.path()));
                }
            } else if meta.is_file()
                && String::from_utf8_lossy(&fs::read(&path).unwrap_or_default()).contains(needle)
            {
                found.push(path);
            }
        }
        found
    }
}

fn version() -> Version {
    Version::parse("17.5.1").expect("a valid version")
}

/// A license file's text; GitLab's are a few KB of base64.
fn license_text() -> String {
    "eyJkYXRhIjoiUG9ydGFsUm9vdGZzVGVzdExpY2Vuc2VMaWNlbnNlc05vdGhpbmc9PSJ9\n".repeat(40)
}

#[test]
fn the_install_script_builds_an_image_that_configures_itself_on_first_boot() {
    if !can_run() {
        return;
    }
    let builder = Builder::new();
    builder.stub_package("gitlab-ee", "17.5.1-ee.0", 0);
    let version = version();
    let license = license_text();
    let script = BuilderScript {
        edition: Edition::EePremium,
        version: &version,
        arch: Arch::Amd64,
        license: Some(&license),
        marketplace: true,
        repository: Repository::LocalDirectory("/srv/portal-repo".into()),
    }
    .render();

    let out = builder.install(&script);
    let console = builder.file("/dev/console");
    assert!(
        out.status.success(),
        "the install failed ({}):\n{console}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_result(&console), BuildResult::Ok, "{console}");
    assert!(console.contains("PORTAL-BUILD-RESULT: ok"), "{console}");
    assert_eq!(read_result(&builder.file("/dev/ttyS0")), BuildResult::Ok);
    assert!(
        builder
            .file("/var/lib/portal-test/power")
            .lines()
            .last()
            .is_some_and(|l| l == "systemctl poweroff"),
        "the builder did not power off: {:?}",
        builder.file("/var/lib/portal-test/power")
    );

    // The package was configured with the placeholder address and the license in place.
    assert_eq!(
        builder.file("/var/lib/portal-test/postinst"),
        "EXTERNAL_URL=http://gitlab.example.com\nlicense=present\n"
    );
    assert_eq!(
        builder.file("/etc/gitlab/predefined.gitlab-license"),
        license
    );
    assert_eq!(
        builder.file("/opt/gitlab/embedded/service/gitlab-rails/INSTALLATION_TYPE"),
        "gitlab-aws-marketplace-ami\n"
    );

    // Nothing of the build ships.
    let host_keys: Vec<_> = fs::read_dir(builder.root().join("etc/ssh"))
        .expect("/etc/ssh")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ssh_host_"))
        .map(|e| e.file_name())
        .collect();
    assert!(host_keys.is_empty(), "host keys left: {host_keys:?}");
    for gone in [
        "/root/.ssh/authorized_keys",
        "/home/ubuntu/.ssh/authorized_keys",
        "/root/.bash_history",
        "/home/ubuntu/.bash_history",
        "/var/lib/cloud/instance",
    ] {
        assert!(!builder.exists(gone), "{gone} is still there");
    }
    let lists: Vec<_> = fs::read_dir(builder.root().join("var/lib/apt/lists"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        lists.iter().all(|n| n == "partial" || n == "lock"),
        "apt lists left: {lists:?}"
    );
    let first_line = license.lines().next().unwrap_or_default();
    for dir in ["/var/log", "/var/lib/cloud", "/dev", "/root", "/tmp"] {
        let found = builder.files_containing(dir, first_line);
        assert!(found.is_empty(), "the license text is in {found:?}");
    }
    assert!(!console.contains(first_line));

    // The first-boot script survived the clean-up, and cloud-init's per-instance stage on
    // a new instance points GitLab at it and sets the root password.
    assert!(builder.exists(FIRST_BOOT), "the first-boot script is gone");
    let boot = builder.in_namespace(Some(PUBLIC_HOSTNAME), &[], &[FIRST_BOOT]);
    assert!(
        boot.status.success(),
        "first boot failed:\n{}\n{}",
        String::from_utf8_lossy(&boot.stdout),
        String::from_utf8_lossy(&boot.stderr)
    );
    assert_eq!(
        builder.file("/etc/gitlab/gitlab.rb"),
        format!("external_url 'http://{PUBLIC_HOSTNAME}'\n")
    );
    assert_eq!(
        builder.file("/var/lib/portal-test/gitlab-ctl"),
        format!("gitlab-ctl reconfigure GITLAB_ROOT_PASSWORD={INSTANCE_ID}\n")
    );
    // The database was seeded at build time, so the password is set through Rails, from
    // the environment, and only while it is still the one GitLab chose.
    assert_eq!(
        builder.file("/var/lib/portal-test/gitlab-rails"),
        format!("gitlab-rails runner GITLAB_ROOT_PASSWORD={INSTANCE_ID}\n")
    );
    let code = builder.file("/var/lib/portal-test/gitlab-rails-code");
    assert!(code.contains("password_automatically_set?"), "{code}");
    assert!(
        code.contains("ENV.fetch(\"GITLAB_ROOT_PASSWORD\")"),
        "{code}"
    );
    assert!(!code.contains(INSTANCE_ID), "{code}");

    // Without a public address it uses the private one; a given password is kept.
    let boot = builder.in_namespace(
        None,
        &[("GITLAB_ROOT_PASSWORD", "chosen-by-the-partner")],
        &[FIRST_BOOT],
    );
    assert!(
        boot.status.success(),
        "first boot without a public hostname failed:\n{}",
        String::from_utf8_lossy(&boot.stderr)
    );
    assert_eq!(
        builder.file("/etc/gitlab/gitlab.rb"),
        "external_url 'http://10.0.3.25'\n"
    );
    assert!(
        builder
            .file("/var/lib/portal-test/gitlab-ctl")
            .ends_with("gitlab-ctl reconfigure GITLAB_ROOT_PASSWORD=chosen-by-the-partner\n")
    );
    assert!(
        builder
            .file("/var/lib/portal-test/gitlab-rails")
            .ends_with("gitlab-rails runner GITLAB_ROOT_PASSWORD=chosen-by-the-partner\n")
    );
}

#[test]
fn a_failing_package_install_is_reported_on_the_console_with_its_step_and_exit_code() {
    if !can_run() {
        return;
    }
    let builder = Builder::new();
    builder.stub_package("gitlab-ce", "17.5.1-ce.0", 3);
    let version = version();
    let script = BuilderScript {
        edition: Edition::Ce,
        version: &version,
        arch: Arch::Amd64,
        license: None,
        marketplace: false,
        repository: Repository::LocalDirectory("/srv/portal-repo".into()),
    }
    .render();

    let out = builder.install(&script);
    let console = builder.file("/dev/console");
    assert!(!out.status.success(), "the install should fail:\n{console}");
    assert!(
        console.contains("PORTAL-BUILD-RESULT: failed step=package exit=100"),
        "{console}"
    );
    match read_result(&console) {
        BuildResult::Failed { step, exit, .. } => {
            assert_eq!((step.as_str(), exit), ("package", 100));
        }
        other => panic!("expected a failed package step, got {other:?}:\n{console}"),
    }
    assert_eq!(
        builder.file("/var/lib/portal-test/power"),
        "systemctl poweroff\n",
        "the builder powers off after a failure too"
    );
    // It stopped at the failing step: nothing after it ran.
    assert!(!builder.exists(FIRST_BOOT));
    assert!(!console.contains("== clean-up"));
}
