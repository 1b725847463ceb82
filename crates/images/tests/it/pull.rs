//! `pull` against the loopback publisher.

use images::{PullError, pull};
use vm::Catalog;

use crate::server::{self, Server, entry};
use crate::{disk_bytes, images_dir_entries, no_progress, options, qemu_img_info};

#[tokio::test]
async fn a_zstd_raw_image_with_a_bare_sidecar_is_verified_and_installed_as_qcow2() {
    let server = Server::start().await;
    let raw = server::raw_disk(192 * 1024);
    let packed = server::zstd(&raw);
    server.put("media/r1/os-r1.cloud.raw.zst", packed.clone());
    server.put("media/r1/os-r1.cloud.raw.zst.sha256", format!("{}\n", server::sha256_hex(&packed)));
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{{url}}.sha256\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"zst\"",
        server.url("media/r1/os-r1.cloud.raw.zst")
    );
    let catalog = Catalog::parse(&entry("os-r1", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();

    let dir = pull(&catalog, "os-r1", state.path(), &options(), no_progress()).await.unwrap();

    assert_eq!(dir, images::images_dir(state.path()).join("os-r1"));
    let disk = dir.join("disk.qcow2");
    let info = qemu_img_info(&disk);
    assert_eq!(info["format"], "qcow2", "{info}");
    assert_eq!(info["virtual-size"], raw.len() as u64, "{info}");
    assert!(disk_bytes(&disk) == raw, "the guest sees exactly the published disk");
    let record = std::fs::read_to_string(dir.join("pulled.toml")).unwrap();
    assert!(record.contains(&server::sha256_hex(&packed)), "{record}");
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["disk.qcow2", "pulled.toml"], "only the disk and its record are kept");
    assert_eq!(images_dir_entries(state.path()), ["os-r1"], "no staging directory is left");
}

#[tokio::test]
async fn an_xz_qcow2_listed_in_a_bsd_checksum_file_is_pulled() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let raw_path = work.path().join("src.raw");
    let raw = server::raw_disk(256 * 1024);
    std::fs::write(&raw_path, &raw).unwrap();
    let qcow2_path = work.path().join("src.qcow2");
    let status = std::process::Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw_path)
        .arg(&qcow2_path)
        .status()
        .unwrap();
    assert!(status.success());
    let packed = server::xz(&std::fs::read(&qcow2_path).unwrap());
    server.put("vm/BSD-14-ufs.qcow2.xz", packed.clone());
    let other = "0".repeat(64);
    server.put(
        "vm/CHECKSUM.SHA256",
        format!(
            "SHA256 (BSD-14-zfs.qcow2.xz) = {other}\nSHA256 (BSD-14-ufs.qcow2.xz) = {}\n",
            server::sha256_hex(&packed)
        ),
    );
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{}\"\nchecksum = \"sha256\"\nformat = \"qcow2\"\ncompression = \"xz\"",
        server.url("vm/BSD-14-ufs.qcow2.xz"),
        server.url("vm/CHECKSUM.SHA256")
    );
    let catalog = Catalog::parse(&entry("bsd", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();

    let dir = pull(&catalog, "bsd", state.path(), &options(), no_progress()).await.unwrap();

    assert!(disk_bytes(&dir.join("disk.qcow2")) == raw);
    assert_eq!(images_dir_entries(state.path()), ["bsd"]);
}

#[tokio::test]
async fn a_channel_is_resolved_to_its_newest_file_and_checked_against_sha512sums() {
    let server = Server::start().await;
    let old = server::raw_disk(64 * 1024);
    let new: Vec<u8> = old.iter().map(|b| b.wrapping_add(1)).collect();
    server.put("bloody/os-bloody-20261101.raw", old.clone());
    server.put("bloody/os-bloody-20261115.raw", new.clone());
    server.put(
        "bloody/index.html",
        "<a href=\"../\">..</a> <a href=\"os-bloody-20261101.raw\">a</a> <a href=\"os-bloody-20261115.raw\">b</a> \
         <a href=\"SHA512SUMS\">sums</a>",
    );
    server.put(
        "bloody/SHA512SUMS",
        format!(
            "{}  os-bloody-20261101.raw\n{}  os-bloody-20261115.raw\n",
            server::sha512_hex(&old),
            server::sha512_hex(&new)
        ),
    );
    let download = format!(
        "listing = \"{}\"\npattern = \"os-bloody-*.raw\"\nchecksum_url = \"{}\"\nchecksum = \"sha512\"\nformat = \"raw\"\ncompression = \"none\"",
        server.url("bloody/index.html"),
        server.url("bloody/SHA512SUMS")
    );
    // The index is a named file here; the real channel serves it at the directory's URL.
    let catalog = Catalog::parse(&entry("bloody", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();

    let dir = pull(&catalog, "bloody", state.path(), &options(), no_progress()).await.unwrap();

    assert!(disk_bytes(&dir.join("disk.qcow2")) == new, "the newest of the channel");
    let record = std::fs::read_to_string(dir.join("pulled.toml")).unwrap();
    assert!(record.contains("os-bloody-20261115.raw"), "{record}");
}

#[tokio::test]
async fn a_wrong_checksum_fails_naming_both_hashes_and_leaves_nothing() {
    let server = Server::start().await;
    let packed = server::zstd(&server::raw_disk(64 * 1024));
    let claimed = "ab".repeat(32);
    server.put("x/os.raw.zst", packed.clone());
    server.put("x/os.raw.zst.sha256", format!("{claimed}  os.raw.zst\n"));
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{{url}}.sha256\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"zst\"",
        server.url("x/os.raw.zst")
    );
    let catalog = Catalog::parse(&entry("os", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();

    let error = pull(&catalog, "os", state.path(), &options(), no_progress()).await.unwrap_err();

    assert!(matches!(error, PullError::Mismatch { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&claimed) && message.contains(&server::sha256_hex(&packed)), "{message}");
    assert_eq!(error.exit_code(), 3);
    assert_eq!(images_dir_entries(state.path()), Vec::<String>::new(), "no image and no staging directory");
}

#[tokio::test]
async fn a_server_dying_mid_download_fails_the_pull_and_leaves_nothing() {
    let server = Server::start().await;
    let packed = server::zstd(&server::raw_disk(512 * 1024));
    server.put_cut_short("x/os.raw.zst", packed.clone());
    server.put("x/os.raw.zst.sha256", server::sha256_hex(&packed));
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{{url}}.sha256\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"zst\"",
        server.url("x/os.raw.zst")
    );
    let catalog = Catalog::parse(&entry("os", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();

    let error = pull(&catalog, "os", state.path(), &options(), no_progress()).await.unwrap_err();

    assert!(matches!(&error, PullError::Fetch { url, .. } if url.ends_with("x/os.raw.zst")), "{error:?}");
    assert!(std::error::Error::source(&error).unwrap().to_string().contains("2 tries"), "{error:?}");
    assert_eq!(error.exit_code(), 3);
    assert_eq!(images_dir_entries(state.path()), Vec::<String>::new());
}

/// Reports the first downloaded bytes on a channel.
struct FirstBytes(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>);

impl images::Progress for FirstBytes {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {
        if let Some(first) = self.0.lock().unwrap().take() {
            let _ = first.send(());
        }
    }
    fn finish(&self) {}
}

#[tokio::test]
async fn a_pull_dropped_mid_download_leaves_nothing() {
    let server = Server::start().await;
    let packed = server::zstd(&server::raw_disk(512 * 1024));
    server.put_stalled("x/os.raw.zst", packed.clone());
    server.put("x/os.raw.zst.sha256", server::sha256_hex(&packed));
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{{url}}.sha256\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"zst\"",
        server.url("x/os.raw.zst")
    );
    let catalog = Catalog::parse(&entry("os", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (first, first_bytes) = tokio::sync::oneshot::channel();
    let progress = std::sync::Arc::new(FirstBytes(std::sync::Mutex::new(Some(first))));

    // What Ctrl-C does in `solstice images pull`: the pull's future is dropped.
    let options = options();
    tokio::select! {
        result = pull(&catalog, "os", state.path(), &options, progress) => panic!("the stalled pull ended: {result:?}"),
        _ = first_bytes => {}
    }

    assert_eq!(images_dir_entries(state.path()), Vec::<String>::new(), "the partial download went with the pull");
}

#[tokio::test]
async fn a_missing_checksum_file_or_entry_fails_before_the_download() {
    let server = Server::start().await;
    server.put("x/os.raw", server::raw_disk(4096));
    server.put("x/SUMS", format!("{}  another.raw\n", "c".repeat(64)));
    let with = |sums: &str| {
        entry(
            "os",
            &format!(
                "url = \"{}\"\nchecksum_url = \"{}\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"none\"",
                server.url("x/os.raw"),
                server.url(sums)
            ),
        )
    };
    let state = tempfile::tempdir().unwrap();

    let missing = Catalog::parse(&with("x/NOPE")).unwrap();
    let error = pull(&missing, "os", state.path(), &options(), no_progress()).await.unwrap_err();
    let chain = format!("{error}: {}", std::error::Error::source(&error).unwrap());
    assert!(chain.contains("x/NOPE") && chain.contains("404"), "{chain}");

    let unlisted = Catalog::parse(&with("x/SUMS")).unwrap();
    let error = pull(&unlisted, "os", state.path(), &options(), no_progress()).await.unwrap_err();
    assert!(matches!(error, PullError::ChecksumSource { .. }), "{error:?}");
    assert!(error.to_string().contains("find the sha256 of os.raw in"), "{error}");
    assert_eq!(images_dir_entries(state.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_qcow2_naming_a_backing_file_is_refused() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("host-secret.raw");
    std::fs::write(&base, b"secret").unwrap();
    let overlay = work.path().join("evil.qcow2");
    let status = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(&overlay)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&overlay).unwrap();
    server.put("x/evil.qcow2", bytes.clone());
    server.put("x/evil.qcow2.sha256", server::sha256_hex(&bytes));
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{{url}}.sha256\"\nchecksum = \"sha256\"\nformat = \"qcow2\"\ncompression = \"none\"",
        server.url("x/evil.qcow2")
    );
    let catalog = Catalog::parse(&entry("evil", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();

    let error = pull(&catalog, "evil", state.path(), &options(), no_progress()).await.unwrap_err();

    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("backing file"), "{error}: {cause}");
    assert_eq!(images_dir_entries(state.path()), Vec::<String>::new());
}

#[tokio::test]
async fn an_interrupted_pulls_leftovers_are_removed_and_a_cached_image_is_kept_unless_forced() {
    let server = Server::start().await;
    let first = server::raw_disk(8192);
    server.put("x/os.raw", first.clone());
    server.put("x/os.raw.sha256", server::sha256_hex(&first));
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{{url}}.sha256\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"none\"",
        server.url("x/os.raw")
    );
    let catalog = Catalog::parse(&entry("os", &download)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let images = images::images_dir(state.path());
    std::fs::create_dir_all(images.join(".pull-os-01KILLED/partial")).unwrap();
    std::fs::write(images.join(".pull-os-01KILLED/partial/os.raw"), b"half").unwrap();
    std::fs::create_dir_all(images.join(".pull-other-01KEEP")).unwrap();

    let dir = pull(&catalog, "os", state.path(), &options(), no_progress()).await.unwrap();
    assert_eq!(images_dir_entries(state.path()), [".pull-other-01KEEP", "os"], "only this label's leftovers go");

    let second: Vec<u8> = first.iter().map(|b| b ^ 0xff).collect();
    server.put("x/os.raw", second.clone());
    server.put("x/os.raw.sha256", server::sha256_hex(&second));
    pull(&catalog, "os", state.path(), &options(), no_progress()).await.unwrap();
    assert!(disk_bytes(&dir.join("disk.qcow2")) == first, "a cached image is not downloaded again");
    let forced = images::PullOptions { force: true, ..options() };
    pull(&catalog, "os", state.path(), &forced, no_progress()).await.unwrap();
    assert!(disk_bytes(&dir.join("disk.qcow2")) == second, "--force replaces it");
    assert_eq!(images_dir_entries(state.path()), [".pull-other-01KEEP", "os"]);
}

#[tokio::test]
async fn unknown_and_built_labels_are_bad_input() {
    let catalog = Catalog::builtin().unwrap();
    let state = tempfile::tempdir().unwrap();
    let unknown = pull(&catalog, "plan9", state.path(), &options(), no_progress()).await.unwrap_err();
    assert!(unknown.to_string().contains("no image with this label") && unknown.to_string().contains("omnios-r151054"));
    assert_eq!(unknown.exit_code(), 2);
    let built = pull(&catalog, "linux-test", state.path(), &options(), no_progress()).await.unwrap_err();
    assert!(matches!(built, PullError::NotDownloadable { .. }), "{built:?}");
    assert_eq!(built.exit_code(), 2);
}
