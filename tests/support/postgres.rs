//! A real PostgreSQL for tests (Debian's `postgresql`): a cluster made with `initdb` in a
//! temporary directory and run with `pg_ctl` on a free loopback port, trusting local
//! connections. PostgreSQL refuses to run as root, and tests run as root in CI: then the
//! cluster belongs to the system user `dockhand-test` (created once) and its programs run
//! through `runuser`. `Cluster::shared()` is started once per test process and hands out a
//! fresh database per test; `Cluster::start()` makes a private one that a test may stop and
//! start (the database-down tests). A watcher removes each cluster when the test process ends,
//! however it ends. Used by the store's contract tests (src/store/postgres.rs) and tests/e2e.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

const TEST_USER: &str = "dockhand-test";

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_user: bool,
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().expect(
        "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)",
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// The cluster shared by every test of this process.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(Cluster::start)
    }

    /// A new cluster of its own, running.
    pub fn start() -> Cluster {
        let bin = bin_dir();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_user = unsafe { libc::geteuid() } == 0;
        if as_user
            && !Command::new("id")
                .args(["-u", TEST_USER])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        {
            // Two test processes may race to create it; either way it exists afterwards.
            let _ = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    TEST_USER,
                ])
                .status();
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dockhand-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        if as_user {
            run(
                Command::new("chown").arg(TEST_USER).arg(&dir),
                "chown the cluster directory",
            );
        }
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            as_user,
        };
        run(
            &mut cluster.command(
                "initdb",
                &[
                    "-D",
                    &cluster.data().display().to_string(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            ),
            "initdb",
        );
        cluster.watch();
        cluster.start_server();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command of the cluster's, run as its owner.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_user {
            let mut c = Command::new("runuser");
            c.args(["-u", TEST_USER, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.args(args).current_dir(&self.dir);
        cmd
    }

    /// Stops the cluster and removes it once this process has ended.
    fn watch(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; {pg_ctl} -D {data} stop -m immediate; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        let mut cmd = if self.as_user {
            let mut c = Command::new("runuser");
            c.args(["-u", TEST_USER, "--", "sh", "-c", &script]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        };
        // Never waited for: it outlives this process on purpose, to clean up after it.
        let watcher = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cluster watcher");
        std::mem::forget(watcher);
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400",
            self.port,
            self.dir.display()
        );
        run(
            &mut self.command(
                "pg_ctl",
                &[
                    "-D",
                    &self.data().display().to_string(),
                    "-l",
                    &self.dir.join("log").display().to_string(),
                    "-o",
                    &options,
                    "-w",
                    "start",
                ],
            ),
            "pg_ctl start",
        );
    }

    /// Stops the server (fast shutdown: connections are cut), keeping its data.
    pub fn stop(&self) {
        run(
            &mut self.command(
                "pg_ctl",
                &[
                    "-D",
                    &self.data().display().to_string(),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
            ),
            "pg_ctl stop",
        );
    }

    /// Starts the server again on the same port.
    pub fn restart(&self) {
        self.start_server();
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run(
            Command::new(self.bin.join("createdb"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", &name]),
            "createdb",
        );
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
