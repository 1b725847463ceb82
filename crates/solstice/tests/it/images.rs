//! `solstice images list|pull|verify` as a user runs them: the table, exit codes (2 bad input,
//! 3 a failed download), a pull from a loopback HTTP server named by a `SOLSTICE_IMAGES`
//! catalog, and `verify` booting the real `linux-test` image (VM skip rule of testkit).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use crate::{assert_exit, text};

/// `solstice images ARGS` with no `SOLSTICE_*` from the caller, `state` as the state dir and
/// `catalog` (a file) as `SOLSTICE_IMAGES` when given.
fn images(args: &[&str], state: &Path, catalog: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_solstice"));
    command.arg("images").args(args).stdin(Stdio::null());
    for (name, _) in std::env::vars_os().filter(|(n, _)| n.to_string_lossy().starts_with("SOLSTICE_")) {
        command.env_remove(name);
    }
    command.env("SOLSTICE_STATE_DIR", state);
    if let Some(catalog) = catalog {
        command.env("SOLSTICE_IMAGES", catalog);
    }
    command.output().unwrap()
}

/// A catalog entry downloading a raw, uncompressed disk from `url`, checked against `sums`.
fn entry(label: &str, url: &str, sums: &str) -> String {
    format!(
        "[images.{label}]\ndescription = \"test {label}\"\nsource = \"download\"\nos = \"linux\"\nrunner_os = \"Linux\"\n\
         arch = \"x86_64\"\nagent = \"none\"\nuser = \"runner\"\n\
         [images.{label}.download]\nurl = \"{url}\"\nchecksum_url = \"{sums}\"\nchecksum = \"sha256\"\n\
         format = \"raw\"\ncompression = \"none\"\nverified_offline = true\n\
         [images.{label}.disk]\nfile = \"disk.qcow2\"\nformat = \"qcow2\"\n\
         [images.{label}.seed]\ndatasource = \"nocloud\"\nformat = \"fat\"\nlabel = \"cidata\"\nsize_bytes = 2097152\n\
         user_data = \"cloud-config\"\n\
         [images.{label}.qemu]\nmachine = \"q35\"\nfirmware = \"bios\"\nnic = \"virtio-net-pci\"\ndisk_bus = \"virtio-blk\"\n\
         memory_mb = 256\ncpus = 1\nconsole = \"serial\"\nboot_timeout_secs = 60\n"
    )
}

/// A loopback HTTP/1.1 server answering GETs from `files` (404 otherwise), one thread per
/// connection, for as long as the test runs. Returns its base URL.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let files = files.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    line.clear();
                }
                let path = request.split(' ').nth(1).unwrap_or("/").trim_start_matches('/');
                let mut stream = stream;
                match files.get(path) {
                    Some(body) => {
                        let head =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                        let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
                    }
                    None => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    base
}

fn sha256(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), bytes).unwrap();
    let output = Command::new("sha256sum").arg(dir.path().join("f")).output().unwrap();
    text(&output.stdout).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn pull_of_a_label_not_in_the_catalog_exits_2_naming_the_labels() {
    let state = tempfile::tempdir().unwrap();
    let output = images(&["pull", "plan9"], state.path(), None);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("pull plan9: no image with this label") && stderr.contains("omnios-r151054"), "{stderr}");
}

#[test]
fn pull_installs_a_qcow2_that_list_then_shows_as_cached_and_a_wrong_checksum_exits_3() {
    let disk: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
    let mut files = HashMap::new();
    files.insert("good/disk.raw".to_owned(), disk.clone());
    files.insert("good/disk.raw.sha256".to_owned(), format!("{}  disk.raw\n", sha256(&disk)).into_bytes());
    files.insert("bad/disk.raw".to_owned(), disk.clone());
    files.insert("bad/disk.raw.sha256".to_owned(), format!("{}\n", "0".repeat(64)).into_bytes());
    let base = serve(files);
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    let text_of = |label: &str, path: &str| entry(label, &format!("{base}/{path}"), "{url}.sha256");
    std::fs::write(&catalog, format!("{}{}", text_of("good", "good/disk.raw"), text_of("bad", "bad/disk.raw")))
        .unwrap();
    let state = dir.path().join("state");

    let listed = images(&["list"], &state, Some(&catalog));
    assert_exit(&listed, 0);
    let table = text(&listed.stdout);
    assert!(table.starts_with("LABEL  OS        CACHED       SIZE  DESCRIPTION\n"), "{table}");
    assert!(table.contains("\ngood   linux     no              -  test good\n"), "{table}");

    let pulled = images(&["pull", "good"], &state, Some(&catalog));
    assert_exit(&pulled, 0);
    let installed = state.join("images/good");
    assert_eq!(text(&pulled.stdout), format!("good: {}\n", installed.display()));
    let info =
        Command::new("qemu-img").args(["info", "--output=json"]).arg(installed.join("disk.qcow2")).output().unwrap();
    assert!(text(&info.stdout).contains("\"format\": \"qcow2\""), "{}", text(&info.stdout));

    let table = text(&images(&["list"], &state, Some(&catalog)).stdout);
    let good = table.lines().find(|line| line.starts_with("good ")).unwrap();
    assert!(good.contains(" yes ") && good.contains("KiB"), "{table}");
    assert!(table.lines().any(|line| line.starts_with("bad ") && line.contains(" no ")), "{table}");

    let failed = images(&["pull", "bad"], &state, Some(&catalog));
    assert_exit(&failed, 3);
    let stderr = text(&failed.stderr);
    assert!(stderr.contains(&"0".repeat(64)) && stderr.contains(&sha256(&disk)), "both hashes: {stderr}");
    assert!(!state.join("images/bad").exists());
    let leftovers: Vec<_> = std::fs::read_dir(state.join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".pull-bad-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_bad_catalog_override_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, "[images.x]\nsource = 1\n").unwrap();
    assert_exit(&images(&["list"], dir.path(), Some(&catalog)), 2);
}

#[test]
fn verify_boots_linux_test_and_prints_the_boot_time_and_the_guest_hostname() {
    if testkit::vm::unavailable().is_some() {
        return;
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_solstice"));
    let agent = binary.with_file_name(orchestrator::AGENT_NAME);
    assert!(agent.is_file(), "no agent at {}: `cargo build --workspace --bins` first", agent.display());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("images")).unwrap();
    std::os::unix::fs::symlink(testkit::vm::image(), state.join("images/linux-test")).unwrap();
    // passt drops to `nobody` as root and must reach its socket below the state dir.
    for path in [dir.path(), state.as_path()] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    }
    // In a network namespace of its own; the guest itself gets no network (`verify` asks none).
    let mut command = Command::new("unshare");
    command.args(["-n", "--", "sh", "-c", &testkit::netns::shell_prefix(), "sh"]).arg(binary);
    command.args(["images", "verify", "linux-test", "--timeout", "150"]).stdin(Stdio::null());
    for (name, _) in std::env::vars_os().filter(|(n, _)| n.to_string_lossy().starts_with("SOLSTICE_")) {
        command.env_remove(name);
    }
    command.env("SOLSTICE_STATE_DIR", &state).env("SOLSTICE_ACCEL", "tcg");
    let output = command.output().unwrap();

    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let booted = stdout.lines().find_map(|line| line.strip_prefix("linux-test: booted in ")).expect(&stdout);
    assert!(booted.ends_with(" s (QEMU start to SSH answering)"), "{stdout}");
    let hostname = stdout.lines().find_map(|line| line.strip_prefix("linux-test: hostname: ")).expect(&stdout);
    let job_id = hostname.strip_suffix(" (the job id)").expect(&stdout);
    assert!(job_id.len() == 26 && job_id.chars().all(|c| c.is_ascii_alphanumeric()), "a ULID: {stdout}");
    assert!(stdout.contains("linux-test: uname -a: Linux "), "{stdout}");
}
