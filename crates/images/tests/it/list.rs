//! `list`: every label, cached or not, with its size.

use images::{ListEntry, list, pull};
use vm::Catalog;

use crate::server::{self, Server, entry};
use crate::{no_progress, options};

#[tokio::test]
async fn list_shows_each_label_cached_or_not_with_its_size() {
    let server = Server::start().await;
    let raw = server::raw_disk(64 * 1024);
    server.put("x/a.raw", raw.clone());
    server.put("x/a.raw.sha256", server::sha256_hex(&raw));
    let download = format!(
        "url = \"{}\"\nchecksum_url = \"{{url}}.sha256\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"none\"",
        server.url("x/a.raw")
    );
    let text = format!("{}{}", entry("alpha", &download), entry("beta", &download));
    let catalog = Catalog::parse(&text).unwrap();
    let state = tempfile::tempdir().unwrap();

    let before = list(&catalog, state.path());
    assert_eq!(
        before.iter().map(|e| (e.label.as_str(), e.cached, e.size)).collect::<Vec<_>>(),
        [("alpha", false, None), ("beta", false, None)]
    );

    let dir = pull(&catalog, "alpha", state.path(), &options(), no_progress()).await.unwrap();
    let after = list(&catalog, state.path());
    let disk = std::fs::metadata(dir.join("disk.qcow2")).unwrap().len();
    let record = std::fs::metadata(dir.join("pulled.toml")).unwrap().len();
    assert_eq!(
        after[0],
        ListEntry {
            label: "alpha".into(),
            os: "linux".into(),
            description: "test image alpha".into(),
            cached: true,
            size: Some(disk + record),
            origin: "pull",
        }
    );
    assert!(!after[1].cached);
}

#[test]
fn the_builtin_catalog_lists_every_label_with_how_it_gets_here() {
    let state = tempfile::tempdir().unwrap();
    let entries = list(&Catalog::builtin().unwrap(), state.path());
    let origin = |label: &str| entries.iter().find(|e| e.label == label).map(|e| (e.os.as_str(), e.origin));
    assert_eq!(origin("linux-test"), Some(("linux", "build")));
    assert_eq!(origin("omnios-r151054"), Some(("illumos", "pull")));
    assert_eq!(origin("freebsd-14"), Some(("freebsd", "pull")));
    assert!(entries.iter().all(|e| !e.cached), "an empty state dir caches nothing");
}
