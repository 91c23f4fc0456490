//! The multi-server cluster over real TCP: every node driven from the start,
//! routing, fairness under a flood, shutdown.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{Action, AuthMethod, CloseReason, ConnState};
use ami_smol::{ClientConfig, Cluster, ClusterError, Route};
use ami_testkit::{Faults, TcpServer};
use common::{config, run, server};
use futures_lite::StreamExt;
use smol::Timer;

fn node(server: &TcpServer) -> ClientConfig {
    config(server, AuthMethod::Plain)
}

#[test]
fn every_node_is_driven_from_the_start_and_routes_work() {
    let servers: Vec<_> = (0..3).map(|_| server(Faults::default())).collect();
    let dead = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    run(20, async {
        let mut nodes = vec![("down".to_string(), node(&dead))];
        nodes.extend(
            ["a", "b", "c"]
                .iter()
                .zip(&servers)
                .map(|(n, s)| (n.to_string(), node(s))),
        );
        let cluster = Cluster::new(nodes).unwrap();
        // Nobody asked anything yet; every live node logs in all the same
        // (waited for without a deadline of its own, so a loaded machine
        // cannot fail it: `run` bounds the test).
        for name in ["a", "b", "c"] {
            let client = cluster.node(name).expect("configured");
            client.ready().await.expect("logs in");
        }
        assert!(servers.iter().all(|s| s.connections() == 1));
        // Then `wait_ready` names exactly the node that cannot be reached.
        let not_ready = cluster.wait_ready(Duration::from_millis(500)).await;
        assert_eq!(not_ready.iter().map(|n| &**n).collect::<Vec<_>>(), ["down"]);

        let mut answered: HashMap<String, usize> = HashMap::new();
        for _ in 0..9 {
            let (node, _) = cluster
                .send(Action::ping(), Route::RoundRobin)
                .await
                .unwrap();
            *answered.entry(node.to_string()).or_default() += 1;
        }
        assert_eq!(answered.len(), 3, "{answered:?}");
        assert!(answered.values().all(|&n| n == 3), "{answered:?}");
        // Failover skips the node that is down.
        let (node, _) = cluster.send(Action::ping(), Route::Failover).await.unwrap();
        assert_eq!(&*node, "a");
        cluster.send_to("b", Action::ping()).await.unwrap();
        assert!(matches!(
            cluster.send_to("nope", Action::ping()).await,
            Err(ClusterError::UnknownNode(_))
        ));
        assert!(matches!(
            cluster.send_to("down", Action::ping()).await,
            Err(ClusterError::Node { .. })
        ));

        let started = Instant::now();
        cluster.shutdown(Duration::from_secs(1)).await;
        assert!(started.elapsed() < Duration::from_millis(1500));
        for (name, state) in cluster.states() {
            match &*name {
                "down" => assert!(matches!(state, ConnState::Closed(_))),
                _ => assert_eq!(state, ConnState::Closed(CloseReason::LoggedOff), "{name}"),
            }
        }
        for s in &servers {
            let logoffs = s
                .received_actions()
                .iter()
                .filter(|a| *a == "Logoff")
                .count();
            assert_eq!(logoffs, 1);
        }
        // Shutdown is a state: nothing reconnects afterwards.
        Timer::after(Duration::from_millis(300)).await;
        assert!(servers.iter().all(|s| s.connections() == 1));
        assert!(matches!(
            cluster.send(Action::ping(), Route::RoundRobin).await,
            Err(ClusterError::NoNodeReady)
        ));
    });
}

/// The stated bound: while one node floods as fast as loopback allows (the
/// flood lasts 2-3 s in a debug build), pings on the three quiet nodes keep a
/// p99 under 50 ms and a maximum under 1 s. Without per-wake read budgets the
/// flooding node would hold the shared executor thread for the whole flood.
/// Measured in a debug build on a 2-core machine under a load average of 9:
/// p50 2.6-4.9 ms, p99 5.8-11.8 ms, max 9.7-27 ms (the release target is a
/// p99 of 5 ms with 100 nodes).
#[test]
fn flooding_node_does_not_delay_pings_on_quiet_nodes() {
    let flooding = server(Faults::flood(200_000));
    let quiet: Vec<_> = (0..3).map(|_| server(Faults::default())).collect();
    run(40, async {
        let mut nodes = vec![("flood".to_string(), node(&flooding))];
        nodes.extend(
            quiet
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("quiet{i}"), node(s))),
        );
        let (cluster, mut events) = Cluster::with_events(nodes).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicU64::new(0));
        // The consumer drains the merged stream as fast as it can.
        let (d, n) = (done.clone(), seen.clone());
        let consumer = smol::spawn(async move {
            while let Some((node, event)) = events.next().await {
                if &*node == "flood" {
                    n.fetch_add(1, Ordering::Relaxed);
                }
                if event.is("BenchDone") {
                    d.store(true, Ordering::Relaxed);
                }
                if d.load(Ordering::Relaxed) && &*node != "flood" {
                    break;
                }
            }
        });
        assert!(cluster.wait_ready(Duration::from_secs(5)).await.is_empty());
        let mut rtts = Vec::new();
        let mut during = 0;
        let window_start = seen.load(Ordering::Relaxed);
        let started = Instant::now();
        while !done.load(Ordering::Relaxed) && rtts.len() < 3000 {
            for i in 0..3 {
                let t = Instant::now();
                cluster
                    .send_to(&format!("quiet{i}"), Action::ping())
                    .await
                    .unwrap();
                rtts.push(t.elapsed());
            }
            during += 1;
        }
        let window = started.elapsed();
        let flood_events = seen.load(Ordering::Relaxed) - window_start;
        rtts.sort();
        let p50 = rtts[rtts.len() / 2];
        let p99 = rtts[rtts.len() * 99 / 100];
        let max = *rtts.last().unwrap();
        let flood_stats = cluster.stats()[0].1;
        eprintln!(
            "fairness: {} pings in {during} rounds over {window:?} while the flood delivered \
             {flood_events} events to the consumer ({} decoded in total, {} dropped); \
             quiet-node ping p50 {p50:?} p99 {p99:?} max {max:?}",
            rtts.len(),
            flood_stats.session.events,
            flood_stats.events_dropped,
        );
        assert!(
            during >= 3,
            "the flood ended before the pings could be measured"
        );
        assert!(
            flood_events > 1000,
            "the flood must be running during the measurement"
        );
        assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
        assert!(max < Duration::from_secs(1), "max {max:?}");
        cluster.shutdown(Duration::from_secs(1)).await;
        consumer.await;
    });
}
