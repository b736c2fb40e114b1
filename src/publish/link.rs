//! What to log about the broker link: one line per state change, not one per retry. A broker
//! that stays down for an hour logs one warning when it goes down, quiet retries at debug
//! level, one more warning only if the reason changes, and one info line when it is back.

/// How loud a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Normal state changes (connected).
    Info,
    /// The link went down, or the reason it stays down changed.
    Warn,
    /// Another retry for the same reason.
    Debug,
}

/// What happened to the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent<'a> {
    /// CONNACK received.
    Connected,
    /// An attempt failed before CONNACK, for this reason.
    ConnectFailed(&'a str),
    /// An established connection ended, for this reason.
    Lost(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Starting,
    Up,
    Down { reason: String, failed_attempts: u32 },
}

/// Decides the log line for each link event.
#[derive(Debug, Clone)]
pub struct LinkLog {
    addr: String,
    state: State,
}

impl LinkLog {
    /// For the broker at `addr` (`host:port`).
    pub fn new(addr: impl Into<String>) -> Self {
        LinkLog { addr: addr.into(), state: State::Starting }
    }

    /// The line to log for `event`, and the state change it implies.
    pub fn on(&mut self, event: LinkEvent<'_>) -> (Level, String) {
        let addr = &self.addr;
        let (level, line, next) = match (event, &self.state) {
            (LinkEvent::Connected, State::Starting) => {
                (Level::Info, format!("connected to MQTT broker {addr}"), State::Up)
            }
            (LinkEvent::Connected, State::Down { failed_attempts: 0, .. }) => {
                (Level::Info, format!("reconnected to MQTT broker {addr}"), State::Up)
            }
            (LinkEvent::Connected, State::Down { failed_attempts, .. }) => (
                Level::Info,
                format!(
                    "connected to MQTT broker {addr} after {failed_attempts} failed attempt(s)"
                ),
                State::Up,
            ),
            (LinkEvent::Connected, State::Up) => {
                (Level::Debug, format!("connected to MQTT broker {addr}"), State::Up)
            }
            (LinkEvent::ConnectFailed(reason), state) => {
                let (level, failed_attempts) = match state {
                    State::Down { reason: last, failed_attempts } if last == reason => {
                        (Level::Debug, failed_attempts + 1)
                    }
                    State::Down { failed_attempts, .. } => (Level::Warn, failed_attempts + 1),
                    State::Starting | State::Up => (Level::Warn, 1),
                };
                (
                    level,
                    format!(
                        "cannot connect to MQTT broker: {reason}; retrying with backoff (up to \
                         30s), readings stay in the journal"
                    ),
                    State::Down { reason: reason.to_string(), failed_attempts },
                )
            }
            (LinkEvent::Lost(reason), _) => (
                Level::Warn,
                format!(
                    "lost connection to MQTT broker: {reason}; reconnecting, readings stay in \
                     the journal"
                ),
                State::Down { reason: reason.to_string(), failed_attempts: 0 },
            ),
        };
        self.state = next;
        (level, line)
    }
}

/// Logs a line from [`LinkLog::on`] at its level.
pub fn emit((level, line): (Level, String)) {
    match level {
        Level::Info => tracing::info!("{line}"),
        Level::Warn => tracing::warn!("{line}"),
        Level::Debug => tracing::debug!("{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinkEvent::{ConnectFailed, Connected, Lost};

    #[test]
    fn one_loud_line_per_state_change() {
        let cases: Vec<(&str, Vec<LinkEvent<'static>>, Vec<Level>, &str)> = vec![
            ("clean start", vec![Connected], vec![Level::Info], "connected to MQTT broker b:1"),
            (
                "broker down for many retries",
                vec![ConnectFailed("refused"), ConnectFailed("refused"), ConnectFailed("refused")],
                vec![Level::Warn, Level::Debug, Level::Debug],
                "cannot connect to MQTT broker: refused; retrying with backoff (up to 30s), \
                 readings stay in the journal",
            ),
            (
                "reason changes while down",
                vec![ConnectFailed("refused"), ConnectFailed("tls"), ConnectFailed("tls")],
                vec![Level::Warn, Level::Warn, Level::Debug],
                "cannot connect to MQTT broker: tls; retrying with backoff (up to 30s), \
                 readings stay in the journal",
            ),
            (
                "back after failures",
                vec![ConnectFailed("refused"), ConnectFailed("refused"), Connected],
                vec![Level::Warn, Level::Debug, Level::Info],
                "connected to MQTT broker b:1 after 2 failed attempt(s)",
            ),
            (
                "lost and back at the first try",
                vec![Connected, Lost("closed"), Connected],
                vec![Level::Info, Level::Warn, Level::Info],
                "reconnected to MQTT broker b:1",
            ),
            (
                "lost, then refused for the same reason stays quiet",
                vec![Connected, Lost("refused"), ConnectFailed("refused")],
                vec![Level::Info, Level::Warn, Level::Debug],
                "cannot connect to MQTT broker: refused; retrying with backoff (up to 30s), \
                 readings stay in the journal",
            ),
        ];
        for (case, events, levels, last_line) in cases {
            let mut log = LinkLog::new("b:1");
            let out: Vec<(Level, String)> = events.into_iter().map(|e| log.on(e)).collect();
            let got: Vec<Level> = out.iter().map(|(l, _)| *l).collect();
            assert_eq!(got, levels, "{case}");
            assert_eq!(out.last().unwrap().1, last_line, "{case}");
        }
    }
}
