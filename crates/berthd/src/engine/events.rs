//! Docker's event stream: what happened to containers, networks, images and volumes, kept in
//! a bounded ring for `since` and broadcast live to `/events` followers.

use chrono::Utc;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Docker keeps the last 256 events for `since`; berth keeps more, bounded all the same.
const KEPT: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `container`, `network`, `image`, `volume`.
    pub typ: &'static str,
    pub action: String,
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    pub time_nano: i64,
}

pub struct Events {
    tx: broadcast::Sender<Event>,
    kept: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(KEPT);
        Events {
            tx,
            kept: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }

    pub fn emit(
        &self,
        typ: &'static str,
        action: impl Into<String>,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let e = Event {
            typ,
            action: action.into(),
            id: id.to_string(),
            attributes,
            time_nano: Utc::now().timestamp_nanos_opt().unwrap_or(0),
        };
        // Recorded under the lock and sent under it, so that a follower that reads the ring
        // and then subscribes (also under it) sees every event exactly once.
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(e.clone());
        // No receivers is fine: nobody follows the stream right now.
        let _ = self.tx.send(e);
    }

    /// The kept events from `since` (nanoseconds) on, and a receiver for the ones to come.
    pub fn subscribe(&self, since: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let past = match since {
            Some(t) => kept.iter().filter(|e| e.time_nano >= t).cloned().collect(),
            None => Vec::new(),
        };
        (past, self.tx.subscribe())
    }
}

impl super::Engine {
    /// A container event's attributes, as Docker's: its labels, name and image.
    pub fn container_attrs(c: &super::Container) -> BTreeMap<String, String> {
        let mut a = c.spec.labels.clone();
        a.insert("name".into(), c.name.clone());
        a.insert("image".into(), c.spec.image.clone());
        a
    }

    pub(super) fn container_event(&self, c: &super::Container, action: &str) {
        self.events
            .emit("container", action, &c.id, Self::container_attrs(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_and_live_events() {
        let ev = Events::new();
        let attrs = BTreeMap::from([("name".to_string(), "x".to_string())]);
        ev.emit("container", "create", "a", attrs);
        let (past, mut rx) = ev.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].attributes["name"], "x");
        ev.emit("network", "create", "n", BTreeMap::new());
        assert_eq!(rx.try_recv().map(|e| e.typ), Ok("network"));
        let (none, _) = ev.subscribe(None);
        assert!(none.is_empty(), "without since only live events");
    }
}
