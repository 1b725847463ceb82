//! Host disk admission: a job's overlay grows up to its base's virtual size, so a job is refused
//! when that could fill the disk the overlays live on.

/// Whether a job may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// The overlay could grow to `needed` bytes (base virtual size plus the reserve) and only
    /// `free` are free.
    Refuse {
        needed: u64,
        free: u64,
    },
}

/// Room kept free beyond the overlay's worst case, for the seed, serial log and the host itself.
pub const RESERVE_BYTES: u64 = 1 << 30;

/// Decides for an overlay on a base of `base_virtual_size` bytes (`qemu-img info`'s
/// `virtual-size`) with `free_bytes` free where the overlay goes. Kernel-boot images have no
/// overlay: pass 0. Running jobs' overlays are already counted in `free_bytes` only as far as
/// they have grown, so the caller subtracts what its running overlays may still grow by.
pub fn admit(base_virtual_size: u64, free_bytes: u64) -> Admission {
    let needed = base_virtual_size.saturating_add(RESERVE_BYTES);
    if base_virtual_size == 0 || needed <= free_bytes {
        Admission::Admit
    } else {
        Admission::Refuse { needed, free: free_bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_the_overlay_could_outgrow_the_free_space() {
        let gib = 1u64 << 30;
        assert_eq!(admit(0, 0), Admission::Admit, "no overlay, nothing to grow");
        assert_eq!(admit(20 * gib, 30 * gib), Admission::Admit);
        assert_eq!(admit(20 * gib, 21 * gib), Admission::Admit, "exactly the reserve left");
        assert_eq!(admit(20 * gib, 20 * gib), Admission::Refuse { needed: 21 * gib, free: 20 * gib });
        assert_eq!(admit(u64::MAX, u64::MAX - 1), Admission::Refuse { needed: u64::MAX, free: u64::MAX - 1 });
    }
}
