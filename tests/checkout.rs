//! Checkouts: reusable worktrees under the state directory, and in-place
//! checkouts that refuse a dirty tree and put the previous branch back.
use crate::common;
use common::*;

use guardrail::pipeline::checkout::{self, CheckoutError};
use guardrail::pipeline::config::Checkout as Mode;
use guardrail::pipeline::repo::{HeadState, Repo};

#[test]
fn worktree_is_made_reused_reset_and_pruned() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let ps = f.rev_parse(mosaic::PS101);
    let co = checkout::prepare(&repo, Mode::Worktree, mosaic::PS101, &ps).unwrap();
    assert!(co.path.starts_with(&repo.state.path));
    assert!(co.path.join("mosaic_ui/index.html").is_file());
    assert!(
        std::fs::read_to_string(co.path.join("mosaic_ui/index.html"))
            .unwrap()
            .contains("PS101 resume")
    );
    // A run leaves debris behind; the next run starts clean at another commit.
    std::fs::write(co.path.join("debris.txt"), "x").unwrap();
    std::fs::write(co.path.join("mosaic_ui/index.html"), "edited").unwrap();
    let path = co.path.clone();
    drop(co);
    let older = f.rev_parse(&format!("{}~1", mosaic::PS101));
    let co = checkout::prepare(&repo, Mode::Worktree, mosaic::PS101, &older).unwrap();
    assert_eq!(co.path, path);
    assert!(!co.path.join("debris.txt").exists());
    let page = std::fs::read_to_string(co.path.join("mosaic_ui/index.html")).unwrap();
    assert!(page.contains("PS101 progress bar") && !page.contains("PS101 resume"));
    assert_eq!(
        f.git(&["-C", co.path.to_str().unwrap(), "rev-parse", "HEAD"])
            .trim(),
        older
    );
    // The user's own working tree is untouched.
    assert_eq!(f.current_branch(), "main");

    // The branch goes away: its worktree goes too.
    f.git(&["branch", "-D", mosaic::PS101]);
    let removed = checkout::prune(&repo, &[mosaic::AUTH_MODAL.to_string()]).unwrap();
    assert_eq!(removed, ["feature-ps101"]);
    assert!(!path.exists());
    assert!(!f.git(&["worktree", "list"]).contains("feature-ps101"));
}

#[test]
fn in_place_refuses_a_dirty_tree() {
    let f = mosaic_repo();
    f.write("mosaic_ui/index.html", "local edit\n");
    let repo = Repo::open(f.path()).unwrap();
    let ps = f.rev_parse(mosaic::PS101);
    match checkout::prepare(&repo, Mode::InPlace, mosaic::PS101, &ps) {
        Err(e @ CheckoutError::Dirty { .. }) => {
            assert!(e.to_string().contains("mosaic_ui/index.html"), "{e}")
        }
        other => panic!("expected Dirty, got {other:?}"),
    }
}

#[test]
fn in_place_puts_the_previous_branch_back() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let ps = f.rev_parse(mosaic::PS101);
    {
        let co = checkout::prepare(&repo, Mode::InPlace, mosaic::PS101, &ps).unwrap();
        assert_eq!(co.path, repo.root);
        assert_eq!(f.rev_parse("HEAD"), ps);
        assert!(matches!(repo.head_state(), HeadState::Detached { .. }));
    }
    assert_eq!(f.current_branch(), "main");
}
