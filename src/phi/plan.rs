//! The de-identification plan: a curator's decisions per attribute, private creator or
//! NIfTI field, overriding the profile. Stored in the catalogue (`deid_plan`), saved to and
//! loaded from TOML:
//!
//! ```toml
//! [[rule]]
//! target = "0010,0010"        # a tag, a keyword, "private:CREATOR" or a NIfTI field
//! action = "replace"          # keep | remove | empty | replace | shift_date | safe
//! value = "ANONYMOUS"         # replace only
//!
//! [[rule]]                    # the safe-private list: elements of a private block known to
//! target = "private:GEMS_ACQU_01"   # carry no identity, kept with --option
//! action = "safe"             # retain-safe-private (PS3.15 E.3.10); the rest of the block
//! value = "xx23 xx24"         # and every other private block is removed
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the plan does with one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    Keep,
    Remove,
    Empty,
    Replace,
    ShiftDate,
    /// For a private creator: these elements of its block (`value`, e.g. `xx23 xx24`) are
    /// safe, kept when the Retain Safe Private option is in force.
    Safe,
}

impl PlanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Keep => "keep",
            PlanAction::Remove => "remove",
            PlanAction::Empty => "empty",
            PlanAction::Replace => "replace",
            PlanAction::ShiftDate => "shift_date",
            PlanAction::Safe => "safe",
        }
    }
    pub fn parse(s: &str) -> Option<PlanAction> {
        Some(match s {
            "keep" => PlanAction::Keep,
            "remove" => PlanAction::Remove,
            "empty" => PlanAction::Empty,
            "replace" => PlanAction::Replace,
            "shift_date" | "shift-date" => PlanAction::ShiftDate,
            "safe" => PlanAction::Safe,
            _ => return None,
        })
    }
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRule {
    pub target: String,
    pub action: PlanAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PlanFile {
    #[serde(default)]
    rule: Vec<PlanRule>,
}

/// Errors reading a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("plan: {0}")]
    Toml(#[from] toml::de::Error),
    #[error(
        "plan: unknown target {0:?} (a tag GGGG,EEEE, a keyword, private:CREATOR or a NIfTI field)"
    )]
    Target(String),
    #[error("plan: target {0} has action replace but no value")]
    NoValue(String),
    #[error("plan: target {0}: action safe is for private creators (private:CREATOR) and needs the safe elements as value, e.g. \"xx10 xx23\"")]
    Safe(String),
}

/// The element bytes of a `safe` rule's value: space-separated `xx23 xx24` (or `(0019,xx23)`).
pub fn safe_elements(value: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for part in value.split([' ', ';']).filter(|p| !p.trim().is_empty()) {
        let p = part.trim().trim_matches(['(', ')']);
        let hex = p.rsplit(',').next().unwrap_or(p);
        let hex = hex.trim_start_matches("xx").trim_start_matches("XX");
        let hex = if hex.len() > 2 {
            &hex[hex.len() - 2..]
        } else {
            hex
        };
        out.push(u8::from_str_radix(hex, 16).ok()?);
    }
    (!out.is_empty()).then_some(out)
}

/// NIfTI/Analyze header fields a plan may name.
pub const VOLUME_FIELDS: &[&str] = &[
    "descrip",
    "aux_file",
    "intent_name",
    "db_name",
    "extensions",
];

/// A plan: rules keyed by normalised target (`GGGGEEEE` for tags, `private:CREATOR`, field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    rules: BTreeMap<String, PlanRule>,
}

/// Normalises a target: tags and keywords to `GGGGEEEE`; others as given.
pub fn normalise_target(t: &str) -> Option<String> {
    let t = t.trim();
    if t.starts_with("private:") || VOLUME_FIELDS.contains(&t) {
        return Some(t.to_string());
    }
    crate::filter::parse_tag(t)
        .or_else(|| crate::filter::tag_by_keyword(t))
        .map(|tag| format!("{tag:08X}"))
}

impl Plan {
    pub fn new() -> Plan {
        Plan::default()
    }

    /// Adds or replaces a rule; the target is normalised.
    pub fn set(&mut self, rule: PlanRule) -> Result<(), PlanError> {
        let key =
            normalise_target(&rule.target).ok_or_else(|| PlanError::Target(rule.target.clone()))?;
        if rule.action == PlanAction::Replace && rule.value.is_none() {
            return Err(PlanError::NoValue(rule.target));
        }
        if rule.action == PlanAction::Safe
            && (!key.starts_with("private:")
                || rule.value.as_deref().and_then(safe_elements).is_none())
        {
            return Err(PlanError::Safe(rule.target));
        }
        self.rules.insert(
            key.clone(),
            PlanRule {
                target: key,
                ..rule
            },
        );
        Ok(())
    }

    pub fn remove(&mut self, target: &str) -> bool {
        normalise_target(target).is_some_and(|k| self.rules.remove(&k).is_some())
    }

    pub fn rules(&self) -> impl Iterator<Item = &PlanRule> {
        self.rules.values()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule for a tag.
    pub fn for_tag(&self, tag: u32) -> Option<&PlanRule> {
        if self.rules.is_empty() {
            return None;
        }
        self.rules.get(&format!("{tag:08X}"))
    }

    /// The rule for a private creator.
    pub fn for_creator(&self, creator: &str) -> Option<&PlanRule> {
        if self.rules.is_empty() {
            return None;
        }
        self.rules.get(&format!("private:{}", creator.trim()))
    }

    /// The rule for a NIfTI/Analyze field.
    pub fn for_field(&self, field: &str) -> Option<&PlanRule> {
        self.rules.get(field)
    }

    pub fn from_toml(text: &str) -> Result<Plan, PlanError> {
        let file: PlanFile = toml::from_str(text)?;
        let mut plan = Plan::new();
        for r in file.rule {
            plan.set(r)?;
        }
        Ok(plan)
    }

    /// TOML with tags written `GGGG,EEEE` and the keyword in a comment-free `target`.
    pub fn to_toml(&self) -> String {
        let file = PlanFile {
            rule: self
                .rules
                .values()
                .map(|r| {
                    let mut r = r.clone();
                    if let Ok(tag) = u32::from_str_radix(&r.target, 16) {
                        if r.target.len() == 8 {
                            r.target = format!("{:04X},{:04X}", tag >> 16, tag & 0xFFFF);
                        }
                    }
                    r
                })
                .collect(),
        };
        toml::to_string(&file).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_private_rules() {
        assert_eq!(safe_elements("xx23 xx24"), Some(vec![0x23, 0x24]));
        assert_eq!(safe_elements("(0019,xx0C)"), Some(vec![0x0C]));
        assert_eq!(safe_elements("zz"), None);
        let plan = Plan::from_toml(
            "[[rule]]\ntarget = \"private:GEMS_ACQU_01\"\naction = \"safe\"\nvalue = \"xx23\"\n",
        )
        .unwrap();
        assert_eq!(
            plan.for_creator("GEMS_ACQU_01").map(|r| r.action),
            Some(PlanAction::Safe)
        );
        assert!(Plan::from_toml(
            "[[rule]]\ntarget = \"PatientName\"\naction = \"safe\"\nvalue = \"xx23\"\n"
        )
        .is_err());
        assert!(Plan::from_toml("[[rule]]\ntarget = \"private:X\"\naction = \"safe\"\n").is_err());
    }

    #[test]
    fn toml_round_trip_normalises_targets() {
        let text = r#"
[[rule]]
target = "PatientName"
action = "replace"
value = "ANON"

[[rule]]
target = "private:ACME 1.0"
action = "keep"

[[rule]]
target = "0008,0020"
action = "shift_date"
"#;
        let plan = Plan::from_toml(text).unwrap_or_default();
        assert_eq!(plan.rules().count(), 3);
        assert_eq!(
            plan.for_tag(0x0010_0010).map(|r| r.action),
            Some(PlanAction::Replace)
        );
        assert_eq!(
            plan.for_creator("ACME 1.0").map(|r| r.action),
            Some(PlanAction::Keep)
        );
        let again = Plan::from_toml(&plan.to_toml()).unwrap_or_default();
        assert_eq!(again, plan);
        assert!(Plan::from_toml("[[rule]]\ntarget = \"Nope\"\naction = \"keep\"").is_err());
        assert!(Plan::from_toml("[[rule]]\ntarget = \"0010,0010\"\naction = \"replace\"").is_err());
    }
}
