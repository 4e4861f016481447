//! Builds, runs and tests the Partner Image Portal without any downloads but the package
//! registries: Tailwind comes from npm, wasm-bindgen is linked in as a library pinned to the
//! same version as the wasm-bindgen the bundle is compiled with.
//!
//! - `cargo xtask run` builds everything and serves the portal on the embedded default.
//! - `cargo xtask test` builds the site and runs every test.
//! - `cargo xtask build` only builds (`--release` for an optimised server).
//! - `cargo xtask bench` measures the release portal side by side with nginx (`bench.rs`).

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

mod bench;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WASM_PROFILE: &str = "wasm-release";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&format!("error: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stderr, reason = "a build tool talks on stderr")]
fn report(line: &str) {
    eprintln!("xtask: {line}");
}

fn run() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let root = workspace_root()?;
    env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("build") => build_all(&root, args.iter().any(|a| a == "--release")),
        Some("run") => {
            build_all(&root, false)?;
            serve(&root, &args[1..])
        }
        Some("test") => test(&root, &args[1..]),
        Some("site") => build_site(&root),
        Some("bench") => bench::run(&root, &args[1..]),
        _ => bail!(
            "usage: cargo xtask <run|test|build [--release]|site|bench [--quick] [--no-build]>"
        ),
    }
}

/// The checkout this command runs in, asked of cargo at run time: the binary may have
/// been built from another checkout sharing the same `CARGO_TARGET_DIR`.
fn workspace_root() -> Result<PathBuf> {
    let out = cargo()
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .context("could not run cargo locate-project")?;
    if !out.status.success() {
        bail!(
            "cargo locate-project failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("the workspace manifest has no folder")
}

fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn site_root(root: &Path) -> PathBuf {
    target_dir(root).join("site")
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn status(cmd: &mut Command) -> Result<()> {
    report(&format!("running {:?}", cmd));
    let st = cmd
        .status()
        .with_context(|| format!("could not start {:?}", cmd.get_program()))?;
    if !st.success() {
        bail!("{:?} failed with {st}", cmd.get_program());
    }
    Ok(())
}

/// The wasm target and npm packages: what a fresh machine lacks.
fn ensure_tools(root: &Path) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET) => {}
        Ok(_) => status(Command::new("rustup").args(["target", "add", WASM_TARGET]))?,
        Err(_) => report("rustup not found; assuming the wasm32 target is installed"),
    }
    let tools = [tailwind(root), wasm_opt(root)];
    if tools.iter().any(|tool| !tool.exists()) {
        // Not `npm ci`: the lock file cannot list Tailwind's native packages for other
        // platforms here, which `npm ci` insists on. The versions are pinned exactly in
        // package.json, so `npm install` brings the same ones.
        status(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund"])
                .current_dir(root),
        )?;
    }
    Ok(())
}

/// Tailwind's CLI, from npm (pinned in package.json).
fn tailwind(root: &Path) -> PathBuf {
    root.join("node_modules/.bin/tailwindcss")
}

/// binaryen's optimiser, from npm (the `binaryen` package, pinned in package.json).
fn wasm_opt(root: &Path) -> PathBuf {
    root.join("node_modules/.bin/wasm-opt")
}

/// The name the built files share; the pages ask for `portal.<hash>.js` and so on.
const OUTPUT_NAME: &str = "portal";

/// How many hex digits of a file's SHA-256 its name carries (the server treats a name part
/// of at least 16 hex digits as a content hash and serves the file as immutable).
const HASH_DIGITS: usize = 20;

/// CSS, the hydrate bundle and the public files, into `<target>/site`.
///
/// The stylesheet, the hydration script and the wasm are written under content-hashed
/// names (`pkg/portal.<hash>.css`, `.js`, `.wasm`) listed in `hash.txt` in the site root,
/// the file leptos reads to name them in the pages. The stylesheet is also written as
/// `pkg/portal.css` for the few pages the server writes without leptos.
fn build_site(root: &Path) -> Result<()> {
    ensure_tools(root)?;
    let site = site_root(root);
    let pkg = site.join("pkg");
    // What the tools write, before it is named by its hash.
    let work = target_dir(root).join("site-build");
    std::fs::create_dir_all(&pkg)?;
    std::fs::create_dir_all(&work)?;

    let css = work.join(format!("{OUTPUT_NAME}.css"));
    status(
        Command::new(tailwind(root))
            .args(["-i", "style/main.css", "-o"])
            .arg(&css)
            .arg("--minify")
            .current_dir(root),
    )?;

    // The hydration script picks `portal_bg.wasm` only when this is unset at compile time.
    status(
        cargo()
            .args([
                "build",
                "--package",
                "frontend",
                "--lib",
                "--target",
                WASM_TARGET,
                "--profile",
                WASM_PROFILE,
            ])
            .env_remove("LEPTOS_OUTPUT_NAME"),
    )?;
    let wasm = target_dir(root)
        .join(WASM_TARGET)
        .join(WASM_PROFILE)
        .join("frontend.wasm");
    let (js, optimised) = post_process(root, &wasm, &work)?;

    let mut hashes = String::new();
    let mut current = vec![format!("{OUTPUT_NAME}.css")];
    for (kind, built) in [("js", &js), ("wasm", &optimised), ("css", &css)] {
        let bytes = std::fs::read(built).with_context(|| format!("reading {}", built.display()))?;
        let hash = content_hash(&bytes);
        let name = format!("{OUTPUT_NAME}.{hash}.{kind}");
        write_atomically(&pkg.join(&name), &bytes)?;
        let gzipped = gzip(built)?;
        write_atomically(&pkg.join(format!("{name}.gz")), &gzipped)?;
        report(&format!(
            "{name}: {} bytes, {} gzipped",
            bytes.len(),
            gzipped.len()
        ));
        hashes.push_str(&format!("{kind}: {hash}\n"));
        current.push(format!("{name}.gz"));
        current.push(name);
    }
    write_atomically(
        &pkg.join(format!("{OUTPUT_NAME}.css")),
        &std::fs::read(&css)?,
    )?;
    // Last: a server reading it finds every file it names.
    write_atomically(&site.join("hash.txt"), hashes.as_bytes())?;
    remove_stale(&pkg, &current)?;

    copy_dir(&root.join("public"), &site)?;
    Ok(())
}

/// wasm-bindgen, then wasm-opt, over the compiled bundle, into `work`; returns the script
/// and the optimised wasm. Skipped when `work` holds them for the same compiled bytes and
/// the same wasm-opt arguments: wasm-opt takes minutes, and most builds change no Rust.
fn post_process(root: &Path, wasm: &Path, work: &Path) -> Result<(PathBuf, PathBuf)> {
    let js = work.join(format!("{OUTPUT_NAME}.js"));
    let optimised = work.join(format!("{OUTPUT_NAME}.opt.wasm"));
    let stamp_file = work.join("bundle.stamp");
    let compiled = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let stamp = format!(
        "{}\nwasm-opt {}\n",
        hex::encode(Sha256::digest(&compiled)),
        WASM_OPT_ARGS.join(" ")
    );
    if js.is_file()
        && optimised.is_file()
        && std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp)
    {
        report("the compiled bundle is unchanged: reusing wasm-bindgen's and wasm-opt's output");
        return Ok((js, optimised));
    }
    // Gone until both steps succeed, so a failed run is not reused.
    if stamp_file.exists() {
        std::fs::remove_file(&stamp_file)?;
    }

    report(&format!("wasm-bindgen {}", wasm.display()));
    wasm_bindgen_cli_support::Bindgen::new()
        .input_bytes(OUTPUT_NAME, compiled)
        .web(true)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?
        .out_name(OUTPUT_NAME)
        .typescript(false)
        // No names or tool versions in what every first visit downloads.
        .keep_debug(false)
        .demangle(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(work)
        .map_err(|e| anyhow::anyhow!("wasm-bindgen failed: {e:#}"))?;
    if work.join("snippets").exists() {
        bail!(
            "wasm-bindgen wrote JavaScript snippets ({}), which the site does not publish: \
             a dependency of the bundle started using `inline_js` or `module`",
            work.join("snippets").display()
        );
    }
    optimise_wasm(
        root,
        &work.join(format!("{OUTPUT_NAME}_bg.wasm")),
        &optimised,
    )?;
    std::fs::write(&stamp_file, stamp)?;
    Ok((js, optimised))
}

/// What wasm-opt is asked to do, besides reading the input and writing the output.
const WASM_OPT_ARGS: &[&str] = &[
    "-Oz",
    // Without inlining: inlined copies shrink the file a little and make it compress
    // worse (measured: 25% more gzipped bytes with binaryen's default inlining).
    "--one-caller-inline-max-function-size",
    "0",
    "--flexible-inline-max-function-size",
    "0",
    "--strip-debug",
    "--strip-producers",
    // The WebAssembly features rustc enables by default for `wasm32-unknown-unknown`
    // (Rust 1.95), which wasm-opt must accept in its input and may use in its output.
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
    "--enable-mutable-globals",
];

/// `wasm-opt -Oz` over the bundle wasm-bindgen wrote: smaller and no debug information.
fn optimise_wasm(root: &Path, input: &Path, output: &Path) -> Result<()> {
    let tool = wasm_opt(root);
    if !tool.exists() {
        bail!(
            "binaryen's wasm-opt is missing at {}: run `npm install` in {} (package.json \
             pins the `binaryen` package)",
            tool.display(),
            root.display()
        );
    }
    status(
        Command::new(&tool)
            .args(WASM_OPT_ARGS)
            .arg(input)
            .arg("-o")
            .arg(output),
    )
    .context("wasm-opt could not optimise the hydrate bundle")
}

/// The file gzipped at the highest level, without its name or time (the same bytes give the
/// same output), for the server to send to browsers that take gzip.
fn gzip(path: &Path) -> Result<Vec<u8>> {
    let out = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .arg(path)
        .output()
        .context("could not run gzip")?;
    if !out.status.success() {
        bail!(
            "gzip {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The first `HASH_DIGITS` hex digits of the bytes' SHA-256.
fn content_hash(bytes: &[u8]) -> String {
    let mut hash = hex::encode(Sha256::digest(bytes));
    hash.truncate(HASH_DIGITS);
    hash
}

/// Writes through a temporary file in the same folder, so a reader sees the old file or
/// the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// Removes the built files of earlier builds (other hashes, the unhashed bundle of builds
/// before hashing) from the site's `pkg` folder.
fn remove_stale(pkg: &Path, current: &[String]) -> Result<()> {
    for entry in std::fs::read_dir(pkg).with_context(|| format!("reading {}", pkg.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let built = name.starts_with(OUTPUT_NAME)
            && [".js", ".wasm", ".css", ".gz", ".tmp"]
                .iter()
                .any(|ext| name.ends_with(ext));
        if built && entry.file_type()?.is_file() && !current.contains(&name) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&dest)?;
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

fn build_all(root: &Path, release: bool) -> Result<()> {
    build_site(root)?;
    let mut cmd = cargo();
    cmd.args(["build", "--package", "server", "--bin", "portal"]);
    if release {
        cmd.arg("--release");
    }
    status(&mut cmd)
}

fn serve(root: &Path, extra: &[String]) -> Result<()> {
    let portal = target_dir(root).join("debug").join("portal");
    let mut cmd = Command::new(portal);
    cmd.arg("serve")
        .args(extra)
        .env("PORTAL_SITE_ROOT", site_root(root));
    status(&mut cmd)
}

/// Everything the tests need, then every test of the workspace (the wasm crate excepted:
/// it is built, not run, and must not share a feature set with the server).
fn test(root: &Path, extra: &[String]) -> Result<()> {
    let postgres = ensure_test_services()?;
    let schemathesis = ensure_schemathesis()?;
    build_site(root)?;
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--workspace",
        "--exclude",
        "frontend",
        "--exclude",
        "xtask",
    ])
    .args(extra)
    .env("PORTAL_SITE_ROOT", site_root(root))
    .env("PORTAL_TEST_SCHEMATHESIS", schemathesis)
    .env("PORTAL_SCREENSHOTS", target_dir(root).join("screenshots"));
    // Where the builder-script tests can run (root, with apt to install what they need),
    // a missing tool fails them instead of skipping them.
    if is_root() && have("apt-get") && env::var_os("PORTAL_TEST_REQUIRE_ROOTFS").is_none() {
        cmd.env("PORTAL_TEST_REQUIRE_ROOTFS", "1");
    }
    match postgres {
        Some(url) => {
            cmd.env("PORTAL_TEST_POSTGRES_URL", url);
        }
        None => {
            report("no PostgreSQL server: the PostgreSQL half of the database tests is skipped")
        }
    }
    status(&mut cmd)?;
    report(&format!(
        "screenshots of the browser tests are in {}",
        target_dir(root).join("screenshots").display()
    ));
    Ok(())
}

/// The OpenAPI fuzzer's version, pinned so that a seeded run sends the same requests.
const SCHEMATHESIS: &str = "4.32.5";

/// schemathesis, the OpenAPI fuzzer the API test runs, from PyPI into its own directory
/// under `~/.cache` (`pip --target`: no virtual environment needed). Returns the directory.
fn ensure_schemathesis() -> Result<PathBuf> {
    let home = env::var_os("HOME").context("HOME is not set")?;
    let dir = PathBuf::from(home)
        .join(".cache/partner-image-portal")
        .join(format!("schemathesis-{SCHEMATHESIS}"));
    if !dir.join("schemathesis").is_dir() {
        report(&format!(
            "installing schemathesis {SCHEMATHESIS} into {}",
            dir.display()
        ));
        status(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                ])
                .arg(&dir)
                .arg(format!("schemathesis=={SCHEMATHESIS}")),
        )?;
    }
    Ok(dir)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Starts (or finds) the machine's PostgreSQL cluster; prints its port.
const START_POSTGRES: &str = r#"set -e
cluster=$(pg_lsclusters --no-header | head -n1)
if [ -z "$cluster" ]; then
  pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -n1)" main >/dev/null
  cluster=$(pg_lsclusters --no-header | head -n1)
fi
set -- $cluster
pg_ctlcluster "$1" "$2" start >/dev/null 2>&1 || true
i=0
until su postgres -c "pg_isready -q -p $3"; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
su postgres -c "psql -q -p $3 -c \"ALTER USER postgres PASSWORD 'portal-tests'\"" >/dev/null
echo "$3"
"#;

/// The browser and the PostgreSQL server the tests talk to. On a Debian machine where we
/// are root, missing packages are installed and PostgreSQL is started; elsewhere the
/// tests say what is missing. Returns the PostgreSQL URL for the tests, if there is one.
fn ensure_test_services() -> Result<Option<String>> {
    let missing: Vec<&str> = [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
        ("pg_lsclusters", "postgresql"),
        // The builder scripts are linted, and run in a debootstrapped Debian root.
        ("shellcheck", "shellcheck"),
        ("debootstrap", "debootstrap"),
    ]
    .into_iter()
    .filter(|(program, _)| !have(program))
    .map(|(_, package)| package)
    .collect();
    if !missing.is_empty() {
        if is_root() && have("apt-get") {
            status(Command::new("apt-get").args(["update", "-qq"]))?;
            status(
                Command::new("apt-get")
                    .args(["install", "-y", "-qq", "--no-install-recommends"])
                    .args(&missing)
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )?;
        } else {
            report(&format!(
                "missing {}: install them for the browser, PostgreSQL and builder-script tests",
                missing.join(", ")
            ));
        }
    }
    // moto, the independent EC2 emulator the build is also tested against, from PyPI.
    let has_moto = Command::new("python3")
        .args(["-c", "import moto.server"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_moto {
        status(Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "moto[server]==5.2.1",
        ]))?;
    }
    if let Some(url) = env::var_os("PORTAL_TEST_POSTGRES_URL") {
        return Ok(Some(url.to_string_lossy().into_owned()));
    }
    if !(have("pg_lsclusters") && is_root()) {
        return Ok(None);
    }
    let out = Command::new("sh")
        .args(["-c", START_POSTGRES])
        .output()
        .context("starting PostgreSQL")?;
    let port = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !port.is_empty() {
        report(&format!(
            "PostgreSQL tests use the local server on port {port}"
        ));
        Ok(Some(format!(
            "postgres://postgres:portal-tests@127.0.0.1:{port}/postgres"
        )))
    } else {
        report(&format!(
            "could not start PostgreSQL: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        Ok(None)
    }
}
