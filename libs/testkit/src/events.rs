//! Declaration events as the grid service reports them, and publishing them on a bus as its
//! outbox relay does — including the copies a relay may send again.

use uuid::Uuid;
use zw_bus::{Bus, OutgoingMessage};
use zw_contracts::events::{DeclarationStatusChanged, DeclarationSubmitted};
use zw_contracts::{Actor, DeclarationStatus, Envelope, Event};
use zw_domain::{HouseCode, JurisdictionCode};

use crate::codes::code;

/// The serial of the house every test declaration is for (in its grid).
const HOUSE_SERIAL: u16 = 17;

/// One declaration in a grid: the envelopes of its events, each new (a fresh envelope id) every
/// time one is built.
#[derive(Clone, Debug)]
pub struct Declaration {
    pub id: Uuid,
    grid: JurisdictionCode,
}

impl Declaration {
    /// A new declaration for a house of `grid`.
    ///
    /// # Panics
    /// When `grid` is not a valid code.
    pub fn in_grid(grid: &str) -> Declaration {
        Declaration {
            id: Uuid::now_v7(),
            grid: code(grid),
        }
    }

    /// `declaration.submitted` with `status`, version 1; a pending one says why it waits
    /// (`unknown_id`), as the grid service does.
    pub fn submitted(&self, status: DeclarationStatus) -> Envelope {
        let house = HouseCode::new(&self.grid, HOUSE_SERIAL)
            .unwrap_or_else(|e| panic!("house {HOUSE_SERIAL} of {}: {e}", self.grid.as_str()));
        self.envelope(Event::DeclarationSubmitted(DeclarationSubmitted {
            declaration_id: self.id,
            house_code: house.to_string(),
            status,
            version: 1,
            reasons: match status {
                DeclarationStatus::Pending => vec!["unknown_id".to_owned()],
                _ => Vec::new(),
            },
        }))
    }

    /// `declaration.status_changed` from `from` to `to`, reaching `version`; a rejection gives
    /// its reason.
    pub fn changed(
        &self,
        from: DeclarationStatus,
        to: DeclarationStatus,
        version: i64,
    ) -> Envelope {
        self.envelope(Event::DeclarationStatusChanged(DeclarationStatusChanged {
            declaration_id: self.id,
            from,
            to,
            version,
            reason: (to == DeclarationStatus::Rejected).then(|| "nobody lives here".to_owned()),
        }))
    }

    fn envelope(&self, event: Event) -> Envelope {
        Envelope::new(&event, self.grid.clone(), Actor::system("test-grid"))
    }
}

/// Publish `envelope` on `bus` as the grid's outbox relay does (message id = envelope id, so a
/// second publish within the stream's duplicate window is stored once).
pub async fn publish(bus: &Bus, envelope: &Envelope) {
    publish_message(bus, message(envelope)).await;
}

/// Publish `envelope` again under a new message id, as a relay republishing past the stream's
/// duplicate window does: the stream keeps this copy, only the consumer's inbox can drop it.
pub async fn publish_copy(bus: &Bus, envelope: &Envelope) {
    let mut copy = message(envelope);
    copy.id = Uuid::now_v7();
    publish_message(bus, copy).await;
}

async fn publish_message(bus: &Bus, msg: OutgoingMessage) {
    bus.publish(msg)
        .await
        .unwrap_or_else(|e| panic!("publish on the test bus: {e}"));
}

fn message(envelope: &Envelope) -> OutgoingMessage {
    OutgoingMessage::event(envelope, Vec::new())
        .unwrap_or_else(|e| panic!("encode {}: {e}", envelope.event_type))
}
