//! A full disk while the new build's backup is written stops the release
//! before anything is deployed, and leaves nothing at the backup's name.
//! The disk is a real 16 KiB tmpfs mounted for the test (CI runs as root).
use crate::common;
use common::live::*;
use common::*;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_backups_disk_stops_the_release_before_deploy() {
    let live = live_repo("");
    // The repository's backups/ becomes a 16 KiB disk.
    let small = live.f.path().join("backups");
    std::fs::create_dir_all(&small).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&small)
        .status()
        .expect("run mount");
    assert!(
        st.success(),
        "could not mount a small tmpfs (the tests need root)"
    );
    let _m = Mount(small.clone());
    let f = &live.f;
    f.checkout_new("feature/big");
    f.write(mosaic::MOSAIC_UI, good_page("big"));
    // ~200 KB that deflate cannot squeeze under 16 KiB.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let noise: String = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'!' + (x % 90) as u8) as char
        })
        .collect();
    f.write("mosaic_ui/assets/noise.txt", noise);
    f.write_script("scripts/run_deploy_gate.sh", PASSING_GATE);
    f.commit("big bundle");
    package(f, "feature/big", &Pkg::default());

    let out = f.guardrail(&["deploy", "feature/big", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let e = stderr(&out);
    assert!(e.contains("backup could not be written"), "{e}");
    // Nothing published, nothing at the backup's name, no temporary left.
    assert_eq!(
        std::fs::read_dir(&live.site).unwrap().count(),
        0,
        "something was deployed"
    );
    let left: Vec<_> = std::fs::read_dir(&small)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the backups dir: {left:?}");
    assert!(f.git(&["tag", "-l", "prod-2025-11-14*"]).is_empty());
}
