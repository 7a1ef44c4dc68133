//! Every PDF is checked with Debian's tools (poppler-utils, qpdf), which `.ci/run` installs:
//! it opens (`pdfinfo`), its text is extractable and says what it should (`pdftotext`), its
//! structure is sound (`qpdf --check`), and it carries no script or open action.

use std::io::Write;
use std::process::Command;

use super::*;

fn sample() -> Report {
    example()
}

pub(crate) struct Checked {
    text: String,
    info: String,
}

fn tool(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} must be installed (poppler-utils, qpdf): {e}"))
}

/// Runs the external checks on a PDF and returns its text.
pub(crate) fn check_pdf(pdf: &[u8]) -> Checked {
    let mut file = tempfile_in_target();
    file.1.write_all(pdf).expect("write pdf");
    drop(file.1);
    let path = file.0.to_str().expect("utf-8 path");

    let info = tool("pdfinfo", &[path]);
    assert!(
        info.status.success(),
        "pdfinfo: {}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info = String::from_utf8_lossy(&info.stdout).into_owned();

    let qpdf = tool("qpdf", &["--check", path]);
    assert!(
        qpdf.status.success(),
        "qpdf --check: {}{}",
        String::from_utf8_lossy(&qpdf.stdout),
        String::from_utf8_lossy(&qpdf.stderr)
    );

    // Active content, looked for in the decompressed file (object streams included).
    let plain = format!("{path}.qdf");
    let qdf = tool("qpdf", &["--qdf", "--object-streams=disable", path, &plain]);
    assert!(qdf.status.success(), "qpdf --qdf failed");
    let raw = std::fs::read(&plain).expect("read qdf");
    for name in [
        &b"/JavaScript"[..],
        b"/JS ",
        b"/OpenAction",
        b"/Launch",
        b"/AA ",
    ] {
        assert!(
            !raw.windows(name.len()).any(|w| w == name),
            "the PDF carries {}",
            String::from_utf8_lossy(name)
        );
    }

    let text = tool("pdftotext", &["-enc", "UTF-8", path, "-"]);
    assert!(text.status.success(), "pdftotext failed");
    let _ = std::fs::remove_file(&plain);
    let _ = std::fs::remove_file(path);
    Checked {
        text: String::from_utf8_lossy(&text.stdout).into_owned(),
        info,
    }
}

fn tempfile_in_target() -> (std::path::PathBuf, std::fs::File) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("consilium-pdf-test-{}-{n}.pdf", std::process::id()));
    let file = std::fs::File::create(&path).expect("create temp file");
    (path, file)
}

/// pdftotext lays text out in lines; compare with whitespace collapsed.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_signed_report_has_every_part_and_passes_the_tools() {
    let pdf = render(&sample()).expect("render");
    assert!(pdf.starts_with(b"%PDF-"));
    let c = check_pdf(&pdf);
    let text = flat(&c.text);
    for expected in [
        "Compte rendu de téléexpertise",
        "TE-2026-000042",
        "Dr Claire Martin",
        "Dr Hélène Fontaine",
        "Dermatologie et vénéréologie",
        "10123456781",
        "DURAND",
        "1610469123456 27",
        "Identité qualifiée",
        "lundi 23 novembre 2026 à 10 h 05",
        "mardi 24 novembre 2026 à 14 h 30",
        "Exérèse nécessaire ?",
        "La lésion a changé de couleur en trois mois.",
        "dos.jpg",
        "kératose séborrhéique",
        "Dermoscopie lors de la prochaine consultation.",
        "Revoir dans 6 mois.",
        "Non urgent",
        "Signé électroniquement par Dr Hélène Fontaine",
        "version 1",
        "0193A5C2-7F00-7000-8000-000000000001",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("BROUILLON"),
        "a signed report has no watermark"
    );
    assert!(c.info.contains("Pages:"), "{}", c.info);
    assert!(
        c.info.contains("Creator:") && c.info.contains("Consilium"),
        "{}",
        c.info
    );
    assert!(
        c.info.contains("Title:") && c.info.contains("TE-2026-000042"),
        "{}",
        c.info
    );
    // PDF/A-2b is declared in the XMP metadata.
    let s = String::from_utf8_lossy(&pdf);
    assert!(
        s.contains("pdfaid:part") || s.contains("pdfaid"),
        "no PDF/A identification"
    );
}

#[test]
fn the_output_is_identical_for_the_same_input() {
    let a = render(&sample()).expect("render");
    let b = render(&sample()).expect("render");
    assert_eq!(a, b, "same input, same bytes");
    let mut other = sample();
    other.opinion.push('.');
    assert_ne!(render(&other).expect("render"), a);
}

#[test]
fn a_preview_carries_the_watermark() {
    let mut r = sample();
    r.signature = None;
    r.watermark = Some("BROUILLON — APERÇU".into());
    let c = check_pdf(&render(&r).expect("render"));
    let text = flat(&c.text);
    assert!(text.contains("BROUILLON — APERÇU"), "{text}");
    assert!(text.contains("n’a pas de valeur de compte rendu"), "{text}");
    assert!(text.contains("Non signé."), "{text}");
}

#[test]
fn a_correction_names_the_document_it_replaces() {
    let mut r = sample();
    r.version = 2;
    r.previous_document_id = Some("0193A5C2-7F00-7000-8000-0000000000AA".into());
    let text = flat(&check_pdf(&render(&r).expect("render")).text);
    assert!(text.contains("version 2"), "{text}");
    assert!(
        text.contains("0193A5C2-7F00-7000-8000-0000000000AA"),
        "{text}"
    );
}

#[test]
fn hostile_text_is_printed_literally_and_never_evaluated() {
    let mut r = sample();
    let hostile = [
        r#"#set page(fill: red) #panic("pwned") ]"#,
        r#"#read("/etc/passwd") #import "@preview/x:0.1.0": * $x^2$ <lbl> @ref"#,
        r#"<script>alert('x')</script> & "quotes" 'apos' \ // not a comment /* nor this */"#,
        "\u{202E}txet evitcelfer\u{202C} \u{200F}RLM\u{200E} fin",
        "=== not a heading\n- not a list\n+ not an enum\n*not bold* _not emph_ `not raw`",
    ];
    r.question = hostile[0].into();
    r.opinion = hostile[1].into();
    r.recommendations = Some(hostile[2].into());
    r.follow_up = Some(hostile[4].into());
    r.reason = hostile[3].into();
    r.patient.birth_family_name = "O'BRIEN ]#[".into();
    r.expert.name = "Dr #strong[X]".into();
    r.attachments = vec![AttachmentLine {
        name: "#image(\"/etc/hosts\").pdf".into(),
        kind: "Document PDF".into(),
        added_at: "23/11/2026 10:02".into(),
    }];
    r.case_number = "TE-#1]".into();
    let pdf = render(&r).expect("hostile text renders");
    let c = check_pdf(&pdf);
    let text = flat(&c.text);
    for expected in [
        r#"#set page(fill: red) #panic("pwned") ]"#,
        r#"#read("/etc/passwd")"#,
        r#"#import "@preview/x:0.1.0": * $x^2$ <lbl> @ref"#,
        r#"<script>alert('x')</script> & "quotes" 'apos' \ // not a comment /* nor this */"#,
        "=== not a heading",
        "- not a list",
        "+ not an enum",
        "*not bold* _not emph_ `not raw`",
        "O'BRIEN ]#[",
        "Dr #strong[X]",
        "#image(\"/etc/hosts\").pdf",
        "TE-#1]",
        "RLM",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("root:"), "no file was read");
}

#[test]
fn very_long_text_flows_over_pages() {
    let mut r = sample();
    let sentence = "Le patient décrit une gêne persistante depuis plusieurs semaines. ";
    r.opinion = format!("DEBUT {} FIN", sentence.repeat(600));
    r.question = "x".repeat(5000);
    let pdf = render(&r).expect("render");
    let c = check_pdf(&pdf);
    let pages: u32 = c
        .info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("page count");
    assert!(pages >= 5, "{pages} pages");
    let text = flat(&c.text);
    assert!(
        text.contains("DEBUT") && text.contains("FIN"),
        "both ends of the text"
    );
    assert!(
        text.contains(&format!("page {pages} / {pages}")),
        "page numbers"
    );
}

#[test]
fn control_characters_are_dropped_but_text_kept() {
    let mut r = sample();
    r.opinion = "avant\u{0}\u{7}\u{1b}[31m après\r\nligne".into();
    let text = flat(&check_pdf(&render(&r).expect("render")).text);
    assert!(text.contains("avant[31m après ligne"), "{text}");
}
