//! The compte rendu de téléexpertise (R10) as a PDF/A-2b document, rendered with typst used
//! as a library.
//!
//! - The template (`compte_rendu.typ`) is compiled into the binary; the report's content is
//!   handed to it as one JSON string in `sys.inputs`, so user text is data, never markup:
//!   `#`, `]`, `<script>`, right-to-left marks and the like come out as the characters typed.
//! - The fonts are typst-assets' (Libertinus Serif and friends), embedded in the binary; the
//!   world refuses every file but the template and has no clock, packages or network. The
//!   same input gives the same bytes on every machine (the PDF's id and date come from the
//!   input, not from the environment).

use std::sync::OnceLock;

use serde::Serialize;
use typst::diag::{FileError, FileResult, SourceDiagnostic, Warned};
use typst::foundations::{Bytes, Datetime, Dict, Smart, Str, Value};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

const TEMPLATE: &str = include_str!("compte_rendu.typ");

/// A professional named in the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Professional {
    /// "Dr Claire Martin".
    pub name: String,
    /// Profession label (TRE_G15), e.g. "Médecin".
    pub profession: String,
    /// Specialty label (TRE_R38), when known.
    pub specialty: Option<String>,
    /// RPPS number, when known.
    pub rpps: Option<String>,
    /// Organisation (practice, hospital service).
    pub organisation: Option<String>,
}

/// The patient's identity as documents must show it (INS with the identity's status).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Patient {
    pub birth_family_name: String,
    pub used_name: Option<String>,
    pub given_names: String,
    /// Already formatted, e.g. "02/04/1961".
    pub birth_date: String,
    /// "Féminin", "Masculin", "Indéterminé".
    pub sex: String,
    pub birth_place: Option<String>,
    /// "1891275123456 86" (NIR/NIA and key), when known.
    pub ins: Option<String>,
    /// "Identité qualifiée", "Identité provisoire", …
    pub identity_status: String,
}

/// One piece of data the expert considered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttachmentLine {
    pub name: String,
    /// "Photographie (JPEG)", "Document PDF", …
    pub kind: String,
    /// When it was added, formatted for display.
    pub added_at: String,
}

/// The expert's signature block.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Signature {
    pub signer: String,
    /// Formatted for display, Europe/Paris.
    pub signed_at: String,
    /// What the signature means and how it was made.
    pub statement: String,
}

/// A UTC instant for the PDF's metadata (its creation date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Everything the compte rendu shows. Dates are display strings (French format, Europe/Paris),
/// formatted by the caller, which owns the clock and the time zone rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub document_id: String,
    pub version: u32,
    /// For a correction (version 2 and later): the document it replaces.
    pub previous_document_id: Option<String>,
    pub case_number: String,
    /// A subtitle, e.g. "Avis de dermatologie".
    pub title: String,
    pub requester: Professional,
    pub expert: Professional,
    pub patient: Patient,
    pub requested_at: String,
    pub answered_at: String,
    pub reason: String,
    pub question: String,
    pub attachments: Vec<AttachmentLine>,
    /// The kind of answer ("Avis sans consultation nécessaire", …).
    pub conclusion: String,
    pub opinion: String,
    pub recommendations: Option<String>,
    pub follow_up: Option<String>,
    pub urgency: String,
    pub signature: Option<Signature>,
    /// Shown across every page and in the footer (e.g. "BROUILLON — APERÇU") for anything
    /// that is not the signed document.
    pub watermark: Option<String>,
    /// The PDF's creation date (metadata).
    #[serde(skip)]
    pub created: Option<UtcDateTime>,
}

/// Why a report could not be rendered (a bug in the template or an impossible input; user
/// text alone cannot cause it).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the report template failed: {0}")]
    Template(String),
    #[error("PDF export failed: {0}")]
    Export(String),
    #[error("invalid input: {0}")]
    Input(String),
}

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        Fonts {
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    })
}

fn template() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = VirtualPath::new("/compte_rendu.typ").expect("a valid constant path");
        let id = RootedPath::new(VirtualRoot::Project, path).intern();
        Source::new(id, TEMPLATE.to_owned())
    })
}

/// The world the template is compiled in: the template, the embedded fonts, the inputs.
/// Nothing else exists (no files, no packages, no date).
struct ReportWorld {
    library: LazyHash<Library>,
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().book
    }

    fn main(&self) -> FileId {
        template().id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == template().id() {
            Ok(template().clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == template().id() {
            Ok(Bytes::from_string(template().clone()))
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

fn diagnostics(errors: &[SourceDiagnostic]) -> String {
    errors
        .iter()
        .map(|e| e.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Characters no document should carry: C0/C1 controls other than tab and newline (they
/// have no glyph and PDF/A text extraction chokes on them). Everything else, including
/// bidirectional marks, is kept as typed.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect::<String>()
        .replace("\r\n", "\n")
}

fn clean_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = clean(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(clean_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(clean_json),
        _ => {}
    }
}

/// Drops every memoised typst result (benchmarks: a render with nothing reused but the
/// loaded fonts).
pub fn evict_caches() {
    typst::comemo::evict(0);
}

/// Renders the report as PDF/A-2b bytes. CPU-bound (tens of milliseconds): call it off the
/// async executor (`spawn_blocking`).
pub fn render(report: &Report) -> Result<Vec<u8>, RenderError> {
    let mut json = serde_json::to_value(report).map_err(|e| RenderError::Input(e.to_string()))?;
    clean_json(&mut json);
    let mut inputs = Dict::new();
    inputs.insert(Str::from("report"), Value::Str(Str::from(json.to_string())));
    let world = ReportWorld {
        library: LazyHash::new(Library::builder().with_inputs(inputs).build()),
    };
    let Warned { output, .. } = typst::compile::<PagedDocument>(&world);
    let document = output.map_err(|e| RenderError::Template(diagnostics(&e)))?;

    let timestamp = match report.created {
        Some(t) => Some(Timestamp::new_utc(
            Datetime::from_ymd_hms(t.year, t.month, t.day, t.hour, t.minute, t.second)
                .ok_or_else(|| RenderError::Input("creation date out of range".into()))?,
        )),
        None => None,
    };
    let standards = PdfStandards::new(&[PdfStandard::A_2b])
        .map_err(|e| RenderError::Export(e.message().to_string()))?;
    let options = PdfOptions {
        ident: Smart::Custom(format!("{}/{}", report.document_id, report.version)),
        creator: Smart::Custom(Some("Consilium".into())),
        timestamp,
        standards,
        ..PdfOptions::default()
    };
    let pdf =
        typst_pdf::pdf(&document, &options).map_err(|e| RenderError::Export(diagnostics(&e)))?;
    // Memoised layouts of past reports are of no use to the next one; keep memory flat.
    typst::comemo::evict(2);
    Ok(pdf)
}

/// A typical one-page report (synthetic people, valid check digits), for tests and benches.
pub fn example() -> Report {
    Report {
        document_id: "0193A5C2-7F00-7000-8000-000000000001".into(),
        version: 1,
        previous_document_id: None,
        case_number: "TE-2026-000042".into(),
        title: "Avis de dermatologie".into(),
        requester: Professional {
            name: "Dr Claire Martin".into(),
            profession: "Médecin".into(),
            specialty: Some("Médecine générale".into()),
            rpps: Some("10000000009".into()),
            organisation: Some("Cabinet du Parc, Lyon".into()),
        },
        expert: Professional {
            name: "Dr Hélène Fontaine".into(),
            profession: "Médecin".into(),
            specialty: Some("Dermatologie et vénéréologie".into()),
            rpps: Some("10123456781".into()),
            organisation: Some("CHU Sud, service de dermatologie".into()),
        },
        patient: Patient {
            birth_family_name: "DURAND".into(),
            used_name: None,
            given_names: "Marc Pierre".into(),
            birth_date: "02/04/1961".into(),
            sex: "Masculin".into(),
            birth_place: Some("69123".into()),
            ins: Some("1610469123456 27".into()),
            identity_status: "Identité qualifiée".into(),
        },
        requested_at: "lundi 23 novembre 2026 à 10 h 05".into(),
        answered_at: "mardi 24 novembre 2026 à 14 h 30".into(),
        reason: "Lésion pigmentée du dos évolutive".into(),
        question: "Exérèse nécessaire ?\n\nLa lésion a changé de couleur en trois mois.".into(),
        attachments: vec![AttachmentLine {
            name: "dos.jpg".into(),
            kind: "Photographie (JPEG)".into(),
            added_at: "23/11/2026 10:02".into(),
        }],
        conclusion: "Avis et bilan avant consultation".into(),
        opinion: "Aspect de kératose séborrhéique, sans critère de mélanome.".into(),
        recommendations: Some("Dermoscopie lors de la prochaine consultation.".into()),
        follow_up: Some("Revoir dans 6 mois.".into()),
        urgency: "Non urgent".into(),
        signature: Some(Signature {
            signer: "Dr Hélène Fontaine".into(),
            signed_at: "mardi 24 novembre 2026 à 14 h 31".into(),
            statement: "Signature électronique Consilium : authentification forte, empreinte SHA-256 conservée.".into(),
        }),
        watermark: None,
        created: Some(UtcDateTime {
            year: 2026,
            month: 11,
            day: 24,
            hour: 13,
            minute: 31,
            second: 0,
        }),
    }
}

#[cfg(test)]
mod tests;
