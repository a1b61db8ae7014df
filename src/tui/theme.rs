//! Themes (`themes/*.toml`, built in; more in `$XDG_CONFIG_HOME/dicura/themes/`) and colour
//! depth: true colour, 256 or 16 colours following `COLORTERM`/`TERM`, none with `NO_COLOR`.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Names of the themes that ship with dicura.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    None,
    Ansi16,
    Ansi256,
    TrueColor,
}

impl Depth {
    /// From the environment: `NO_COLOR` (any value) wins, then `COLORTERM`, then `TERM`.
    pub fn detect() -> Depth {
        Self::from_env(
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::env::var("COLORTERM").ok().as_deref(),
            std::env::var("TERM").ok().as_deref(),
        )
    }

    pub fn from_env(no_color: bool, colorterm: Option<&str>, term: Option<&str>) -> Depth {
        if no_color {
            return Depth::None;
        }
        if matches!(colorterm, Some("truecolor" | "24bit")) {
            return Depth::TrueColor;
        }
        match term {
            Some(t) if t.contains("256") || t.contains("direct") => Depth::Ansi256,
            Some("dumb") => Depth::None,
            _ => Depth::Ansi16,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ThemeFile {
    name: Option<String>,
    bg: String,
    fg: String,
    dim: String,
    accent: String,
    title: String,
    border: String,
    selection_bg: String,
    selection_fg: String,
    error: String,
    warning: String,
    ok: String,
    info: String,
    masked: String,
    bar: String,
}

/// Resolved styles for the views.
#[derive(Debug, Clone)]
pub struct Theme {
    pub name: String,
    pub depth: Depth,
    pub base: Style,
    pub dim: Style,
    pub accent: Style,
    pub title: Style,
    pub border: Style,
    pub selected: Style,
    pub error: Style,
    pub warning: Style,
    pub ok: Style,
    pub info: Style,
    pub masked: Style,
    pub bar: Color,
}

/// Parses `#rrggbb`.
fn rgb(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.trim().strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

/// The nearest colour the terminal can show.
pub fn reduce(c: (u8, u8, u8), depth: Depth) -> Color {
    match depth {
        Depth::None => Color::Reset,
        Depth::TrueColor => Color::Rgb(c.0, c.1, c.2),
        Depth::Ansi256 => Color::Indexed(to_256(c)),
        Depth::Ansi16 => to_16(c),
    }
}

fn to_256((r, g, b): (u8, u8, u8)) -> u8 {
    // Grey ramp when the channels are close, else the 6x6x6 cube.
    if r.abs_diff(g) < 10 && g.abs_diff(b) < 10 {
        let avg = (r as u16 + g as u16 + b as u16) / 3;
        if avg < 8 {
            return 16;
        }
        if avg > 238 {
            return 231;
        }
        return 232 + ((avg - 8) * 24 / 231) as u8;
    }
    let q = |v: u8| ((v as u16 * 5 + 127) / 255) as u8;
    16 + 36 * q(r) + 6 * q(g) + q(b)
}

fn to_16((r, g, b): (u8, u8, u8)) -> Color {
    const PALETTE: [(Color, (u8, u8, u8)); 16] = [
        (Color::Black, (0, 0, 0)),
        (Color::Red, (170, 0, 0)),
        (Color::Green, (0, 170, 0)),
        (Color::Yellow, (170, 85, 0)),
        (Color::Blue, (0, 0, 170)),
        (Color::Magenta, (170, 0, 170)),
        (Color::Cyan, (0, 170, 170)),
        (Color::Gray, (170, 170, 170)),
        (Color::DarkGray, (85, 85, 85)),
        (Color::LightRed, (255, 85, 85)),
        (Color::LightGreen, (85, 255, 85)),
        (Color::LightYellow, (255, 255, 85)),
        (Color::LightBlue, (85, 85, 255)),
        (Color::LightMagenta, (255, 85, 255)),
        (Color::LightCyan, (85, 255, 255)),
        (Color::White, (255, 255, 255)),
    ];
    let d = |(a, b2, c2): (u8, u8, u8)| {
        let dr = r as i32 - a as i32;
        let dg = g as i32 - b2 as i32;
        let db = b as i32 - c2 as i32;
        dr * dr + dg * dg + db * db
    };
    PALETTE
        .iter()
        .min_by_key(|(_, c)| d(*c))
        .map(|(col, _)| *col)
        .unwrap_or(Color::Reset)
}

impl Theme {
    /// Loads a theme by name: a user theme in the config directory first, then a built-in one.
    pub fn load(name: &str, depth: Depth) -> Result<Theme, String> {
        let user = super::keys::config_dir().map(|d| d.join("themes").join(format!("{name}.toml")));
        let text = match user.filter(|p| p.exists()) {
            Some(p) => {
                std::fs::read_to_string(&p).map_err(|e| format!("theme {}: {e}", p.display()))?
            }
            None => BUILT_IN
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| {
                    format!(
                        "unknown theme {name:?} (built in: {})",
                        built_in_names().join(", ")
                    )
                })?,
        };
        Self::parse(&text, depth).map_err(|e| format!("theme {name}: {e}"))
    }

    pub fn parse(text: &str, depth: Depth) -> Result<Theme, String> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let c = |s: &str| -> Result<Color, String> {
            rgb(s)
                .map(|v| reduce(v, depth))
                .ok_or_else(|| format!("bad colour {s:?} (want #rrggbb)"))
        };
        let fg = c(&f.fg)?;
        let bg = c(&f.bg)?;
        let plain = depth == Depth::None;
        let style = |col: Color| {
            if plain {
                Style::default()
            } else {
                Style::default().fg(col)
            }
        };
        let base = if plain {
            Style::default()
        } else {
            Style::default().fg(fg).bg(bg)
        };
        let selected = if plain {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .fg(c(&f.selection_fg)?)
                .bg(c(&f.selection_bg)?)
        };
        Ok(Theme {
            name: f.name.unwrap_or_default(),
            depth,
            base,
            dim: if plain {
                Style::default().add_modifier(Modifier::DIM)
            } else {
                style(c(&f.dim)?)
            },
            accent: style(c(&f.accent)?).add_modifier(Modifier::BOLD),
            title: style(c(&f.title)?).add_modifier(Modifier::BOLD),
            border: style(c(&f.border)?),
            selected,
            error: style(c(&f.error)?).add_modifier(Modifier::BOLD),
            warning: style(c(&f.warning)?),
            ok: style(c(&f.ok)?),
            info: style(c(&f.info)?),
            masked: if plain {
                Style::default().add_modifier(Modifier::ITALIC)
            } else {
                style(c(&f.masked)?)
            },
            bar: if plain { Color::Reset } else { c(&f.bar)? },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_themes_parse_at_every_depth() {
        for name in built_in_names() {
            for depth in [Depth::None, Depth::Ansi16, Depth::Ansi256, Depth::TrueColor] {
                let t = Theme::load(name, depth).unwrap_or_else(|e| panic!("{e}"));
                if depth == Depth::None {
                    assert_eq!(t.base, Style::default());
                }
            }
        }
        assert!(Theme::load("nope", Depth::TrueColor).is_err());
    }

    #[test]
    fn depth_follows_the_environment() {
        assert_eq!(
            Depth::from_env(true, Some("truecolor"), Some("xterm-256color")),
            Depth::None
        );
        assert_eq!(
            Depth::from_env(false, Some("truecolor"), Some("xterm")),
            Depth::TrueColor
        );
        assert_eq!(
            Depth::from_env(false, None, Some("xterm-256color")),
            Depth::Ansi256
        );
        assert_eq!(Depth::from_env(false, None, Some("xterm")), Depth::Ansi16);
        assert_eq!(reduce((255, 0, 0), Depth::Ansi256), Color::Indexed(196));
        assert_eq!(reduce((250, 250, 250), Depth::Ansi16), Color::White);
    }
}
