//! High availability: two gateways on a three-server NATS cluster share
//! the nodes through leases; one is killed (SIGKILL) under a flood and the
//! other takes its nodes over.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ami_testkit::{Faults, Flood, ServerConfig, TcpServer};
use common::{config, jetstream, read_stream, Gateway, Nats, Stored, TempDir};

const LEASE_MS: u64 = 3_000;

/// Waits until `gw` holds (or not) each of `servers`; returns how long it took.
fn wait_lease(gw: &Gateway, servers: &[&str], held: bool, within: Duration) -> Duration {
    let start = Instant::now();
    let want = if held { 1.0 } else { 0.0 };
    while !servers
        .iter()
        .all(|s| gw.metric(&format!("ami_gateway_lease_held{{server=\"{s}\"}}")) == Some(want))
    {
        assert!(
            start.elapsed() < within,
            "{} did not reach held={held} for {servers:?} within {within:?}:\n{}",
            gw.id,
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    start.elapsed()
}

/// The messages of `server`, grouped by session in stream order: each
/// session must form one run (two gateways never publish it at once) with
/// its events numbered 1, 2, 3... in stream order.
fn sessions<'a>(stored: &'a [Stored], server: &str) -> Vec<(String, Vec<&'a Stored>)> {
    let mut runs: Vec<(String, Vec<&Stored>)> = Vec::new();
    for s in stored.iter().filter(|s| s.json["server"] == server) {
        let session = s.json["session"].as_str().expect("session").to_owned();
        match runs.last_mut() {
            Some((last, msgs)) if *last == session => msgs.push(s),
            _ => {
                assert!(
                    runs.iter().all(|(seen, _)| *seen != session),
                    "{server}: session {session} published again after another one began"
                );
                runs.push((session, vec![s]));
            }
        }
    }
    for (session, msgs) in &runs {
        let seqs: Vec<u64> = msgs.iter().filter_map(|m| m.json["seq"].as_u64()).collect();
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(
            seqs, expected,
            "{server}: session {session} numbered in order, no gap"
        );
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateways_nodes_are_taken_over_and_never_published_twice() {
    if !common::nats_available() {
        return;
    }
    let dir = TempDir::new("ha");
    let cluster = Nats::cluster(&dir.0);
    let urls: Vec<String> = cluster.iter().map(Nats::url).collect();
    let (_client, js) = jetstream(&urls[0]).await;
    let flood = Faults {
        flood: Some(Flood {
            events: 6_000,
            rate_per_sec: Some(2_000),
            then_done: true,
        }),
        ..Faults::default()
    };
    let nodes: Vec<TcpServer> = (0..2)
        .map(|_| TcpServer::start(ServerConfig::default(), flood.clone()).expect("fake node"))
        .collect();
    let names = ["pbx1", "pbx2"];
    let table: Vec<(&str, u16)> = names
        .iter()
        .copied()
        .zip(nodes.iter().map(|n| n.port()))
        .collect();
    let nats_list = urls
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let gateway = |id: &str| {
        config(
            &format!(
                "id = \"{id}\"\nnats = [{nats_list}]\nlease_ttl_ms = {LEASE_MS}\nstream_replicas = 3\npublish_timeout_ms = 1000"
            ),
            &table,
            "queue_policy = \"backpressure\"\nheartbeat_interval_ms = 0",
        )
    };
    let mut a = Gateway::start(&dir.0, "gw-a", &gateway("gw-a"));
    wait_lease(&a, &names, true, Duration::from_secs(30));
    let b = Gateway::start(&dir.0, "gw-b", &gateway("gw-b"));
    // b waits: the nodes are a's. Let the flood run a little.
    std::thread::sleep(Duration::from_millis(800));
    wait_lease(&b, &names, false, Duration::from_secs(1));
    for n in names {
        let out = a.metric(&format!("ami_gateway_events_out_total{{server=\"{n}\"}}"));
        assert!(out.unwrap_or(0.0) > 0.0, "{n}: nothing published by a");
    }

    a.kill();
    let took = wait_lease(&b, &names, true, Duration::from_millis(LEASE_MS + 5_000));
    // The lease ran at most LEASE_MS from a's last renewal, which came
    // before the kill; b looks every LEASE_MS / 8.
    assert!(
        took <= Duration::from_millis(LEASE_MS + 1_500),
        "takeover took {took:?} with a {LEASE_MS} ms lease"
    );

    // Read until b's session of each node has its whole flood.
    let stored = read_stream(&js, "AMI_EVENTS", Duration::from_secs(90), |s| {
        names.iter().all(|n| {
            let first = s
                .iter()
                .find(|m| m.json["server"] == *n)
                .map(|m| &m.json["session"]);
            s.iter().any(|m| {
                m.json["server"] == *n
                    && m.json["event"] == "BenchDone"
                    && Some(&m.json["session"]) != first
            })
        })
    })
    .await;
    for n in names {
        let runs = sessions(&stored, n);
        assert_eq!(runs.len(), 2, "{n}: a's session, then b's");
        let markers: HashMap<&str, &Stored> = runs
            .iter()
            .filter_map(|(session, msgs)| Some((session.as_str(), *msgs.first()?)))
            .collect();
        let (b_session, b_msgs) = &runs[1];
        let takeover = markers[b_session.as_str()];
        assert_eq!(takeover.subject, format!("ami.{n}.gateway"));
        assert_eq!(takeover.json["marker"], "acquired");
        assert_eq!(takeover.json["gateway"], "gw-b");
        assert_eq!(takeover.json["previous"], "gw-a");
        assert!(
            b_msgs.iter().any(|m| m.json["event"] == "BenchDone"),
            "{n}: b's flood complete"
        );
        assert_eq!(runs[0].1[0].json["gateway"], "gw-a");
    }
}
