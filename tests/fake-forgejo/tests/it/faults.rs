//! Faults a test switches on: a proxy's 503 page and one-off Connect errors.

use std::time::Duration;

use fake_forgejo::{Code, FakeForgejo, PROXY_PAGE};

use crate::client::{registered, two_step_job};

#[tokio::test]
async fn a_proxy_outage_answers_503_html_until_cleared() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    let job = fake.add_job(two_step_job());
    fake.proxy_down();
    for _ in 0..2 {
        let failure = client.fetch(0).await.unwrap_err();
        assert_eq!(failure.status, 503);
        assert_eq!(failure.content_type, "text/html");
        assert_eq!(failure.body, PROXY_PAGE);
        assert_eq!(failure.code(), "", "the page is not a Connect error");
    }
    assert_eq!(fake.view(job).unwrap().task_id, None, "the server never saw the calls");
    fake.clear_faults();
    assert!(client.fetch(0).await.unwrap().task.is_some());
}

#[tokio::test]
async fn a_timed_proxy_outage_ends_by_itself() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    fake.proxy_down_for(Duration::from_secs(30));
    assert_eq!(client.fetch(0).await.unwrap_err().status, 503);
    // The outage is measured on tokio's clock, so the test moves it instead of waiting.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(31)).await;
    tokio::time::resume();
    assert!(client.fetch(0).await.is_ok());
}

#[tokio::test]
async fn an_injected_error_is_answered_once_to_its_method() {
    let fake = FakeForgejo::start().await.unwrap();
    let client = registered(&fake, &["linux"], false).await;
    fake.add_job(two_step_job());
    fake.fail_once(Some("FetchTask"), Code::Unavailable);

    assert!(client.declare(&["linux"]).await.is_ok(), "another method is not affected");
    let failure = client.fetch(0).await.unwrap_err();
    assert_eq!((failure.status, failure.code()), (503, "unavailable".into()));
    assert!(client.fetch(0).await.unwrap().task.is_some(), "the failed call had no effect");
}
