//! CDA R2 TLM-CR (compte rendu d'acte de télémédecine, CI-SIS TLM-CR_2022.01): French
//! header, document code LOINC 85208-7, serviceEvent TE2, non-structured body carrying the
//! report PDF in base64, template 1.3.6.1.4.1.19376.1.2.20. Pure: every value is escaped
//! by [`esc`] (text and attributes), so free text can never become markup.

use base64::Engine;

/// Escapes text for XML content and attribute values; drops characters XML 1.0 forbids.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A professional in the header.
#[derive(Debug, Clone)]
pub struct CdaPro {
    /// IdNat_PS: `8` + RPPS (or `0` + ADELI).
    pub idnat: String,
    pub given: String,
    pub family: String,
    /// TRE_G15 profession code, e.g. `10`.
    pub profession: String,
    pub profession_label: String,
    /// TRE_R38 specialty code, e.g. `SM04`.
    pub specialty: Option<String>,
    pub organisation: String,
    /// FINESS (géographique) of the organisation, when known.
    pub finess: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CdaPatient {
    /// The INS (NIR/NIA), only when the identity is qualified.
    pub ins_qualified: Option<(String, &'static str)>,
    /// The platform's local patient id (always present).
    pub local_id: String,
    pub birth_family_name: String,
    pub given_names: String,
    /// `F`, `M` or `U`.
    pub sex: String,
    /// `YYYYMMDD`.
    pub birth_date: String,
    /// INSEE code (COG) of the birth place.
    pub birth_place_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CdaReport {
    /// Document UUID (id of this version) and set UUID (same for all versions).
    pub document_id: String,
    pub set_id: String,
    pub version: i64,
    pub title: String,
    /// CDA TS with offset, e.g. `20261121140500+0100`.
    pub effective_time: String,
    pub answered_time: String,
    pub requested_time: String,
    pub patient: CdaPatient,
    pub expert: CdaPro,
    pub requester: CdaPro,
    pub custodian_name: String,
    pub custodian_finess: Option<String>,
    pub pdf: Vec<u8>,
}

/// The OID of INS-NIR, INS-NIA, or the platform's local patient ids.
const OID_INS_NIR: &str = "1.2.250.1.213.1.4.8";
const OID_INS_NIA: &str = "1.2.250.1.213.1.4.9";
/// Local patient identifiers of this Consilium instance (private arc under a test root).
pub const OID_LOCAL_PATIENT: &str = "1.2.250.1.999.1.1";

fn pro_code(p: &CdaPro) -> String {
    match &p.specialty {
        Some(s) => format!(
            "<code code=\"G15_{}/{}\" displayName=\"{}\" codeSystem=\"1.2.250.1.213.1.1.4.5\"/>",
            esc(&p.profession),
            esc(s),
            esc(&p.profession_label)
        ),
        None => format!(
            "<code code=\"G15_{}\" displayName=\"{}\" codeSystem=\"1.2.250.1.213.1.1.4.5\"/>",
            esc(&p.profession),
            esc(&p.profession_label)
        ),
    }
}

fn org(p_name: &str, finess: Option<&str>) -> String {
    let id = match finess {
        Some(f) => format!(
            "<id root=\"1.2.250.1.71.4.2.2\" extension=\"1{}\"/>",
            esc(f)
        ),
        None => String::new(),
    };
    format!(
        "<representedOrganization>{id}<name>{}</name><standardIndustryClassCode code=\"AMBULATOIRE\" displayName=\"Ambulatoire\" codeSystem=\"1.2.250.1.213.1.1.4.9\" codeSystemName=\"practiceSettingCode\"/></representedOrganization>",
        esc(p_name)
    )
}

fn person(p: &CdaPro, tag: &str) -> String {
    format!(
        "<{tag}><name><given>{}</given><family>{}</family></name></{tag}>",
        esc(&p.given),
        esc(&p.family)
    )
}

fn entity(p: &CdaPro) -> String {
    format!(
        "<id root=\"1.2.250.1.71.4.2.1\" extension=\"{}\"/>{}<addr nullFlavor=\"NASK\"/><telecom nullFlavor=\"NASK\"/>{}{}",
        esc(&p.idnat),
        pro_code(p),
        person(p, "assignedPerson"),
        org(&p.organisation, p.finess.as_deref())
    )
}

/// Builds the TLM-CR document.
pub fn tlm_cr(r: &CdaReport) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&r.pdf);
    let pat = &r.patient;
    let mut ids = String::new();
    if let (Some((ins, kind)), Some(_)) = (&pat.ins_qualified, &pat.birth_place_code) {
        let root = if *kind == "NIA" {
            OID_INS_NIA
        } else {
            OID_INS_NIR
        };
        ids.push_str(&format!("<id root=\"{root}\" extension=\"{}\"/>", esc(ins)));
    }
    ids.push_str(&format!(
        "<id root=\"{OID_LOCAL_PATIENT}\" extension=\"{}\"/>",
        esc(&pat.local_id)
    ));
    let gender = match pat.sex.as_str() {
        "F" => {
            "<administrativeGenderCode code=\"F\" displayName=\"Féminin\" codeSystem=\"2.16.840.1.113883.5.1\"/>"
        }
        "M" => {
            "<administrativeGenderCode code=\"M\" displayName=\"Masculin\" codeSystem=\"2.16.840.1.113883.5.1\"/>"
        }
        _ => {
            "<administrativeGenderCode code=\"U\" displayName=\"Inconnu\" codeSystem=\"2.16.840.1.113883.5.1\"/>"
        }
    };
    // The custodian is a health structure (FINESS); without one, the platform's own name.
    let custodian_id = format!(
        "<id root=\"1.2.250.1.71.4.2.2\" extension=\"{}\"/>",
        esc(&r
            .custodian_finess
            .as_deref()
            .map_or_else(|| "CONSILIUM".to_string(), |f| format!("1{f}")))
    );
    // The INS goes in the document only with the INS traits (qualified identity and birth
    // place, CI-SIS), else the identity stays local and provisional.
    let first_given = pat
        .given_names
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let birthplace = match &pat.birth_place_code {
        Some(cog) => format!(
            "<birthplace><place><addr><county>{}</county></addr></place></birthplace>",
            esc(cog)
        ),
        None => String::new(),
    };
    let e = &r.expert;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<realmCode code="FR"/>
<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
<templateId root="2.16.840.1.113883.2.8.2.1"/>
<templateId root="1.2.250.1.213.1.1.1.1"/>
<templateId root="1.3.6.1.4.1.19376.1.2.20"/>
<id root="{doc_id}"/>
<code code="85208-7" displayName="Compte-rendu d'acte de télémédecine" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"/>
<title>{title}</title>
<effectiveTime value="{eff}"/>
<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25" displayName="Normal"/>
<languageCode code="fr-FR"/>
<setId root="{set_id}"/>
<versionNumber value="{version}"/>
<recordTarget><patientRole>{ids}<patient classCode="PSN"><name><family qualifier="BR">{family}</family><given>{given}</given><given qualifier="BR">{first_given}</given></name>{gender}<birthTime value="{birth}"/>{birthplace}</patient></patientRole></recordTarget>
<author><time value="{eff}"/><assignedAuthor>{expert_entity}</assignedAuthor></author>
<custodian><assignedCustodian><representedCustodianOrganization>{custodian_id}<name>{custodian}</name></representedCustodianOrganization></assignedCustodian></custodian>
<legalAuthenticator><time value="{eff}"/><signatureCode code="S"/><assignedEntity>{expert_entity}</assignedEntity></legalAuthenticator>
<participant typeCode="REF"><time value="{requested}"/><associatedEntity classCode="PROV"><id root="1.2.250.1.71.4.2.1" extension="{req_id}"/>{req_code}<associatedPerson><name><given>{req_given}</given><family>{req_family}</family></name></associatedPerson></associatedEntity></participant>
<documentationOf><serviceEvent classCode="ACT"><code code="TE2" displayName="Téléexpertise" codeSystem="1.2.250.1.215.200.3.3" codeSystemName="NGAP"/><effectiveTime><low value="{answered}"/></effectiveTime><performer typeCode="PRF"><assignedEntity>{expert_entity}</assignedEntity></performer></serviceEvent></documentationOf>
<componentOf><encompassingEncounter><code code="VR" displayName="Virtuelle" codeSystem="2.16.840.1.113883.5.4"/><effectiveTime><low value="{requested}"/>{encounter_high}</effectiveTime><location><healthCareFacility><code code="SA07" displayName="Cabinet individuel" codeSystem="1.2.250.1.71.4.2.4" codeSystemName="healthCareFacilityTypeCode"/></healthCareFacility></location></encompassingEncounter></componentOf>
<component><nonXMLBody><text mediaType="application/pdf" representation="B64">{b64}</text></nonXMLBody></component>
</ClinicalDocument>
"#,
        doc_id = esc(&r.document_id.to_uppercase()),
        set_id = esc(&r.set_id.to_uppercase()),
        first_given = esc(&first_given),
        version = r.version,
        title = esc(&r.title),
        eff = esc(&r.effective_time),
        requested = esc(&r.requested_time),
        answered = esc(&r.answered_time),
        // dtr1-6-IVL_TS: low must differ from high (a request answered within the second).
        encounter_high = if r.answered_time == r.requested_time {
            String::new()
        } else {
            format!("<high value=\"{}\"/>", esc(&r.answered_time))
        },
        family = esc(&pat.birth_family_name),
        given = esc(&pat.given_names),
        birth = esc(&pat.birth_date),
        expert_entity = entity(e),
        custodian = esc(&r.custodian_name),
        req_id = esc(&r.requester.idnat),
        req_code = pro_code(&r.requester),
        req_given = esc(&r.requester.given),
        req_family = esc(&r.requester.family),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(text: &str) -> CdaReport {
        let pro = |idnat: &str,
                   given: &str,
                   family: &str,
                   prof: &str,
                   label: &str,
                   spec: Option<&str>| CdaPro {
            idnat: idnat.into(),
            given: given.into(),
            family: family.into(),
            profession: prof.into(),
            profession_label: label.into(),
            specialty: spec.map(str::to_string),
            organisation: format!("Cabinet {text}"),
            finess: None,
        };
        CdaReport {
            document_id: "0193a1b2-0000-7000-8000-000000000001".into(),
            set_id: "0193a1b2-0000-7000-8000-000000000002".into(),
            version: 1,
            title: format!("Compte rendu de téléexpertise {text}"),
            effective_time: "20261121140500+0100".into(),
            answered_time: "20261121140300+0100".into(),
            requested_time: "20261120091200+0100".into(),
            patient: CdaPatient {
                ins_qualified: Some(("189122A123456".into(), "NIR")),
                local_id: "0193a1b2-0000-7000-8000-000000000003".into(),
                birth_family_name: format!("DURAND {text}"),
                given_names: format!("Marc {text}"),
                sex: "M".into(),
                birth_date: "19610402".into(),
                birth_place_code: Some("75056".into()),
            },
            expert: pro(
                "819999900077",
                "Paul",
                &format!("BERNARD {text}"),
                "10",
                "Médecin",
                Some("SM04"),
            ),
            requester: pro("819999900010", "Claire", "MARTIN", "60", "Infirmier", None),
            custodian_name: format!("Consilium {text}"),
            custodian_finess: None,
            pdf: b"%PDF-1.7 test".to_vec(),
        }
    }

    #[test]
    fn escaping_leaves_no_markup() {
        let hostile = "</title><script>alert(1)</script>&amp; \"' \u{202E}rtl\u{202C} \u{0}\u{1}";
        let xml = tlm_cr(&sample(hostile));
        assert!(!xml.contains("<script>"));
        assert!(xml.contains("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;"));
        assert!(!xml.contains('\u{0}') && !xml.contains('\u{1}'));
        assert!(xml.contains("\u{202E}rtl"));
        assert!(xml.contains("<code code=\"TE2\""));
        assert!(xml.contains("code=\"85208-7\""));
        assert!(xml.contains("1.3.6.1.4.1.19376.1.2.20"));
        assert_eq!(xml.matches("<title>").count(), 1);
    }

    /// Every generated CDA passes the official ANS rules (XSD + French header schematron +
    /// TLM-CR schematron) of `../shared/validation/cda/validate.sh`, hostile text included.
    /// Needs Debian's libxml2-utils and libsaxonhe-java (`.ci/run` installs them).
    #[test]
    fn generated_documents_pass_the_ans_validator() {
        let kit = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/validation/cda/validate.sh");
        assert!(
            kit.exists(),
            "../shared/validation/cda/validate.sh is missing"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let long = "Très long texte. ".repeat(5000);
        let cases = [
            "ordinaire".to_string(),
            "<b>&\"'</b> ]]> <![CDATA[x]]> <!-- c -->".to_string(),
            "<script>alert('x')</script>".to_string(),
            "\u{202E}عربي\u{202C} \u{200F}".to_string(),
            long,
        ];
        let mut files = Vec::new();
        for (i, t) in cases.iter().enumerate() {
            let p = dir.path().join(format!("cr{i}.xml"));
            std::fs::write(&p, tlm_cr(&sample(t))).expect("write");
            files.push(p);
        }
        // Answered within the second of the request: the encounter has no `high`.
        let mut same = sample("même seconde");
        same.answered_time = same.requested_time.clone();
        let p = dir.path().join("same-second.xml");
        std::fs::write(&p, tlm_cr(&same)).expect("write");
        files.push(p);
        let out = std::process::Command::new("bash")
            .arg(&kit)
            .args(&files)
            .output()
            .expect("run validate.sh");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "validate.sh failed (install libxml2-utils and libsaxonhe-java if it says a tool is missing):\n{text}"
        );
    }
}
