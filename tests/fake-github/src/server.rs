//! The routes: every host of the reference on its own path prefix of one server.

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::state::Shared;
use crate::{broker, jit_config, legacy, live_console, oauth, registration, results, run_service};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/actions/runner-registration", post(registration::runner_registration))
        .route("/actions/runners/register", post(registration::register));
    // ref §1.3: ENTITY is a repository, an organisation or an enterprise.
    let api = ["/repos/{owner}/{repo}", "/orgs/{org}", "/enterprises/{ent}"].into_iter().fold(api, |api, scope| {
        api.route(&format!("{scope}/actions/runner-groups"), get(registration::runner_groups))
            .route(&format!("{scope}/actions/runners"), get(registration::list_runners))
            .route(&format!("{scope}/actions/runners/registration-token"), post(registration::mint_registration_token))
            .route(&format!("{scope}/actions/runners/remove-token"), post(registration::mint_remove_token))
            .route(&format!("{scope}/actions/runners/generate-jitconfig"), post(jit_config::generate))
            .route(&format!("{scope}/actions/runners/{{id}}"), delete(registration::delete_runner))
    });
    let pipelines = Router::new()
        .route("/_apis/connectionData", get(legacy::connection_data))
        .route("/_apis/distributedtask/pools", get(legacy::pools))
        .route("/_apis/distributedtask/pools/{pool_id}/agents", post(legacy::add_agent).get(legacy::list_agents))
        .route(
            "/_apis/distributedtask/pools/{pool_id}/agents/{agent_id}",
            put(legacy::replace_agent).delete(legacy::delete_agent),
        );
    Router::new()
        .nest("/api/v3", api)
        .nest("/pipelines", pipelines)
        .route("/oauth/token", post(oauth::token))
        // ref §3.3: the broker base is `server_url` / `ServerUrlV2`.
        .route("/broker/session", post(broker::create_session).delete(broker::delete_session))
        .route("/broker/message", get(broker::poll))
        .route("/broker/acknowledge", post(broker::acknowledge))
        // ref §4: the run service base is the message's `run_service_url` and the
        // SystemVssConnection `url`.
        .route("/run/acquirejob", post(run_service::acquire))
        .route("/run/renewjob", post(run_service::renew))
        .route("/run/completejob", post(run_service::complete))
        // ref §5.1: `{results_endpoint}twirp/<service>/<method>`.
        .route(
            "/results/twirp/github.actions.results.api.v1.WorkflowStepUpdateService/WorkflowStepsUpdate",
            post(results::steps_update),
        )
        .route("/results/twirp/results.services.receiver.Receiver/{method}", post(results::receiver))
        .route("/blobs/{id}", put(results::put_blob))
        // ref §5.2: the `FeedStreamUrl` of the SystemVssConnection.
        .route("/feed/{job_id}", get(live_console::feed))
        .with_state(shared)
}
