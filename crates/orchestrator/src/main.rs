//! The standalone orchestrator daemon. It needs RabbitMQ, which comes with the orchestrator
//! issue; until then only `solstice run` (in-process bus) runs jobs.

use std::process::ExitCode;

fn main() -> ExitCode {
    match std::env::var_os("SOLSTICE_AMQP_URL") {
        None => eprintln!(
            "orchestrator: SOLSTICE_AMQP_URL is not set; the standalone orchestrator needs RabbitMQ. \
             Only `solstice run` is available for now."
        ),
        Some(_) => {
            eprintln!("orchestrator: the RabbitMQ bus is not built yet; only `solstice run` is available for now.")
        }
    }
    ExitCode::from(2)
}
