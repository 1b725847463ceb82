//! The image catalog (`images/catalog.toml`, brief §6): one table per `runs-on` label. Parsed
//! strictly (an unknown field is an error, so a setting the executor would silently ignore cannot
//! creep in), then validated into [`Image`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The catalog this build ships with (`images/catalog.toml`); `SOLSTICE_IMAGES` may replace it.
pub const BUILTIN_CATALOG: &str = include_str!("../../../images/catalog.toml");

/// Every image the executor can boot, by label.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    images: BTreeMap<String, Image>,
}

/// One bootable image: how to boot it, what the seed looks like, who runs the steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub label: String,
    /// One line for people (`solstice images list`, docs).
    pub description: String,
    /// The guest OS family as the catalog names it (`linux`, `illumos`, `freebsd`).
    pub os: String,
    /// Where `solstice images pull` gets the base disk; `None` for images built on this host.
    pub download: Option<Download>,
    /// The guest's target triple for the agent; `None` for `agent = "none"` (agentless).
    pub agent_target: Option<String>,
    /// The user the agent runs as (the seed's key logs in as this user).
    pub user: String,
    /// `RUNNER_OS` as the guest reports it.
    pub runner_os: String,
    /// The guest architecture: picks `qemu-system-<arch>`.
    pub arch: String,
    pub kernel: Option<KernelBoot>,
    pub disk: Option<BaseDisk>,
    pub seed: SeedProfile,
    pub qemu: QemuProfile,
    /// A serial console line that says the guest is ready (followed by its hostname).
    pub ready_marker: Option<String>,
    /// A serial console line that says the guest's first boot failed (followed by why).
    pub failed_marker: Option<String>,
}

/// Direct kernel boot; paths relative to the image's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelBoot {
    pub kernel: PathBuf,
    /// The same kernel with a PVH entry point: preferred when the file exists (no decompression).
    pub kernel_pvh: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
}

/// A read-only base disk that each job gets a qcow2 overlay on; path relative to the image dir.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseDisk {
    pub file: PathBuf,
    /// `qcow2` or `raw`: the `-F` of `qemu-img create`.
    pub format: String,
}

/// A downloadable base disk: where it is, how to check it, how to turn it into the qcow2 of
/// [`BaseDisk`]. No checksum value is stored: only where the publisher keeps it, so a pull
/// verifies against what the publisher says today (brief §6).
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    pub source: DownloadSource,
    /// The checksum file; `{url}` and `{file}` stand for the resolved image URL and its file name
    /// (OmniOS keeps `<file>.sha256` beside each image, FreeBSD one `CHECKSUM.SHA256` per dir).
    pub checksum_url: String,
    pub checksum: ChecksumAlgorithm,
    /// The disk format once decompressed; anything but qcow2 is converted with `qemu-img`.
    pub format: SourceFormat,
    pub compression: Compression,
    /// Whether anyone fetched this URL and booted the result from this catalog. Entries written
    /// without network access say `false`, and the docs list them as unverified.
    pub verified_offline: bool,
}

/// Where the image file is: a fixed URL, or the newest file of a moving channel's directory.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadSource {
    Url(String),
    /// The HTML index at `index` is read at pull time and the greatest file name matching the
    /// glob `pattern` is taken (names carry a date or release number, so greatest = newest).
    Listing {
        index: String,
        pattern: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Raw,
    Qcow2,
    Vmdk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd,
    Xz,
}

impl ChecksumAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Sha256 => "sha256",
            ChecksumAlgorithm::Sha512 => "sha512",
        }
    }
}

impl SourceFormat {
    /// The name `qemu-img -f` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Raw => "raw",
            SourceFormat::Qcow2 => "qcow2",
            SourceFormat::Vmdk => "vmdk",
        }
    }
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zst",
            Compression::Xz => "xz",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeedProfile {
    pub label: String,
    pub size_bytes: u64,
    pub user_data: UserDataFormat,
}

/// How the public key reaches the guest in `user-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDataFormat {
    /// `#cloud-config` with `users[].ssh_authorized_keys` (cloud-init, the OI agent, linux-test).
    CloudConfig,
    /// A `#!/bin/sh` script that installs the key (images whose agent runs scripts only).
    Script,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QemuProfile {
    pub machine: String,
    /// The `-device` of the NIC, e.g. `virtio-net-pci` or `e1000`.
    pub nic: String,
    pub memory_mb: u32,
    pub cpus: u32,
    /// How long the guest may take from QEMU start to answering SSH.
    pub boot_timeout: Duration,
}

/// Why a catalog cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("read the image catalog {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse the image catalog")]
    Parse(#[source] Box<toml::de::Error>),
    #[error("image {label}: {problem}")]
    Invalid { label: String, problem: String },
}

impl Catalog {
    /// The catalog compiled into this build.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::parse(BUILTIN_CATALOG)
    }

    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CatalogError::Read { path: path.to_owned(), source })?;
        Catalog::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| CatalogError::Parse(Box::new(e)))?;
        let images = raw
            .images
            .into_iter()
            .map(|(label, image)| Ok((label.clone(), image.validate(label)?)))
            .collect::<Result<_, CatalogError>>()?;
        Ok(Catalog { images })
    }

    pub fn get(&self, label: &str) -> Option<&Image> {
        self.images.get(label)
    }

    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.images.keys().map(String::as_str)
    }

    /// Adds or replaces an image (tests, and operators' local additions).
    pub fn insert(&mut self, image: Image) {
        self.images.insert(image.label.clone(), image);
    }
}

impl KernelBoot {
    /// The kernel file to boot from `image_dir`: the PVH one when it exists.
    pub fn kernel_in(&self, image_dir: &Path) -> PathBuf {
        match &self.kernel_pvh {
            Some(pvh) if image_dir.join(pvh).is_file() => image_dir.join(pvh),
            _ => image_dir.join(&self.kernel),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    images: BTreeMap<String, RawImage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    #[serde(default)]
    description: String,
    /// Where the image comes from: `build` (made on this host by `build`) or a download (later).
    source: String,
    #[serde(default)]
    build: Option<String>,
    os: String,
    runner_os: String,
    arch: String,
    agent: String,
    user: String,
    #[serde(default)]
    ready_marker: Option<String>,
    #[serde(default)]
    failed_marker: Option<String>,
    #[serde(default)]
    boot: Option<RawBoot>,
    #[serde(default)]
    disk: Option<RawDisk>,
    #[serde(default)]
    download: Option<RawDownload>,
    seed: RawSeed,
    qemu: RawQemu,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoot {
    kernel: PathBuf,
    #[serde(default)]
    kernel_pvh: Option<PathBuf>,
    #[serde(default)]
    initrd: Option<PathBuf>,
    #[serde(default)]
    cmdline: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    file: PathBuf,
    format: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDownload {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    listing: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    checksum_url: String,
    checksum: String,
    format: String,
    compression: String,
    verified_offline: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    datasource: String,
    format: String,
    label: String,
    size_bytes: u64,
    user_data: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQemu {
    machine: String,
    firmware: String,
    nic: String,
    disk_bus: String,
    memory_mb: u32,
    cpus: u32,
    console: String,
    boot_timeout_secs: u64,
}

impl RawImage {
    fn validate(self, label: String) -> Result<Image, CatalogError> {
        let invalid = |problem: String| CatalogError::Invalid { label: label.clone(), problem };
        // Read for documentation; the executor does not need them.
        let _ = (&self.source, &self.build);
        let download = match self.download {
            Some(raw) => Some(raw.validate(self.disk.as_ref()).map_err(invalid)?),
            None => None,
        };
        if self.boot.is_none() && self.disk.is_none() {
            return Err(invalid("needs a [boot] kernel or a [disk] to boot from".into()));
        }
        if let Some(disk) = &self.disk
            && !matches!(disk.format.as_str(), "qcow2" | "raw")
        {
            return Err(invalid(format!("disk format {:?} is not qcow2 or raw", disk.format)));
        }
        let seed = &self.seed;
        if seed.datasource != "nocloud" {
            return Err(invalid(format!("seed datasource {:?} is not supported (nocloud is)", seed.datasource)));
        }
        if seed.format != "fat" {
            return Err(invalid(format!("seed format {:?} is not supported yet (fat is)", seed.format)));
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&seed.size_bytes) {
            return Err(invalid(format!("seed size {} is not between 64 KiB and 64 MiB", seed.size_bytes)));
        }
        let user_data = match seed.user_data.as_str() {
            "cloud-config" => UserDataFormat::CloudConfig,
            "script" => UserDataFormat::Script,
            other => return Err(invalid(format!("user_data {other:?} is not cloud-config or script"))),
        };
        let qemu = &self.qemu;
        if qemu.firmware != "bios" {
            return Err(invalid(format!("firmware {:?} is not supported yet (bios is)", qemu.firmware)));
        }
        if qemu.disk_bus != "virtio-blk" {
            return Err(invalid(format!("disk bus {:?} is not supported yet (virtio-blk is)", qemu.disk_bus)));
        }
        if qemu.console != "serial" {
            return Err(invalid(format!("console {:?} is not supported (serial is)", qemu.console)));
        }
        if qemu.memory_mb < 64 || qemu.cpus == 0 || qemu.boot_timeout_secs == 0 {
            return Err(invalid("memory_mb must be at least 64, cpus and boot_timeout_secs at least 1".into()));
        }
        if !is_plain_word(&self.user) {
            return Err(invalid(format!("user {:?} is not a plain user name", self.user)));
        }
        let agent_target = match self.agent.as_str() {
            "none" => None,
            target if is_plain_word(target) => Some(target.to_owned()),
            other => return Err(invalid(format!("agent {other:?} is not a target triple or none"))),
        };
        Ok(Image {
            label: label.clone(),
            description: self.description,
            os: self.os,
            download,
            agent_target,
            user: self.user,
            runner_os: self.runner_os,
            arch: self.arch,
            kernel: self.boot.map(|b| KernelBoot {
                kernel: b.kernel,
                kernel_pvh: b.kernel_pvh,
                initrd: b.initrd,
                cmdline: b.cmdline,
            }),
            disk: self.disk.map(|d| BaseDisk { file: d.file, format: d.format }),
            seed: SeedProfile { label: self.seed.label, size_bytes: self.seed.size_bytes, user_data },
            qemu: QemuProfile {
                machine: self.qemu.machine,
                nic: self.qemu.nic,
                memory_mb: self.qemu.memory_mb,
                cpus: self.qemu.cpus,
                boot_timeout: Duration::from_secs(self.qemu.boot_timeout_secs),
            },
            ready_marker: self.ready_marker,
            failed_marker: self.failed_marker,
        })
    }
}

impl RawDownload {
    /// A download must land where the executor boots from: a `[disk]` in qcow2, since a pull
    /// converts whatever it fetched to qcow2.
    fn validate(self, disk: Option<&RawDisk>) -> Result<Download, String> {
        match disk {
            Some(disk) if disk.format == "qcow2" => {}
            _ => return Err("a [download] needs a [disk] with format \"qcow2\" (a pull converts to qcow2)".into()),
        }
        let web = |url: &str| url.starts_with("https://") || url.starts_with("http://");
        let source = match (self.url, self.listing, self.pattern) {
            (Some(url), None, None) if web(&url) => DownloadSource::Url(url),
            (None, Some(index), Some(pattern)) if web(&index) && !pattern.is_empty() => {
                DownloadSource::Listing { index, pattern }
            }
            _ => return Err("a [download] needs an http(s) `url`, or an http(s) `listing` and a `pattern`".into()),
        };
        if !web(&self.checksum_url) && !self.checksum_url.starts_with("{url}") {
            return Err(format!(
                "checksum_url {:?} is not an http(s) URL nor one made from {{url}}",
                self.checksum_url
            ));
        }
        let checksum = match self.checksum.as_str() {
            "sha256" => ChecksumAlgorithm::Sha256,
            "sha512" => ChecksumAlgorithm::Sha512,
            other => return Err(format!("checksum {other:?} is not sha256 or sha512")),
        };
        let format = match self.format.as_str() {
            "raw" => SourceFormat::Raw,
            "qcow2" => SourceFormat::Qcow2,
            "vmdk" => SourceFormat::Vmdk,
            other => return Err(format!("download format {other:?} is not raw, qcow2 or vmdk")),
        };
        let compression = match self.compression.as_str() {
            "none" => Compression::None,
            "zst" => Compression::Zstd,
            "xz" => Compression::Xz,
            other => return Err(format!("compression {other:?} is not zst, xz or none")),
        };
        Ok(Download {
            source,
            checksum_url: self.checksum_url,
            checksum,
            format,
            compression,
            verified_offline: self.verified_offline,
        })
    }
}

/// Letters, digits, `-`, `_`, `.`: safe to put into a shell command and a cloud-config unquoted.
fn is_plain_word(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_linux_test_as_a_kernel_boot() {
        let catalog = Catalog::builtin().unwrap();
        let image = catalog.get("linux-test").unwrap();
        assert_eq!(image.agent_target.as_deref(), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(image.user, "runner");
        assert!(image.disk.is_none());
        let kernel = image.kernel.as_ref().unwrap();
        assert_eq!(kernel.kernel_pvh.as_deref(), Some(Path::new("vmlinux")));
        assert_eq!(image.seed.user_data, UserDataFormat::CloudConfig);
        assert_eq!(image.ready_marker.as_deref(), Some("SOLSTICE-READY"));
    }

    #[test]
    fn builtin_downloads_name_a_checksum_source_and_land_as_qcow2() {
        let catalog = Catalog::builtin().unwrap();
        for label in
            ["omnios-r151058", "omnios-r151054", "omnios-bloody", "openindiana-hipster", "debian-12", "freebsd-14"]
        {
            let image = catalog.get(label).unwrap_or_else(|| panic!("{label} is in the catalog"));
            let download = image.download.as_ref().unwrap();
            assert!(["https://", "{url}"].iter().any(|p| download.checksum_url.starts_with(p)), "{label}");
            assert!(!download.verified_offline, "{label} was written offline");
            assert_eq!(image.disk.as_ref().unwrap().format, "qcow2", "{label}");
        }
        let bloody = catalog.get("omnios-bloody").unwrap().download.as_ref().unwrap();
        assert!(
            matches!(&bloody.source, DownloadSource::Listing { pattern, .. } if pattern.ends_with(".cloud.raw.zst"))
        );
        assert_eq!(catalog.get("omnios-r151054").unwrap().agent_target.as_deref(), Some("x86_64-unknown-illumos"));
        assert!(catalog.get("linux-test").unwrap().download.is_none());
    }

    #[test]
    fn a_download_must_land_in_a_qcow2_disk_and_name_its_source_once() {
        let with =
            |download: &str| DISK_IMAGE.replace("[images.omnios.seed]", &format!("{download}\n[images.omnios.seed]"));
        let ok = with(
            "[images.omnios.download]\nurl = \"https://example.invalid/a.raw.zst\"\nchecksum_url = \"{url}.sha256\"\nchecksum = \"sha256\"\nformat = \"raw\"\ncompression = \"zst\"\nverified_offline = false",
        );
        let image = Catalog::parse(&ok).unwrap().get("omnios").unwrap().clone();
        let download = image.download.unwrap();
        assert_eq!(download.source, DownloadSource::Url("https://example.invalid/a.raw.zst".into()));
        assert_eq!((download.format, download.compression), (SourceFormat::Raw, Compression::Zstd));
        let both = ok.replace("verified_offline", "listing = \"https://example.invalid/\"\nverified_offline");
        assert!(Catalog::parse(&both).unwrap_err().to_string().contains("needs an http(s) `url`"));
        let raw_disk = ok.replace("format = \"qcow2\"", "format = \"raw\"");
        assert!(Catalog::parse(&raw_disk).unwrap_err().to_string().contains("needs a [disk] with format"));
        let lzip = ok.replace("compression = \"zst\"", "compression = \"lz\"");
        assert!(Catalog::parse(&lzip).unwrap_err().to_string().contains("compression \"lz\""));
    }

    const DISK_IMAGE: &str = r#"
        [images.omnios]
        source = "https://example.invalid/omnios.qcow2"
        os = "illumos"
        runner_os = "illumos"
        arch = "x86_64"
        agent = "none"
        user = "omnios"
        [images.omnios.disk]
        file = "disk.qcow2"
        format = "qcow2"
        [images.omnios.seed]
        datasource = "nocloud"
        format = "fat"
        label = "cidata"
        size_bytes = 2097152
        user_data = "script"
        [images.omnios.qemu]
        machine = "pc"
        firmware = "bios"
        nic = "e1000"
        disk_bus = "virtio-blk"
        memory_mb = 2048
        cpus = 2
        console = "serial"
        boot_timeout_secs = 300
    "#;

    #[test]
    fn a_disk_image_needs_no_kernel() {
        let catalog = Catalog::parse(DISK_IMAGE).unwrap();
        let image = catalog.get("omnios").unwrap();
        assert_eq!(image.disk, Some(BaseDisk { file: "disk.qcow2".into(), format: "qcow2".into() }));
        assert!(image.kernel.is_none() && image.agent_target.is_none());
        assert_eq!(image.seed.user_data, UserDataFormat::Script);
    }

    #[test]
    fn rejects_what_the_executor_cannot_honour() {
        let check = |from: &str, to: &str, expected: &str| {
            let text = DISK_IMAGE.replace(from, to);
            let error = Catalog::parse(&text).unwrap_err();
            let message =
                format!("{error}: {}", std::error::Error::source(&error).map(|s| s.to_string()).unwrap_or_default());
            assert!(message.contains(expected), "{from} -> {to}: {message}");
        };
        check("format = \"fat\"", "format = \"iso\"", "seed format \"iso\"");
        check("firmware = \"bios\"", "firmware = \"uefi\"", "firmware");
        check("format = \"qcow2\"", "format = \"vmdk\"", "disk format");
        check("[images.omnios.disk]\n        file = \"disk.qcow2\"\n        format = \"qcow2\"", "", "needs a [boot]");
        check("cpus = 2", "cpus = 2\n        cpu = \"host\"", "unknown field `cpu`");
        check("user = \"omnios\"", "user = \"omnios; rm\"", "plain user name");
    }
}
