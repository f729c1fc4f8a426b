//! Drawing: [`draw`] renders a [`State`] to a frame, reading nothing but the state. Only the
//! rows and document lines on screen are formatted.

use podstore::ChangeKind;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::Title;
use super::model::{Node, human};
use super::state::{Focus, LineKind, State, count};

/// The key help, as (keys, what) pairs.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move (the document, when it has the focus)"),
    ("← →  h l", "collapse / expand (← goes to the parent)"),
    (
        "Enter  Space",
        "toggle a directory; on a resource: focus the document",
    ),
    ("PgUp PgDn", "page up / down"),
    ("g G  Home End", "top / bottom"),
    ("Tab", "switch the focus between the tree and the document"),
    ("J K  Shift+↑↓", "scroll the document"),
    ("/", "search resource paths (Enter runs, Esc cancels)"),
    ("n N", "next / previous match"),
    ("mouse", "wheel scrolls the pane under it; click selects"),
    ("?", "this help (any key closes it)"),
    ("q  Esc  Ctrl-C", "quit"),
];

fn mark_style(kind: ChangeKind) -> Style {
    match kind {
        ChangeKind::Added => Style::new().fg(Color::Green),
        ChangeKind::Modified => Style::new().fg(Color::Yellow),
        ChangeKind::Deleted => Style::new().fg(Color::Red),
    }
}

fn mark_char(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "A",
        ChangeKind::Modified => "M",
        ChangeKind::Deleted => "D",
    }
}

/// `demo:3`, or `demo` without a version.
pub fn pod_label(t: &Title) -> String {
    match t.version {
        Some(v) => format!("{}:{v}", t.pod),
        None => t.pod.clone(),
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, s: &State<'_>) {
    let panes = s.panes();
    draw_tree(frame, s, panes.tree);
    draw_detail(frame, s, panes.detail);
    draw_status(frame, s, panes.status);
    if s.help {
        draw_help(frame, frame.area());
    }
}

fn draw_tree(frame: &mut Frame<'_>, s: &State<'_>, area: Rect) {
    let border = if s.focus == Focus::Tree {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    };
    let block = Block::bordered()
        .border_style(border)
        .title(format!(" {} ", pod_label(&s.title)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let diff = s.tree.diff().is_some();
    let query = s.search.query.to_lowercase();
    let lines: Vec<Line<'_>> = s
        .rows
        .iter()
        .enumerate()
        .skip(s.scroll)
        .take(inner.height as usize)
        .map(|(row, &ix)| {
            let line = tree_row(s.tree.node(ix), inner.width as usize, diff, &query);
            if row == s.cursor {
                let hl = if s.focus == Focus::Tree {
                    Style::new().add_modifier(Modifier::REVERSED)
                } else {
                    Style::new().bg(Color::DarkGray)
                };
                line.patch_style(hl)
            } else {
                line
            }
        })
        .collect();
    if lines.is_empty() {
        frame.render_widget(Paragraph::new("(the state is empty)"), inner);
    } else {
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// Truncates `s` to `max` characters, ending with `…` when cut.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// One tree row: `[mark] indent arrow name … [changes] stats`, exactly `width` wide.
fn tree_row(n: &Node, width: usize, diff: bool, query: &str) -> Line<'static> {
    let mut left: Vec<Span<'static>> = Vec::new();
    if diff {
        let (text, style) = match (n.mark, n.is_dir()) {
            (Some(k), _) => (mark_char(k), mark_style(k)),
            (None, true) if !n.changes.is_empty() => ("•", Style::new().fg(Color::Magenta)),
            _ => (" ", Style::new()),
        };
        left.push(Span::styled(format!("{text} "), style));
    }
    let arrow = match (n.is_dir(), n.expanded) {
        (true, true) => "▾ ",
        (true, false) => "▸ ",
        _ => "  ",
    };
    left.push(Span::raw(format!(
        "{}{arrow}",
        "  ".repeat(n.depth as usize)
    )));
    let mut right: Vec<Span<'static>> = Vec::new();
    if diff && n.is_dir() && !n.changes.is_empty() {
        let c = n.changes;
        for (sign, v, kind) in [
            ("+", c.added, ChangeKind::Added),
            ("~", c.modified, ChangeKind::Modified),
            ("-", c.deleted, ChangeKind::Deleted),
        ] {
            if v > 0 {
                right.push(Span::styled(
                    format!("{sign}{} ", count(v)),
                    mark_style(kind),
                ));
            }
        }
    }
    let stats = if n.is_dir() {
        format!("{:>7} {:>9}", count(n.docs), human(n.bytes))
    } else {
        format!("{:>9}", human(n.bytes))
    };
    right.push(Span::styled(stats, Style::new().fg(Color::DarkGray)));
    let used_left: usize = left.iter().map(|s| s.content.chars().count()).sum();
    let used_right: usize = right.iter().map(|s| s.content.chars().count()).sum();
    // The name gets what is left, keeping one space before the numbers.
    let room = width.saturating_sub(used_left + used_right + 1);
    let name = fit(&n.name, room.max(1));
    let name_style = match (n.mark, n.is_dir()) {
        (Some(k), _) => mark_style(k),
        (None, true) => Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
        _ => Style::new(),
    };
    let name_len = name.chars().count();
    push_highlighted(&mut left, name, name_style, query);
    let pad = width.saturating_sub(used_left + name_len + used_right);
    left.push(Span::raw(" ".repeat(pad)));
    let mut spans = left;
    if used_left + name_len + used_right <= width {
        spans.extend(right);
    }
    Line::from(spans)
}

/// Adds `text`, with the first occurrence of `query` (lower case) highlighted.
fn push_highlighted(out: &mut Vec<Span<'static>>, text: String, style: Style, query: &str) {
    let lower = text.to_lowercase();
    let found = (!query.is_empty())
        .then(|| lower.find(query))
        .flatten()
        .filter(|&i| {
            lower.len() == text.len()
                && text.is_char_boundary(i)
                && text.is_char_boundary(i + query.len())
        });
    match found {
        Some(i) => {
            let hit = Style::new().fg(Color::Black).bg(Color::Yellow);
            out.push(Span::styled(text[..i].to_owned(), style));
            out.push(Span::styled(text[i..i + query.len()].to_owned(), hit));
            out.push(Span::styled(text[i + query.len()..].to_owned(), style));
        }
        None => out.push(Span::styled(text, style)),
    }
}

fn draw_detail(frame: &mut Frame<'_>, s: &State<'_>, area: Rect) {
    let border = if s.focus == Focus::Detail {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    };
    let total = s.detail.lines.len();
    let page = area.height.saturating_sub(2) as usize;
    let mut block = Block::bordered().border_style(border).title(" details ");
    if total > page {
        let last = (s.detail.scroll + page).min(total);
        block = block.title_bottom(
            Line::from(format!(" {}–{last} of {total} ", s.detail.scroll + 1))
                .alignment(Alignment::Right),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<Line<'_>> = s
        .detail
        .lines
        .iter()
        .skip(s.detail.scroll)
        .take(inner.height as usize)
        .map(|l| {
            let style = match l.kind {
                LineKind::Fact => Style::new(),
                LineKind::Json => Style::new().fg(Color::Gray),
                LineKind::Change(k) => mark_style(k).add_modifier(Modifier::BOLD),
                LineKind::Error => Style::new().fg(Color::Red),
            };
            let mut spans = vec![Span::styled(l.text.as_str(), style)];
            if let Some(note) = &l.note {
                spans.push(Span::styled(
                    format!("  ⟵ {note}"),
                    Style::new().fg(Color::Magenta),
                ));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_status(frame: &mut Frame<'_>, s: &State<'_>, area: Rect) {
    let base = Style::new().bg(Color::Blue).fg(Color::White);
    if let Some(input) = &s.search.input {
        let line = Line::from(vec![
            Span::raw(format!("/{input}")),
            Span::styled(" ", Style::new().add_modifier(Modifier::REVERSED)),
            Span::raw("   Enter search · Esc cancel"),
        ]);
        frame.render_widget(Paragraph::new(line).style(base), area);
        return;
    }
    let mut left = format!(" {}", pod_label(&s.title));
    if let Some(a) = &s.against {
        left.push_str(&format!(" vs {}", pod_label(a)));
        if let Some(d) = s.tree.diff() {
            let c = d.counts(0..d.changes().len());
            left.push_str(&format!(
                "  +{} ~{} -{}",
                count(c.added),
                count(c.modified),
                count(c.deleted)
            ));
        }
    }
    for part in [&s.title.message, &s.title.date] {
        if !part.is_empty() {
            left.push_str(" · ");
            left.push_str(part);
        }
    }
    let right = match &s.notice {
        Some(n) => format!("{n}  "),
        None => format!(
            "{}/{}  ? help ",
            count(s.cursor as u64 + u64::from(!s.rows.is_empty())),
            count(s.rows.len() as u64)
        ),
    };
    let width = area.width as usize;
    let right_len = right.chars().count();
    let left = fit(&left, width.saturating_sub(right_len + 1));
    let pad = width.saturating_sub(left.chars().count() + right_len);
    let right_style = if s.notice.is_some() {
        base.add_modifier(Modifier::BOLD)
    } else {
        base
    };
    let line = Line::from(vec![
        Span::raw(left),
        Span::raw(" ".repeat(pad)),
        Span::styled(right, right_style),
    ]);
    frame.render_widget(Paragraph::new(line).style(base), area);
}

fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let keys_w = HELP
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let text_w = HELP
        .iter()
        .map(|(_, t)| t.chars().count())
        .max()
        .unwrap_or(0);
    let w = ((keys_w + text_w + 6) as u16).min(area.width);
    let h = (HELP.len() as u16 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let lines: Vec<Line<'_>> = HELP
        .iter()
        .map(|(k, t)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<keys_w$}  "),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*t),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::super::model::Tree;
    use super::super::model::tests::{SMALL, build, title};
    use super::super::update::update;
    use super::*;
    use podstore::MemObjects;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

    fn screen(buf: &Buffer) -> Vec<String> {
        let area = buf.area;
        (0..area.height)
            .map(|y| {
                (0..area.width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect()
    }

    fn render(s: &State<'_>) -> Buffer {
        let mut term =
            Terminal::new(TestBackend::new(s.area.width, s.area.height)).expect("terminal");
        term.draw(|f| draw(f, s)).expect("draw");
        term.backend().buffer().clone()
    }

    /// The SMALL tree, opened on a `width` × `height` screen.
    fn small_state(o: &MemObjects, width: u16, height: u16) -> State<'_> {
        let root = build(o, SMALL);
        let t = Tree::open(o, root, None).expect("open");
        State::new(
            t,
            title(3, "2026-01-02 03:04"),
            None,
            Rect::new(0, 0, width, height),
        )
    }

    fn press(s: &mut State<'_>, code: KeyCode) {
        update(s, &Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn assert_screen(buf: &Buffer, expected: &[&str]) {
        let got = screen(buf);
        assert_eq!(
            got,
            expected,
            "screen:\n{}",
            got.iter().map(|l| format!("{l:?}\n")).collect::<String>()
        );
    }

    #[test]
    fn whole_screen_after_opening_and_expanding() {
        let o = MemObjects::new();
        let mut s = small_state(&o, 100, 12);
        press(&mut s, KeyCode::Char('l'));
        press(&mut s, KeyCode::Char('l'));
        press(&mut s, KeyCode::Char('l'));
        let buf = render(&s);
        assert_screen(
            &buf,
            &[
                "┌ demo:3 ───────────────────────────────────┐┌ details ────────────────────────────────────────────┐",
                "│▾ 111111111111                  4   2.2 KiB││directory 111111111111/us-east-1                     │",
                "│  ▾ us-east-1                   4   2.2 KiB││names     2                                          │",
                "│    ▸ s3                        2   2.1 KiB││resources 4                                          │",
                "│    ▸ sqs                       2      54 B││bytes     2.2 KiB (2,206)                            │",
                "│▸ 222222222222                  1      27 B││                                                     │",
                "│                                           ││                                                     │",
                "│                                           ││                                                     │",
                "│                                           ││                                                     │",
                "│                                           ││                                                     │",
                "└───────────────────────────────────────────┘└─────────────────────────────────────────────────────┘",
                " demo:3 · seeded · 2026-01-02 03:04                                                     2/5  ? help ",
            ],
        );
        let sel = &buf[(3, 2)];
        assert!(
            sel.modifier.contains(Modifier::REVERSED),
            "cursor row is reversed"
        );
    }

    #[test]
    fn whole_screen_of_a_document_with_search_and_help() {
        let o = MemObjects::new();
        let mut s = small_state(&o, 100, 14);
        press(&mut s, KeyCode::Char('/'));
        for c in "a.tx".chars() {
            press(&mut s, KeyCode::Char(c));
        }
        let prompt = screen(&render(&s));
        assert!(
            prompt[13].starts_with("/a.tx    Enter search · Esc cancel"),
            "{:?}",
            prompt[13]
        );
        press(&mut s, KeyCode::Enter);
        let buf = render(&s);
        let lines = screen(&buf);
        assert_screen(
            &buf,
            &[
                "┌ demo:3 ───────────────────────────────────┐┌ details ────────────────────────────────────────────┐",
                "│▾ 111111111111                  4   2.2 KiB││resource  111111111111/us-east-1/s3/object/logs/a.txt│",
                "│  ▾ us-east-1                   4   2.2 KiB││document  123 B (123)                                │",
                "│    ▾ s3                        2   2.1 KiB││blobs     1 referenced, 2.0 KiB                      │",
                &lines[4],
                "│      ▾ object                  1   2.1 KiB││                                                     │",
                "│        ▾ logs                  1   2.1 KiB││{                                                    │",
                "│            a.txt                   2.1 KiB││  \"body\": {                                          │",
                &lines[8],
                "│▸ 222222222222                  1      27 B││    \"size\": 2002                                     │",
                "│                                           ││  },                                                 │",
                "│                                           ││  \"n\": 2,                                            │",
                "└───────────────────────────────────────────┘└───────────────────────────────────────── 1–11 of 13 ┘",
                " demo:3 · seeded · 2026-01-02 03:04                                           match 1/1 for \"a.tx\"  ",
            ],
        );
        assert!(
            lines[4].starts_with("│      ▸ bucket                  1      27 B││id        "),
            "{:?}",
            lines[4]
        );
        assert!(
            lines[8].starts_with("│    ▸ sqs                       2      54 B││    \"$blob\": \""),
            "{:?}",
            lines[8]
        );
        assert!(
            lines[8].ends_with("…\",  ⟵ blob 2.0 KiB        │"),
            "{:?}",
            lines[8]
        );
        // The match is highlighted in its name.
        assert_eq!(buf[(13, 7)].bg, Color::Yellow);
        press(&mut s, KeyCode::Char('?'));
        let help = screen(&render(&s));
        assert!(
            help.iter().any(|l| l.contains("search resource paths")),
            "{help:?}"
        );
    }

    #[test]
    fn tiny_and_odd_screens_do_not_break_the_view() {
        let o = MemObjects::new();
        let mut s = small_state(&o, 80, 24);
        press(&mut s, KeyCode::Char('?'));
        for (w, h) in [(1, 1), (5, 2), (23, 3), (24, 4), (30, 1), (200, 3)] {
            update(&mut s, &Event::Resize(w, h));
            let buf = render(&s);
            assert_eq!(buf.area, Rect::new(0, 0, w, h));
        }
        // An empty state says so.
        let empty = podstore::tree::empty(&o).expect("empty");
        let t = Tree::open(&o, empty, None).expect("open");
        let s = State::new(
            t,
            title(3, "2026-01-02 03:04"),
            None,
            Rect::new(0, 0, 60, 5),
        );
        assert!(screen(&render(&s))[1].contains("(the state is empty)"));
    }

    #[test]
    fn whole_screen_of_a_diff() {
        let o = MemObjects::new();
        let old = build(&o, SMALL);
        let new = build(
            &o,
            &[
                ("111111111111/us-east-1/s3/bucket/logs", 1),
                ("111111111111/us-east-1/s3/object/logs/a.txt", 2),
                ("111111111111/us-east-1/sqs/queue/jobs", 30),
                ("111111111111/us-east-1/sqs/queue/new", 6),
            ],
        );
        let t = Tree::open(&o, new, Some((&o, old))).expect("open");
        let mut s = State::new(
            t,
            title(4, "2026-01-02 03:04"),
            Some(title(3, "2026-01-02 03:04")),
            Rect::new(0, 0, 100, 10),
        );
        let q = ["111111111111", "us-east-1", "sqs", "queue", "mail"].map(String::from);
        s.search.matches = vec![q.to_vec()];
        s.next_match(true);
        s.notice = None;
        let buf = render(&s);
        let lines = screen(&buf);
        assert_screen(
            &buf,
            &[
                "┌ demo:4 ───────────────────────────────────┐┌ details ────────────────────────────────────────────┐",
                "│• ▾ 111111111111 +1 ~1 -1       4   2.2 KiB││resource  111111111111/us-east-1/sqs/queue/mail      │",
                "│•   ▾ us-east-1  +1 ~1 -1       4   2.2 KiB││deleted: the old document is shown                   │",
                "│      ▸ s3                      2   2.1 KiB││document  27 B (27)                                  │",
                &lines[4],
                "│•       ▾ queue  +1 ~1 -1       2      55 B││                                                     │",
                "│M           jobs                       28 B││{                                                    │",
                "│D           mail                       27 B││  \"n\": 4,                                            │",
                "└───────────────────────────────────────────┘└─────────────────────────────────────────── 1–7 of 9 ┘",
                " demo:4 vs demo:3  +1 ~1 -2 · seeded · 2026-01-02 03:04                                 7/9  ? help ",
            ],
        );
        assert!(
            lines[4].starts_with("│•     ▾ sqs      +1 ~1 -1       2      55 B││id        "),
            "{:?}",
            lines[4]
        );
        assert_eq!(buf[(1, 7)].fg, Color::Red, "deleted rows are red");
    }
}
