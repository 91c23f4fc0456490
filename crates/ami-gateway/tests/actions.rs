//! Actions in: a request per completion kind and per bad request, through
//! a real NATS server to a fake Asterisk node and back.

mod common;

use std::time::{Duration, Instant};

use ami_testkit::{Faults, OriginateBehavior, OriginateOutcome, ServerConfig, TcpServer};
use common::{config, Gateway, Nats, TempDir};
use serde_json::{json, Value};

/// Sends `body` to `subject` and returns the reply's JSON.
async fn request(nats: &async_nats::Client, subject: &str, body: Value) -> Value {
    common::schema::assert_valid("request", &body);
    let body = serde_json::to_vec(&body).expect("json");
    raw_request(nats, subject, body).await
}

async fn raw_request(nats: &async_nats::Client, subject: &str, body: Vec<u8>) -> Value {
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        nats.request(subject.to_owned(), body.into()),
    )
    .await
    .expect("a reply in time")
    .expect("a reply");
    let reply: Value = serde_json::from_slice(&reply.payload).expect("a JSON reply");
    // Every reply is as the schema says.
    let def = if reply["ok"] == true {
        "reply_ok"
    } else {
        "reply_error"
    };
    common::schema::assert_valid(def, &reply);
    reply
}

/// Waits until the gateway holds `server` and its session is up.
fn wait_held(gw: &Gateway, server: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let up = format!("ami_gateway_session_up{{server=\"{server}\"}}");
    while gw.metric(&up) != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "{server} never came up:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_completion_kind_and_every_bad_request() {
    if !common::nats_available() {
        return;
    }
    let dir = TempDir::new("actions");
    let nats = Nats::start(&dir.0);
    let pbx = ServerConfig {
        channels: 3,
        ..ServerConfig::default()
    }
    .with_command("core show uptime", &["System uptime: 6 seconds"]);
    let pbx1 = TcpServer::start(pbx, Faults::default()).expect("pbx1");
    let lost = ServerConfig {
        originate: OriginateBehavior {
            delay: Duration::ZERO,
            outcome: OriginateOutcome::Never,
        },
        ..ServerConfig::default()
    };
    let pbx2 = TcpServer::start(lost, Faults::default()).expect("pbx2");
    let cfg = config(
        &format!("nats = [\"{}\"]", nats.url()),
        &[("pbx1", pbx1.port()), ("pbx2", pbx2.port())],
        "",
    );
    let mut gw = Gateway::start(&dir.0, "gw", &cfg);
    wait_held(&gw, "pbx1");
    wait_held(&gw, "pbx2");
    let client = async_nats::connect(nats.url()).await.expect("connect");

    // One response.
    let r = request(&client, "ami.pbx1.action", json!({"action": "Ping"})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["server"], "pbx1");
    assert!(r["response"].to_string().contains("Pong"), "{r}");

    // An event list.
    let r = request(
        &client,
        "ami.pbx1.action",
        json!({"action": "CoreShowChannels"}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["items"].as_array().map(Vec::len), Some(3), "{r}");
    assert!(
        r["complete"]
            .to_string()
            .contains("CoreShowChannelsComplete"),
        "{r}"
    );

    // Command output.
    let r = request(
        &client,
        "ami.pbx1.action",
        json!({"action": "Command", "headers": [["Command", "core show uptime"]]}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["output"], json!(["System uptime: 6 seconds"]), "{r}");

    // An async Originate's outcome.
    let originate = |timeout_ms: u64| {
        json!({
            "action": "Originate",
            "headers": [["Channel", "PJSIP/100"], ["Context", "default"], ["Exten", "200"],
                        ["Priority", "1"], ["Async", "true"]],
            "timeout_ms": timeout_ms,
        })
    };
    let r = request(&client, "ami.pbx1.action", originate(5_000)).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["event"].to_string().contains("OriginateResponse"), "{r}");

    // A server error.
    let r = request(
        &client,
        "ami.pbx1.action",
        json!({"action": "Hangup", "headers": [["Channel", "PJSIP/nobody-00000000"]]}),
    )
    .await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["kind"], "server", "{r}");
    assert_eq!(r["error"]["status"], "Error", "{r}");

    // A timeout: pbx2 never says how its Originate ended.
    let r = request(&client, "ami.pbx2.action", originate(300)).await;
    assert_eq!(r["error"]["kind"], "timeout", "{r}");

    let before = pbx1.received_actions();
    // Bad requests: answered, and nothing reaches Asterisk.
    let r = raw_request(&client, "ami.pbx1.action", b"Action: Ping\r\n\r\n".to_vec()).await;
    assert_eq!(r["error"]["kind"], "bad_request", "{r}");
    // (Not `request`: the schema would refuse this body before sending.)
    let extra = serde_json::to_vec(&json!({"action": "Ping", "extra": 1})).expect("json");
    let r = raw_request(&client, "ami.pbx1.action", extra).await;
    assert_eq!(r["error"]["kind"], "bad_request", "{r}");
    let r = request(&client, "ami.nosuch.action", json!({"action": "Ping"})).await;
    assert_eq!(r["error"]["kind"], "unknown_server", "{r}");
    assert_eq!(r["server"], "nosuch");
    let injected = json!({"action": "Setvar", "headers": [
        ["Variable", "X"], ["Value", "1\r\nAction: Hangup\r\nChannel: PJSIP/100-00000001"]]});
    let r = request(&client, "ami.pbx1.action", injected).await;
    assert_eq!(r["error"]["kind"], "refused", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("CR or LF"),
        "{r}"
    );
    let r = request(&client, "ami.pbx1.action", json!({"action": "Hangup"})).await;
    assert_eq!(r["error"]["kind"], "refused", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Channel"),
        "{r}"
    );
    let r = request(&client, "ami.pbx1.action", json!({"action": "Logoff"})).await;
    assert_eq!(r["error"]["kind"], "refused", "{r}");
    // A Ping after them proves the session is fine and that they never
    // reached the server: only the Ping did.
    let r = request(&client, "ami.pbx1.action", json!({"action": "Ping"})).await;
    assert_eq!(r["ok"], true, "{r}");
    let after = pbx1.received_actions();
    let new: Vec<&String> = after[before.len()..]
        .iter()
        .filter(|a| a.as_str() != "Ping")
        .collect();
    assert!(new.is_empty(), "reached Asterisk: {new:?}");

    let ok = gw.metric("ami_gateway_actions_served_total{server=\"pbx1\"}");
    assert_eq!(ok, Some(5.0));
    assert_eq!(gw.terminate(Duration::from_secs(15)), Some(0));
}
