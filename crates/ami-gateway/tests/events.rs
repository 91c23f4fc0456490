//! Events out: floods from fake Asterisk nodes through the gateway into a
//! real JetStream, and JetStream restarted under a flood.

mod common;

use std::time::{Duration, Instant};

use ami_testkit::{Faults, Flood, ServerConfig, TcpServer};
use common::{config, events_of, jetstream, read_stream, Gateway, Nats, Stored, TempDir};

/// The header `name` of a stored event.
fn header<'a>(s: &'a Stored, name: &str) -> Option<&'a str> {
    s.json["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

/// The events the fake Asterisk sends right after a login.
const LOGIN_BURST: u64 = 2;

/// Every event of `server` once, in order: one session, `seq` 1..=n in
/// stream order, ending with the flood's `BenchDone` saying how many came
/// before it.
fn assert_complete(stored: &[Stored], server: &str, flood: u64) {
    let events = events_of(stored, server);
    // The login burst (FullyBooted, SuccessfulAuth), the flood, BenchDone.
    assert_eq!(
        events.len() as u64,
        LOGIN_BURST + flood + 1,
        "{server}: events stored"
    );
    assert_eq!(events[0].json["event"], "FullyBooted");
    let session = &events[0].json["session"];
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.json["seq"], i as u64 + 1, "{server}: seq in stream order");
        assert_eq!(&e.json["session"], session, "{server}: one session");
        let name = e.json["event"].as_str().expect("event name");
        assert_eq!(e.subject, format!("ami.{server}.event.{name}"));
    }
    let last = events.last().expect("events");
    assert_eq!(last.json["event"], "BenchDone");
    assert_eq!(header(last, "Events"), Some(flood.to_string().as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_flood_arrives_in_order_and_complete() {
    if !common::nats_available() {
        return;
    }
    const FLOOD: u64 = 5_000;
    let dir = TempDir::new("flood");
    let nats = Nats::start(&dir.0);
    let nodes: Vec<TcpServer> = (0..3)
        .map(|_| {
            TcpServer::start(ServerConfig::default(), Faults::flood(FLOOD)).expect("fake node")
        })
        .collect();
    let names = ["pbx1", "pbx2", "pbx3"];
    let table: Vec<(&str, u16)> = names
        .iter()
        .copied()
        .zip(nodes.iter().map(|n| n.port()))
        .collect();
    let cfg = config(
        &format!("nats = [\"{}\"]\nmax_unacked = 256", nats.url()),
        &table,
        "queue_policy = \"backpressure\"\nevent_queue = 1000",
    );
    let gw = Gateway::start(&dir.0, "gw", &cfg);
    let (_client, js) = jetstream(&nats.url()).await;

    let stored = read_stream(&js, "AMI_EVENTS", Duration::from_secs(90), |s| {
        names
            .iter()
            .all(|n| events_of(s, n).len() as u64 > LOGIN_BURST + FLOOD)
    })
    .await;

    for name in names {
        assert_complete(&stored, name, FLOOD);
        // The tenure's first message is its marker.
        let first = stored
            .iter()
            .find(|s| s.json["server"] == name)
            .expect("messages of the node");
        assert_eq!(first.subject, format!("ami.{name}.gateway"));
        assert_eq!(first.json["marker"], "acquired");
        assert_eq!(first.json["gateway"], gw.id.as_str());
        let out = gw.metric(&format!(
            "ami_gateway_events_out_total{{server=\"{name}\"}}"
        ));
        assert_eq!(out, Some((LOGIN_BURST + FLOOD + 1) as f64), "{name}");
        let dropped = gw.metric(&format!(
            "ami_gateway_events_dropped_total{{server=\"{name}\"}}"
        ));
        assert_eq!(dropped, Some(0.0), "{name}");
        assert_eq!(
            gw.metric(&format!("ami_gateway_lease_held{{server=\"{name}\"}}")),
            Some(1.0)
        );
    }
    let (code, body) = gw.get("/health");
    assert_eq!(code, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_restarted_under_a_flood_loses_and_repeats_nothing() {
    if !common::nats_available() {
        return;
    }
    const FLOOD: u64 = 12_000;
    const MAX_UNACKED: u64 = 128;
    let dir = TempDir::new("restart");
    let mut nats = Nats::start(&dir.0);
    let flood = Faults {
        flood: Some(Flood {
            events: FLOOD,
            rate_per_sec: Some(4_000),
            then_done: true,
        }),
        ..Faults::default()
    };
    let node = TcpServer::start(ServerConfig::default(), flood).expect("fake node");
    let cfg = config(
        &format!(
            "nats = [\"{}\"]\nmax_unacked = {MAX_UNACKED}\npublish_timeout_ms = 500",
            nats.url()
        ),
        &[("pbx1", node.port())],
        // No heartbeat: a Ping awaited while the queue is full would let
        // the client drop events (documented), and this test wants none.
        "queue_policy = \"backpressure\"\nevent_queue = 500\nheartbeat_interval_ms = 0",
    );
    let gw = Gateway::start(&dir.0, "gw", &cfg);
    let metric = |name: &str| {
        gw.metric(&format!("{name}{{server=\"pbx1\"}}"))
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric("ami_gateway_events_out_total") < 2_000.0 {
        assert!(Instant::now() < deadline, "no flood:\n{}", gw.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }

    nats.kill();
    std::thread::sleep(Duration::from_millis(1_500));
    // Back-pressure: the gateway reads no more than its window holds.
    let (read, acked) = (
        metric("ami_gateway_events_in_total"),
        metric("ami_gateway_events_out_total"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let read_later = metric("ami_gateway_events_in_total");
    assert_eq!(
        read, read_later,
        "events still read while JetStream is down"
    );
    assert!(
        read - acked <= MAX_UNACKED as f64,
        "read {read}, acked {acked}"
    );
    assert!(
        acked < (LOGIN_BURST + FLOOD) as f64,
        "the flood was over before the restart"
    );

    nats.restart();
    let (_client, js) = jetstream(&nats.url()).await;
    let stored = read_stream(&js, "AMI_EVENTS", Duration::from_secs(90), |s| {
        events_of(s, "pbx1")
            .last()
            .is_some_and(|e| e.json["event"] == "BenchDone")
            && events_of(s, "pbx1").len() as u64 > LOGIN_BURST + FLOOD
    })
    .await;
    let events = events_of(&stored, "pbx1");
    let mut seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| e.json["seq"].as_u64())
        .collect();
    let total = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), total, "an event stored twice");
    assert_eq!(total as u64, LOGIN_BURST + FLOOD + 1, "events stored");
    assert_eq!(seqs.last().copied(), Some(total as u64), "a gap in seq");
    assert!(
        metric("ami_gateway_publish_retries_total") > 0.0,
        "no retry was needed?"
    );
    assert_eq!(metric("ami_gateway_events_dropped_total"), 0.0);
    assert_eq!(metric("ami_gateway_events_out_total"), total as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_ami_session_is_marked_and_the_numbering_goes_on() {
    if !common::nats_available() {
        return;
    }
    let dir = TempDir::new("reconnect");
    let nats = Nats::start(&dir.0);
    // Each connection gets a small flood, then is closed by the server.
    let flapping = Faults {
        drop_after: Some(Duration::from_millis(400)),
        ..Faults::flood(50)
    };
    let node = TcpServer::start(ServerConfig::default(), flapping).expect("fake node");
    let cfg = config(
        &format!("nats = [\"{}\"]", nats.url()),
        &[("pbx1", node.port())],
        "",
    );
    let _gw = Gateway::start(&dir.0, "gw", &cfg);
    let (_client, js) = jetstream(&nats.url()).await;
    let stored = read_stream(&js, "AMI_EVENTS", Duration::from_secs(30), |s| {
        s.iter()
            .filter(|m| m.json["marker"] == "reconnected")
            .count()
            >= 1
            && events_of(s, "pbx1").len() as u64 >= 2 * (LOGIN_BURST + 51)
    })
    .await;
    let mut last_seq = 0;
    let mut reconnects = 0;
    for m in &stored {
        if let Some(seq) = m.json["seq"].as_u64() {
            assert_eq!(seq, last_seq + 1, "one numbering across AMI sessions");
            last_seq = seq;
        } else if m.json["marker"] == "reconnected" {
            assert_eq!(
                m.json["last_seq"], last_seq,
                "the marker says where the gap is"
            );
            reconnects += 1;
        }
    }
    assert!(
        reconnects >= 1,
        "no reconnected marker in {} messages",
        stored.len()
    );
}
