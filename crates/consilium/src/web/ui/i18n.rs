//! The interface's words, French first, English second. A key missing from the table
//! renders as nothing; a unit test checks that every key the templates and pages use is
//! here.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Lang {
        if s.trim().eq_ignore_ascii_case("en") {
            Lang::En
        } else {
            Lang::Fr
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
}

pub fn t(lang: Lang, key: &str) -> &'static str {
    match WORDS.binary_search_by(|(k, _, _)| (*k).cmp(key)) {
        Ok(i) => match lang {
            Lang::Fr => WORDS[i].1,
            Lang::En => WORDS[i].2,
        },
        Err(_) => "",
    }
}

/// A field error's message (written in English for the API) in the interface's language;
/// one not in the table stays in English.
pub fn message(lang: Lang, msg: &str) -> &str {
    if lang == Lang::En {
        return msg;
    }
    MESSAGES
        .iter()
        .find(|(en, _)| *en == msg)
        .map(|(_, fr)| *fr)
        .unwrap_or(msg)
}

/// The field messages users of the web forms meet, in French.
const MESSAGES: &[(&str, &str)] = &[
    (
        "at most 10 webhooks each: delete one first",
        "10 webhooks au plus : supprimez-en un d'abord",
    ),
    ("has no host", "n'a pas de nom d'hôte"),
    (
        "is not a URL",
        "n'est pas une adresse web valide (https://…)",
    ),
    ("must be an https URL", "doit commencer par https://"),
    (
        "must not carry credentials (the signature authenticates us)",
        "ne doit contenir ni identifiant ni mot de passe (la signature suffit)",
    ),
    (
        "must not have a fragment",
        "ne doit pas contenir de fragment (#…)",
    ),
    ("must use https", "doit utiliser https"),
    (
        "needs a fully qualified host name",
        "demande un nom d'hôte complet (par exemple logiciel.exemple.fr)",
    ),
    (
        "points to a private or reserved address",
        "désigne une adresse privée ou réservée, ce qui est refusé",
    ),
    (
        "points to this machine (loopback), which is refused",
        "désigne cette machine (loopback), ce qui est refusé",
    ),
    (
        "the secret changed meanwhile: try again",
        "le secret a changé entre-temps : recommencez",
    ),
    (
        "a time HH:MM from 00:00 to 23:59",
        "une heure HH:MM de 00:00 à 23:59",
    ),
    (
        "a time HH:MM from 00:00 to 24:00",
        "une heure HH:MM de 00:00 à 24:00",
    ),
    ("choose a day", "choisissez un jour"),
    ("must differ from start", "doit différer du début"),
    (
        "a team needs at least one case assigner",
        "une équipe a besoin d'au moins un régulateur",
    ),
    (
        "a team needs at least one member",
        "une équipe a besoin d'au moins un membre",
    ),
    ("a whole number", "un nombre entier"),
    ("a whole number of hours", "un nombre entier d'heures"),
    (
        "an RPPS or an ADELI number is required",
        "un numéro RPPS ou ADELI est requis",
    ),
    (
        "choose a named expert or a team",
        "choisissez un expert ou une équipe",
    ),
    (
        "choose a named expert or a team, not both",
        "choisissez un expert ou une équipe, pas les deux",
    ),
    (
        "choose a team or an expert",
        "choisissez une équipe ou un expert",
    ),
    ("choose one of the options", "choisissez l'une des options"),
    ("is before 1890", "est antérieure à 1890"),
    ("is in the future", "est dans le futur"),
    ("is in the past", "est dans le passé"),
    ("is not an email address", "n'est pas une adresse e-mail"),
    ("is required", "est obligatoire"),
    (
        "is required (at most 100 characters)",
        "est obligatoire (100 caractères au plus)",
    ),
    ("is too long", "est trop long"),
    ("listed twice", "figure deux fois"),
    ("must be 5 digits", "doit compter 5 chiffres"),
    (
        "must be a 5-character INSEE code",
        "doit être un code INSEE de 5 caractères",
    ),
    (
        "must be a date written YYYY-MM-DD",
        "doit être une date (AAAA-MM-JJ)",
    ),
    ("must be after from", "doit être après le début"),
    (
        "must be between 1 and 168 hours",
        "doit être entre 1 et 168 heures",
    ),
    ("no such slot", "créneau introuvable"),
    (
        "nobody is their own delegate",
        "on ne peut pas être son propre remplaçant",
    ),
    (
        "not a member of this team",
        "n'est pas membre de cette équipe",
    ),
    (
        "only doctors and midwives may answer in your place (R4)",
        "seuls un médecin ou une sage-femme peuvent vous remplacer (R4)",
    ),
    (
        "only doctors and midwives may be experts (R4)",
        "seuls les médecins et sages-femmes peuvent être experts (R4)",
    ),
    (
        "record the patient's information and consent before sending (R6)",
        "enregistrez l'information et le consentement du patient avant l'envoi (R6)",
    ),
    (
        "state the question for the expert (R7)",
        "posez la question à l'expert (R7)",
    ),
    (
        "state the reason for the request (R7)",
        "indiquez le motif de la demande (R7)",
    ),
    (
        "the first digit of the INS does not match the sex",
        "le premier chiffre de l'INS ne correspond pas au sexe",
    ),
    (
        "the requester cannot be the expert",
        "le requérant ne peut pas être l'expert",
    ),
    (
        "this professional's account is disabled",
        "le compte de ce professionnel est désactivé",
    ),
    ("unknown organisation", "organisation inconnue"),
    ("unknown patient", "patient inconnu"),
    ("unknown professional", "professionnel inconnu"),
    ("unknown TRE_G15 profession code", "profession inconnue"),
    ("unknown TRE_R38 specialty code", "spécialité inconnue"),
    ("unknown team", "équipe inconnue"),
    (
        "write a date (YYYY-MM-DD)",
        "saisissez une date (JJ/MM/AAAA)",
    ),
    ("write a date and time", "saisissez une date et une heure"),
    ("write it YYYY-MM-DD", "écrivez-la JJ/MM/AAAA ou AAAA-MM-JJ"),
    (
        "you cannot ask yourself for an opinion",
        "vous ne pouvez pas vous demander un avis à vous-même",
    ),
];

/// The label of an API field name in an error message.
pub fn field_label(lang: Lang, field: &str) -> String {
    let key = format!("f_{}", field.split(['.', '[']).next().unwrap_or(field));
    match t(lang, &key) {
        "" => field.to_string(),
        l => l.to_string(),
    }
}

/// (key, French, English), sorted by key (a test checks).
pub static WORDS: &[(&str, &str, &str)] = &[
    ("absences", "Absences", "Absences"),
    ("absent_until", "Absent jusqu'au", "Away until"),
    (
        "accept_hours",
        "Heures pour accepter (1 à 168)",
        "Hours to accept (1 to 168)",
    ),
    (
        "acceptance_rules",
        "Demandes acceptées",
        "Requests I accept",
    ),
    (
        "accepted_professions",
        "Professions des demandeurs",
        "Requesters' professions",
    ),
    ("account", "Mon compte", "My account"),
    ("account_state", "Compte", "Account"),
    ("act_accept", "Accepter la demande", "Accept the request"),
    ("act_answer", "Répondre", "Answer"),
    ("act_assign", "Attribuer", "Assign"),
    ("act_cancel", "Annuler la demande", "Cancel the request"),
    ("act_claim", "Prendre en charge", "Claim"),
    (
        "act_close",
        "Clore avec le résultat",
        "Close with the outcome",
    ),
    ("act_code", "Acte", "Act"),
    (
        "act_convert",
        "Convertir en consultation",
        "Convert to a consultation",
    ),
    ("act_decline", "Refuser", "Decline"),
    ("act_forward", "Transférer", "Forward"),
    (
        "act_provide_info",
        "Envoyer le complément",
        "Send the information",
    ),
    (
        "act_request_info",
        "Demander un complément",
        "Ask for information",
    ),
    ("act_submit", "Envoyer la demande", "Send the request"),
    ("action", "Action", "Action"),
    ("actions", "Actions", "Actions"),
    ("activity", "Activité", "Activity"),
    ("add_absence", "Ajouter l'absence", "Add the absence"),
    (
        "add_files",
        "Ajouter des photos ou des documents",
        "Add photos or documents",
    ),
    ("add_member", "Ajouter un membre", "Add a member"),
    ("add_slot", "Ajouter le créneau", "Add the slot"),
    ("age", "Âge", "Age"),
    (
        "all_team_cases",
        "toutes les demandes de l'équipe, à attribuer",
        "all the team's requests, to assign",
    ),
    ("answer_context", "Contexte retenu", "Context"),
    ("answer_text", "Avis", "Opinion"),
    ("assign_strategy", "Ordre d'attribution", "Assignment order"),
    ("assignee", "Expert", "Expert"),
    ("assigner", "régulateur", "case assigner"),
    ("attachments", "Pièces jointes", "Attachments"),
    ("audit", "Journal d'audit", "Audit log"),
    (
        "audit_caption",
        "Actions des membres de votre organisation, les plus récentes d'abord",
        "Actions by your organisation's members, newest first",
    ),
    ("availability", "Disponibilité", "Availability"),
    ("available", "Disponible", "Available"),
    (
        "awaiting_time",
        "Temps d'attente du demandeur",
        "Time waiting for the requester",
    ),
    ("billing", "Facturation", "Billing"),
    ("birth_date", "Date de naissance", "Date of birth"),
    ("birth_family_name", "Nom de naissance", "Birth name"),
    ("board", "Tableau d'équipe", "Team board"),
    ("case_assigner", "Régulateur", "Case assigner"),
    ("clinical_context", "Contexte clinique", "Clinical context"),
    ("close", "Fermer", "Close"),
    ("comment", "Commentaire", "Comment"),
    (
        "consent",
        "Information et consentement du patient",
        "Patient information and consent",
    ),
    ("consent_given", "Consentement recueilli", "Consent given"),
    (
        "consent_gives",
        "Le patient consent",
        "The patient consents",
    ),
    (
        "consent_hint",
        "Informez le patient (motif, spécialiste, retour de l'avis) et recueillez son consentement.",
        "Inform the patient (reason, specialist, how the answer comes back) and collect their consent.",
    ),
    ("consent_missing", "Non recueilli", "Not recorded"),
    ("consent_oral", "Oral", "Oral"),
    (
        "consent_refused",
        "Refusé : la demande ne peut pas être envoyée",
        "Refused: the request cannot be sent",
    ),
    (
        "consent_refuses",
        "Le patient refuse",
        "The patient refuses",
    ),
    ("consent_written", "Écrit", "Written"),
    (
        "continue_attach",
        "Continuer : ajouter des photos",
        "Continue: add photos",
    ),
    (
        "counters_caption",
        "Actes par patient sur la période (R14)",
        "Acts per patient in the period (R14)",
    ),
    ("create_team", "Créer l'équipe", "Create the team"),
    ("day_friday", "Vendredi", "Friday"),
    ("day_monday", "Lundi", "Monday"),
    ("day_saturday", "Samedi", "Saturday"),
    ("day_sunday", "Dimanche", "Sunday"),
    ("day_thursday", "Jeudi", "Thursday"),
    ("day_tuesday", "Mardi", "Tuesday"),
    ("day_wednesday", "Mercredi", "Wednesday"),
    ("days", "j", "d"),
    ("days_long", "jours", "days"),
    ("deadline", "Échéance", "Due"),
    (
        "decline_image_quality",
        "Qualité des images insuffisante",
        "Image quality too poor",
    ),
    (
        "decline_insufficient_data",
        "Données insuffisantes",
        "Insufficient data",
    ),
    (
        "decline_needs_in_person_consultation",
        "Nécessite une consultation en présentiel",
        "Needs an in-person visit",
    ),
    ("decline_other", "Autre motif", "Other reason"),
    (
        "decline_out_of_scope",
        "Hors de mon champ",
        "Out of my scope",
    ),
    ("decline_reason", "Motif du refus", "Reason for declining"),
    ("decline_reasons", "Motifs de refus", "Decline reasons"),
    (
        "decline_urgent_redirect_emergency",
        "Urgence : orienter vers les urgences",
        "Urgent: send to emergency services",
    ),
    (
        "declined_title",
        "Demande refusée par l'expert",
        "Request declined by the expert",
    ),
    (
        "delay_unknown",
        "pas encore de délai connu",
        "no known delay yet",
    ),
    (
        "delay_usual",
        "répond habituellement en",
        "usually answers in",
    ),
    ("delegate", "remplacé par", "delegate:"),
    ("delegate_choice", "Remplaçant", "Delegate"),
    ("delete", "Supprimer", "Delete"),
    ("denied", "Refusé", "Denied"),
    ("departements", "Départements", "Départements"),
    ("disable", "Désactiver", "Disable"),
    ("disabled", "Désactivé", "Disabled"),
    (
        "done_absence_added",
        "Absence enregistrée.",
        "Absence recorded.",
    ),
    (
        "done_absence_deleted",
        "Absence supprimée.",
        "Absence deleted.",
    ),
    ("done_accepted", "Demande acceptée.", "Request accepted."),
    (
        "done_answered",
        "Avis envoyé. Relisez puis signez le compte rendu.",
        "Opinion sent. Review and sign the report.",
    ),
    ("done_assigned", "Demande attribuée.", "Request assigned."),
    ("done_cancelled", "Demande annulée.", "Request cancelled."),
    (
        "done_closed",
        "Demande close. Merci.",
        "Request closed. Thank you.",
    ),
    (
        "done_converted",
        "Demande convertie en consultation.",
        "Request converted to a consultation.",
    ),
    ("done_declined", "Demande refusée.", "Request declined."),
    (
        "done_draft",
        "Brouillon créé. Ajoutez des photos ou des documents, puis envoyez.",
        "Draft created. Add photos or documents, then send.",
    ),
    (
        "done_forwarded",
        "Demande transférée.",
        "Request forwarded.",
    ),
    (
        "done_info_provided",
        "Complément envoyé à l'expert.",
        "Information sent to the expert.",
    ),
    (
        "done_info_requested",
        "Question envoyée au demandeur.",
        "Question sent to the requester.",
    ),
    ("done_member_added", "Membre ajouté.", "Member added."),
    (
        "done_member_disabled",
        "Compte désactivé : ses sessions sont fermées.",
        "Account disabled: its sessions are ended.",
    ),
    (
        "done_member_enabled",
        "Compte réactivé.",
        "Account enabled.",
    ),
    (
        "done_member_invited",
        "Invitation envoyée.",
        "Invitation sent.",
    ),
    (
        "done_members_saved",
        "Membres enregistrés.",
        "Members saved.",
    ),
    ("done_message", "Message envoyé.", "Message sent."),
    (
        "done_policy_saved",
        "Fonctionnement de l'équipe enregistré.",
        "Team policy saved.",
    ),
    ("done_rota_saved", "Astreinte enregistrée.", "Rota saved."),
    ("done_rules_saved", "Règles enregistrées.", "Rules saved."),
    (
        "done_signed",
        "Compte rendu signé et envoyé.",
        "Report signed and sent.",
    ),
    ("done_submitted", "Demande envoyée.", "Request sent."),
    (
        "done_team_created",
        "Équipe créée. Réglez maintenant ses règles d'acceptation et son astreinte si besoin.",
        "Team created. Now set its acceptance rules and rota if needed.",
    ),
    (
        "done_template_deleted",
        "Modèle supprimé.",
        "Template deleted.",
    ),
    (
        "done_template_renamed",
        "Modèle renommé.",
        "Template renamed.",
    ),
    ("done_uploaded", "Fichiers ajoutés.", "Files added."),
    (
        "done_webhook_deleted",
        "Webhook supprimé.",
        "Webhook deleted.",
    ),
    (
        "done_weekly_saved",
        "Garde hebdomadaire enregistrée.",
        "Weekly on-call saved.",
    ),
    ("download_pdf", "Télécharger le PDF", "Download the PDF"),
    ("due_soon", "à échéance sous 48 h", "due within 48 h"),
    (
        "due_soon_cases",
        "À échéance sous 48 heures",
        "Due within 48 hours",
    ),
    ("email", "Adresse électronique", "Email address"),
    ("empty_board", "Aucune demande ouverte.", "No open request."),
    (
        "empty_due",
        "Rien à échéance sous 48 heures.",
        "Nothing due within 48 hours.",
    ),
    (
        "empty_mine",
        "Aucune demande ne vous est attribuée.",
        "No request is assigned to you.",
    ),
    (
        "empty_pool",
        "Aucune demande en attente dans vos équipes.",
        "No request waiting in your teams.",
    ),
    (
        "empty_requested",
        "Vous n'avez pas encore envoyé de demande.",
        "You have not sent a request yet.",
    ),
    ("enable", "Réactiver", "Enable"),
    (
        "err_choose_target",
        "choisissez une équipe ou un expert",
        "choose a team or an expert",
    ),
    (
        "err_conflict",
        "Cette action n'est plus possible : la demande a changé entre-temps.",
        "This action is no longer possible: the request has changed.",
    ),
    (
        "err_forbidden",
        "Votre rôle ne permet pas cette action.",
        "Your role does not allow this action.",
    ),
    (
        "err_gone",
        "Ces données ont été supprimées.",
        "This data was deleted.",
    ),
    (
        "err_inform_first",
        "le patient doit avoir été informé (R6).",
        "the patient must have been informed (R6).",
    ),
    (
        "err_internal",
        "Une erreur est survenue ; rien n'a été modifié. Réessayez.",
        "Something went wrong; nothing was changed. Try again.",
    ),
    ("err_invalid", "À corriger :", "Please correct:"),
    (
        "err_no_file",
        "Choisissez au moins un fichier.",
        "Choose at least one file.",
    ),
    (
        "err_not_found",
        "Cette demande n'existe pas ou ne vous est pas accessible.",
        "This request does not exist or is not available to you.",
    ),
    ("err_not_found_title", "Introuvable", "Not found"),
    (
        "err_too_large",
        "Fichier trop volumineux.",
        "File too large.",
    ),
    (
        "err_too_many",
        "Trop de tentatives ; réessayez dans quelques minutes.",
        "Too many attempts; try again in a few minutes.",
    ),
    (
        "err_type",
        "Type de fichier non accepté (photos JPEG, PNG, WebP, HEIC ; PDF ; DICOM ; texte).",
        "File type not accepted (JPEG, PNG, WebP, HEIC photos; PDF; DICOM; text).",
    ),
    (
        "err_unauthenticated",
        "Votre session a expiré ; reconnectez-vous.",
        "Your session expired; sign in again.",
    ),
    (
        "err_upload_form",
        "Envoi illisible ; réessayez.",
        "Unreadable upload; try again.",
    ),
    ("ev_accept", "a accepté la demande", "accepted the request"),
    ("ev_answer", "a répondu", "answered"),
    ("ev_assign", "a attribué la demande", "assigned the request"),
    ("ev_cancel", "a annulé la demande", "cancelled the request"),
    ("ev_close", "a clos la demande", "closed the request"),
    (
        "ev_consent",
        "a enregistré le consentement",
        "recorded the consent",
    ),
    (
        "ev_convert_to_consultation",
        "a converti en consultation",
        "converted to a consultation",
    ),
    ("ev_create", "a créé le brouillon", "created the draft"),
    ("ev_decline", "a refusé la demande", "declined the request"),
    (
        "ev_expire",
        "délai de 7 jours dépassé : demande expirée",
        "7-day delay passed: request expired",
    ),
    (
        "ev_forward",
        "a transféré la demande",
        "forwarded the request",
    ),
    (
        "ev_report_signed",
        "a signé le compte rendu",
        "signed the report",
    ),
    ("ev_route", "orientation automatique", "automatic routing"),
    ("ev_submit", "a envoyé la demande", "sent the request"),
    (
        "event_case_accepted",
        "Demande acceptée",
        "Request accepted",
    ),
    ("event_case_answered", "Avis rendu", "Opinion given"),
    (
        "event_case_assigned",
        "Demande attribuée",
        "Request assigned",
    ),
    (
        "event_case_cancelled",
        "Demande annulée",
        "Request cancelled",
    ),
    ("event_case_closed", "Demande close", "Request closed"),
    ("event_case_declined", "Demande refusée", "Request declined"),
    (
        "event_case_expired",
        "Délai dépassé (demande expirée)",
        "Deadline passed (request expired)",
    ),
    (
        "event_case_forwarded",
        "Demande transférée",
        "Request forwarded",
    ),
    (
        "event_case_info_provided",
        "Complément apporté",
        "Information provided",
    ),
    (
        "event_case_info_requested",
        "Complément demandé",
        "Information requested",
    ),
    (
        "event_case_routed",
        "Étape de répartition (proposée à un membre, remise au régulateur)",
        "Routing step (offered to a member, handed to the assigner)",
    ),
    ("event_case_submitted", "Demande envoyée", "Request sent"),
    ("event_report_signed", "Compte rendu signé", "Report signed"),
    ("everywhere", "Toutes équipes", "All teams"),
    ("expert", "Expert", "Expert"),
    ("experts", "Experts", "Experts"),
    (
        "export_json",
        "Exporter mes actes (JSON)",
        "Export my acts (JSON)",
    ),
    ("f_birth_date", "Date de naissance", "Date of birth"),
    ("f_birth_family_name", "Nom de naissance", "Birth name"),
    ("f_context", "Contexte", "Context"),
    ("f_date", "Date", "Date"),
    ("f_day", "Jour", "Day"),
    ("f_delegate_id", "Remplaçant", "Delegate"),
    ("f_departements", "Départements", "Départements"),
    ("f_end", "Fin", "End"),
    ("f_events", "Événements", "Events"),
    ("f_expert_id", "Expert", "Expert"),
    ("f_from", "Début", "Start"),
    ("f_given_names", "Prénoms", "Given names"),
    ("f_index", "Créneau", "Slot"),
    ("f_ins", "INS", "INS"),
    ("f_max_open", "Maximum", "Maximum"),
    ("f_members", "Membres", "Members"),
    ("f_name", "Nom", "Name"),
    ("f_patient", "Patient", "Patient"),
    ("f_policy", "Fonctionnement", "Policy"),
    ("f_postcodes", "Codes postaux", "Postcodes"),
    ("f_professional_id", "Professionnel", "Professional"),
    ("f_professions", "Professions", "Professions"),
    ("f_question", "Question", "Question"),
    ("f_reason", "Motif", "Reason"),
    ("f_recommendations", "Conduite à tenir", "Recommendations"),
    ("f_regions", "Régions", "Regions"),
    ("f_routing", "Réglage", "Setting"),
    ("f_slots", "Créneaux", "Slots"),
    ("f_specialty", "Spécialité", "Specialty"),
    ("f_start", "Début", "Start"),
    ("f_target", "Destinataire", "Recipient"),
    ("f_team_id", "Équipe", "Team"),
    ("f_text", "Texte", "Text"),
    ("f_title", "Titre", "Title"),
    ("f_to", "Fin", "End"),
    ("f_url", "Adresse (URL)", "Address (URL)"),
    (
        "files_hint",
        "Glissez-déposez ou choisissez des fichiers ; sur téléphone, prenez une photo. Les métadonnées (GPS) sont retirées.",
        "Drag and drop or choose files; on a phone, take a photo. Metadata (GPS) is removed.",
    ),
    ("filter", "Filtrer", "Filter"),
    ("first_name", "Prénom", "First name"),
    ("follow_up", "Suivi proposé", "Suggested follow-up"),
    ("form_expired", "Formulaire expiré", "Form expired"),
    (
        "form_expired_text",
        "Ce formulaire n'est plus valide. Rechargez la page et recommencez.",
        "This form is no longer valid. Reload the page and try again.",
    ),
    ("forward_to", "Transférer à", "Forward to"),
    ("from", "Du", "From"),
    ("full_screen", "Plein écran", "Full screen"),
    ("given_names", "Prénoms", "Given names"),
    (
        "go_to_actions",
        "Aller aux actions ↓",
        "Go to the actions ↓",
    ),
    (
        "hide_identity_in_pool",
        "Masquer l'identité du patient dans le pool",
        "Hide the patient's identity in the pool",
    ),
    (
        "hide_identity_in_pool_hint",
        "Les membres de l'équipe voient une demande en attente sans le nom, la date et le lieu de naissance ni l'INS du patient ; celui qui la prend en charge, ou à qui elle est attribuée, voit l'identité.",
        "Team members see a waiting request without the patient's names, birth date and place or INS; whoever claims it, or is assigned it, sees the identity.",
    ),
    (
        "hybrid_hours",
        "Heures dans le pool avant attribution (hybride, 1 à 168)",
        "Hours in the pool before assignment (hybrid, 1 to 168)",
    ),
    (
        "identity_hidden",
        "Identité masquée jusqu'à la prise en charge",
        "Identity hidden until the request is claimed",
    ),
    (
        "identity_provisional",
        "identité provisoire",
        "provisional identity",
    ),
    (
        "identity_qualified",
        "identité qualifiée",
        "qualified identity",
    ),
    ("in_pool", "en attente dans le pool", "waiting in the pool"),
    (
        "info_sheet",
        "Fiche d'information à imprimer",
        "Printable information sheet",
    ),
    (
        "ins_hint",
        "15 caractères ; la clé est vérifiée.",
        "15 characters; the key is checked.",
    ),
    (
        "invite_now",
        "Envoyer l'invitation par courriel maintenant",
        "Send the invitation by email now",
    ),
    (
        "kind_advice",
        "Avis et conseils, sans consultation",
        "Advice, no visit needed",
    ),
    (
        "kind_consultation",
        "Consultation nécessaire",
        "Consultation needed",
    ),
    (
        "kind_workup",
        "Bilan avant consultation",
        "Work-up before a visit",
    ),
    ("known_patient", "Patient déjà connu", "Known patient"),
    (
        "kpi_median",
        "délai médian de réponse",
        "median answer time",
    ),
    ("kpi_p90", "90e centile", "90th percentile"),
    (
        "kpi_submitted",
        "demandes sur 12 semaines",
        "requests over 12 weeks",
    ),
    (
        "kpi_within7",
        "répondues en 7 jours",
        "answered within 7 days",
    ),
    ("last_name", "Nom", "Last name"),
    (
        "least_loaded",
        "Le moins chargé d'abord",
        "Least loaded first",
    ),
    (
        "live_changed",
        "Cette demande a changé.",
        "This request has changed.",
    ),
    ("logout", "Se déconnecter", "Sign out"),
    (
        "manage_templates",
        "Gérer mes modèles",
        "Manage my templates",
    ),
    (
        "max_open",
        "Nombre maximal de demandes ouvertes",
        "Most open requests at once",
    ),
    (
        "max_open_team",
        "Nombre maximal de demandes ouvertes de l'équipe",
        "Most open requests for the team",
    ),
    ("medecin_traitant", "Médecin traitant", "Regular doctor"),
    ("member", "Membre", "Member"),
    (
        "member_absences",
        "Absences des membres",
        "Members' absences",
    ),
    (
        "member_absences_hint",
        "Pour un membre qui ne peut pas la saisir lui-même (arrêt maladie…). Pendant l'absence, il ne reçoit plus de demandes ; son remplaçant les reçoit à sa place.",
        "For a member who cannot enter it themselves (sick leave…). While absent they receive no requests; their delegate receives them instead.",
    ),
    ("members", "Membres", "Members"),
    (
        "members_caption",
        "Membres de votre organisation",
        "Your organisation's members",
    ),
    (
        "msg_info_reply",
        "a répondu à la demande de complément",
        "replied with information",
    ),
    (
        "msg_info_request",
        "demande un complément",
        "asks for information",
    ),
    ("msg_message", "a écrit", "wrote"),
    ("my_inbox", "Mes dossiers", "My cases"),
    ("my_requests", "Mes demandes", "My requests"),
    (
        "my_templates",
        "Mes modèles de réponse",
        "My answer templates",
    ),
    ("name", "Nom", "Name"),
    ("nav", "Navigation principale", "Main navigation"),
    ("nav_cases", "Dossiers", "Cases"),
    (
        "new_hint",
        "Vous pourrez ajouter des pièces jointes avant l'envoi ; un brouillon n'est visible que de vous.",
        "You can add attachments before sending; a draft is visible to you only.",
    ),
    ("new_messages", "nouveau(x) message(s)", "new message(s)"),
    ("new_patient", "Nouveau patient", "New patient"),
    ("new_request", "Nouvelle demande", "New request"),
    ("new_team", "Nouvelle équipe", "New team"),
    ("next", "Suivante", "Next"),
    (
        "no_absence",
        "Aucune absence prévue.",
        "No absence planned.",
    ),
    (
        "no_action",
        "Aucune action pour vous à ce stade.",
        "Nothing for you to do at this stage.",
    ),
    ("no_attachments", "Aucune pièce jointe.", "No attachment."),
    (
        "no_counters",
        "Aucun acte sur la période.",
        "No act in the period.",
    ),
    ("no_declines", "Aucun refus.", "No decline."),
    ("no_entries", "Aucune entrée.", "No entry."),
    (
        "no_member_absence",
        "Aucune absence à venir.",
        "No upcoming absence.",
    ),
    (
        "no_notifications",
        "Aucune notification.",
        "No notification.",
    ),
    (
        "no_rota",
        "Pas d'astreinte : tous les membres disponibles reçoivent des demandes.",
        "No rota: every available member receives requests.",
    ),
    (
        "no_target",
        "Aucune équipe ni aucun expert n'accepte actuellement ce type de demande.",
        "No team or expert currently accepts this kind of request.",
    ),
    ("no_team", "Aucune équipe pour l'instant.", "No team yet."),
    (
        "no_template",
        "Aucun modèle enregistré.",
        "No template saved.",
    ),
    (
        "no_webhook",
        "Aucun webhook pour l'instant.",
        "No webhook yet.",
    ),
    (
        "no_weekly_rota",
        "Aucune garde hebdomadaire : seules les astreintes datées ci-dessus s'appliquent.",
        "No weekly on-call: only the dated slots above apply.",
    ),
    ("none", "aucun", "none"),
    ("none_f", "Aucune.", "None."),
    ("not_on_call", "hors astreinte", "not on call"),
    ("not_signed_in_yet", "Jamais connecté", "Never signed in"),
    ("notifications", "Notifications", "Notifications"),
    ("object", "Objet", "Object"),
    ("older", "Entrées plus anciennes", "Older entries"),
    ("oldest", "Plus ancienne", "Oldest"),
    ("on_call", "d'astreinte", "on call"),
    ("open_cases", "Demandes ouvertes", "Open requests"),
    ("open_per_member", "Charge par membre", "Load per member"),
    ("opinion", "Avis de l'expert", "The expert's opinion"),
    ("opinion_kind", "Type de réponse", "Kind of answer"),
    ("optional", "(facultatif)", "(optional)"),
    (
        "outcome",
        "Résultat pour le patient",
        "Outcome for the patient",
    ),
    ("outcome_col", "Résultat", "Outcome"),
    (
        "outcome_diagnosis_changed",
        "Diagnostic modifié",
        "Diagnosis changed",
    ),
    ("outcome_not_useful", "Pas utile", "Not useful"),
    (
        "outcome_transfer_avoided",
        "Transfert évité",
        "Transfer avoided",
    ),
    (
        "outcome_visit_avoided",
        "Consultation évitée",
        "Visit avoided",
    ),
    (
        "outcome_visit_still_needed",
        "Consultation encore nécessaire",
        "Visit still needed",
    ),
    ("overdue", "en retard", "overdue"),
    ("overdue_cases", "En retard", "Overdue"),
    ("password_set", "Mot de passe choisi", "Password chosen"),
    ("patient", "Patient", "Patient"),
    (
        "patient_informed",
        "J'ai informé le patient (motif, spécialiste, retour de l'avis)",
        "I informed the patient (reason, specialist, how the answer comes back)",
    ),
    ("period", "Période", "Period"),
    ("policy", "Fonctionnement", "Policy"),
    (
        "policy_auto_assign",
        "attribution automatique",
        "automatic assignment",
    ),
    (
        "policy_auto_assign_long",
        "Attribution automatique : un membre disponible a N heures pour accepter, puis le suivant, puis le régulateur",
        "Automatic: an available member has N hours to accept, then the next, then the case assigner",
    ),
    (
        "policy_hybrid",
        "pool puis attribution automatique",
        "pool then automatic assignment",
    ),
    (
        "policy_hybrid_long",
        "Hybride : pool en libre-service, puis attribution automatique de ce qui n'est pas pris après N heures",
        "Hybrid: self-service pool, then automatic assignment of what is unclaimed after N hours",
    ),
    (
        "policy_moderated",
        "attribution par le régulateur",
        "assigned by the case assigner",
    ),
    (
        "policy_moderated_long",
        "Régulé : le régulateur attribue chaque demande",
        "Moderated: the case assigner assigns each request",
    ),
    (
        "policy_self_service",
        "pool en libre-service",
        "self-service pool",
    ),
    (
        "policy_self_service_long",
        "Pool en libre-service : chaque membre peut prendre une demande ; la première prise l'emporte",
        "Self-service pool: any member may claim a request; the first claim wins",
    ),
    (
        "policy_title",
        "Partage des demandes",
        "How requests are shared",
    ),
    ("postcodes", "Codes postaux", "Postcodes"),
    (
        "preview_report",
        "Prévisualiser le compte rendu (PDF)",
        "Preview the report (PDF)",
    ),
    ("previous", "Précédente", "Previous"),
    ("profession", "Profession", "Profession"),
    (
        "provide_info_hint",
        "Ajoutez d'abord les fichiers demandés ci-contre, puis répondez.",
        "Add the requested files first, then reply.",
    ),
    ("question", "Question posée", "Question"),
    ("reason", "Motif de la demande", "Reason for the request"),
    ("recommendations", "Conduite à tenir", "Recommendations"),
    ("regions", "Régions (code INSEE)", "Regions (INSEE code)"),
    ("reload", "Recharger", "Reload"),
    ("rename", "Renommer", "Rename"),
    ("report", "Compte rendu", "Report"),
    ("report_draft", "brouillon", "draft"),
    ("report_signed", "signé", "signed"),
    ("requester", "Demandeur", "Requester"),
    (
        "requests_per_week",
        "Demandes par semaine",
        "Requests per week",
    ),
    ("role", "Rôle", "Role"),
    ("role_admin", "Administrateur", "Administrator"),
    ("role_member", "Membre", "Member"),
    ("rota", "Astreinte", "On-call rota"),
    (
        "rota_hint",
        "Avec une astreinte, l'attribution automatique ne propose les demandes qu'aux membres d'astreinte à ce moment.",
        "With a rota, automatic assignment offers requests only to the members on call at that time.",
    ),
    ("round_robin", "À tour de rôle", "Round robin"),
    (
        "routine",
        "Non urgent (réponse sous 7 jours)",
        "Routine (answer within 7 days)",
    ),
    (
        "rules_hint",
        "Rien de coché ni de rempli : toutes les demandes. Les demandes hors de ces règles ne vous sont pas proposées.",
        "Nothing checked or filled: every request. Requests outside these rules are not offered to you.",
    ),
    ("save", "Enregistrer", "Save"),
    (
        "save_template",
        "Enregistrer cet avis comme modèle",
        "Save this opinion as a template",
    ),
    (
        "second_factor_set",
        "second facteur actif",
        "second factor enrolled",
    ),
    ("send", "Envoyer", "Send"),
    (
        "send_invitation",
        "Envoyer une invitation",
        "Send an invitation",
    ),
    (
        "send_now",
        "Envoyer sans pièce jointe",
        "Send without attachments",
    ),
    ("sent_notice", "Envoyée :", "Sent:"),
    ("sex", "Sexe", "Sex"),
    ("sex_f", "Féminin", "Female"),
    ("sex_m", "Masculin", "Male"),
    ("sex_u", "Indéterminé", "Undetermined"),
    (
        "sheet_p1",
        "Votre professionnel de santé souhaite demander l'avis d'un médecin spécialiste à distance (téléexpertise), sans que vous ayez à vous déplacer.",
        "Your health professional wishes to ask a specialist for an opinion remotely (teleexpertise), without you having to travel.",
    ),
    (
        "sheet_p2",
        "Il transmet au spécialiste les informations utiles : motif, question, photos ou documents. Seuls les professionnels qui participent à votre prise en charge y ont accès.",
        "They send the specialist what is useful: reason, question, photos or documents. Only the professionals involved in your care can see them.",
    ),
    (
        "sheet_p3",
        "Le spécialiste répond par écrit sous 7 jours. Un compte rendu est remis à votre professionnel de santé et à votre médecin traitant, et versé à votre DMP si votre identité est qualifiée.",
        "The specialist answers in writing within 7 days. A report goes to your health professional and your regular doctor, and to your DMP if your identity is qualified.",
    ),
    (
        "sheet_p4",
        "Vous pouvez refuser : votre prise en charge n'en sera pas affectée. Vous disposez d'un droit d'accès et de rectification auprès de votre professionnel de santé.",
        "You may refuse: your care will not be affected. You have a right of access and rectification through your health professional.",
    ),
    (
        "sheet_p5",
        "En cas d'urgence, appelez le 15 (ou le 112).",
        "In an emergency, call 15 (or 112).",
    ),
    (
        "sheet_title",
        "Information du patient : la téléexpertise",
        "Patient information: teleexpertise",
    ),
    (
        "show_more",
        "Afficher plus de demandes",
        "Show more requests",
    ),
    (
        "sign_report",
        "Signer et envoyer le compte rendu",
        "Sign and send the report",
    ),
    ("skip", "Aller au contenu", "Skip to content"),
    ("specialty", "Spécialité", "Specialty"),
    ("state_answered", "Répondue", "Answered"),
    ("state_assigned", "Attribuée", "Assigned"),
    (
        "state_awaiting_info",
        "Complément demandé",
        "Information requested",
    ),
    ("state_cancelled", "Annulée", "Cancelled"),
    ("state_closed", "Close", "Closed"),
    ("state_declined", "Refusée", "Declined"),
    ("state_draft", "Brouillon", "Draft"),
    ("state_expired", "Expirée", "Expired"),
    ("state_in_progress", "En cours", "In progress"),
    ("state_submitted", "En attente", "Waiting"),
    ("submitted_at", "Envoyée le", "Sent on"),
    ("success", "Réussi", "Success"),
    ("system", "Consilium", "Consilium"),
    ("tab_due", "Échéance proche", "Due soon"),
    ("tab_mine", "Attribuées à moi", "Assigned to me"),
    ("tab_pool", "Pools de mes équipes", "My teams' pools"),
    ("tab_requested", "Mes demandes", "My requests"),
    (
        "tab_team",
        "Demandes en cours de l'équipe",
        "The team's open requests",
    ),
    ("take_photo", "Prendre une photo", "Take a photo"),
    (
        "target_hint",
        "Seuls les équipes et experts qui accepteraient votre demande sont proposés, avec leur délai habituel (médiane sur 90 jours).",
        "Only the teams and experts who would accept your request are offered, with their usual delay (90-day median).",
    ),
    ("te_acts", "Actes de téléexpertise", "Teleexpertise acts"),
    ("team", "Équipe", "Team"),
    ("team_member", "Membre", "Member"),
    ("team_members", "Membres de l'équipe", "Team members"),
    (
        "team_members_caption",
        "Qui fait partie de l'équipe",
        "Who is in the team",
    ),
    (
        "team_members_hint",
        "Seuls les médecins et sages-femmes peuvent répondre (R4). Il faut au moins un régulateur : il attribue les demandes et voit le tableau de l'équipe. Un membre qui quitte l'équipe garde les demandes qui lui sont déjà attribuées.",
        "Only doctors and midwives may answer (R4). A team needs at least one case assigner: they assign requests and see the team board. A member who leaves keeps the requests already assigned to them.",
    ),
    ("team_name", "Nom de l'équipe", "Team name"),
    ("team_or_expert", "Équipe ou expert", "Team or expert"),
    (
        "team_rules",
        "Demandes acceptées par l'équipe",
        "Requests the team accepts",
    ),
    ("team_settings", "Réglages de l'équipe", "Team settings"),
    ("teams", "Équipes", "Teams"),
    (
        "teams_caption",
        "Les équipes de votre organisation",
        "Your organisation's teams",
    ),
    ("template_title", "Titre", "Title"),
    (
        "templates_hint",
        "Vos modèles de réponse, enregistrés depuis le formulaire de réponse (case « enregistrer comme modèle »). Ils ne sont visibles que par vous.",
        "Your answer templates, saved from the answer form (\"save as a template\"). Only you see them.",
    ),
    ("the_request", "La demande", "The request"),
    ("thread", "Échanges", "Thread"),
    ("to", "Au", "To"),
    ("to_incl", "Au (inclus)", "To (included)"),
    ("to_whom", "Destinataire", "Recipient"),
    ("upload", "Envoyer les fichiers", "Upload the files"),
    ("urgent", "Urgent", "Urgent"),
    (
        "urgent_48h",
        "Urgent (réponse souhaitée sous 48 h)",
        "Urgent (answer wished within 48 h)",
    ),
    (
        "urgent_reminder",
        "La téléexpertise ne traite pas les urgences vitales : appelez le 15.",
        "Teleexpertise is not for emergencies: call 15 (112).",
    ),
    (
        "urgent_visit",
        "Consultation urgente",
        "Urgent consultation",
    ),
    ("used", "Utilisés", "Used"),
    ("used_family_name", "Nom d'usage", "Used name"),
    ("used_name", "nom d'usage", "used name"),
    (
        "usefulness",
        "Utilité de l'avis (1 à 5)",
        "Usefulness of the opinion (1 to 5)",
    ),
    ("version", "Version", "Version"),
    ("viewer", "Visionneuse d'images", "Image viewer"),
    ("views", "Vues", "Views"),
    (
        "visit_needed",
        "Une consultation est nécessaire",
        "A visit is needed",
    ),
    ("webhook_add", "Ajouter un webhook", "Add a webhook"),
    ("webhook_all_events", "Tous les événements", "Every event"),
    (
        "webhook_copied_back",
        "J'ai copié le secret — retour aux webhooks",
        "I have copied the secret — back to the webhooks",
    ),
    (
        "webhook_copy_now",
        "Copiez ce secret maintenant",
        "Copy this secret now",
    ),
    (
        "webhook_copy_now_text",
        "Il ne sera plus jamais affiché : Consilium le garde chiffré et ne peut pas vous le montrer à nouveau. Collez-le dans le logiciel qui reçoit les événements. Perdu, il se remplace par un nouveau secret.",
        "It will never be shown again: Consilium keeps it encrypted and cannot show it to you again. Paste it into the software that receives the events. If it is lost, replace it with a new secret.",
    ),
    ("webhook_created", "Créé le", "Created"),
    (
        "webhook_created_notice",
        "Webhook enregistré.",
        "Webhook registered.",
    ),
    (
        "webhook_delete_confirm",
        "Supprimer définitivement ce webhook",
        "Delete this webhook for good",
    ),
    (
        "webhook_delete_warning",
        "Plus aucun événement ne sera envoyé à cette adresse, pas même ceux en attente.",
        "No more events will be sent to this address, not even those waiting.",
    ),
    ("webhook_delivered", "Distribué", "Delivered"),
    ("webhook_events", "Événements", "Events"),
    (
        "webhook_events_hint",
        "Aucune case cochée : tous les événements.",
        "None ticked: every event.",
    ),
    ("webhook_failed", "Échec", "Failed"),
    ("webhook_last_delivery", "Dernier envoi", "Last delivery"),
    (
        "webhook_limit",
        "10 webhooks au plus : supprimez-en un pour en ajouter un autre.",
        "At most 10 webhooks: delete one to add another.",
    ),
    (
        "webhook_never",
        "Aucun envoi pour l'instant",
        "Nothing sent yet",
    ),
    ("webhook_new_secret", "Nouveau secret", "New secret"),
    (
        "webhook_new_secret_confirm",
        "Remplacer le secret",
        "Replace the secret",
    ),
    (
        "webhook_new_secret_warning",
        "L'ancien secret cesse aussitôt de valoir : les envois, même ceux déjà en attente, seront signés avec le nouveau. Mettez ensuite à jour le logiciel qui les reçoit.",
        "The old secret stops at once: deliveries, even those already waiting, will be signed with the new one. Then update the software that receives them.",
    ),
    (
        "webhook_rotated_notice",
        "Nouveau secret créé. L'ancien ne vaut plus : les envois, même ceux déjà en attente, sont désormais signés avec celui-ci.",
        "New secret created. The old one no longer works: deliveries, even those already waiting, are now signed with this one.",
    ),
    ("webhook_secret", "Secret de signature", "Signing secret"),
    (
        "webhook_secret_title",
        "Secret du webhook",
        "Webhook secret",
    ),
    (
        "webhook_signature_hint",
        "Chaque envoi porte l'en-tête Consilium-Signature: t=<secondes>,v1=<HMAC-SHA256 en hexadécimal de « t.corps » avec ce secret>. Vérifiez-la et refusez un t de plus de quelques minutes.",
        "Each delivery carries the header Consilium-Signature: t=<seconds>,v1=<hex HMAC-SHA256 of \"t.body\" with this secret>. Check it and refuse a t older than a few minutes.",
    ),
    ("webhook_url", "Adresse (URL)", "Address (URL)"),
    (
        "webhook_url_hint",
        "En https, vers une adresse publique (les réseaux privés sont refusés).",
        "https, to a public address (private networks are refused).",
    ),
    ("webhooks", "Webhooks", "Webhooks"),
    (
        "webhooks_caption",
        "Adresses qui reçoivent les événements des demandes",
        "Addresses that receive the requests' events",
    ),
    (
        "webhooks_hint",
        "Chaque événement envoie le numéro, l'état et le lien de la demande, jamais de données du patient, signé avec le secret du webhook.",
        "Each event sends the request's number, state and link, never patient data, signed with the webhook's secret.",
    ),
    ("webhooks_mine", "Mes webhooks", "My webhooks"),
    (
        "webhooks_mine_hint",
        "Vos logiciels (logiciel de cabinet, agenda…) sont prévenus de ce qui arrive aux demandes que vous envoyez ou que vous traitez.",
        "Your software (practice software, calendar…) is told what happens to the requests you send or handle.",
    ),
    (
        "webhooks_org",
        "Webhooks de l'organisation",
        "The organisation's webhooks",
    ),
    (
        "webhooks_org_hint",
        "Les logiciels de l'organisation sont prévenus de ce qui arrive aux demandes de ses membres et de ses équipes.",
        "The organisation's software is told what happens to the requests of its members and teams.",
    ),
    ("weekday", "Jour", "Day"),
    ("weekly_rota", "Garde hebdomadaire", "Weekly on-call"),
    (
        "weekly_rota_hint",
        "Les mêmes créneaux chaque semaine, heure de Paris (changements d'heure compris). Une fin avant le début finit le lendemain : 20:00 → 08:00 est une nuit. S'ajoute aux astreintes datées.",
        "The same slots every week, Paris time (clock changes included). An end before the start ends the next day: 20:00 → 08:00 is a night. Adds to the dated slots.",
    ),
    ("when", "Quand", "When"),
    ("who", "Qui", "Who"),
    ("write_message", "Écrire un message", "Write a message"),
    ("years_old", "ans", "years old"),
    (
        "your_question",
        "Votre question au demandeur",
        "Your question to the requester",
    ),
    ("your_reply", "Votre réponse", "Your reply"),
    ("zoom_in", "Agrandir", "Zoom in"),
    ("zoom_out", "Réduire", "Zoom out"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_has_no_duplicates() {
        for w in WORDS.windows(2) {
            assert!(w[0].0 < w[1].0, "{} must come before {}", w[0].0, w[1].0);
        }
        for (k, fr, en) in WORDS {
            assert!(!fr.is_empty() && !en.is_empty(), "{k} has an empty text");
        }
    }

    /// Every `t(<key>)` in the templates and the page code is in the table, and every
    /// dynamic family (states, reasons, outcomes, policies) is complete.
    #[test]
    fn every_key_used_is_translated() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut sources = Vec::new();
        for sub in ["templates/ui", "src/web/ui"] {
            for e in std::fs::read_dir(format!("{dir}{sub}"))
                .expect("read dir")
                .flatten()
            {
                sources.push(std::fs::read_to_string(e.path()).expect("read file"));
            }
        }
        let mut missing = Vec::new();
        for src in &sources {
            for (i, _) in src.match_indices("t(\"") {
                // `t("…")` itself, not `get("…")` or `count("…")`.
                let before = src[..i].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' {
                    continue;
                }
                let part = &src[i + 3..];
                let key: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if part[key.len()..].starts_with('"') && t(Lang::Fr, &key).is_empty() {
                    missing.push(key);
                }
            }
        }
        for s in crate::cases::CaseState::ALL {
            let k = format!("state_{}", s.as_str());
            if t(Lang::Fr, &k).is_empty() {
                missing.push(k);
            }
        }
        for k in [
            "insufficient_data",
            "image_quality",
            "out_of_scope",
            "needs_in_person_consultation",
            "urgent_redirect_emergency",
            "other",
        ] {
            if t(Lang::En, &format!("decline_{k}")).is_empty() {
                missing.push(k.into());
            }
        }
        for d in crate::routing::weekly::Day::ALL {
            if t(Lang::Fr, &format!("day_{}", d.as_str())).is_empty() {
                missing.push(d.as_str().into());
            }
        }
        for e in crate::webhooks::model::EventType::ALL {
            if super::super::webhooks::event_label(Lang::En, e).is_empty() {
                missing.push(e.as_str().into());
            }
        }
        for k in ["self_service", "moderated", "auto_assign", "hybrid"] {
            if t(Lang::En, &format!("policy_{k}")).is_empty() {
                missing.push(k.into());
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }

    #[test]
    fn field_messages_are_translated_when_known() {
        assert_eq!(message(Lang::Fr, "is required"), "est obligatoire");
        assert_eq!(message(Lang::En, "is required"), "is required");
        assert_eq!(message(Lang::Fr, "something new"), "something new");
        // Every entry translates a message the code really writes (none left behind when
        // a message changes).
        fn rust_sources(dir: &std::path::Path, out: &mut String) {
            for e in std::fs::read_dir(dir).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    rust_sources(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("i18n.rs") {
                    out.push_str(&std::fs::read_to_string(&p).expect("read file"));
                }
            }
        }
        let mut src = String::new();
        rust_sources(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            &mut src,
        );
        for (en, fr) in MESSAGES {
            assert!(!fr.is_empty() && en != fr, "{en}");
            assert!(src.contains(&format!("\"{en}\"")), "no code writes {en:?}");
        }
    }

    #[test]
    fn unknown_keys_and_languages() {
        assert_eq!(t(Lang::Fr, "no_such_key"), "");
        assert_eq!(t(Lang::En, "new_request"), "New request");
        assert_eq!(t(Lang::Fr, "new_request"), "Nouvelle demande");
        assert_eq!(Lang::parse("EN"), Lang::En);
        assert_eq!(Lang::parse("de"), Lang::Fr);
        assert_eq!(field_label(Lang::Fr, "patient.birth_date"), "Patient");
        assert_eq!(field_label(Lang::En, "unknown_field"), "unknown_field");
    }
}
