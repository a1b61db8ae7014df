//! Key bindings: defaults that a user config file can patch, and the config file itself
//! (`$XDG_CONFIG_HOME/dicura/config.toml`, else `~/.config/dicura/config.toml`).
//!
//! ```toml
//! theme = "light"
//! [keys]
//! filter = "f"
//! reveal = "R"
//! ```
//! Vim keys (hjkl, g/G, Ctrl-d/u) and arrow keys both always work for movement.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// Actions that can be rebound, with their default key.
pub const ACTIONS: &[(&str, &str, &str)] = &[
    ("help", "?", "show this help"),
    ("command", ":", "command line"),
    (
        "filter",
        "/",
        "filter the browser (in the metadata pane: search)",
    ),
    ("clear_filter", "x", "clear the filter"),
    ("quit", "q", "back out / quit"),
    ("overview", "1", "overview screen"),
    (
        "browser",
        "2",
        "browser (patient → study → series → instance)",
    ),
    ("folders", "3", "folder view"),
    (
        "findings",
        "4",
        "findings: counts by rule, Enter lists them, a acknowledges, e filters files with errors",
    ),
    (
        "phi",
        "5",
        "PHI review: attributes, private creators, leaks, risks; Enter lists the files",
    ),
    (
        "label",
        "6",
        "labelling: the scheme's hotkeys label the item and move on (q leaves)",
    ),
    (
        "plan_keep",
        "K",
        "PHI plan: keep the selected attribute/creator",
    ),
    ("plan_remove", "D", "PHI plan: remove it"),
    ("plan_empty", "Z", "PHI plan: empty it"),
    (
        "plan_replace",
        "C",
        "PHI plan: replace it with a value you type",
    ),
    (
        "plan_shift",
        "S",
        "PHI plan: shift the date by the patient's offset",
    ),
    ("plan_clear", "U", "PHI plan: back to the profile's action"),
    (
        "preview",
        "p",
        "show the image preview in the right pane (Tab focuses it; ? lists its keys)",
    ),
    ("switch_pane", "Tab", "switch between tree and metadata"),
    ("sort", "s", "cycle the sort order of the current level"),
    ("mark", "m", "mark this item for compare"),
    ("compare", "c", "compare the marked item with this one"),
    ("varying", "v", "varying tags of the series"),
    ("reveal", "r", "reveal masked values of this row"),
    ("expand_value", "e", "expand/collapse a long value"),
    ("copy", "y", "copy the value to the clipboard (OSC 52)"),
    ("next_match", "n", "next search match"),
    ("refresh", "R", "reload from the catalogue"),
];

/// A key as written in the config file: one character, or a name like `Tab`, `F2`.
fn parse_key(s: &str) -> Option<KeyCode> {
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(KeyCode::Char(c));
    }
    match s.to_ascii_lowercase().as_str() {
        "tab" => Some(KeyCode::Tab),
        "enter" => Some(KeyCode::Enter),
        "esc" => Some(KeyCode::Esc),
        "space" => Some(KeyCode::Char(' ')),
        f if f.starts_with('f') => f[1..].parse().ok().map(KeyCode::F),
        _ => None,
    }
}

/// Displays a key for hints and help.
pub fn key_name(k: KeyCode) -> String {
    match k {
        KeyCode::Char(' ') => "Space".into(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    }
}

/// The bindings in force.
#[derive(Debug, Clone)]
pub struct Keys {
    map: HashMap<&'static str, KeyCode>,
}

impl Default for Keys {
    fn default() -> Self {
        let map = ACTIONS
            .iter()
            .filter_map(|(a, k, _)| parse_key(k).map(|k| (*a, k)))
            .collect();
        Keys { map }
    }
}

impl Keys {
    /// Applies overrides; returns messages for the ones that were ignored.
    pub fn patch(&mut self, overrides: &HashMap<String, String>) -> Vec<String> {
        let mut errors = Vec::new();
        for (action, key) in overrides {
            let Some((name, _, _)) = ACTIONS.iter().find(|(a, _, _)| a == action) else {
                errors.push(format!("unknown action {action:?} in [keys]"));
                continue;
            };
            match parse_key(key) {
                Some(k) => {
                    self.map.insert(name, k);
                }
                None => errors.push(format!("cannot read key {key:?} for {action}")),
            }
        }
        errors
    }

    pub fn get(&self, action: &str) -> Option<KeyCode> {
        self.map.get(action).copied()
    }

    /// Whether `ev` is bound to `action` (plain or shifted character, no Ctrl/Alt).
    pub fn is(&self, ev: &KeyEvent, action: &str) -> bool {
        if ev
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return false;
        }
        self.get(action) == Some(ev.code)
    }

    pub fn name(&self, action: &str) -> String {
        self.get(action).map(key_name).unwrap_or_default()
    }
}

/// The user's configuration file.
#[derive(Debug, Default, Deserialize)]
pub struct Config {
    pub theme: Option<String>,
    /// Terminal graphics for previews (sixel, kitty, iterm, halfblocks, none, auto).
    pub graphics: Option<String>,
    #[serde(default)]
    pub keys: HashMap<String, String>,
}

/// `$XDG_CONFIG_HOME/dicura` or `~/.config/dicura`.
pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("dicura"))
}

/// Reads the config file; a missing file is the default config, a broken one an error.
pub fn load_config() -> Result<Config, String> {
    let Some(path) = config_dir().map(|d| d.join("config.toml")) else {
        return Ok(Config::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut k = Keys::default();
        assert_eq!(k.get("filter"), Some(KeyCode::Char('/')));
        assert_eq!(k.get("switch_pane"), Some(KeyCode::Tab));
        let over: HashMap<String, String> = [
            ("filter".to_string(), "f".to_string()),
            ("bogus".to_string(), "z".to_string()),
            ("help".to_string(), "F1".to_string()),
        ]
        .into_iter()
        .collect();
        let errs = k.patch(&over);
        assert_eq!(errs.len(), 1);
        assert_eq!(k.get("filter"), Some(KeyCode::Char('f')));
        assert_eq!(k.get("help"), Some(KeyCode::F(1)));
        // No default binding collides with another.
        let d = Keys::default();
        let mut seen = std::collections::HashSet::new();
        for (a, _, _) in ACTIONS {
            assert!(seen.insert(d.get(a)), "{a} collides");
        }
    }
}
