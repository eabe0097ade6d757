//! A real browser for the status page tests: Debian's `chromedriver` on a loopback
//! port chosen per test, driving headless Chromium with a private profile through
//! WebDriver (fantoccini, plain HTTP). The driver runs in a process group of its
//! own; dropping the [`Browser`] ends the session, kills that group (the driver and
//! any browser process it left) and removes the profile, also when a test fails.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rustix::process::{Pid, Signal};
use serde_json::{Value, json};

use super::net::free_port;
use super::skip;

/// Starting the driver, or a session (the browser itself), may take this long on a
/// busy machine.
const START: Duration = Duration::from_secs(30);
/// One WebDriver command: a page load, a script, a click.
const COMMAND: Duration = Duration::from_secs(20);

/// An executable named by `var`, else the first of `names` on PATH.
fn find_tool(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Chromium: `SYNCGUARD_TEST_CHROMIUM`, else `chromium` (Debian), `chromium-browser`
/// or `google-chrome` on PATH.
pub fn chromium() -> Option<PathBuf> {
    find_tool(
        "SYNCGUARD_TEST_CHROMIUM",
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
    )
}

/// `SYNCGUARD_TEST_CHROMEDRIVER`, else `chromedriver` on PATH.
pub fn chromedriver() -> Option<PathBuf> {
    find_tool("SYNCGUARD_TEST_CHROMEDRIVER", &["chromedriver"])
}

/// Whether `test` can drive a browser; reports the skip (or fails under CI) if not.
pub fn available(test: &str) -> bool {
    let missing: Vec<&str> = [
        ("chromium", chromium().is_some()),
        ("chromedriver", chromedriver().is_some()),
    ]
    .into_iter()
    .filter(|(_, found)| !found)
    .map(|(name, _)| name)
    .collect();
    skip::require(
        test,
        missing.is_empty(),
        &format!(
            "{} not installed (Debian: apt-get install chromium chromium-driver)",
            missing.join(" and ")
        ),
    )
}

/// How the browser is started.
#[derive(Clone, Debug)]
pub struct Options {
    /// The window (and, headless, the viewport) size in CSS pixels.
    pub width: u32,
    pub height: u32,
    /// Off: the page's own scripts never run (WebDriver's scripts still do).
    pub javascript: bool,
    /// Media may play without a click first (for the alarm).
    pub autoplay: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: 1920,
            height: 1080,
            javascript: true,
            autoplay: false,
        }
    }
}

/// Whether the driver on `port` answers `GET /status` with `"ready":true`. Read
/// until that is seen: the driver keeps the connection open after its answer.
fn driver_ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || seen.len() > 64 * 1024 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&seen).contains("\"ready\":true") {
            return true;
        }
    }
    false
}

/// `chromedriver` running in its own process group, killed (with the group) on drop.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    /// Starts the driver on a free loopback port and waits until it is ready.
    fn start(exe: &Path, dir: &Path) -> Driver {
        let log = dir.join("chromedriver.log");
        let mut last = String::new();
        // A port free a moment ago may be taken by the time the driver binds it.
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(exe)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                // The browser's scratch files too go where the drop removes them.
                .env("TMPDIR", dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // The browser processes it starts join this group, so one kill
                // ends them all, whatever state the session is in.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", exe.display()));
            let mut driver = Driver {
                child,
                port,
                log: log.clone(),
            };
            let ready = super::wait_until(START, || {
                if driver.child.try_wait().ok().flatten().is_some() {
                    return true;
                }
                driver_ready(port)
            });
            if ready && driver.child.try_wait().ok().flatten().is_none() {
                return driver;
            }
            last = driver.log_tail();
            drop(driver);
        }
        panic!("chromedriver did not start; its log ends:\n{last}");
    }

    /// The end of the driver's log, to explain a failure.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is the driver's pid (process_group(0)).
        if let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session in headless Chromium, with a blocking API for the tests.
/// Fields drop in order: the session, then the driver (and the browser), then
/// the runtime and the profile directory.
pub struct Browser {
    client: Option<Client>,
    driver: Driver,
    rt: tokio::runtime::Runtime,
    /// The profile and the driver's log; removed last.
    _dir: tempfile::TempDir,
}

impl Browser {
    /// A new browser with `options`; the caller has checked [`available`].
    pub fn start(options: &Options) -> Browser {
        let chromium = chromium().expect("chromium (checked by browser::available)");
        let driver_exe = chromedriver().expect("chromedriver (checked by browser::available)");
        let dir = tempfile::tempdir().expect("tempdir for the browser profile");
        let profile = dir.path().join("profile");
        let rt = super::runtime();
        let driver = Driver::start(&driver_exe, dir.path());
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            format!("--window-size={},{}", options.width, options.height),
            format!("--user-data-dir={}", profile.display()),
        ];
        if options.autoplay {
            args.push("--autoplay-policy=no-user-gesture-required".to_owned());
        }
        let mut chrome = json!({
            "binary": chromium.display().to_string(),
            "args": args,
        });
        if !options.javascript {
            chrome["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": chrome,
            "timeouts": { "script": COMMAND.as_millis() as u64, "pageLoad": COMMAND.as_millis() as u64 },
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        let url = format!("http://127.0.0.1:{}", driver.port);
        let session = rt.block_on(async {
            tokio::time::timeout(
                START,
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(caps)
                    .connect(&url),
            )
            .await
        });
        let client = match session {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "no browser session: {e}\nchromedriver log ends:\n{}",
                driver.log_tail()
            ),
            Err(_) => panic!(
                "no browser session within {START:?}\nchromedriver log ends:\n{}",
                driver.log_tail()
            ),
        };
        let browser = Browser {
            client: Some(client),
            driver,
            rt,
            _dir: dir,
        };
        browser.fit_viewport(options.width, options.height);
        browser
    }

    /// Sizes the window so that the page's viewport is `width` x `height`: headless
    /// Chromium takes `--window-size` for the outer window, and its frame takes
    /// some of that.
    fn fit_viewport(&self, width: u32, height: u32) {
        let size = "return [innerWidth, innerHeight, outerWidth, outerHeight];";
        let dims = |v: Value| -> Vec<u32> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_u64().and_then(|x| u32::try_from(x).ok()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let now = dims(self.js(size));
        let [iw, ih, ow, oh] = now[..] else {
            panic!("window size: {now:?}")
        };
        if (iw, ih) != (width, height) {
            let (w, h) = (
                width + ow.saturating_sub(iw),
                height + oh.saturating_sub(ih),
            );
            self.run(
                "resize the window",
                self.client().set_window_rect(0, 0, w, h),
            );
        }
        let now = dims(self.js(size));
        assert_eq!(
            now.get(..2),
            Some(&[width, height][..]),
            "the viewport is not {width}x{height}: [innerWidth, innerHeight, outerWidth, outerHeight] = {now:?}"
        );
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("session open until drop")
    }

    /// Runs one WebDriver command, failing the test (with what it was) on an
    /// error or after [`COMMAND`].
    fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> T {
        match self
            .rt
            .block_on(async { tokio::time::timeout(COMMAND, f).await })
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{what}: {e}"),
            Err(_) => panic!("{what}: no answer within {COMMAND:?}"),
        }
    }

    /// Loads `url` and waits for the load event.
    pub fn goto(&self, url: &str) {
        self.run(&format!("load {url}"), self.client().goto(url));
    }

    /// Runs `script` (a function body: `return ...`) in the page; its result.
    pub fn js(&self, script: &str) -> Value {
        self.run(
            &format!("script {script:?}"),
            self.client().execute(script, Vec::new()),
        )
    }

    /// Whether the expression `expr` became true within `limit`, checked every 50 ms.
    pub fn wait_for(&self, limit: Duration, expr: &str) -> bool {
        let script = format!("return !!({expr});");
        super::wait_until(limit, || self.js(&script) == Value::Bool(true))
    }

    /// Like [`Browser::wait_for`], failing the test with `what` and `explain`'s
    /// value (an expression) when it does not happen.
    pub fn expect(&self, limit: Duration, expr: &str, what: &str, explain: &str) {
        if !self.wait_for(limit, expr) {
            let state = self.js(&format!("return {explain};"));
            panic!("not within {limit:?}: {what}\n  ({expr})\n  page: {state}");
        }
    }

    /// The element `css` selects; fails the test when there is none.
    pub fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.run(
            &format!("find {css:?}"),
            self.client().find(Locator::Css(css)),
        )
    }

    /// A real click (WebDriver input, a user gesture) on `css`.
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.run(&format!("click {css:?}"), el.click());
    }

    /// Whether `css` is shown (WebDriver's notion: rendered with a size, not hidden).
    pub fn displayed(&self, css: &str) -> bool {
        let el = self.find(css);
        self.run(&format!("is {css:?} displayed"), el.is_displayed())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (the browser quits); the driver's drop then kills
        // whatever is left of its process group.
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), client.close()).await
            });
        }
    }
}
