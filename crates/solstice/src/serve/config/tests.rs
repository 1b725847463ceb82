use super::*;

fn args(config: Option<PathBuf>) -> ServeArgs {
    ServeArgs { config, executor: None, guest_network: None, capacity: None, metrics_addr: None }
}

fn resolve(args: &ServeArgs, vars: &[(&str, &str)]) -> Result<ServeConfig, String> {
    let env = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
    ServeConfig::resolve(args, env, Some(PathBuf::from("/state"))).map_err(|error| error.to_string())
}

fn with_file(text: &str, vars: &[(&str, &str)]) -> Result<ServeConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("solstice.toml");
    std::fs::write(&path, text).unwrap();
    resolve(&args(Some(path)), vars)
}

#[test]
fn one_forgejo_connection_from_the_environment_with_defaults_under_the_state_dir() {
    let vars = [
        ("SOLSTICE_FORGEJO_URL", "https://codeberg.org/"),
        ("SOLSTICE_FORGEJO_TOKEN", "secret"),
        ("SOLSTICE_LABELS", "linux-test, self-hosted"),
        ("SOLSTICE_RUNNER_NAME", "box-1"),
    ];
    let config = resolve(&args(None), &vars).unwrap();
    assert_eq!(config.database_url, "sqlite:///state/solstice.db");
    assert_eq!(config.executor, ExecutorKind::Qemu);
    let [forgejo] = &config.forgejo[..] else { panic!("one connection: {config:?}") };
    assert_eq!(forgejo.url, "https://codeberg.org");
    assert_eq!(forgejo.name, "box-1");
    assert_eq!(forgejo.labels.as_deref(), Some(&["linux-test".to_owned(), "self-hosted".to_owned()][..]));
    assert_eq!(forgejo.runner_file, Path::new("/state/forgejo/codeberg.org-box-1/.runner"));
    assert_eq!(forgejo.token.as_ref().map(|t| t.expose().to_owned()), Some("secret".to_owned()));
    assert!(!format!("{config:?}").contains("secret"), "tokens never Debug-print");
}

#[test]
fn the_environment_overrides_the_matching_table_and_flags_beat_both() {
    let file = "executor = \"qemu\"\ncapacity = 3\n[[forgejo]]\nurl = \"http://127.0.0.1:3000\"\nlabels = [\"a\"]\nrunner_file = \"/r/.runner\"\n";
    let vars =
        [("SOLSTICE_FORGEJO_URL", "http://127.0.0.1:3000"), ("SOLSTICE_LABELS", "b"), ("SOLSTICE_EXECUTOR", "local")];
    let config = with_file(file, &vars).unwrap();
    assert_eq!(config.executor, ExecutorKind::Local);
    assert_eq!(config.capacity, 3);
    assert_eq!(config.forgejo.len(), 1);
    assert_eq!(config.forgejo[0].labels.as_deref(), Some(&["b".to_owned()][..]));
    assert_eq!(config.forgejo[0].runner_file, Path::new("/r/.runner"));
    assert_eq!(config.forgejo[0].capacity, 3, "a connection's capacity defaults to the host's");

    let mut flagged = args(None);
    flagged.executor = Some(ExecutorKind::Qemu);
    let config = resolve(&flagged, &[("SOLSTICE_EXECUTOR", "local"), ("SOLSTICE_FORGEJO_URL", "http://f")]).unwrap();
    assert_eq!(config.executor, ExecutorKind::Qemu);
}

#[test]
fn a_github_scope_is_parsed_from_a_table_and_the_environment() {
    let file = "[[github]]\nurl = \"https://github.com/acme\"\nlabels = [\"linux-test\"]\ncapacity = 2\n";
    let vars = [
        ("SOLSTICE_GITHUB_URL", "https://github.com/acme/tools"),
        ("SOLSTICE_GITHUB_TOKEN", "ghp_x"),
        ("SOLSTICE_LABELS", "omnios"),
    ];
    let config = with_file(file, &vars).unwrap();
    let urls: Vec<&str> = config.github.iter().map(|g| g.url.as_str()).collect();
    assert_eq!(urls, ["https://github.com/acme", "https://github.com/acme/tools"]);
    assert_eq!(config.github[1].labels, ["omnios"]);
    assert!(config.github[1].token.is_some());
}

#[test]
fn what_cannot_be_used_is_refused() {
    let check = |file: &str, vars: &[(&str, &str)], expected: &str| {
        let error = with_file(file, vars).expect_err(expected);
        assert!(error.contains(expected), "{error} should say {expected:?}");
    };
    check("", &[], "nothing to serve");
    check("surprise = 1\n", &[], "unknown field");
    check("[[forgejo]]\nurl = \"x\"\nsurprise = 1\n", &[], "unknown field");
    check("[[forgejo]]\nurl = \"ftp://x\"\n", &[], "http:// or https://");
    check("[[forgejo]]\nurl = \"http://x\"\nlabels = []\n", &[], "labels is empty");
    check("[[forgejo]]\nurl = \"http://x\"\nfetch_interval_secs = 90\n", &[], "at most 60");
    check("[[forgejo]]\nurl = \"http://x\"\n[[forgejo]]\nurl = \"http://x/\"\n", &[], "two connections");
    check("[[github]]\nurl = \"https://github.com/a\"\n", &[], "no labels");
    check("", &[("SOLSTICE_FORGEJO_URL", "http://x"), ("SOLSTICE_DATABASE_URL", "postgres://db")], "sqlite://");
    check("", &[("SOLSTICE_FORGEJO_URL", "http://x"), ("SOLSTICE_CAPACITY", "0")], "at least 1");
    check("", &[("SOLSTICE_FORGEJO_URL", "http://x"), ("SOLSTICE_EXECUTOR", "docker")], "qemu or local");
    check("metrics_addr = \"9464\"\n", &[("SOLSTICE_FORGEJO_URL", "http://x")], "ADDRESS:PORT");
}
