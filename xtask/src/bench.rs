//! `cargo xtask bench`: the portal side by side with nginx serving the portal's own answers
//! as static files, on a catalogue the size of GitLab's real history.
//!
//! It installs nginx, wrk and curl from Debian's packages when they are missing (as root,
//! with apt-get), builds the release portal, seeds a fresh data directory with
//! `portal seed-bench`, and measures the time from start to ready on that fresh database and
//! again on a restart. Signed in as the development viewer, it fetches each request once,
//! writes those exact bytes into an nginx root, and loads the portal and then nginx (never
//! both at once) with `wrk -t2 -c64 -d10s --latency`. It prints req/s, p50 and p99 and the
//! ratio against nginx with the issue's targets, the portal's resident memory idle and at
//! its peak under load, and the gzipped size of the hydrate bundle.
//!
//! The portal runs on SQLite with the simulated cloud, no job workers (`PORTAL_WORKERS=0`)
//! and an empty simulated account (`PORTAL_SIM_SEED_IMAGES=false`), so the load measures the
//! requests alone. `--quick` loads each for 3 s instead of 10; `--no-build` uses the release
//! build already there.
//!
//! The portal keeps a page it rendered for a person and serves it to them again (see the
//! server's `kept_pages`), so the page rows measure pages as a person reloading them meets
//! them. Two more rows ask for the dashboard and the listing at a new address each time
//! (`?fresh=<n>`, through a wrk script): each of those is rendered, which is what a page
//! costs when nothing is kept. They have no target of their own.

use std::{
    collections::BTreeMap,
    env,
    fmt::Write as _,
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{build_all, have, is_root, report, site_root, status, target_dir};

/// wrk's connections and threads, as the issue measured.
const CONNECTIONS: u32 = 64;
const THREADS: u32 = 2;
/// The development user the requests are made as.
const VIEWER: &str = "vic";
/// How long a start may take before the bench gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// What a request is held to: pages, or the lookup and list APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Api,
    /// A page at a new address each time, so rendered each time: shown, held to nothing.
    Rendered,
}

impl Kind {
    /// Least share of nginx's req/s (percent) and most p99 (ms), if held to any.
    fn target(self) -> Option<(f64, f64)> {
        match self {
            Kind::Page => Some((10.0, 50.0)),
            Kind::Api => Some((30.0, 20.0)),
            Kind::Rendered => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Kind::Page | Kind::Rendered => "html",
            Kind::Api => "json",
        }
    }
}

/// A wrk script asking for its path with `fresh=<thread>-<n>` added, a new address for
/// every request of every thread.
const FRESH_ADDRESSES: &str = r#"local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  n = 0
  sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
end
function request()
  n = n + 1
  return wrk.format(nil, wrk.path .. sep .. "fresh=" .. id .. "-" .. n)
end
"#;

/// One request of the side by side.
#[derive(Debug, Clone)]
struct Request {
    label: &'static str,
    path: String,
    kind: Kind,
    /// The file nginx serves it from.
    file: String,
}

/// What wrk measured.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Load {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Answers other than 2xx/3xx, and socket errors.
    errors: u64,
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut seconds = 10;
    let mut build = true;
    for arg in args {
        match arg.as_str() {
            "--quick" => seconds = 3,
            "--no-build" => build = false,
            other => {
                bail!("unknown argument {other}: usage: cargo xtask bench [--quick] [--no-build]")
            }
        }
    }
    ensure_bench_tools()?;
    if build {
        build_all(root, true)?;
    }
    let portal = target_dir(root).join("release").join("portal");
    if !portal.is_file() {
        bail!(
            "no release build at {}: run without --no-build",
            portal.display()
        );
    }
    let site = site_root(root);

    // Everything the run writes, world-readable for nginx's workers.
    let work = env::temp_dir().join(format!("portal-bench-{}", std::process::id()));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let data = work.join("data");
    let files = work.join("static");
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&files)?;
    report(&format!("working in {}", work.display()));

    let started = Instant::now();
    let out = Command::new(&portal)
        .arg("seed-bench")
        .env("PORTAL_DATA_DIR", &data)
        .env("PORTAL_LOG", "warn")
        .output()
        .context("could not run portal seed-bench")?;
    if !out.status.success() {
        bail!(
            "portal seed-bench failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let seeded = key_values(&String::from_utf8_lossy(&out.stdout));
    let seed_seconds = started.elapsed().as_secs_f64();
    let get = |name: &str| {
        seeded
            .get(name)
            .cloned()
            .with_context(|| format!("portal seed-bench did not report {name}"))
    };
    let (newest, lookup_release, listing) = (
        get("newest_release")?,
        get("lookup_release")?,
        get("listing_id")?,
    );

    // Time to ready: an empty data directory (migrations and the real catalogue's seed at
    // start), the freshly seeded one, then a restart on it.
    let empty = work.join("empty");
    std::fs::create_dir_all(&empty)?;
    let mut blank = Portal::start(&portal, &empty, &site, &work)?;
    let ready_empty = blank.ready_after;
    blank.stop();
    let mut first = Portal::start(&portal, &data, &site, &work)?;
    let ready_fresh = first.ready_after;
    first.stop();
    let mut server = Portal::start(&portal, &data, &site, &work)?;
    let ready_restart = server.ready_after;

    let cookie = sign_in(&server.base)?;
    let rss_idle = rss_kb(server.pid())?;

    let requests = [
        ("dashboard `/`", "/".to_owned(), Kind::Page),
        ("`/releases`", "/releases".to_owned(), Kind::Page),
        (
            "product `/products/aws/gitlab-ee`",
            "/products/aws/gitlab-ee".to_owned(),
            Kind::Page,
        ),
        (
            "listing `/listings/{id}`",
            format!("/listings/{listing}"),
            Kind::Page,
        ),
        ("`/jobs`", "/jobs".to_owned(), Kind::Page),
        (
            "train `/releases/{version}/train`",
            format!("/releases/{newest}/train"),
            Kind::Page,
        ),
        (
            "`GET /api/v1/images/lookup`",
            format!(
                "/api/v1/images/lookup?release={lookup_release}&product=gitlab-ee&arch=amd64&region=us-east-1"
            ),
            Kind::Api,
        ),
        ("`GET /api/v1/partners`", "/api/v1/partners".to_owned(), Kind::Api),
        ("dashboard `/`, rendered each time", "/".to_owned(), Kind::Rendered),
        (
            "listing `/listings/{id}`, rendered each time",
            format!("/listings/{listing}"),
            Kind::Rendered,
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (label, path, kind))| Request {
        label,
        path,
        kind,
        file: format!("r{i}.{}", kind.extension()),
    })
    .collect::<Vec<_>>();

    for r in &requests {
        fetch(&server.base, &r.path, &cookie, &files.join(&r.file))?;
    }
    let mut nginx = Nginx::start(&work, &files)?;
    let fresh_script = work.join("fresh.lua");
    std::fs::write(&fresh_script, FRESH_ADDRESSES)?;

    let duration = format!("{seconds}s");
    let mut rows = Vec::new();
    let mut rss_peak = rss_idle;
    for r in &requests {
        report(&format!(
            "loading {} for {duration}, portal then nginx",
            r.path
        ));
        let script = (r.kind == Kind::Rendered).then_some(fresh_script.as_path());
        let (portal_load, peak) = wrk(
            &format!("{}{}", server.base, r.path),
            &cookie,
            &duration,
            script,
            Some(server.pid()),
        )?;
        rss_peak = rss_peak.max(peak);
        let (nginx_load, _) = wrk(
            &format!("{}/{}", nginx.base, r.file),
            &cookie,
            &duration,
            script,
            None,
        )?;
        rows.push((r.clone(), portal_load, nginx_load));
    }
    nginx.stop();
    server.stop();

    let bundle = bundle_size(&site)?;
    let mut out = String::new();
    writeln!(
        out,
        "\n{} · {} · wrk -t{THREADS} -c{CONNECTIONS} -d{duration} --latency, signed in as a viewer",
        today(),
        machine()
    )?;
    writeln!(
        out,
        "catalogue: {} partners, {} products, {} releases, {} image versions, {} regional images, {} listings, {} listing versions, {} jobs (seeded in {seed_seconds:.1} s)\n",
        get("partners")?,
        get("products")?,
        get("releases")?,
        get("image_versions")?,
        get("regional_images")?,
        get("listings")?,
        get("listing_versions")?,
        get("jobs")?,
    )?;
    out.push_str(&table(&rows));
    let sizes: Vec<String> = requests
        .iter()
        .map(|r| {
            let bytes = std::fs::metadata(files.join(&r.file)).map_or(0, |m| m.len());
            format!("{} {:.1} KB", r.path, bytes as f64 / 1000.0)
        })
        .collect();
    writeln!(out, "\nanswer sizes: {}", sizes.join(", "))?;
    let mb = |kb: u64| kb as f64 / 1024.0;
    let met = |ok: bool| if ok { "yes" } else { "no" };
    writeln!(
        out,
        "\n| measure | figure | target | met? |\n|---|---|---|---|"
    )?;
    writeln!(
        out,
        "| RSS idle | {:.1} MB | ≤ 40 MB | {} |",
        mb(rss_idle),
        met(mb(rss_idle) <= 40.0)
    )?;
    writeln!(
        out,
        "| RSS under load (peak) | {:.1} MB | ≤ 120 MB | {} |",
        mb(rss_peak),
        met(mb(rss_peak) <= 120.0)
    )?;
    for (what, took) in [
        ("empty data directory (migrations, seed)", ready_empty),
        ("first start on the seeded catalogue", ready_fresh),
        ("restart", ready_restart),
    ] {
        writeln!(
            out,
            "| start to ready, {what} | {:.2} s | ≤ 1 s | {} |",
            took.as_secs_f64(),
            met(took <= Duration::from_secs(1))
        )?;
    }
    writeln!(
        out,
        "| hydrate bundle, gzip -9 (wasm + js + css) | {:.0} KB ({} bytes; raw {} bytes) | ≤ 350 KB | {} |",
        bundle.gzipped as f64 / 1000.0,
        bundle.gzipped,
        bundle.raw,
        met(bundle.gzipped <= 350_000)
    )?;
    let errors: Vec<String> = rows
        .iter()
        .filter(|(_, p, n)| p.errors > 0 || n.errors > 0)
        .map(|(r, p, n)| {
            format!(
                "{}: {} failed answers from the portal, {} from nginx",
                r.path, p.errors, n.errors
            )
        })
        .collect();
    if !errors.is_empty() {
        writeln!(out, "\nnot every answer succeeded:\n{}", errors.join("\n"))?;
    }
    #[expect(clippy::print_stdout, reason = "the figures are the command's answer")]
    {
        println!("{out}");
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// nginx, wrk and curl, from Debian's packages when missing and we may install them.
fn ensure_bench_tools() -> Result<()> {
    let nginx_package = if have("nginx") {
        None
    } else {
        Some("nginx-light")
    };
    let missing: Vec<&str> = [("wrk", "wrk"), ("curl", "curl"), ("gzip", "gzip")]
        .into_iter()
        .filter(|(program, _)| !have(program))
        .map(|(_, package)| package)
        .chain(nginx_package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !(is_root() && have("apt-get")) {
        bail!(
            "the bench needs {} (Debian: apt-get install {}); install them or run as root",
            missing.join(", "),
            missing.join(" ")
        );
    }
    status(Command::new("apt-get").args(["update", "-qq"]))?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    if status(&mut install).is_err() && missing.contains(&"nginx-light") {
        // Newer Debian releases have no nginx-light: the plain package has what we use.
        let rest: Vec<&str> = missing
            .iter()
            .map(|p| if *p == "nginx-light" { "nginx" } else { p })
            .collect();
        status(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&rest)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    // The package starts its own nginx on port 80; the bench runs one of its own.
    let _ = Command::new("sh")
        .args([
            "-c",
            "command -v systemctl >/dev/null && systemctl stop nginx; service nginx stop",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    Ok(())
}

/// `name=value` lines.
fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A plain HTTP/1.1 GET; the status code, or `None` when nothing answers.
fn http_status(base_host: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(base_host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {base_host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0_u8; 64];
    let n = stream.read(&mut head).ok()?;
    status_of(&String::from_utf8_lossy(&head[..n]))
}

fn status_of(response: &str) -> Option<u16> {
    response
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| response.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()
}

/// A process this bench started; stopped (and waited for) when dropped.
struct Process {
    child: Option<Child>,
    /// The signal that stops it gracefully.
    signal: &'static str,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args([format!("-{}", self.signal), child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The release portal on a port of its own.
struct Portal {
    process: Process,
    /// `http://127.0.0.1:<port>`.
    base: String,
    ready_after: Duration,
}

impl Portal {
    fn start(portal: &Path, data: &Path, site: &Path, work: &Path) -> Result<Portal> {
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(work.join(format!("portal-{port}.log")))?;
        let started = Instant::now();
        let child = Command::new(portal)
            .arg("serve")
            .env("PORTAL_DATA_DIR", data)
            .env("PORTAL_BIND", &host)
            .env("PORTAL_SITE_ROOT", site)
            .env("PORTAL_WORKERS", "0")
            .env("PORTAL_SIM_SEED_IMAGES", "false")
            .env("PORTAL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("could not start the portal")?;
        let mut process = Process {
            child: Some(child),
            signal: "INT",
        };
        loop {
            if http_status(&host, "/-/readiness") == Some(200) {
                break;
            }
            let exited = process
                .child
                .as_mut()
                .map(|c| c.try_wait())
                .transpose()?
                .flatten();
            if let Some(status) = exited {
                bail!(
                    "the portal stopped ({status}) before it was ready; its log is in {}",
                    work.join(format!("portal-{port}.log")).display()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("the portal was not ready within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let ready_after = started.elapsed();
        report(&format!(
            "portal ready on {host} after {:.2} s",
            ready_after.as_secs_f64()
        ));
        Ok(Portal {
            process,
            base: format!("http://{host}"),
            ready_after,
        })
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn stop(&mut self) {
        self.process.stop();
    }
}

/// Development sign-in as the viewer, from the portal's own origin; the session cookie.
fn sign_in(base: &str) -> Result<String> {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .args(["-H", &format!("Origin: {base}")])
        .args(["--data", &format!("username={VIEWER}&next=/")])
        .arg(format!("{base}/auth/dev"))
        .output()
        .context("could not run curl")?;
    let headers = String::from_utf8_lossy(&out.stdout);
    session_cookie(&headers).with_context(|| {
        format!(
            "signing in as {VIEWER} gave no session cookie: {}",
            headers.lines().next().unwrap_or("no answer")
        )
    })
}

/// `portal_session=…` from a response's `Set-Cookie`.
fn session_cookie(headers: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("set-cookie") {
            return None;
        }
        let pair = value.trim().split(';').next()?.trim();
        (pair.starts_with("portal_session=") && pair.len() > "portal_session=".len())
            .then(|| pair.to_owned())
    })
}

/// One answer of the portal, as it sent it, into `file`.
fn fetch(base: &str, path: &str, cookie: &str, file: &Path) -> Result<()> {
    let out = Command::new("curl")
        .args(["-sS", "-o"])
        .arg(file)
        .args(["-w", "%{http_code}", "-H", &format!("Cookie: {cookie}")])
        .arg(format!("{base}{path}"))
        .output()
        .context("could not run curl")?;
    let code = String::from_utf8_lossy(&out.stdout);
    if code.trim() != "200" {
        bail!(
            "GET {path} answered {} instead of 200: {}",
            code.trim(),
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    Ok(())
}

/// nginx with two workers, serving `root` on a port of its own.
struct Nginx {
    process: Process,
    base: String,
}

impl Nginx {
    fn start(work: &Path, root: &Path) -> Result<Nginx> {
        let port = free_port()?;
        let dir = work.join("nginx");
        std::fs::create_dir_all(dir.join("temp"))?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(&dir, root, port))?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("could not start nginx")?;
        let process = Process {
            child: Some(child),
            signal: "TERM",
        };
        let host = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while http_status(&host, "/r0.html") != Some(200) {
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "nginx did not answer within {START_TIMEOUT:?}; see {}",
                    dir.join("error.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Nginx {
            process,
            base: format!("http://{host}"),
        })
    }

    fn stop(&mut self) {
        self.process.stop();
    }
}

fn nginx_conf(dir: &Path, root: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"worker_processes 2;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ text/html html; application/json json; }}
    default_type application/octet-stream;
    charset utf-8;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {d}/temp/body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ try_files $uri =404; }}
    }}
}}
"#,
        root = root.display()
    )
}

/// Runs wrk against `url`, through `script` if given; with `watch`, samples that process's
/// resident memory every 100 ms while it runs and returns the peak (KB).
fn wrk(
    url: &str,
    cookie: &str,
    duration: &str,
    script: Option<&Path>,
    watch: Option<u32>,
) -> Result<(Load, u64)> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        &format!("-t{THREADS}"),
        &format!("-c{CONNECTIONS}"),
        &format!("-d{duration}"),
        "--latency",
        "-H",
        &format!("Cookie: {cookie}"),
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let mut child = cmd
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not start wrk")?;
    let mut peak = 0;
    while child.try_wait()?.is_none() {
        if let Some(pid) = watch
            && let Ok(kb) = rss_kb(pid)
        {
            peak = peak.max(kb);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk {url} failed: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let load = parse_wrk(&text).with_context(|| format!("could not read wrk's output:\n{text}"))?;
    Ok((load, peak))
}

/// req/s, p50 and p99 (ms) and the failed answers from wrk's `--latency` output.
fn parse_wrk(text: &str) -> Option<Load> {
    let mut rps = None;
    let (mut p50, mut p99) = (None, None);
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = duration_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = duration_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            errors += v
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Some(Load {
        requests_per_second: rps?,
        p50_ms: p50?,
        p99_ms: p99?,
        errors,
    })
}

/// wrk's durations: `812.00us`, `3.21ms`, `1.02s`, `1.50m`.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.trim().parse().ok()?;
    let factor = match unit.trim() {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(n * factor)
}

/// VmRSS of a process, in KB.
fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    vm_rss(&status).context("no VmRSS in /proc/<pid>/status")
}

fn vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The side-by-side table, in Markdown.
fn table(rows: &[(Request, Load, Load)]) -> String {
    let mut out = String::from(
        "| request | portal req/s | nginx req/s | ratio % | portal p50 | portal p99 | target met? |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (r, portal, nginx) in rows {
        let ratio = if nginx.requests_per_second > 0.0 {
            100.0 * portal.requests_per_second / nginx.requests_per_second
        } else {
            0.0
        };
        let met = match r.kind.target() {
            None => "no target (the render's own cost)".to_owned(),
            Some((least, most)) => {
                let mut misses = Vec::new();
                if ratio < least {
                    misses.push(format!("ratio < {least}%"));
                }
                if portal.p99_ms > most {
                    misses.push(format!("p99 > {most} ms"));
                }
                if misses.is_empty() {
                    "yes".to_owned()
                } else {
                    format!("no ({})", misses.join(", "))
                }
            }
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {ratio:.2} | {} | {} | {met} |",
            r.label,
            portal.requests_per_second,
            nginx.requests_per_second,
            ms(portal.p50_ms),
            ms(portal.p99_ms),
        );
    }
    out
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// The hydrate bundle's size: the site's wasm, js and css, raw and gzipped at level 9.
struct Bundle {
    raw: u64,
    gzipped: u64,
}

/// The bundle's files: those `hash.txt` names (`<kind>: <hash>` lines, the files being
/// `pkg/portal.<hash>.<kind>`) when the site has one, else every wasm, js and css in `pkg/`.
fn bundle_files(site: &Path) -> Result<Vec<PathBuf>> {
    let pkg = site.join("pkg");
    if let Ok(hashes) = std::fs::read_to_string(site.join("hash.txt")) {
        return Ok(hashes
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(kind, hash)| pkg.join(format!("portal.{}.{}", hash.trim(), kind.trim())))
            .collect());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&pkg)
        .with_context(|| format!("reading {}", pkg.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "wasm" | "js" | "css"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn bundle_size(site: &Path) -> Result<Bundle> {
    let files = bundle_files(site)?;
    if files.is_empty() {
        bail!("no wasm, js or css in {}", site.join("pkg").display());
    }
    let (mut raw, mut gzipped) = (0, 0);
    for f in &files {
        raw += std::fs::metadata(f)
            .with_context(|| format!("the bundle file {}", f.display()))?
            .len();
        let out = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(f)
            .output()
            .context("could not run gzip")?;
        if !out.status.success() {
            bail!("gzip {} failed", f.display());
        }
        gzipped += out.stdout.len() as u64;
    }
    Ok(Bundle { raw, gzipped })
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The CPU model and core count, for the figures' context.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {model}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 10s test @ http://127.0.0.1:40000/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    95.41ms   40.11ms 801.23ms   80.00%
    Req/Sec   335.18     51.37   440.00     71.00%
  Latency Distribution
     50%   88.72ms
     75%  110.02ms
     90%  140.55ms
     99%  801.00ms
  6690 requests in 10.01s, 120.55MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:    668.39
Transfer/sec:     12.04MB
";

    #[test]
    fn wrk_figures_are_read_in_milliseconds() {
        let load = parse_wrk(WRK).expect("parsed");
        assert_eq!(
            load,
            Load {
                requests_per_second: 668.39,
                p50_ms: 88.72,
                p99_ms: 801.0,
                errors: 6,
            }
        );
        assert_eq!(duration_ms("812.00us"), Some(0.812));
        assert_eq!(duration_ms("1.02s"), Some(1020.0));
        assert_eq!(duration_ms("12"), None);
        assert_eq!(parse_wrk("Requests/sec: 1\n"), None);
    }

    #[test]
    fn the_session_cookie_and_the_seed_summary_are_found() {
        let headers = "HTTP/1.1 303 See Other\r\nlocation: /\r\nSet-Cookie: portal_session=abc123; HttpOnly; SameSite=Lax; Path=/\r\n\r\n";
        assert_eq!(
            session_cookie(headers).as_deref(),
            Some("portal_session=abc123")
        );
        assert_eq!(
            session_cookie("set-cookie: portal_session=; Max-Age=0"),
            None
        );
        let kv = key_values("partners=20\nnewest_release=18.1.9\n");
        assert_eq!(kv.get("newest_release").map(String::as_str), Some("18.1.9"));
        assert_eq!(status_of("HTTP/1.1 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(vm_rss("Name:\tportal\nVmRSS:\t   38912 kB\n"), Some(38912));
    }

    #[test]
    fn the_bundle_is_the_files_the_hash_file_names() {
        let site = env::temp_dir().join(format!("portal-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(site.join("pkg")).expect("pkg");
        for name in [
            "portal.aa.wasm",
            "portal.bb.wasm",
            "portal.cc.js",
            "portal.css",
        ] {
            std::fs::write(site.join("pkg").join(name), name).expect("file");
        }
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .filter_map(|f| f.file_name()?.to_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(
            names(bundle_files(&site).expect("globbed")),
            [
                "portal.aa.wasm",
                "portal.bb.wasm",
                "portal.cc.js",
                "portal.css"
            ]
        );
        std::fs::write(site.join("hash.txt"), "js: cc\nwasm: bb\n").expect("hash file");
        assert_eq!(
            names(bundle_files(&site).expect("named")),
            ["portal.cc.js", "portal.bb.wasm"]
        );
        let _ = std::fs::remove_dir_all(&site);
    }

    #[test]
    fn the_table_says_which_target_is_missed() {
        let row = |kind, rps, p99| {
            (
                Request {
                    label: "x",
                    path: "/".into(),
                    kind,
                    file: "r0.html".into(),
                },
                Load {
                    requests_per_second: rps,
                    p50_ms: 1.0,
                    p99_ms: p99,
                    errors: 0,
                },
                Load {
                    requests_per_second: 1000.0,
                    p50_ms: 0.1,
                    p99_ms: 1.0,
                    errors: 0,
                },
            )
        };
        let t = table(&[
            row(Kind::Page, 100.0, 50.0),
            row(Kind::Page, 99.0, 51.0),
            row(Kind::Api, 300.0, 21.0),
            row(Kind::Rendered, 1.0, 900.0),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[2].ends_with("| 10.00 | 1.00 ms | 50 ms | yes |"),
            "{t}"
        );
        assert!(lines[3].contains("no (ratio < 10%, p99 > 50 ms)"), "{t}");
        assert!(lines[4].contains("no (p99 > 20 ms)"), "{t}");
        assert!(
            lines[5].ends_with("| no target (the render's own cost) |"),
            "{t}"
        );
        let conf = nginx_conf(Path::new("/tmp/b/nginx"), Path::new("/tmp/b/static"), 8088);
        for needle in [
            "worker_processes 2;",
            "daemon off;",
            "access_log off;",
            "pid /tmp/b/nginx/nginx.pid;",
            "listen 127.0.0.1:8088;",
            "text/html html; application/json json;",
        ] {
            assert!(conf.contains(needle), "{needle} in {conf}");
        }
    }
}
