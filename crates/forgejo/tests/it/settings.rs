//! The daemon's settings: flag > env > file > default, and what is refused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use forgejo::settings::{Flags, Settings, example_config};

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn resolve(flags: Flags, env: &[(&str, &str)]) -> Result<Settings, String> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::resolve(flags, |name| env.get(name).cloned()).map_err(|error| error.to_string())
}

fn with_file(text: &str) -> (tempfile::TempDir, Flags) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("runner.toml");
    std::fs::write(&path, text).expect("writes");
    (dir, Flags { config: Some(path), ..Flags::default() })
}

#[test]
fn defaults_match_forgejo_runner() {
    let settings = resolve(Flags::default(), &[("SOLSTICE_AMQP_URL", BROKER)]).expect("valid");
    assert_eq!(settings.capacity, 1);
    assert_eq!(settings.fetch.interval, Duration::from_secs(2));
    assert_eq!(settings.fetch.fetch_timeout, Duration::from_secs(30));
    assert_eq!(settings.runner_file, PathBuf::from(".runner"));
    assert_eq!(settings.labels, None);
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let (_dir, flags) = with_file("capacity = 3\nlabels = [\"from-file\"]\nfetch_interval_secs = 0.5\n");
    let env = [("SOLSTICE_AMQP_URL", BROKER), ("SOLSTICE_CAPACITY", "5"), ("SOLSTICE_STATE_DIR", "/srv/state")];
    let settings = resolve(flags.clone(), &env).expect("valid");
    assert_eq!(settings.capacity, 5);
    assert_eq!(settings.labels.as_deref(), Some(&["from-file".to_owned()][..]));
    assert_eq!(settings.fetch.interval, Duration::from_millis(500));
    assert_eq!(settings.runner_file, PathBuf::from("/srv/state/.runner"));
    let flagged = resolve(Flags { capacity: Some(7), labels: Some(vec!["flag".into()]), ..flags }, &env).expect("ok");
    assert_eq!(flagged.capacity, 7);
    assert_eq!(flagged.labels.as_deref(), Some(&["flag".to_owned()][..]));
}

/// A config file, the environment, and what the refusal must say.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_settings_are_refused_with_a_reason() {
    let broker = [("SOLSTICE_AMQP_URL", BROKER)];
    let cases: [Case; 6] = [
        ("", &[], "SOLSTICE_AMQP_URL is not set"),
        ("", &[("SOLSTICE_AMQP_URL", BROKER), ("SOLSTICE_CAPACITY", "many")], "SOLSTICE_CAPACITY is not a number"),
        ("capacity = 0\n", &broker, "at least 1"),
        ("fetch_interval_secs = 90\n", &broker, "at most 60"),
        ("fetch_timeout_secs = 120\n", &broker, "at most 50"),
        ("poll = 1\n", &broker, "unknown field"),
    ];
    for (file, env, expected) in cases {
        let (_dir, flags) = with_file(file);
        let error = resolve(flags, env).expect_err(expected);
        assert!(error.contains(expected), "{error:?} should say {expected:?}");
    }
}

#[test]
fn the_generated_config_is_a_valid_config() {
    let (_dir, flags) = with_file(&example_config());
    let settings = resolve(flags, &[("SOLSTICE_AMQP_URL", BROKER)]).expect("the sample parses");
    assert_eq!(settings.capacity, 1);
    assert_eq!(settings.shutdown_timeout, Duration::from_secs(3 * 60 * 60));
}
