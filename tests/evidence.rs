//! Media sniffing, file-name globs and evidence requirements.
use crate::common;

use common::{JPEG_HEAD, PNG_1X1};
use guardrail::pipeline::evidence::{
    check_requirements, describe_content, expected_kind_for_name, glob_match, sniff, MediaKind,
    Requirement,
};
use proptest::prelude::*;

fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0x20];
    v.extend_from_slice(b"ftyp");
    v.extend_from_slice(brand);
    v.extend_from_slice(&[0, 0, 2, 0]);
    v
}

#[test]
fn sniffs_real_media_bytes() {
    assert_eq!(sniff(PNG_1X1), Some(MediaKind::Png));
    assert_eq!(sniff(JPEG_HEAD), Some(MediaKind::Jpeg));
    assert_eq!(sniff(b"GIF89a\x01\x00\x01\x00"), Some(MediaKind::Gif));
    assert_eq!(sniff(b"GIF87a\x01\x00\x01\x00"), Some(MediaKind::Gif));
    assert_eq!(
        sniff(b"RIFF\x24\x00\x00\x00WEBPVP8 "),
        Some(MediaKind::Webp)
    );
    assert_eq!(sniff(&ftyp(b"isom")), Some(MediaKind::Mp4));
    assert_eq!(sniff(&ftyp(b"mp42")), Some(MediaKind::Mp4));
    assert_eq!(sniff(&ftyp(b"qt  ")), Some(MediaKind::Mov));
    assert_eq!(
        sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81]),
        Some(MediaKind::Webm)
    );
}

#[test]
fn rejects_lookalikes() {
    assert_eq!(sniff(b""), None);
    assert_eq!(sniff(b"\x89PN"), None);
    assert_eq!(sniff(b"PNG image, honest"), None);
    assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WAVEfmt "), None);
    assert_eq!(sniff(&ftyp(b"heic")), None, "HEIF stills are not video");
    assert_eq!(sniff(&ftyp(b"avif")), None);
    assert_eq!(sniff(b"<html><body>screenshot</body></html>"), None);
    assert_eq!(sniff(&[0xFF, 0xD8]), None);
}

#[test]
fn kinds_from_names() {
    assert_eq!(expected_kind_for_name("a.png"), Some(MediaKind::Png));
    assert_eq!(expected_kind_for_name("A.JPG"), Some(MediaKind::Jpeg));
    assert_eq!(expected_kind_for_name("a.jpeg"), Some(MediaKind::Jpeg));
    assert_eq!(expected_kind_for_name("x/y/a.gif"), Some(MediaKind::Gif));
    assert_eq!(expected_kind_for_name("a.webp"), Some(MediaKind::Webp));
    assert_eq!(expected_kind_for_name("a.mp4"), Some(MediaKind::Mp4));
    assert_eq!(expected_kind_for_name("a.webm"), Some(MediaKind::Webm));
    assert_eq!(expected_kind_for_name("a.mov"), Some(MediaKind::Mov));
    assert_eq!(expected_kind_for_name("a.txt"), None);
    assert_eq!(expected_kind_for_name("png"), None);
    assert_eq!(expected_kind_for_name("dir.png/file"), None);
    assert!(MediaKind::Mov.is_video() && !MediaKind::Gif.is_video());
}

#[test]
fn describes_non_media() {
    assert_eq!(describe_content(b""), "empty");
    assert_eq!(
        describe_content(b"TODO: take screenshot\n"),
        "looks like text"
    );
    assert_eq!(
        describe_content(b"<!DOCTYPE html><html>"),
        "looks like HTML"
    );
    assert_eq!(
        describe_content(b"\x00\x01\x02\x03garbage"),
        "unrecognised binary data"
    );
    // A UTF-8 sequence cut by the 64-byte prefix is still text.
    let mut cut = "é".repeat(40).into_bytes();
    cut.truncate(63);
    assert_eq!(describe_content(&cut), "looks like text");
    assert_eq!(describe_content(PNG_1X1), "image");
}

#[test]
fn globs() {
    assert!(glob_match("ps101-step-*", "ps101-step-1.png"));
    assert!(glob_match("ps101-step-*", "ps101-step-"));
    assert!(!glob_match("ps101-step-*", "ps101-step"));
    assert!(glob_match("auth-modal*", "auth-modal.png"));
    assert!(
        glob_match("auth-modal*", "evidence/sub/auth-modal-2.webp"),
        "matches the file name"
    );
    assert!(!glob_match("auth-modal*", "auth-modal/other.png"));
    assert!(glob_match("step-?.png", "step-3.png"));
    assert!(!glob_match("step-?.png", "step-10.png"));
    assert!(glob_match("*.png", "x.PNG"), "ASCII case is ignored");
    assert!(glob_match("a*b*c", "axxbyybzzc"));
    assert!(glob_match("a*b*c", "abcbc"));
    assert!(!glob_match("a*b*c", "axxbyy"));
    assert!(glob_match("*", ""));
    assert!(glob_match("", ""));
    assert!(!glob_match("", "a"));
    assert!(glob_match("**x", "x"));
    assert!(glob_match("what\\?", "what?"));
    assert!(!glob_match("what\\?", "whatx"));
    assert!(glob_match("ünï*", "ünïcode.png"));
}

fn req(name: &str, glob: &str, min: usize) -> Requirement {
    Requirement {
        name: name.into(),
        glob: glob.into(),
        min,
    }
}

fn file(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    (name.to_string(), bytes.to_vec())
}

#[test]
fn requirements_met_and_short() {
    let mut files: Vec<(String, Vec<u8>)> = (1..=7)
        .map(|i| file(&format!("ps101-step-{i}.png"), PNG_1X1))
        .collect();
    files.push(file("auth-modal.jpg", JPEG_HEAD));
    let reqs = [
        req("PS101 10-step flow", "ps101-step-*", 10),
        req("auth modal", "auth-modal*", 1),
    ];
    let r = check_requirements(&files, &reqs);
    assert!(!r[0].met);
    assert_eq!(
        r[0].reason.as_deref(),
        Some("needs 10 files matching ps101-step-*, found 7")
    );
    assert_eq!(r[0].counted.len(), 7);
    assert!(r[1].met);
    assert_eq!(r[1].reason, None);
    assert_eq!(
        r[1].counted,
        vec![("auth-modal.jpg".to_string(), MediaKind::Jpeg)]
    );

    for i in 8..=10 {
        files.push(file(&format!("ps101-step-{i}.mp4"), &ftyp(b"isom")));
    }
    assert!(check_requirements(&files, &reqs).iter().all(|r| r.met));
}

#[test]
fn fake_images_do_not_count() {
    let files = vec![file(
        "auth-modal.png",
        b"this is where the screenshot would go\n",
    )];
    let r = check_requirements(&files, &[req("auth modal", "auth-modal*", 1)]);
    assert!(!r[0].met);
    assert_eq!(
        r[0].reason.as_deref(),
        Some("auth-modal.png is not really an image (looks like text)")
    );
    assert_eq!(r[0].rejected.len(), 1);

    let files = vec![
        file("ps101-step-1.png", PNG_1X1),
        file("ps101-step-2.png", b"fake"),
        file("ps101-step-3.mov", b""),
        file("ps101-step-4.txt", b"notes"),
    ];
    let r = check_requirements(&files, &[req("PS101", "ps101-step-*", 2)]);
    assert_eq!(
        r[0].reason.as_deref(),
        Some("needs 2 files matching ps101-step-*, found 1; ps101-step-2.png is not really an image (looks like text) (and 2 more not counted)")
    );
    let whys: Vec<&str> = r[0].rejected.iter().map(|x| x.why.as_str()).collect();
    assert_eq!(
        whys,
        vec![
            "ps101-step-2.png is not really an image (looks like text)",
            "ps101-step-3.mov is not really a video (empty)",
            "ps101-step-4.txt is not an image or video (looks like text)",
        ]
    );
}

#[test]
fn content_decides_not_extension() {
    // A JPEG saved as .png is still a real image; a PNG without extension too.
    let files = vec![
        file("auth-modal.png", JPEG_HEAD),
        file("auth-modal-2", PNG_1X1),
    ];
    let r = check_requirements(&files, &[req("auth modal", "auth-modal*", 2)]);
    assert!(r[0].met, "{:?}", r[0]);
    assert!(check_requirements(&[], &[req("none needed", "*", 0)])[0].met);
    assert_eq!(
        check_requirements(&[], &[req("one", "x*", 1)])[0]
            .reason
            .as_deref(),
        Some("needs 1 file matching x*, found 0")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn glob_never_panics(p in "[*?\\\\a-c]{0,12}", n in "[a-c?*\\\\]{0,16}") {
        let _ = glob_match(&p, &n);
    }

    #[test]
    fn star_matches_everything_and_literals_match_themselves(n in "[a-z0-9._-]{0,20}") {
        prop_assert!(glob_match("*", &n));
        prop_assert!(glob_match(&n, &n));
        let (pattern, name) = (format!("{n}*"), format!("{n}.png"));
        prop_assert!(glob_match(&pattern, &name));
    }

    #[test]
    fn sniff_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = sniff(&bytes);
        let _ = describe_content(&bytes);
    }
}

#[test]
fn thumbnails_decode_png_and_scale_down() {
    // A 4×2 PNG: left half red, right half blue.
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 4, 2);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let row = [255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255];
        let data: Vec<u8> = row.iter().chain(row.iter()).copied().collect();
        w.write_image_data(&data).unwrap();
    }
    let th = guardrail::pipeline::evidence::thumbnail(&bytes, 48, 32).unwrap();
    assert_eq!((th.width, th.height), (4, 2));
    assert_eq!(th.pixel(0, 0), [255, 0, 0]);
    assert_eq!(th.pixel(3, 1), [0, 0, 255]);
    let small = guardrail::pipeline::evidence::thumbnail(&bytes, 2, 2).unwrap();
    assert_eq!((small.width, small.height), (2, 1));
    assert_eq!(small.pixel(1, 0), [0, 0, 255]);
    let e = guardrail::pipeline::evidence::thumbnail(b"not an image at all", 8, 8).unwrap_err();
    assert!(e.contains("not an image"), "{e}");
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    let e = guardrail::pipeline::evidence::thumbnail(gif, 8, 8).unwrap_err();
    assert!(e.contains("PNG and JPEG"), "{e}");
}

#[test]
fn a_thin_line_survives_the_thumbnail_scaling() {
    // 100×100 white with one black row (y = 5) and one black column (x = 5):
    // scaled to 10×10, a nearest-neighbour pick (rows and columns 0, 10,
    // 20, …) would lose both; each pixel as the average of its 10×10 keeps
    // them, a tenth dark.
    let mut data = vec![255u8; 100 * 100 * 3];
    for i in 0..100 {
        for (x, y) in [(i, 5), (5, i)] {
            data[(y * 100 + x) * 3..][..3].copy_from_slice(&[0, 0, 0]);
        }
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 100, 100);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(&data).unwrap();
    }
    let th = guardrail::pipeline::evidence::thumbnail(&bytes, 10, 10).unwrap();
    assert_eq!((th.width, th.height), (10, 10));
    assert_eq!(th.pixel(3, 3), [255, 255, 255]);
    // The row's and the column's cells: 10 of 100 pixels black.
    assert_eq!(th.pixel(3, 0), [230, 230, 230]);
    assert_eq!(th.pixel(0, 3), [230, 230, 230]);
    // Where they cross: 19 of 100.
    assert_eq!(th.pixel(0, 0), [207, 207, 207]);
}
