//! A real Redis Cluster for integration tests: six `redis-server
//! --cluster-enabled yes` processes on free loopback ports (three masters,
//! three replicas, joined with `redis-cli --cluster create
//! --cluster-replicas 1`), without persistence, in a temporary directory.
//! [`RedisCluster::fail_over`] kills the master that owns a key's slot and
//! promotes its replica (`CLUSTER FAILOVER TAKEOVER`). Every wait is
//! bounded; dropping the cluster kills every process and removes the
//! directory. Include it with
//! `#[path = "support/redis_cluster.rs"] mod redis_cluster;`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the cluster may take to form or to fail over.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running cluster owned by one test.
pub(crate) struct RedisCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
}

struct Node {
    port: u16,
    child: Option<Child>,
}

/// What `CLUSTER NODES` says about one node.
#[derive(Debug, Clone)]
struct NodeInfo {
    id: String,
    port: u16,
    master: bool,
    failed: bool,
    master_id: Option<String>,
    slots: Vec<(u16, u16)>,
}

impl RedisCluster {
    /// Starts six nodes and joins them into a cluster of three masters with
    /// one replica each; returns once every node reports `cluster_state:ok`.
    ///
    /// Panics with an explanation when `redis-server` or `redis-cli` is
    /// missing: the cluster tests never skip silently.
    pub(crate) fn start() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower-sse-redis-cluster-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster temp dir");
        let mut cluster = Self {
            dir,
            nodes: Vec::new(),
        };
        for port in free_ports(6) {
            cluster.nodes.push(Node {
                port,
                child: Some(cluster.spawn(port)),
            });
        }
        for node in &cluster.nodes {
            wait_for(
                &format!("redis-server on port {} to answer", node.port),
                || cli(node.port, &["PING"]).is_some_and(|r| r.trim() == "PONG"),
            );
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run `redis-cli --cluster create`");
        assert!(
            status.success(),
            "redis-cli --cluster create failed: {status}"
        );
        cluster.wait_until_ok();
        cluster
    }

    fn spawn(&self, port: u16) -> Child {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("create a node dir");
        Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", "1000"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start `redis-server` ({e}); the cluster tests need it: \
                     run scripts/install-deps.sh (or `apt-get install redis-server`)"
                )
            })
    }

    /// `redis://127.0.0.1:<port>/` of every node that is running.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    /// A client configuration for this cluster under `prefix`, with short
    /// timeouts and backoff so failovers are seen within a test's patience.
    pub(crate) fn config(&self, prefix: &str) -> tower_sse::redis::RedisConfig {
        tower_sse::redis::RedisConfig::cluster(self.urls())
            .unwrap()
            .key_prefix(prefix)
            .block_timeout(Duration::from_millis(500))
            .backoff(Duration::from_millis(20), Duration::from_millis(200))
            .connect_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_millis(1000))
    }

    /// The port of the master that owns `key`'s slot now.
    pub(crate) fn master_of(&self, key: &str) -> u16 {
        let slot = self.slot(key);
        self.topology()
            .into_iter()
            .find(|n| {
                n.master && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .map(|n| n.port)
            .expect("a master owns every slot")
    }

    /// Kills (SIGKILL) the master that owns `key`'s slot, promotes its
    /// replica with `CLUSTER FAILOVER TAKEOVER`, and waits until the replica
    /// serves the slot and the cluster is ok. Returns the new master's port.
    pub(crate) fn fail_over(&mut self, key: &str) -> u16 {
        let topology = self.topology();
        let old = self.master_of(key);
        let old_id = topology.iter().find(|n| n.port == old).unwrap().id.clone();
        let replica = topology
            .iter()
            .find(|n| n.master_id.as_deref() == Some(old_id.as_str()))
            .map(|n| n.port)
            .expect("every master has a replica");
        self.kill(old);
        let reply = cli(replica, &["CLUSTER", "FAILOVER", "TAKEOVER"]);
        assert_eq!(
            reply.as_deref().map(str::trim),
            Some("OK"),
            "failover refused"
        );
        wait_for(&format!("{replica} to own the slot of {key}"), || {
            self.try_master_of(key) == Some(replica)
        });
        self.wait_until_ok();
        replica
    }

    /// Waits until the replica of the master owning `key`'s slot has
    /// received everything the master has (equal replication offsets), so
    /// that a failover loses nothing.
    pub(crate) fn wait_for_replication(&self, key: &str) {
        let master = self.master_of(key);
        wait_for(&format!("the replica of {master} to catch up"), || {
            let info = cli(master, &["INFO", "replication"]).unwrap_or_default();
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            let Some(offset) = field("master_repl_offset:") else {
                return false;
            };
            field("slave0:").is_some_and(|slave| {
                slave.contains("state=online")
                    && slave.split(',').any(|kv| kv == format!("offset={offset}"))
            })
        });
    }

    /// Kills the node on `port` (SIGKILL) and waits until it is gone.
    pub(crate) fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).unwrap();
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_master_of(&self, key: &str) -> Option<u16> {
        let slot = self.slot(key);
        self.topology()
            .into_iter()
            .find(|n| {
                n.master && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .map(|n| n.port)
    }

    fn live_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.child.is_some())
            .map(|n| n.port)
            .expect("a node is running")
    }

    fn slot(&self, key: &str) -> u16 {
        cli(self.live_port(), &["CLUSTER", "KEYSLOT", key])
            .and_then(|r| r.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    fn topology(&self) -> Vec<NodeInfo> {
        let text = cli(self.live_port(), &["CLUSTER", "NODES"]).unwrap_or_default();
        text.lines().filter_map(parse_node).collect()
    }

    fn wait_until_ok(&self) {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            wait_for(
                &format!("node {} to report cluster_state:ok", node.port),
                || {
                    cli(node.port, &["CLUSTER", "INFO"])
                        .is_some_and(|info| info.contains("cluster_state:ok"))
                },
            );
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots>…`
fn parse_node(line: &str) -> Option<NodeInfo> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    if parts.len() < 8 {
        return None;
    }
    let port = parts[1]
        .split('@')
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()?;
    let flags = parts[2];
    let slots = parts[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .collect();
    Some(NodeInfo {
        id: parts[0].to_owned(),
        port,
        master: flags.contains("master"),
        failed: flags.contains("fail") && !flags.contains("fail?") || flags.contains("noaddr"),
        master_id: (parts[3] != "-").then(|| parts[3].to_owned()),
        slots,
    })
}

/// Runs `redis-cli -p <port> <args…>` with a short timeout; its output.
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("timeout")
        .arg("2")
        .arg("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Polls `condition` (observing child processes, no test timer) until it
/// holds; panics after [`PATIENCE`].
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` distinct free ports whose cluster bus ports (+10000) are free too.
///
/// Tests run in parallel, and a port is free again once its probe is
/// dropped, before the node binds it: so every port and bus port handed out
/// in this process is kept in a set and never handed out again (a few dozen
/// per test binary). Otherwise two clusters can be given the same port, or
/// one node's port can be another's bus port, and their nodes join each
/// other's cluster.
fn free_ports(n: usize) -> Vec<u16> {
    static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
    let mut ports = Vec::new();
    let mut held = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("local addr").port();
        let bus_free = port < 55_000
            && !taken.contains(&port)
            && !taken.contains(&(port + 10_000))
            && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok();
        if bus_free && !ports.contains(&port) {
            taken.insert(port);
            taken.insert(port + 10_000);
            ports.push(port);
        }
        held.push(listener); // keep it bound so the next bind picks another
    }
    ports
}
