//! Input → state changes. [`update`] maps one terminal event to operations on [`State`] and
//! says whether to go on; it never touches the terminal.

use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Position;

use super::state::{Focus, State};

/// Rows (or lines) one mouse-wheel step moves.
const WHEEL: isize = 3;

/// What the event loop does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Draw and wait for the next event.
    Continue,
    /// Leave the browser.
    Quit,
}

/// Applies one event.
pub fn update(s: &mut State<'_>, event: &Event) -> Action {
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => key(s, k),
        Event::Mouse(m) => {
            mouse(s, m);
            Action::Continue
        }
        Event::Resize(w, h) => {
            s.resize(*w, *h);
            Action::Continue
        }
        _ => Action::Continue,
    }
}

fn key(s: &mut State<'_>, k: &KeyEvent) -> Action {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(k.code, KeyCode::Char('c') | KeyCode::Char('d')) {
        return Action::Quit;
    }
    s.notice = None;
    if let Some(input) = &mut s.search.input {
        match k.code {
            KeyCode::Esc => s.search.input = None,
            KeyCode::Enter => {
                let q = std::mem::take(input);
                s.run_search(q);
            }
            // Backspace deletes a character (in the guard); on an empty prompt it closes it.
            KeyCode::Backspace if input.pop().is_none() => s.search.input = None,
            KeyCode::Char('u') if ctrl => input.clear(),
            KeyCode::Char(c) if !ctrl => input.push(c),
            _ => {}
        }
        return Action::Continue;
    }
    if s.help {
        // Any key closes the help; q and Esc do not also quit.
        s.help = false;
        return Action::Continue;
    }
    match k.code {
        KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
        KeyCode::Char('?') => s.help = true,
        KeyCode::Char('/') => s.search.input = Some(String::new()),
        KeyCode::Char('n') => s.next_match(true),
        KeyCode::Char('N') => s.next_match(false),
        KeyCode::Tab | KeyCode::BackTab => {
            s.focus = match s.focus {
                Focus::Tree => Focus::Detail,
                Focus::Detail => Focus::Tree,
            }
        }
        KeyCode::Char('J') => s.scroll_detail(1),
        KeyCode::Char('K') => s.scroll_detail(-1),
        KeyCode::Down if k.modifiers.contains(KeyModifiers::SHIFT) => s.scroll_detail(1),
        KeyCode::Up if k.modifiers.contains(KeyModifiers::SHIFT) => s.scroll_detail(-1),
        _ => match s.focus {
            Focus::Tree => tree_key(s, k.code),
            Focus::Detail => detail_key(s, k.code),
        },
    }
    Action::Continue
}

fn tree_key(s: &mut State<'_>, code: KeyCode) {
    match code {
        KeyCode::Down | KeyCode::Char('j') => s.move_by(1),
        KeyCode::Up | KeyCode::Char('k') => s.move_by(-1),
        KeyCode::Left | KeyCode::Char('h') => s.left(),
        KeyCode::Right | KeyCode::Char('l') => s.right(),
        KeyCode::Enter | KeyCode::Char(' ') => match s.selected() {
            Some(ix) if !s.tree.node(ix).is_dir() => s.focus = Focus::Detail,
            _ => s.toggle(),
        },
        KeyCode::PageDown => s.page_by(1),
        KeyCode::PageUp => s.page_by(-1),
        KeyCode::Char('g') | KeyCode::Home => s.select(0),
        KeyCode::Char('G') | KeyCode::End => s.select(usize::MAX),
        _ => {}
    }
}

fn detail_key(s: &mut State<'_>, code: KeyCode) {
    let page = s.detail_page() as isize;
    match code {
        KeyCode::Down | KeyCode::Char('j') => s.scroll_detail(1),
        KeyCode::Up | KeyCode::Char('k') => s.scroll_detail(-1),
        KeyCode::PageDown | KeyCode::Char(' ') => s.scroll_detail(page),
        KeyCode::PageUp => s.scroll_detail(-page),
        KeyCode::Char('g') | KeyCode::Home => s.scroll_detail(isize::MIN),
        KeyCode::Char('G') | KeyCode::End => s.scroll_detail(isize::MAX),
        KeyCode::Left | KeyCode::Char('h') | KeyCode::Enter => s.focus = Focus::Tree,
        _ => {}
    }
}

fn mouse(s: &mut State<'_>, m: &MouseEvent) {
    let panes = s.panes();
    let at = Position::new(m.column, m.row);
    let on_detail = panes.detail.contains(at);
    match m.kind {
        MouseEventKind::ScrollDown if on_detail => s.scroll_detail(WHEEL),
        MouseEventKind::ScrollUp if on_detail => s.scroll_detail(-WHEEL),
        MouseEventKind::ScrollDown => s.move_by(WHEEL),
        MouseEventKind::ScrollUp => s.move_by(-WHEEL),
        MouseEventKind::Down(MouseButton::Left) if panes.tree.contains(at) => {
            s.focus = Focus::Tree;
            let top = panes.tree.y + 1;
            if m.row >= top && m.row < panes.tree.bottom().saturating_sub(1) {
                let row = s.scroll + (m.row - top) as usize;
                if row == s.cursor {
                    s.toggle();
                } else if row < s.rows.len() {
                    s.select(row);
                }
            }
        }
        MouseEventKind::Down(MouseButton::Left) if on_detail => s.focus = Focus::Detail,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::Title;
    use super::super::model::Tree;
    use super::super::model::tests::{SMALL, build};
    use super::*;
    use podstore::MemObjects;
    use ratatui::crossterm::event::KeyEventState;
    use ratatui::layout::Rect;

    fn press(s: &mut State<'_>, code: KeyCode) -> Action {
        update(s, &Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn typed(s: &mut State<'_>, text: &str) {
        for c in text.chars() {
            press(s, KeyCode::Char(c));
        }
    }

    fn selected_path(s: &State<'_>) -> String {
        s.selected()
            .map(|i| s.tree.path_string(i))
            .unwrap_or_default()
    }

    fn state(o: &MemObjects) -> State<'_> {
        let root = build(o, SMALL);
        let t = Tree::open(o, root, None).expect("open");
        let title = Title {
            pod: "demo".into(),
            version: Some(1),
            message: String::new(),
            date: String::new(),
        };
        State::new(t, title, None, Rect::new(0, 0, 100, 20))
    }

    #[test]
    fn moving_expanding_and_collapsing() {
        let o = MemObjects::new();
        let mut s = state(&o);
        assert_eq!(selected_path(&s), "111111111111");
        press(&mut s, KeyCode::Char('l'));
        assert_eq!(s.rows.len(), 3);
        press(&mut s, KeyCode::Right);
        assert_eq!(selected_path(&s), "111111111111/us-east-1");
        press(&mut s, KeyCode::Enter);
        assert_eq!(s.rows.len(), 5);
        press(&mut s, KeyCode::Char('j'));
        assert_eq!(selected_path(&s), "111111111111/us-east-1/s3");
        press(&mut s, KeyCode::Char('h'));
        assert_eq!(selected_path(&s), "111111111111/us-east-1");
        press(&mut s, KeyCode::Left);
        assert_eq!(s.rows.len(), 3);
        press(&mut s, KeyCode::Char('G'));
        assert_eq!(selected_path(&s), "222222222222");
        press(&mut s, KeyCode::Char('g'));
        assert_eq!(s.cursor, 0);
        press(&mut s, KeyCode::Up);
        assert_eq!(s.cursor, 0);
    }

    #[test]
    fn search_reveals_matches_and_cycles() {
        let o = MemObjects::new();
        let mut s = state(&o);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "queue/x");
        press(&mut s, KeyCode::Backspace);
        press(&mut s, KeyCode::Backspace);
        assert_eq!(s.search.input.as_deref(), Some("queue"));
        press(&mut s, KeyCode::Enter);
        assert_eq!(s.search.input, None);
        assert_eq!(selected_path(&s), "111111111111/us-east-1/sqs/queue/jobs");
        assert_eq!(s.notice.as_deref(), Some("match 1/2 for \"queue\""));
        press(&mut s, KeyCode::Char('n'));
        assert_eq!(selected_path(&s), "111111111111/us-east-1/sqs/queue/mail");
        press(&mut s, KeyCode::Char('n'));
        assert_eq!(selected_path(&s), "111111111111/us-east-1/sqs/queue/jobs");
        press(&mut s, KeyCode::Char('N'));
        assert_eq!(selected_path(&s), "111111111111/us-east-1/sqs/queue/mail");
        // Esc cancels the prompt without quitting.
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "zzz");
        assert_eq!(press(&mut s, KeyCode::Esc), Action::Continue);
        assert_eq!(s.search.query, "queue");
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "zzz");
        press(&mut s, KeyCode::Enter);
        assert_eq!(
            s.notice.as_deref(),
            Some("no resource path contains \"zzz\"")
        );
    }

    #[test]
    fn help_focus_and_quitting() {
        let o = MemObjects::new();
        let mut s = state(&o);
        press(&mut s, KeyCode::Char('?'));
        assert!(s.help);
        assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Continue);
        assert!(!s.help);
        press(&mut s, KeyCode::Tab);
        assert_eq!(s.focus, Focus::Detail);
        press(&mut s, KeyCode::Tab);
        assert_eq!(s.focus, Focus::Tree);
        let ctrl_c = KeyEvent::new_with_kind_and_state(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
            KeyEventKind::Press,
            KeyEventState::NONE,
        );
        assert_eq!(update(&mut s, &Event::Key(ctrl_c)), Action::Quit);
        assert_eq!(press(&mut s, KeyCode::Esc), Action::Quit);
        assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Quit);
    }

    #[test]
    fn mouse_wheel_and_resize() {
        let o = MemObjects::new();
        let mut s = state(&o);
        let p = ["111111111111", "us-east-1", "sqs", "queue"].map(String::from);
        let queue = s.tree.reveal(&p).expect("reveal").expect("queue");
        s.tree.set_expanded(queue, true).expect("expand");
        s.select(0);
        s.set_expanded(false);
        s.set_expanded(true);
        assert_eq!(s.rows.len(), 8);
        let wheel = |kind, column| {
            Event::Mouse(MouseEvent {
                kind,
                column,
                row: 3,
                modifiers: KeyModifiers::NONE,
            })
        };
        update(&mut s, &wheel(MouseEventKind::ScrollDown, 5));
        assert_eq!(s.cursor, 3);
        update(&mut s, &wheel(MouseEventKind::ScrollUp, 5));
        assert_eq!(s.cursor, 0);
        update(&mut s, &wheel(MouseEventKind::ScrollDown, 90));
        assert_eq!(
            s.cursor, 0,
            "the wheel over the document scrolls the document"
        );
        update(&mut s, &Event::Resize(40, 6));
        assert_eq!(s.page(), 3);
        s.select(7);
        assert_eq!(s.scroll, 5);
    }
}
