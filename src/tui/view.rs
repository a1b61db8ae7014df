//! Drawing: tabs, the three screens, the metadata pane, the status bar and the help overlay.
//! Only rows on screen are looked up, so drawing costs the screen, not the catalogue.

use super::app::{App, Focus, Mode, Screen};
use super::keys::ACTIONS;
use super::tree::Kind;
use crate::phi;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Draws the whole screen.
pub fn draw(app: &mut App, f: &mut Frame) {
    app.preview.drawn_at = None;
    let area = f.area();
    f.render_widget(Block::default().style(app.theme.base), area);
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(app, f, tabs);
    match app.screen {
        Screen::Overview => draw_overview(app, f, body),
        Screen::Label => draw_label(app, f, body),
        Screen::Phi => {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(body);
            draw_phi(app, f, left);
            draw_phi_detail(app, f, right);
        }
        Screen::Browser | Screen::Folders | Screen::Findings => {
            let [left, right] = if body.width >= 100 {
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(body)
            } else {
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(body)
            };
            match app.screen {
                Screen::Browser => draw_tree(app, f, left),
                Screen::Folders => draw_folders(app, f, left),
                _ => draw_findings(app, f, left),
            }
            if app.preview.visible && app.screen != Screen::Findings {
                draw_preview(app, f, right);
            } else {
                draw_meta(app, f, right);
            }
        }
    }
    draw_status(app, f, status);
    if app.mode == Mode::Help {
        draw_help(app, f, area);
    }
}

fn draw_tabs(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" dicura ", t.title)];
    for (i, (name, screen)) in [
        ("Overview", Screen::Overview),
        ("Browser", Screen::Browser),
        ("Folders", Screen::Folders),
        ("Findings", Screen::Findings),
        ("PHI", Screen::Phi),
        ("Label", Screen::Label),
    ]
    .iter()
    .enumerate()
    {
        let style = if app.screen == *screen {
            t.selected
        } else {
            t.dim
        };
        spans.push(Span::styled(format!(" {} {name} ", i + 1), style));
    }
    let filter = &app.scope.filter.text;
    if !filter.is_empty() {
        spans.push(Span::styled("  filter: ", t.dim));
        spans.push(Span::styled(filter.clone(), t.accent));
    }
    if let Some(p) = &app.pending_filter {
        spans.push(Span::styled(format!("  filtering {} …", p.text), t.warning));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn block<'a>(app: &App, title: String, focused: bool) -> Block<'a> {
    let t = &app.theme;
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { t.accent } else { t.border })
        .title(Span::styled(title, t.title))
}

/// The scroll offset that keeps `cursor` on screen with a few rows of context around it
/// (so what a fold opens below the cursor shows), never scrolling past the end.
fn keep_visible(cursor: usize, scroll: usize, h: usize, n: usize) -> usize {
    if h == 0 {
        return 0;
    }
    let margin = (h / 4).min(3);
    let mut scroll = scroll;
    if cursor < scroll + margin {
        scroll = cursor.saturating_sub(margin);
    }
    if cursor + margin >= scroll + h {
        scroll = (cursor + margin + 1).saturating_sub(h);
    }
    scroll.min(n.saturating_sub(h))
}

/// Fits `s` into `w` columns, with `…` when cut.
fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn masked(value: &str, reveal: bool) -> String {
    if reveal {
        value.to_string()
    } else {
        phi::mask(value)
    }
}

fn status_badge(app: &App, status: Option<&String>) -> Option<Span<'static>> {
    let t = &app.theme;
    match status.map(String::as_str) {
        Some("ok") | None => None,
        Some("truncated") => Some(Span::styled(" ✗truncated", t.error)),
        Some("corrupt") => Some(Span::styled(" ✗corrupt", t.error)),
        Some("unreadable") => Some(Span::styled(" ✗unreadable", t.error)),
        Some(other) => Some(Span::styled(format!(" {other}"), t.warning)),
    }
}

fn draw_tree(app: &mut App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Tree && app.mode != Mode::Search;
    let (p, v, o) = app.counts();
    let title = format!(" Browser: {p} patients · {v} volumes · {o} other ");
    let b = block(app, title, focused);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    app.page_rows = h;
    let n = app.tree.len();
    app.scroll = keep_visible(app.cursor, app.scroll, h, n);
    if n == 0 {
        let msg = if app.scope.filter.is_empty() {
            "The catalogue is empty. Scan a directory: dicura DIR (or :scan DIR)"
        } else {
            "Nothing matches the filter (x clears it)"
        };
        f.render_widget(Paragraph::new(msg).style(app.theme.dim), inner);
        return;
    }
    let w = inner.width as usize;
    let mut lines = Vec::with_capacity(h);
    for r in app.scroll..(app.scroll + h).min(n) {
        let Some(path) = app.tree.path_of(r) else {
            break;
        };
        if let Err(e) = app.tree.ensure(&app.cat, &app.scope, &path) {
            lines.push(Line::from(Span::styled(
                format!("error: {e}"),
                app.theme.error,
            )));
            continue;
        }
        let Some(node) = app.tree.root.node(&path) else {
            break;
        };
        let t = &app.theme;
        let depth = path.len().saturating_sub(1);
        let mark = if node.kind.expandable() {
            if node.expanded {
                "▾ "
            } else {
                "▸ "
            }
        } else {
            "  "
        };
        let reveal = app.reveal_row == Some(r);
        let c = &node.row.cols;
        let col = |i: usize| c.get(i).map(String::as_str).unwrap_or("");
        let cnt = |i: usize| node.row.counts.get(i).copied().unwrap_or(0);
        let mut spans = vec![Span::raw(format!("{}{mark}", "  ".repeat(depth)))];
        match node.kind {
            Kind::DicomGroup => {
                spans.push(Span::styled(col(0).to_string(), t.accent));
                spans.push(Span::styled(format!("  {} patients", cnt(0)), t.dim));
            }
            Kind::VolumeGroup | Kind::OtherGroup => {
                spans.push(Span::styled(col(0).to_string(), t.accent));
                spans.push(Span::styled(format!("  {}", cnt(0)), t.dim));
            }
            Kind::Patient => {
                let or = |s: &str, none: &str| {
                    if s.is_empty() {
                        none.to_string()
                    } else {
                        masked(s, reveal)
                    }
                };
                spans.push(Span::styled(
                    format!("{}  {}", or(col(0), "(no ID)"), or(col(1), "(no name)")),
                    if reveal { t.warning } else { t.masked },
                ));
                spans.push(Span::styled(
                    format!("  {} st · {} se · {} inst", cnt(0), cnt(1), cnt(2)),
                    t.dim,
                ));
            }
            Kind::Study => {
                spans.push(Span::raw(format!("{} {}", col(0), col(1))));
                spans.push(Span::styled(
                    format!("  {} se · {} inst", cnt(0), cnt(1)),
                    t.dim,
                ));
            }
            Kind::Series => {
                spans.push(Span::styled(format!("#{} {} ", col(0), col(1)), t.info));
                spans.push(Span::raw(col(2).to_string()));
                spans.push(Span::styled(format!("  {} inst", cnt(0)), t.dim));
            }
            Kind::Instance => {
                spans.push(Span::raw(format!("#{} {}", col(0), col(1))));
                spans.push(Span::styled(format!("  {}", col(2)), t.dim));
                if cnt(0) > 0 {
                    let style = if cnt(1) >= 2 { t.error } else { t.warning };
                    spans.push(Span::styled(format!(" ⚑{}", cnt(0)), style));
                }
            }
            Kind::Volume => {
                spans.push(Span::raw(col(0).to_string()));
                spans.push(Span::styled(
                    format!("  {} {} {} {}", col(1), col(2), col(3), col(4)),
                    t.dim,
                ));
            }
            Kind::OtherFile => {
                spans.push(Span::raw(col(0).to_string()));
                spans.push(Span::styled(format!("  {} {}", col(1), col(2)), t.dim));
                if !col(3).is_empty() {
                    spans.push(Span::styled(format!("  {}", col(3)), t.warning));
                }
            }
            Kind::Root => {}
        }
        if let Some(badge) = status_badge(app, node.row.status.as_ref()) {
            spans.push(badge);
        }
        if app
            .marked
            .as_ref()
            .is_some_and(|(id, _)| node.kind.is_file() && *id == node.row.id)
        {
            spans.push(Span::styled(" [marked]", t.accent));
        }
        // Cut to the width, keeping styles.
        let mut used = 0;
        let mut fitted = Vec::new();
        for s in spans {
            let len = s.content.chars().count();
            if used + len <= w {
                used += len;
                fitted.push(s);
            } else {
                fitted.push(Span::styled(
                    fit(&s.content, w.saturating_sub(used)),
                    s.style,
                ));
                break;
            }
        }
        let mut line = Line::from(fitted);
        if r == app.cursor {
            line = line.style(if focused {
                t.selected
            } else {
                t.selected.add_modifier(Modifier::DIM)
            });
        }
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_folders(app: &mut App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Tree;
    let title = match &app.folders.dir {
        None => " Folders: scanned roots ".to_string(),
        Some(d) => format!(" {} ", fit(d, area.width.saturating_sub(4) as usize)),
    };
    let b = block(app, title, focused);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    app.page_rows = h;
    let fo = &mut app.folders;
    if fo.cursor < fo.scroll {
        fo.scroll = fo.cursor;
    }
    if h > 0 && fo.cursor >= fo.scroll + h {
        fo.scroll = fo.cursor + 1 - h;
    }
    let t = &app.theme;
    if fo.entries.is_empty() {
        let msg = if fo.loading { "loading …" } else { "(empty)" };
        f.render_widget(Paragraph::new(msg).style(t.dim), inner);
        return;
    }
    let w = inner.width as usize;
    let lines: Vec<Line> = fo
        .entries
        .iter()
        .enumerate()
        .skip(fo.scroll)
        .take(h)
        .map(|(i, (name, is_dir, n, _))| {
            let text = if *is_dir {
                if fo.dir.is_none() {
                    format!("▸ {name}")
                } else {
                    format!("▸ {name}/  {n} files")
                }
            } else {
                format!("  {name}")
            };
            let mut l = Line::from(Span::styled(
                fit(&text, w),
                if *is_dir { t.info } else { t.base },
            ));
            if i == fo.cursor {
                l = l.style(if focused {
                    t.selected
                } else {
                    t.selected.add_modifier(Modifier::DIM)
                });
            }
            l
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn severity_style(t: &super::theme::Theme, severity: &str) -> Style {
    match severity {
        "error" => t.error,
        "warning" => t.warning,
        _ => t.info,
    }
}

fn draw_findings(app: &mut App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Tree;
    let fv = &app.findings;
    let title = match &fv.code {
        None => {
            let total: i64 = fv.groups.iter().map(|g| g.count).sum();
            format!(" Findings: {total} in {} rules ", fv.groups.len())
        }
        Some(code) => format!(" {code}: {} findings ", fv.rows.len()),
    };
    let b = block(app, title, focused);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    app.page_rows = h;
    let t = app.theme.clone();
    let fv = &mut app.findings;
    let (n, cursor) = match fv.code {
        None => (fv.groups.len(), fv.group_cursor),
        Some(_) => (fv.rows.len(), fv.row_cursor),
    };
    fv.scroll = keep_visible(cursor, fv.scroll, h, n);
    if n == 0 {
        let msg = if fv.loading {
            "loading …"
        } else {
            "No findings. (Findings are computed by every scan and by `dicura check`.)"
        };
        f.render_widget(Paragraph::new(msg).style(t.dim), inner);
        return;
    }
    let mut lines = Vec::new();
    for i in fv.scroll..(fv.scroll + h).min(n) {
        let mut line = match &fv.code {
            None => {
                let g = &fv.groups[i];
                let ack = if g.acknowledged > 0 {
                    format!("  ({} ack)", g.acknowledged)
                } else {
                    String::new()
                };
                Line::from(vec![
                    Span::styled(
                        format!("{:<8}", g.severity),
                        severity_style(&t, &g.severity),
                    ),
                    Span::raw(fit(&g.code, w.saturating_sub(20))),
                    Span::styled(format!("  {}{ack}", g.count), t.dim),
                ])
            }
            Some(_) => {
                let r = &fv.rows[i];
                let name = r
                    .path
                    .as_deref()
                    .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
                    .unwrap_or_else(|| r.subject.clone());
                let mut spans = vec![
                    Span::styled(
                        format!("{:<8}", r.severity),
                        severity_style(&t, &r.severity),
                    ),
                    Span::raw(format!("{} ", fit(&name, w / 3))),
                    Span::styled(fit(&r.message, w.saturating_sub(w / 3 + 10)), t.dim),
                ];
                if r.acknowledged {
                    spans.push(Span::styled(" [ack]", t.ok));
                }
                Line::from(spans)
            }
        };
        if i == cursor {
            line = line.style(if focused {
                t.selected
            } else {
                t.selected.add_modifier(Modifier::DIM)
            });
        }
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// Text pieces of a PHI value, leaks highlighted.
fn phi_spans(t: &super::theme::Theme, pieces: &[(String, bool)], w: usize) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let mut left = w;
    for (s, leak) in pieces {
        if left == 0 {
            break;
        }
        let s = fit(s, left);
        left = left.saturating_sub(s.chars().count());
        out.push(if *leak {
            Span::styled(s, t.error.add_modifier(Modifier::REVERSED))
        } else {
            Span::raw(s)
        });
    }
    out
}

fn draw_phi(app: &mut App, f: &mut Frame, area: Rect) {
    use super::phi_pane::{plan_rule, ROW_LIMIT};
    let pv = &app.phi;
    let title = match &pv.open {
        None => format!(" PHI: {} attributes, creators and risks ", pv.summary.len()),
        Some((reason, _, keyword)) => {
            let total = pv.current().map_or(0, |r| r.files);
            let shown = if pv.rows.len() >= ROW_LIMIT {
                format!(" (first {ROW_LIMIT})")
            } else {
                String::new()
            };
            format!(" {keyword} ({reason}): {total} files{shown} ")
        }
    };
    let b = block(app, title, true);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    app.page_rows = h;
    let t = app.theme.clone();
    let pv = &mut app.phi;
    let in_rows = pv.open.is_some();
    let (n, cursor) = if in_rows {
        (pv.rows.len(), pv.row_cursor)
    } else {
        (pv.summary.len(), pv.cursor)
    };
    let scroll = if in_rows {
        &mut pv.row_scroll
    } else {
        &mut pv.scroll
    };
    *scroll = keep_visible(cursor, *scroll, h, n);
    let scroll = *scroll;
    if n == 0 {
        let msg = if pv.loading || in_rows {
            "loading …"
        } else {
            "No PHI found. (Detection runs when this screen opens, and with `dicura phi`.)"
        };
        f.render_widget(Paragraph::new(msg).style(t.dim), inner);
        return;
    }
    let attr_w = w.saturating_sub(12 + 14 + 16).max(12);
    let mut lines = Vec::new();
    if !in_rows {
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "{:<12}{:<aw$}{:<14}{:>7}{:>9}",
                    "reason",
                    "attribute",
                    "action",
                    "files",
                    "values",
                    aw = attr_w
                ),
                w,
            ),
            t.dim,
        )));
    }
    let h = h.saturating_sub(lines.len());
    for i in scroll..(scroll + h).min(n) {
        let mut line = if in_rows {
            let item = &pv.rows[i];
            let (value, path) = match &pv.revealed {
                Some((r, v, p)) if *r == i => (v, p),
                _ => (&item.pieces, &item.path),
            };
            // The file name (the path's last component), masked where it leaks.
            let joined: String = path.iter().map(|(s, _)| s.as_str()).collect();
            let name = joined.rsplit('/').next().unwrap_or(&joined).to_string();
            let where_ = item
                .row
                .sequence_path
                .as_deref()
                .map(|p| format!(" in {p}"))
                .unwrap_or_default();
            let head = format!("{}{where_}  ", fit(&name, w / 3));
            let used = head.chars().count();
            let mut spans = vec![Span::raw(head)];
            spans.extend(phi_spans(&t, value, w.saturating_sub(used)));
            Line::from(spans)
        } else {
            let r = &pv.summary[i];
            let attr = match r.reason.as_str() {
                "private" => format!("{} {}", r.keyword, crate::formats::dicom::tag_string(r.tag)),
                _ if r.tag != 0 => {
                    format!("{} {}", crate::formats::dicom::tag_string(r.tag), r.keyword)
                }
                _ => r.keyword.clone(),
            };
            let (action, style) = match plan_rule(&pv.plan, r) {
                Some(rule) => (format!("{}*", rule.action.as_str()), t.accent),
                None => (r.action.clone(), Style::default()),
            };
            let reason_style = match r.reason.as_str() {
                "text_leak" | "path_leak" | "burned_in" => t.error,
                "face" | "private" => t.warning,
                _ => t.dim,
            };
            let values = if r.distinct_values > 0 {
                r.distinct_values.to_string()
            } else {
                "-".into()
            };
            Line::from(vec![
                Span::styled(format!("{:<12}", fit(&r.reason, 11)), reason_style),
                Span::raw(format!("{:<attr_w$}", fit(&attr, attr_w - 1))),
                Span::styled(format!("{:<14}", fit(&action, 13)), style),
                Span::raw(format!("{:>7}{:>9}", r.files, values)),
            ])
        };
        if i == cursor {
            line = line.style(t.selected);
        }
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The right side of the PHI screen: what the selected row means and what the plan does
/// with it; with a file selected, every PHI finding of that file.
fn draw_phi_detail(app: &mut App, f: &mut Frame, area: Rect) {
    use super::phi_pane::{action_words, plan_rule, plan_target};
    let t = app.theme.clone();
    let pv = &app.phi;
    let row = pv.current();
    let mut lines: Vec<Line> = Vec::new();
    if let Some(r) = row {
        lines.push(Line::from(Span::styled(r.keyword.clone(), t.title)));
        if !r.table_action.is_empty() {
            lines.push(Line::from(format!(
                "PS3.15 Table E.1-1: {}   Basic Profile: {} — {}",
                r.table_action,
                r.action,
                action_words(&r.action)
            )));
        } else {
            lines.push(Line::from(format!(
                "action: {} — {}",
                r.action,
                action_words(&r.action)
            )));
        }
        lines.push(Line::from(format!(
            "{} file(s), {} distinct value(s)",
            r.files, r.distinct_values
        )));
        match (plan_target(r), plan_rule(&pv.plan, r)) {
            (Some(target), Some(rule)) => lines.push(Line::from(vec![
                Span::styled("plan: ", t.accent),
                Span::raw(format!(
                    "{target} → {}{}",
                    rule.action.as_str(),
                    rule.value
                        .as_deref()
                        .map(|v| format!(" {v:?}"))
                        .unwrap_or_default()
                )),
            ])),
            (Some(_), None) => lines.push(Line::from(Span::styled(
                "plan: follows the profile — K keep · D remove · Z empty · C replace · S shift date",
                t.dim,
            ))),
            (None, _) => lines.push(Line::from(Span::styled(
                "a risk to look at (preview the pixels); not an attribute the plan changes",
                t.dim,
            ))),
        }
    }
    let w = area.width.saturating_sub(2) as usize;
    if pv.open.is_some() {
        lines.push(Line::from(""));
        match pv.rows.get(pv.row_cursor) {
            Some(item) => {
                let path = match &pv.revealed {
                    Some((r, _, p)) if *r == pv.row_cursor => p,
                    _ => &item.path,
                };
                lines.push(Line::from(phi_spans(&t, path, w)));
                lines.push(Line::from(Span::styled(
                    format!("every PHI finding of this file ({}):", pv.file.len()),
                    t.dim,
                )));
                for it in &pv.file {
                    let name = if it.row.tag != 0 {
                        format!(
                            "{} {}",
                            crate::formats::dicom::tag_string(it.row.tag),
                            it.row.keyword
                        )
                    } else {
                        it.row.keyword.clone()
                    };
                    let head = format!("{:<10} {:<28} ", fit(&it.row.reason, 10), fit(&name, 28));
                    let used = head.chars().count();
                    let mut spans = vec![Span::styled(head, t.dim)];
                    spans.extend(phi_spans(&t, &it.pieces, w.saturating_sub(used)));
                    lines.push(Line::from(spans));
                }
            }
            None => lines.push(Line::from(Span::styled("loading …", t.dim))),
        }
    } else {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            "Enter lists the files · r (in the list) reveals one value, recorded in the audit table",
            t.dim,
        )));
        lines.push(Line::from(Span::styled(
            ":plan save FILE · :plan load FILE · dicura deid --dry-run shows the result",
            t.dim,
        )));
    }
    let b = block(app, " Detail ".into(), false);
    f.render_widget(
        Paragraph::new(lines).block(b).wrap(Wrap { trim: false }),
        area,
    );
}

/// The image preview: the picture with orientation labels on its four sides, then what it
/// shows (index, window, units, axis) and a histogram of its values.
pub fn draw_preview(app: &mut App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Meta;
    let t = app.theme.clone();
    let proto = match app.preview.protocol {
        ratatui_image::picker::ProtocolType::Sixel => "sixel",
        ratatui_image::picker::ProtocolType::Kitty => "kitty",
        ratatui_image::picker::ProtocolType::Iterm2 => "iTerm2",
        ratatui_image::picker::ProtocolType::Halfblocks => "half-blocks",
    };
    let name = match &app.preview.source {
        Some(crate::preview::Source::Dicom { path })
        | Some(crate::preview::Source::Volume { path }) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        Some(crate::preview::Source::Series { paths }) => format!("series of {}", paths.len()),
        None => String::new(),
    };
    let b = block(app, format!(" Preview {name} [{proto}] "), focused);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let [top, middle, bottom, caption, hist] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
    ])
    .areas(inner);
    let [left, image, right] = Layout::horizontal([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(middle);
    app.preview.resized((image.width, image.height));
    if app.preview.pictures && app.preview.error.is_none() && app.preview.shown.is_some() {
        app.preview.drawn_at = Some(image);
    }
    let pv = &app.preview;
    if let Some(e) = &pv.error {
        f.render_widget(
            Paragraph::new(e.clone())
                .style(if pv.key.is_some() { t.error } else { t.dim })
                .wrap(Wrap { trim: true }),
            image,
        );
        return;
    }
    let Some((_, view, shown)) = &pv.shown else {
        let msg = if pv.pending { "decoding …" } else { "" };
        f.render_widget(Paragraph::new(msg).style(t.dim), image);
        return;
    };
    if pv.pictures {
        f.render_widget(ratatui_image::Image::new(&shown.protocol), image);
    } else {
        f.render_widget(
            Paragraph::new("pictures off (--graphics none)").style(t.dim),
            image,
        );
    }
    let c = &shown.caption;
    let label = |i: usize| c.labels[i].clone().unwrap_or_default();
    let centered_label = |s: String| {
        Paragraph::new(s)
            .style(t.accent)
            .alignment(ratatui::layout::Alignment::Center)
    };
    f.render_widget(
        centered_label(label(0)),
        Rect {
            x: image.x,
            width: image.width,
            ..top
        },
    );
    f.render_widget(
        centered_label(label(2)),
        Rect {
            x: image.x,
            width: image.width,
            ..bottom
        },
    );
    let mid = |r: Rect| Rect {
        y: r.y + r.height / 2,
        height: 1.min(r.height),
        ..r
    };
    f.render_widget(Paragraph::new(label(3)).style(t.accent), mid(left));
    f.render_widget(Paragraph::new(label(1)).style(t.accent), mid(right));
    let what = match (view.axis, &shown.info.kind) {
        (Some(a), _) => format!("{a:?} slice").to_lowercase(),
        (None, crate::preview::Kind::Dicom) => "frame".into(),
        (None, crate::preview::Kind::Series) => "instance".into(),
        (None, crate::preview::Kind::Volume) => "axial slice".into(),
    };
    let mut text = format!("{what} {}/{}", c.index + 1, c.count);
    if shown.info.time_points > 1 {
        text.push_str(&format!(
            " · t {}/{}",
            view.time + 1,
            shown.info.time_points
        ));
    }
    match c.window {
        Some((wc, ww)) => text.push_str(&format!(
            " · C {wc:.0} W {ww:.0}{} ({})",
            c.units
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default(),
            c.window_label
        )),
        None => text.push_str(" · colour"),
    }
    if view.invert {
        text.push_str(" · inverted");
    }
    text.push_str(&format!(
        " · {}×{}{}",
        c.source_size.0,
        c.source_size.1,
        if pv.native { " 1:1" } else { "" }
    ));
    if let Some(ms) = pv.last_millis {
        text.push_str(&format!(" · {ms:.0} ms"));
    }
    f.render_widget(
        Paragraph::new(fit(&text, caption.width as usize)).style(t.info),
        caption,
    );
    // The histogram, rebinned to the width.
    let w = hist.width as usize;
    if w > 0 {
        let bins: Vec<u64> = (0..w)
            .map(|i| {
                let a = i * 64 / w;
                let b = ((i + 1) * 64 / w).max(a + 1).min(64);
                c.histogram[a..b].iter().map(|&v| u64::from(v)).sum()
            })
            .collect();
        f.render_widget(
            ratatui::widgets::Sparkline::default()
                .data(&bins)
                .style(t.dim),
            hist,
        );
    }
}

/// The labelling screen: the picture large on the left, the item's facts and labels on the
/// right, the label bar (every set's hotkeys) at the bottom.
fn draw_label(app: &mut App, f: &mut Frame, area: Rect) {
    use super::label_pane::Advance;
    let t = app.theme.clone();
    let Some(scheme) = app.labels.scheme.clone() else {
        let b = block(app, " Label ".into(), true);
        let msg = if app.labels.message.is_empty() {
            "no label scheme".to_string()
        } else {
            app.labels.message.clone()
        };
        f.render_widget(Paragraph::new(msg).block(b).wrap(Wrap { trim: true }), area);
        return;
    };
    let bar_h = (scheme.sets.len() as u16 + 2).min(area.height / 3).max(3);
    let [main, bar] = Layout::vertical([Constraint::Min(3), Constraint::Length(bar_h)]).areas(area);
    let [pic, side] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(main);
    draw_preview(app, f, pic);

    let lv = &app.labels;
    let set = scheme.sets.get(lv.set);
    let me = lv.session.annotator().to_string();
    let p = lv.progress;
    let now = crate::catalogue::now();
    let rate = lv.session.rate_per_minute(now);
    let eta = lv
        .session
        .eta(p.total.saturating_sub(p.labelled), now)
        .map(|d| {
            let m = d.as_secs() / 60;
            if m >= 60 {
                format!("{}h{:02}", m / 60, m % 60)
            } else {
                format!("{m} min")
            }
        });
    let title = format!(
        " {}{} ({}) · {} ",
        if lv.adjudicate {
            "Adjudicate "
        } else {
            "Label "
        },
        set.map_or("", |s| s.name.as_str()),
        set.map_or(String::new(), |s| s.level.to_string()),
        me,
    );
    let b = block(app, title, true);
    let inner = b.inner(side);
    f.render_widget(b, side);
    let w = inner.width as usize;
    let pct = if p.total > 0 {
        100.0 * p.labelled as f64 / p.total as f64
    } else {
        0.0
    };
    let mut lines: Vec<Line> = vec![
        Line::from(vec![
            Span::styled(
                format!("{}/{} labelled ({pct:.0}%)", p.labelled, p.total),
                t.title,
            ),
            Span::styled(
                match (rate, eta) {
                    (Some(r), Some(e)) => format!(" · {r:.0}/min · ETA {e}"),
                    (Some(r), None) => format!(" · {r:.0}/min"),
                    _ => String::new(),
                },
                t.info,
            ),
        ]),
        Line::from(Span::styled(
            format!(
                "item {} of this page · {}",
                lv.cursor + 1,
                match lv.advance {
                    Advance::NextUnlabelled => "a label moves to the next unlabelled",
                    Advance::NextItem => "a label moves to the next item",
                }
            ),
            t.dim,
        )),
        Line::from(""),
    ];
    for (k, v) in &lv.facts {
        lines.push(Line::from(vec![
            Span::styled(format!("{k:<9}"), t.dim),
            Span::raw(fit(v, w.saturating_sub(9))),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("labels", t.title)));
    if lv.labels.is_empty() {
        lines.push(Line::from(Span::styled("  none yet", t.dim)));
    }
    for l in &lv.labels {
        let who = if l.is_final {
            "final".to_string()
        } else {
            l.annotator.clone()
        };
        let mut spans = vec![
            Span::styled(format!("  {:<10}", fit(&l.set, 10)), t.dim),
            Span::styled(
                format!("{:<12}", fit(&who, 12)),
                if l.annotator == me && !l.is_final {
                    t.accent
                } else {
                    Style::default()
                },
            ),
            Span::raw(l.state.category.clone().unwrap_or_else(|| "–".into())),
        ];
        if l.state.uncertain {
            spans.push(Span::styled(" (uncertain)", t.warning));
        }
        lines.push(Line::from(spans));
        if let Some(n) = &l.state.note {
            lines.push(Line::from(Span::styled(
                format!("      note: {}", fit(n, w.saturating_sub(12))),
                t.dim,
            )));
        }
    }
    if let Some(h) = &lv.history {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!("history ({})", h.len()),
            t.title,
        )));
        for r in h.iter().rev().take(12) {
            lines.push(Line::from(Span::styled(
                fit(
                    &format!(
                        "  {} {} {} {} → {}",
                        utc(r.at),
                        r.annotator,
                        r.action,
                        r.old_category.as_deref().unwrap_or("–"),
                        r.state.category.as_deref().unwrap_or("–")
                    ),
                    w,
                ),
                t.dim,
            )));
        }
    }
    if !lv.message.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(lv.message.clone(), t.warning)));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);

    // The label bar: each set's hotkeys; the current item's own categories highlighted.
    let mine: Vec<(String, String)> = lv
        .labels
        .iter()
        .filter(|l| (l.annotator == me && !l.is_final) || (lv.adjudicate && l.is_final))
        .filter_map(|l| l.state.category.clone().map(|c| (l.set.clone(), c)))
        .collect();
    let b = block(
        app,
        " hotkeys label and move on · s skip · k back · u undo · U redo · x uncertain · n note · Tab set · / filter · q leave ".into(),
        false,
    );
    let inner = b.inner(bar);
    f.render_widget(b, bar);
    let mut rows = Vec::new();
    for (i, s) in scheme.sets.iter().enumerate() {
        let active = i == lv.set;
        let mut spans = vec![Span::styled(
            format!(
                "{}{:<12}",
                if active { "▶ " } else { "  " },
                fit(&s.name, 12)
            ),
            if active { t.title } else { t.dim },
        )];
        for c in &s.categories {
            let on = mine
                .iter()
                .any(|(set, cat)| set == &s.name && cat.split(';').any(|x| x == c.name));
            spans.push(Span::styled(
                format!(" {} ", c.key),
                if on { t.selected } else { t.accent },
            ));
            spans.push(Span::styled(
                format!("{} ", c.name),
                if on { t.selected } else { Style::default() },
            ));
        }
        rows.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(rows), inner);
}

fn draw_meta(app: &mut App, f: &mut Frame, area: Rect) {
    use super::meta::Content;
    let focused = app.focus == Focus::Meta || app.mode == Mode::Search;
    let title = match &app.meta.content {
        Content::Header { path, .. } => format!(" {} ", path.rsplit('/').next().unwrap_or(path)),
        Content::Compare { .. } => " Compare: elements that differ ".into(),
        Content::Varying { .. } => " Varying tags ".into(),
        _ => " Metadata ".into(),
    };
    let b = block(app, title, focused);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    let m = &mut app.meta;
    m.scroll = keep_visible(m.cursor, m.scroll, h, m.lines.len());
    let t = &app.theme;
    let left_w = m
        .lines
        .iter()
        .map(|l| l.left.chars().count() + 2 * l.depth)
        .max()
        .unwrap_or(0)
        .min(w / 3);
    let name_w = m
        .lines
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(w.saturating_sub(left_w) * 2 / 5);
    let mut out: Vec<Line> = Vec::new();
    for (i, l) in m.lines.iter().enumerate().skip(m.scroll) {
        if out.len() >= h {
            break;
        }
        let reveal = m.revealed == Some(i);
        let value = if l.phi && !reveal && !l.value.is_empty() {
            phi::mask(&l.value)
        } else {
            l.value.clone()
        };
        let fold = if l.is_sequence {
            if l.expanded {
                "▾"
            } else {
                "▸"
            }
        } else {
            " "
        };
        let left = format!("{}{}", "  ".repeat(l.depth), l.left);
        let prefix = if l.left.is_empty() && l.name.is_empty() {
            String::new() // a message line: the whole width for the text
        } else {
            format!("{left:<left_w$} {fold}{:<name_w$} ", fit(&l.name, name_w))
        };
        let room = w.saturating_sub(prefix.chars().count());
        let vstyle = if l.phi {
            if reveal {
                t.warning
            } else {
                t.masked
            }
        } else {
            t.base
        };
        let selected = i == m.cursor && focused;
        if m.wrapped.contains(&i) && room > 0 {
            // The whole value, over as many lines as it needs.
            let chars: Vec<char> = value.chars().collect();
            for (k, chunk) in chars.chunks(room.max(1)).enumerate() {
                let head = if k == 0 {
                    prefix.clone()
                } else {
                    " ".repeat(prefix.chars().count())
                };
                let mut line = Line::from(vec![
                    Span::styled(head, t.dim),
                    Span::styled(chunk.iter().collect::<String>(), vstyle),
                ]);
                if selected {
                    line = line.style(t.selected);
                }
                out.push(line);
                if out.len() >= h {
                    break;
                }
            }
            continue;
        }
        let shown = fit(&value, room);
        let rest = room.saturating_sub(shown.chars().count() + 2);
        let mut spans = vec![
            Span::styled(prefix, if l.tag.is_some() { t.dim } else { t.info }),
            Span::styled(shown, vstyle),
        ];
        if !l.info.is_empty() && rest > 4 {
            spans.push(Span::styled(format!("  {}", fit(&l.info, rest)), t.dim));
        }
        let mut line = Line::from(spans);
        if selected {
            line = line.style(t.selected);
        }
        out.push(line);
    }
    f.render_widget(Paragraph::new(out), inner);
}

fn draw_status(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let (prompt, text) = match app.mode {
        Mode::Filter => ("/ filter: ", app.input.as_str()),
        Mode::Command => (": ", app.input.as_str()),
        Mode::Search => ("/ search: ", app.input.as_str()),
        Mode::Ack => ("acknowledge, reason: ", app.input.as_str()),
        Mode::PlanValue => ("plan: replace with: ", app.input.as_str()),
        Mode::LabelNote => ("note (empty removes it): ", app.input.as_str()),
        _ => ("", ""),
    };
    if !prompt.is_empty() {
        let line = Line::from(vec![
            Span::styled(prompt, t.accent),
            Span::raw(text.to_string()),
            Span::styled("█", t.accent),
        ]);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut right = String::new();
    if let Some(scan) = &app.scan {
        if scan.handle.is_some() {
            use std::sync::atomic::Ordering::Relaxed;
            let done = scan.counters.done.load(Relaxed);
            let found = scan.counters.found.load(Relaxed);
            let secs = scan.started.elapsed().as_secs_f64().max(0.001);
            right.push_str(&format!(
                "scanning {done}/{found} ({:.0}/s) │ ",
                done as f64 / secs
            ));
        }
    }
    if !app.scope.filter.is_empty() {
        right.push_str(&format!("filter {} │ ", app.scope.filter.text));
    }
    let (p, v, o) = app.counts();
    right.push_str(&format!("{p} pt · {v} vol · {o} other │ {}", app.db_label));
    let w = area.width as usize;
    let right = fit(&right, w / 2);
    let left_w = w.saturating_sub(right.chars().count() + 1);
    let line = Line::from(vec![
        Span::styled(
            format!("{:<left_w$}", fit(&app.status, left_w)),
            if app.status_error { t.error } else { t.dim },
        ),
        Span::raw(" "),
        Span::styled(right, t.info),
    ]);
    f.render_widget(Paragraph::new(line), area);
}

fn list_panel(app: &App, f: &mut Frame, area: Rect, title: &str, data: &[(String, i64)]) {
    let t = &app.theme;
    let b = block(app, format!(" {title} "), false);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let w = inner.width as usize;
    let max = data.iter().map(|d| d.1).max().unwrap_or(1).max(1);
    let lines: Vec<Line> = data
        .iter()
        .take(inner.height as usize)
        .map(|(label, n)| {
            let num = n.to_string();
            let label_w = (w / 2).max(4);
            let bar_w = w.saturating_sub(label_w + num.len() + 2);
            let bar = ((*n as f64 / max as f64) * bar_w as f64).ceil() as usize;
            Line::from(vec![
                Span::raw(format!("{:<label_w$} ", fit(label, label_w))),
                Span::styled("▇".repeat(bar.min(bar_w)), Style::default().fg(t.bar)),
                Span::styled(format!(" {num}"), t.dim),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// Merges neighbouring bins until they fit in `rows` (labels "first–last").
fn rebin(data: &[(String, i64)], rows: usize) -> Vec<(String, i64)> {
    if rows == 0 || data.len() <= rows {
        return data.to_vec();
    }
    let per = data.len().div_ceil(rows);
    data.chunks(per)
        .map(|c| {
            let first = c.first().map(|x| x.0.as_str()).unwrap_or("");
            let last = c.last().map(|x| x.0.as_str()).unwrap_or("");
            let label = if c.len() == 1 {
                first.to_string()
            } else {
                format!("{first}–{last}")
            };
            (label, c.iter().map(|x| x.1).sum())
        })
        .collect()
}

/// A histogram over ordered bins, drawn as a horizontal ratatui bar chart.
fn histogram(app: &App, f: &mut Frame, area: Rect, title: &str, data: &[(String, i64)]) {
    let t = &app.theme;
    let b = block(app, format!(" {title} "), false);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if data.is_empty() {
        let msg = if title.ends_with('…') {
            "computing …"
        } else {
            "(no data)"
        };
        f.render_widget(Paragraph::new(msg).style(t.dim), inner);
        return;
    }
    let data = rebin(data, inner.height as usize);
    let label_w = data
        .iter()
        .map(|d| d.0.chars().count())
        .max()
        .unwrap_or(1)
        .min(inner.width as usize / 2);
    let bars: Vec<Bar> = data
        .iter()
        .map(|(label, v)| {
            Bar::default()
                .value((*v).max(0) as u64)
                .label(Line::from(format!("{:>label_w$}", fit(label, label_w))))
        })
        .collect();
    let chart = BarChart::default()
        .direction(ratatui::layout::Direction::Horizontal)
        .data(BarGroup::default().bars(&bars))
        .bar_width(1)
        .bar_gap(0)
        .bar_style(Style::default().fg(t.bar))
        .value_style(t.dim)
        .label_style(t.dim);
    f.render_widget(chart, inner);
}

fn draw_overview(app: &mut App, f: &mut Frame, area: Rect) {
    let t = app.theme.clone();
    let Some(o) = app.overview.clone() else {
        f.render_widget(
            Paragraph::new("Computing the overview …")
                .style(t.dim)
                .block(block(app, " Overview ".into(), false)),
            area,
        );
        return;
    };
    let [summary, top, bottom] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Percentage(50),
        Constraint::Percentage(50),
    ])
    .areas(area);
    let kinds: Vec<String> = o.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let statuses: Vec<Span> = o
        .by_status
        .iter()
        .map(|(k, n)| Span::styled(format!("{k} {n}  "), if k == "ok" { t.ok } else { t.error }))
        .collect();
    let text = vec![
        Line::from(vec![
            Span::styled(format!("{} files", o.files), t.accent),
            Span::styled(
                if o.bytes < 0 {
                    "  ".to_string()
                } else {
                    format!(" ({})  ", crate::catalogue::browse::human_size(o.bytes))
                },
                t.dim,
            ),
            Span::raw(kinds.join(" · ")),
        ]),
        Line::from(vec![Span::raw(format!(
            "{} patients · {} studies · {} series · {} instances · {} volumes",
            o.patients, o.studies, o.series, o.instances, o.volumes
        ))]),
        Line::from([vec![Span::styled("status: ", t.dim)], statuses].concat()),
    ];
    f.render_widget(
        Paragraph::new(text)
            .block(block(app, " Overview ".into(), false))
            .wrap(Wrap { trim: true }),
        summary,
    );
    let cols = |a: Rect| {
        Layout::horizontal([
            Constraint::Percentage(25),
            Constraint::Percentage(25),
            Constraint::Percentage(25),
            Constraint::Percentage(25),
        ])
        .areas::<4>(a)
    };
    let pending = |title: &str| {
        if o.instances_pending {
            format!("{title} …")
        } else {
            title.to_string()
        }
    };
    let [a, b, c, d] = cols(top);
    list_panel(app, f, a, "Modality", &o.by_modality);
    list_panel(app, f, b, "Manufacturer / model", &o.by_manufacturer);
    let syntaxes: Vec<(String, i64)> = o
        .by_syntax
        .iter()
        .map(|(uid, n)| (crate::formats::dicom::syntax_label(uid).to_string(), *n))
        .collect();
    list_panel(app, f, c, &pending("Transfer syntax"), &syntaxes);
    list_panel(app, f, d, "Series descriptions", &o.by_description);
    let [a, b, c, d] = cols(bottom);
    histogram(
        app,
        f,
        a,
        &pending("Slice thickness (mm)"),
        &o.slice_thickness,
    );
    histogram(app, f, b, &pending("Pixel spacing (mm)"), &o.pixel_spacing);
    list_panel(app, f, c, &pending("Matrix"), &o.matrix);
    histogram(app, f, d, "Study year", &o.study_years);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The help overlay's text: every key, and the filter language.
pub fn help_lines(app: &App) -> Vec<String> {
    let mut v = vec![
        "Movement (vim or arrows): j/k ↓/↑ move · h/← collapse, parent · l/→/Enter expand, open"
            .to_string(),
        "  Space toggle · g/G Home/End first/last · PgUp/PgDn, Ctrl-u/Ctrl-d page".into(),
        "  In the metadata pane: Enter/l open a sequence, h close it, + / - open/close all".into(),
        "Esc back out (q quits) · Ctrl-C quit".into(),
        String::new(),
    ];
    for (action, _, what) in ACTIONS {
        v.push(format!("{:>5}  {what}", app.keys.name(action)));
    }
    v.extend([
        String::new(),
        "Filter (/): terms separated by spaces, all must hold; -term negates".into(),
        "  modality:CT manufacturer:GE* model: station: body: desc: study: protocol:".into(),
        "  Manufacturer=GE*  0018,0050=5   any keyword or tag, * and ? wildcards".into(),
        "  tag:0029,*  has an element of group 0029   kind:nifti  status:corrupt".into(),
        "  findings:error  files with unacknowledged findings (error|warning|info)".into(),
        "  label:none  label:SET=CAT  label:SET  annotator:NAME  disagreement".into(),
        "  sop:  ts:  rows:512  cols:  date:2021*  path:*/x/*  ext:  free text".into(),
        "Commands (:): quit · filter EXPR · clear · theme dark|light|high-contrast".into(),
        "  overview · browser · folders · findings · errors · phi · sort · mark · compare".into(),
        "  plan save FILE · plan load FILE · plan clear   (the PHI screen's de-identification plan)".into(),
        "  varying · expand".into(),
        "  collapse · refresh · scan DIR".into(),
        "Masked values (patient names, IDs, ...) show with r on one row at a time.".into(),
        String::new(),
        "Preview (p, then Tab to focus it): j/k or ↓/↑ next/previous frame or slice".into(),
        "  PgDn/PgUp ±10 · g/G first/last · m middle · o axis (stored/axial/coronal/sagittal)".into(),
        "  w header windows (and VOI LUTs) · W CT presets · a auto (1st–99th percentile)".into(),
        "  f full range · d default · H/L narrower/wider · J/K lower/raise the centre".into(),
        "  i invert · z fit / 1:1 · t/T next/previous time point · p closes".into(),
        String::new(),
        "Labelling (6): a category key labels the item and moves on · s skip · j/k move".into(),
        "  u undo · U/Ctrl-r redo · x uncertain · n note · Tab next set · [ ] slices".into(),
        "  { } header windows / presets · | auto · :goto PATH|UID · :history · :adjudicate".into(),
        "  :advance next|unlabelled · :scheme load|save FILE · :scheme edit · q leaves".into(),
    ]);
    // The label scheme's categories with their descriptions.
    if let Some(scheme) = &app.labels.scheme {
        v.push(String::new());
        v.push("Label scheme".into());
        for set in &scheme.sets {
            v.push(format!(
                "  {} ({}{}){}",
                set.name,
                set.level,
                if set.multi { ", several per item" } else { "" },
                set.description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ));
            for c in &set.categories {
                v.push(format!(
                    "    {}  {}{}",
                    c.key,
                    c.name,
                    c.description
                        .as_deref()
                        .map(|d| format!(" — {d}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    v
}

fn draw_help(app: &App, f: &mut Frame, area: Rect) {
    let lines = help_lines(app);
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = 84.min(area.width);
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let visible = h.saturating_sub(2) as usize;
    let max_scroll = lines.len().saturating_sub(visible);
    let scroll = app.help_scroll.min(max_scroll);
    let title = if max_scroll > 0 {
        format!(
            " Help {}-{}/{} — j/k scroll, any other key closes ",
            scroll + 1,
            (scroll + visible).min(lines.len()),
            lines.len()
        )
    } else {
        " Help — any key closes ".into()
    };
    let p = Paragraph::new(
        lines
            .into_iter()
            .skip(scroll)
            .map(Line::from)
            .collect::<Vec<_>>(),
    )
    .style(app.theme.base)
    .block(block(app, title, true));
    f.render_widget(p, r);
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time.
fn utc(at: f64) -> String {
    let secs = at.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0.0), "1970-01-01 00:00");
        assert_eq!(super::utc(1_796_412_821.0), "2026-12-04 19:33");
        assert_eq!(super::utc(951_782_400.0), "2000-02-29 00:00");
    }
}
