//! The full-screen session: raw mode, the alternate screen and mouse capture, always undone —
//! on return, on error (the guard's `Drop`) and on panic (a hook that restores the terminal,
//! then runs the previous hook). In raw mode Ctrl-C is a key, which [`super::update`] treats
//! as quit.

use std::io::{Stdout, Write, stdout};
use std::panic::PanicHookInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};

use super::InspectError;
use super::state::State;
use super::update::{Action, update};
use super::view::draw;

/// Whether the terminal is in the browser's modes (so restoring twice does nothing).
static ACTIVE: AtomicBool = AtomicBool::new(false);

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Leaves the browser's terminal modes, once.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = stdout();
        let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
        let _ = disable_raw_mode();
        let _ = out.flush();
    }
}

/// The terminal in the browser's modes; dropping it restores the terminal and the panic hook.
struct Guard {
    previous: Option<Arc<Hook>>,
}

impl Guard {
    fn enter() -> Result<Self, InspectError> {
        let previous: Arc<Hook> = Arc::new(std::panic::take_hook());
        let chained = Arc::clone(&previous);
        std::panic::set_hook(Box::new(move |info| {
            restore();
            chained(info);
        }));
        let guard = Self {
            previous: Some(previous),
        };
        ACTIVE.store(true, Ordering::SeqCst);
        enable_raw_mode().map_err(InspectError::terminal)?;
        execute!(
            stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            cursor::Hide
        )
        .map_err(InspectError::terminal)?;
        Ok(guard)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
        // `set_hook` may not be called while panicking; the chained hook is harmless then.
        if !std::thread::panicking()
            && let Some(previous) = self.previous.take()
        {
            drop(std::panic::take_hook());
            std::panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}

/// Runs the browser until the user quits.
pub fn interactive(state: &mut State<'_>) -> Result<(), InspectError> {
    let _guard = Guard::enter()?;
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(stdout())).map_err(InspectError::terminal)?;
    let size = terminal.size().map_err(InspectError::terminal)?;
    state.resize(size.width, size.height);
    terminal.clear().map_err(InspectError::terminal)?;
    loop {
        terminal
            .draw(|f| {
                let area = f.area();
                if area != state.area {
                    // A resize not yet seen as an event: lay out for the real size.
                    state.resize(area.width, area.height);
                }
                draw(f, state);
            })
            .map_err(InspectError::terminal)?;
        // Apply every event already queued before drawing again, so that a held key or a
        // fast wheel never builds a backlog of frames.
        let mut ev = event::read().map_err(InspectError::terminal)?;
        loop {
            if update(state, &ev) == Action::Quit {
                return Ok(());
            }
            if !event::poll(Duration::ZERO).map_err(InspectError::terminal)? {
                break;
            }
            ev = event::read().map_err(InspectError::terminal)?;
        }
    }
}
