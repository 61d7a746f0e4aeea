//! `mmlab damon`'s pictures: a four-step stairs workload must show as four lit cells on the
//! diagonal of the heat map PNG (each phase's region hot, the others dark), and every picture
//! must be written as PNG and SVG.

use std::process::Command;

/// Four 10 MB regions, each accessed alone for a second in turn.
fn stairs4() -> String {
    let mut s = String::from("# regions\n");
    for i in 0..4 {
        s += &format!("s{i}, 10000000\n");
    }
    for i in 0..4 {
        s += &format!("\nphase {i}\n1000\ns{i}, 0, 4096, 50\n");
    }
    s
}

/// RGB pixels of a PNG, with its width and height.
fn decode(bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    let mut r = png::Decoder::new(bytes).read_info().expect("a PNG");
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Rgb, "8-bit RGB");
    buf.truncate(info.buffer_size());
    (buf, info.width, info.height)
}

#[test]
fn the_heat_map_shows_the_stairs_and_every_picture_is_png_and_svg() {
    let dir = std::env::temp_dir().join(format!("mmlab-damon-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("stairs4.cfg");
    std::fs::write(&cfg, stairs4()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mmlab"))
        .args(["damon", "--masim", cfg.to_str().unwrap(), "--out"])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |n: &str| std::fs::read(dir.join("out").join(n)).unwrap();
    for svg in ["heatmap.svg", "wss.svg"] {
        let s = String::from_utf8(read(svg)).unwrap();
        assert!(
            s.starts_with("<svg") && s.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }
    let (_, w, h) = decode(&read("wss.png"));
    assert_eq!((w, h), (900, 600));
    let (px, w, h) = decode(&read("heatmap.png"));
    assert_eq!((w, h), (900, 600));
    // The plot area lies within 70..890 × 40..550 with labels (10..890 × 10..590 without):
    // the centre of each quarter is inside cell (phase, region) either way.
    let bright = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        px[i] as u32 + px[i + 1] as u32 > 150
    };
    for phase in 0..4u32 {
        let x = 75 + (phase * 2 + 1) * 810 / 8;
        for row in 0..4u32 {
            let y = 45 + (row * 2 + 1) * 500 / 8;
            // The top-down mmap puts s0 highest: the top row is s0.
            assert_eq!(
                bright(x, y),
                row == phase,
                "phase {phase}, row {row} at ({x}, {y})"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
