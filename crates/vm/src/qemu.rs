//! The QEMU command line of one VM, and the few QMP commands we need.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::accel::Accel;
use crate::catalog::Image;

/// What one VM's command line is made of: the image and the per-VM files.
#[derive(Debug)]
pub(crate) struct QemuSpec<'a> {
    pub image: &'a Image,
    pub image_dir: &'a Path,
    pub accel: Accel,
    /// The job's qcow2 overlay of the image's base disk, if it has one.
    pub overlay: Option<&'a Path>,
    pub seed: &'a Path,
    pub serial: &'a Path,
    pub qmp: &'a Path,
    pub passt_socket: &'a Path,
    pub name: &'a str,
}

/// The arguments after the program name.
pub(crate) fn arguments(spec: &QemuSpec<'_>) -> Result<Vec<OsString>, String> {
    let image = spec.image;
    let profile = &image.qemu;
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-name", &format!("guest={}", spec.name)]);
    push(&["-accel", spec.accel.as_str()]);
    if spec.accel == Accel::Kvm {
        push(&["-cpu", "host"]);
        if image.os == "illumos" {
            // illumos counts the PIT's ticks for its clock: ticks KVM drops while the vCPU is
            // descheduled must be delivered late, not lost, or the guest's clock drifts.
            push(&["-global", "kvm-pit.lost_tick_policy=delay"]);
        }
    }
    push(&["-machine", &profile.machine]);
    push(&["-m", &profile.memory_mb.to_string(), "-smp", &profile.cpus.to_string()]);
    // Nothing QEMU would add by itself (VGA, a NIC on the default user network, a CD drive):
    // every device below is named, so the guest's device layout stays fixed per image.
    push(&["-nodefaults", "-nographic", "-no-reboot"]);
    push(&["-chardev", &format!("file,id=serial0,path={}", option_path(spec.serial)?), "-serial", "chardev:serial0"]);
    push(&["-chardev", &format!("socket,id=qmp,path={},server=on,wait=off", option_path(spec.qmp)?)]);
    push(&["-mon", "chardev=qmp,mode=control"]);
    if let Some(kernel) = &image.kernel {
        args.push("-kernel".into());
        args.push(kernel.kernel_in(spec.image_dir).into());
        if let Some(initrd) = &kernel.initrd {
            args.push("-initrd".into());
            args.push(spec.image_dir.join(initrd).into());
        }
        if !kernel.cmdline.is_empty() {
            args.push("-append".into());
            args.push(kernel.cmdline.clone().into());
        }
    }
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    if let Some(overlay) = spec.overlay {
        push(&["-drive", &format!("file={},if=none,id=disk0,format=qcow2,discard=unmap", option_path(overlay)?)]);
        push(&["-device", "virtio-blk-pci,drive=disk0,bootindex=0"]);
    }
    push(&["-drive", &format!("file={},if=none,id=seed,format=raw,readonly=on", option_path(spec.seed)?)]);
    push(&["-device", "virtio-blk-pci,drive=seed"]);
    let socket = option_path(spec.passt_socket)?;
    push(&["-netdev", &format!("stream,id=n0,server=off,addr.type=unix,addr.path={socket}")]);
    // romfile=: no iPXE option ROM; nothing boots from the network.
    push(&["-device", &format!("{},netdev=n0,romfile=", profile.nic)]);
    Ok(args)
}

/// A path as a QEMU option value: UTF-8, with commas doubled (QEMU's escape for them).
pub(crate) fn option_path(path: &Path) -> Result<String, String> {
    let text = path.to_str().ok_or_else(|| format!("the path {} is not UTF-8", path.display()))?;
    Ok(text.replace(',', ",,"))
}

/// Presses the ACPI power button through QMP. Errors are text: the caller kills QEMU anyway.
pub(crate) async fn system_powerdown(qmp: &Path, timeout: Duration) -> Result<(), String> {
    tokio::time::timeout(timeout, async {
        let stream = UnixStream::connect(qmp).await.map_err(|e| format!("connect to QMP: {e}"))?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        lines.next_line().await.map_err(|e| format!("read the QMP greeting: {e}"))?;
        for command in ["qmp_capabilities", "system_powerdown"] {
            let line = format!("{{\"execute\":\"{command}\"}}\n");
            write.write_all(line.as_bytes()).await.map_err(|e| format!("send {command}: {e}"))?;
            loop {
                let reply = lines
                    .next_line()
                    .await
                    .map_err(|e| format!("read the reply to {command}: {e}"))?
                    .ok_or_else(|| format!("QMP closed before answering {command}"))?;
                let reply: serde_json::Value =
                    serde_json::from_str(&reply).map_err(|e| format!("QMP sent a line that is not JSON: {e}"))?;
                if let Some(error) = reply.get("error") {
                    return Err(format!("{command}: {error}"));
                }
                if reply.get("return").is_some() {
                    break;
                }
                // An asynchronous event (e.g. POWERDOWN): keep reading for our reply.
            }
        }
        Ok(())
    })
    .await
    .map_err(|_| format!("QMP did not answer within {} ms", timeout.as_millis()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn linux_test_command_line() {
        let catalog = Catalog::builtin().unwrap();
        let image = catalog.get("linux-test").unwrap();
        let dir = Path::new("/state/vm/J,1");
        let spec = QemuSpec {
            image,
            image_dir: Path::new("/images/linux-test"),
            accel: Accel::Tcg,
            overlay: None,
            seed: &dir.join("seed.img"),
            serial: &dir.join("serial.log"),
            qmp: &dir.join("qmp.sock"),
            passt_socket: &dir.join("net/passt.sock"),
            name: "J-1",
        };
        let args: Vec<String> = arguments(&spec).unwrap().into_iter().map(|a| a.into_string().unwrap()).collect();
        let line = args.join(" ");
        for expected in [
            "-accel tcg -machine q35 -m 512 -smp 1 -nodefaults -nographic -no-reboot",
            "-chardev file,id=serial0,path=/state/vm/J,,1/serial.log -serial chardev:serial0",
            "-kernel /images/linux-test/vmlinuz -initrd /images/linux-test/initramfs.cpio.gz",
            "-append console=ttyS0 quiet panic=-1",
            "-drive file=/state/vm/J,,1/seed.img,if=none,id=seed,format=raw,readonly=on -device virtio-blk-pci,drive=seed",
            "-netdev stream,id=n0,server=off,addr.type=unix,addr.path=/state/vm/J,,1/net/passt.sock",
            "-device virtio-net-pci,netdev=n0,romfile=",
        ] {
            assert!(line.contains(expected), "missing {expected:?} in {line}");
        }
        assert!(!line.contains("-cpu"), "{line}");
    }

    #[test]
    fn illumos_under_kvm_keeps_lost_pit_ticks() {
        let catalog = Catalog::builtin().unwrap();
        let dir = Path::new("/state/vm/J-1");
        let line = |label: &str, accel: Accel| {
            let spec = QemuSpec {
                image: catalog.get(label).unwrap(),
                image_dir: Path::new("/images/x"),
                accel,
                overlay: Some(&dir.join("disk.qcow2")),
                seed: &dir.join("seed.img"),
                serial: &dir.join("serial.log"),
                qmp: &dir.join("qmp.sock"),
                passt_socket: &dir.join("net/passt.sock"),
                name: "J-1",
            };
            let args = arguments(&spec).unwrap().into_iter().map(|a| a.into_string().unwrap());
            args.collect::<Vec<_>>().join(" ")
        };
        let pit = "-global kvm-pit.lost_tick_policy=delay";
        assert!(line("omnios-r151054", Accel::Kvm).contains(pit));
        assert!(line("openindiana-hipster", Accel::Kvm).contains(pit));
        assert!(!line("omnios-r151054", Accel::Tcg).contains(pit), "no KVM PIT under TCG");
        assert!(!line("debian-12", Accel::Kvm).contains(pit));
    }
}
