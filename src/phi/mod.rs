//! Patient-identifying information: which values to mask in views, and how.
//!
//! The views mask these values until a curator reveals one row. The full PS3.15 Annex E
//! analysis builds on this: [`table`] (Table E.1-1), [`detect`] (findings per file),
//! [`plan`] (a curator's decisions), [`uid`] (consistent UID and date replacement),
//! [`pseudonym`] (the re-identification key file) and [`deid`] (de-identified export).

pub mod deid;
pub mod detect;
pub mod export;
pub mod plan;
pub mod pseudonym;
pub mod table;
pub mod uid;

/// Attributes whose values identify a person or place directly (PS3.15 Table E.1-1 rows with
/// the strongest identifiers): names, IDs, birth data, addresses, phone numbers, accession
/// numbers, institutions and the people involved.
const IDENTIFYING: &[u32] = &[
    0x0008_0050, // AccessionNumber
    0x0008_0080, // InstitutionName
    0x0008_0081, // InstitutionAddress
    0x0008_0082, // InstitutionCodeSequence
    0x0008_0090, // ReferringPhysicianName
    0x0008_0092, // ReferringPhysicianAddress
    0x0008_0094, // ReferringPhysicianTelephoneNumbers
    0x0008_009C, // ConsultingPhysicianName
    0x0008_1010, // StationName
    0x0008_1040, // InstitutionalDepartmentName
    0x0008_1048, // PhysiciansOfRecord
    0x0008_1049, // PhysiciansOfRecordIdentificationSequence
    0x0008_1050, // PerformingPhysicianName
    0x0008_1052, // PerformingPhysicianIdentificationSequence
    0x0008_1060, // NameOfPhysiciansReadingStudy
    0x0008_1062, // PhysiciansReadingStudyIdentificationSequence
    0x0008_1070, // OperatorsName
    0x0010_0010, // PatientName
    0x0010_0020, // PatientID
    0x0010_0021, // IssuerOfPatientID
    0x0010_0030, // PatientBirthDate
    0x0010_0032, // PatientBirthTime
    0x0010_0050, // PatientInsurancePlanCodeSequence
    0x0010_1000, // OtherPatientIDs
    0x0010_1001, // OtherPatientNames
    0x0010_1002, // OtherPatientIDsSequence
    0x0010_1005, // PatientBirthName
    0x0010_1040, // PatientAddress
    0x0010_1060, // PatientMotherBirthName
    0x0010_1080, // MilitaryRank
    0x0010_1090, // MedicalRecordLocator
    0x0010_2150, // CountryOfResidence
    0x0010_2152, // RegionOfResidence
    0x0010_2154, // PatientTelephoneNumbers
    0x0010_2160, // EthnicGroup
    0x0010_21B0, // AdditionalPatientHistory
    0x0010_2297, // ResponsiblePerson
    0x0010_4000, // PatientComments
    0x0020_0010, // StudyID
    0x0032_1032, // RequestingPhysician
    0x0038_0010, // AdmissionID
    0x0038_0400, // PatientInstitutionResidence
    0x0040_0006, // ScheduledPerformingPhysicianName
    0x0040_1010, // NamesOfIntendedRecipientsOfResults
    0x0040_2008, // OrderEnteredBy
    0x0040_2009, // OrderEntererLocation
    0x0040_2010, // OrderCallbackPhoneNumber
    0x0040_A075, // VerifyingObserverName
    0x0040_A123, // PersonName
];

/// Who is asking, for the audit trail: `$DICURA_USER`, else `$USER`, else the uid.
pub fn who() -> String {
    std::env::var("DICURA_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self")
                .map(|m| format!("uid {}", m.uid()))
                .unwrap_or_else(|_| "unknown".into())
        })
}

/// Whether values of `tag` are masked in views until revealed.
pub fn is_identifying(tag: u32) -> bool {
    IDENTIFYING.binary_search(&tag).is_ok()
}

/// Masks a value, keeping its shape: the first character of each name part, then `***`
/// (`Doe^John` → `D***^J***`). Digits are masked too, so IDs show only their length class.
pub fn mask(value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for (i, part) in value.split(['^', ' ', '\\']).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if let Some(c) = part.chars().next() {
            if c.is_ascii_digit() {
                out.push('#');
            } else {
                out.push(c);
            }
            out.push_str("***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_masks_keep_no_value() {
        assert!(IDENTIFYING.windows(2).all(|w| w[0] < w[1]));
        assert!(is_identifying(0x0010_0010));
        assert!(!is_identifying(0x0008_0060));
        assert_eq!(mask("Doe^John"), "D*** J***");
        assert_eq!(mask("12345678"), "#***");
        assert!(!mask("Müller^Jürgen").contains("ller"));
    }
}
