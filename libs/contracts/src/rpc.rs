//! Request/reply operations: subject `zw.rpc.<service>.<operation>`, JSON bodies.

use serde::{Deserialize, Serialize};

/// A request/reply operation: its subject and its request and reply types.
pub trait Operation {
    const SUBJECT: &'static str;
    type Request: Serialize + for<'de> Deserialize<'de> + Send;
    type Reply: Serialize + for<'de> Deserialize<'de> + Send;
}

/// Look up the historical population register (district) by resident ID number, to pre-fill a
/// declaration.
pub struct PopulationLookup;

impl Operation for PopulationLookup {
    const SUBJECT: &'static str = "zw.rpc.district.population.lookup";
    type Request = PopulationLookupRequest;
    type Reply = PopulationLookupReply;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopulationLookupRequest {
    pub id_number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopulationLookupReply {
    /// `None` when the register has no record of this ID.
    pub record: Option<PopulationRecord>,
}

/// What the district register knows of a person, enough to pre-fill a declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopulationRecord {
    pub id_number: String,
    pub name: String,
    /// The house code last registered for this person, if any.
    pub registered_house_code: Option<String>,
}

/// The reply of any operation that failed on the serving side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: String,
    pub message: String,
}
