//! The live console (ref §5.2): batches of lines over the `FeedStreamUrl` websocket.

use std::time::Duration;

use fake_github::JobSpec;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::broker::fake;
use crate::run_service::acquired;

#[tokio::test]
async fn batches_show_as_live_lines_of_their_step_in_line_order() {
    let fake = fake().await;
    let job = acquired(&fake, JobSpec::new("build", &["illumos"], &[("a", "seq 3")])).await;
    let step = job.message["steps"][0]["id"].as_str().expect("step id").to_string();
    let url = job.message["resources"]["endpoints"][0]["data"]["FeedStreamUrl"].as_str().expect("feed url");

    let refused = tokio_tungstenite::connect_async(url).await;
    assert!(refused.is_err(), "a socket without the job token is refused");

    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("Authorization", job.token.parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    // The second batch is sent first: lines are placed by startLine, not by arrival.
    let second = json!({"count": 1, "value": ["3"], "stepId": step, "startLine": 3});
    let first = json!({"count": 2, "value": ["1", "2"], "stepId": step, "startLine": 1});
    for batch in [second, first] {
        socket.send(Message::Text(batch.to_string().into())).await.expect("send batch");
    }
    let lines = fake
        .wait_for(Duration::from_secs(10), |f| {
            let view = f.view(&job.job)?;
            let live = view.steps.iter().find(|s| s.id == step)?.live.clone();
            (live.len() == 3).then_some(live)
        })
        .await;
    assert_eq!(lines, Some(vec!["1".to_string(), "2".to_string(), "3".to_string()]));
}
