//! A loopback HTTP server serving what a test puts in it: whole files, and files that break
//! off after half their bytes as a publisher's server dying mid-download would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

#[derive(Clone)]
enum Served {
    Whole(Vec<u8>),
    /// Announces the whole length, sends half, then fails the connection.
    CutShort(Vec<u8>),
    /// Announces the whole length, sends half, then nothing more, ever.
    Stalled(Vec<u8>),
}

#[derive(Clone, Default)]
pub struct Files(Arc<Mutex<HashMap<String, Served>>>);

pub struct Server {
    pub base: String,
    files: Files,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    pub async fn start() -> Server {
        let files = Files::default();
        let app = axum::Router::new().route("/{*path}", axum::routing::get(serve)).with_state(files.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Server { base, files, _shutdown: shutdown }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.0.lock().unwrap().insert(path.to_owned(), Served::Whole(bytes.into()));
    }

    pub fn put_stalled(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.0.lock().unwrap().insert(path.to_owned(), Served::Stalled(bytes.into()));
    }

    pub fn put_cut_short(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.0.lock().unwrap().insert(path.to_owned(), Served::CutShort(bytes.into()));
    }
}

async fn serve(State(files): State<Files>, Path(path): Path<String>) -> Response {
    let served = files.0.lock().unwrap().get(&path).cloned();
    match served {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Served::Whole(bytes)) => bytes.into_response(),
        Some(Served::CutShort(bytes)) => {
            let length = bytes.len();
            let half = bytes[..length / 2].to_vec();
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                vec![Ok(half), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "server died"))];
            let body = Body::from_stream(futures_util::stream::iter(chunks));
            Response::builder().header(header::CONTENT_LENGTH, length).body(body).unwrap()
        }
        Some(Served::Stalled(bytes)) => {
            let length = bytes.len();
            let half: Result<Vec<u8>, std::io::Error> = Ok(bytes[..length / 2].to_vec());
            let body = Body::from_stream(futures_util::StreamExt::chain(
                futures_util::stream::iter([half]),
                futures_util::stream::pending(),
            ));
            Response::builder().header(header::CONTENT_LENGTH, length).body(body).unwrap()
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha512_hex(bytes: &[u8]) -> String {
    sha2::Sha512::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A raw disk whose bytes tell their offsets apart, so a reordered or truncated copy shows.
pub fn raw_disk(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

pub fn xz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    liblzma::read::XzEncoder::new(bytes, 6).read_to_end(&mut out).unwrap();
    out
}

/// A catalog entry for `label` downloading from the given `[download]` lines.
pub fn entry(label: &str, download: &str) -> String {
    format!(
        r#"
[images.{label}]
description = "test image {label}"
source = "download"
os = "linux"
runner_os = "Linux"
arch = "x86_64"
agent = "none"
user = "runner"
[images.{label}.download]
{download}
verified_offline = true
[images.{label}.disk]
file = "disk.qcow2"
format = "qcow2"
[images.{label}.seed]
datasource = "nocloud"
format = "fat"
label = "cidata"
size_bytes = 2097152
user_data = "cloud-config"
[images.{label}.qemu]
machine = "q35"
firmware = "bios"
nic = "virtio-net-pci"
disk_bus = "virtio-blk"
memory_mb = 256
cpus = 1
console = "serial"
boot_timeout_secs = 60
"#
    )
}
