//! The hidden password prompt: one line read from the terminal on stdin with echo off, and the
//! terminal put back afterwards — also when the user interrupts the prompt, so the shell is not left
//! typing blind. No `unsafe`: termios through `rustix`, signals through `signal-hook`.
//!
//! While the prompt waits, SIGINT, SIGTERM and SIGHUP are caught by a watcher thread that restores the
//! terminal, ends the prompt's line and exits with 128 + the signal (130 for Ctrl-C, as a shell reports
//! it). Once the prompt is over the signals have their default action again (signal-hook cannot
//! uninstall its handler, so it runs an emulation of the default action instead).

use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

const PROMPT_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Prints `prompt` on stderr and reads one line from stdin (a terminal) without echoing it; returns
/// the line without its line ending (empty at end of input).
pub fn read_hidden_line(prompt: &str) -> io::Result<String> {
    eprint!("{prompt}");
    let saved = tcgetattr(io::stdin())?;
    let guard = PromptGuard::install(&saved)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(io::stdin(), OptionalActions::Now, &quiet)?;
    let mut line = String::new();
    let read = io::stdin().lock().read_line(&mut line);
    drop(guard);
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Per signal, the default action once no prompt is running (registered once per process, the first
/// time a prompt starts: until then nothing is installed and the kernel's default applies).
fn default_action_between_prompts() -> io::Result<&'static AtomicBool> {
    static OUTSIDE_PROMPT: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    if let Some(flag) = OUTSIDE_PROMPT.get() {
        return Ok(flag);
    }
    let flag = Arc::new(AtomicBool::new(false));
    for signal in PROMPT_SIGNALS {
        signal_hook::flag::register_conditional_default(signal, Arc::clone(&flag))?;
    }
    Ok(OUTSIDE_PROMPT.get_or_init(|| flag))
}

/// While alive: the prompt's signals restore `saved` and exit. Dropping it restores the terminal and
/// the signals' default actions.
struct PromptGuard {
    saved: Termios,
    outside_prompt: &'static AtomicBool,
    signals: signal_hook::iterator::Handle,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl PromptGuard {
    fn install(saved: &Termios) -> io::Result<PromptGuard> {
        let outside_prompt = default_action_between_prompts()?;
        outside_prompt.store(false, Ordering::SeqCst);
        let mut signals = Signals::new(PROMPT_SIGNALS)?;
        let handle = signals.handle();
        let terminal = saved.clone();
        let watcher = std::thread::Builder::new().name("spec-kitty-prompt-signals".into()).spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = tcsetattr(io::stdin(), OptionalActions::Now, &terminal);
                let _ = io::stderr().write_all(b"\n");
                std::process::exit(128 + signal);
            }
        });
        let watcher = match watcher {
            Ok(watcher) => watcher,
            Err(e) => {
                handle.close();
                outside_prompt.store(true, Ordering::SeqCst);
                return Err(e);
            }
        };
        Ok(PromptGuard { saved: saved.clone(), outside_prompt, signals: handle, watcher: Some(watcher) })
    }
}

impl Drop for PromptGuard {
    fn drop(&mut self) {
        let _ = tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
        self.outside_prompt.store(true, Ordering::SeqCst);
        self.signals.close();
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
    }
}
