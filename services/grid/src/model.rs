//! The grid database's tables as sea-orm entities (those of one capability alone live in its
//! module: census rounds, worker assignments, rule sets, collected records, imports).

pub mod house {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "houses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub grid_code: String,
        pub address: String,
        /// `planned`, `built`, `in_use`, `rented` or `demolished`.
        pub status: String,
        pub registered_size: i32,
        pub legal: bool,
        pub category: String,
        pub class_level: Option<String>,
        pub colour: Option<String>,
        /// The version of the classification rules that set `class_level` and `colour`.
        pub classified_by_rules: Option<i64>,
        pub landlord_name: Option<String>,
        pub landlord_phone: Option<String>,
        pub version: i64,
        /// When a grid worker last saw it (census, collection).
        pub last_seen_at: Option<DateTimeUtc>,
        /// Set when a census round closed without the house being seen.
        pub not_seen: bool,
        pub updated_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// Whether people can live there now.
        pub fn is_in_use(&self) -> bool {
            matches!(self.status.as_str(), "in_use" | "rented")
        }
    }
}

pub mod grid {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "grids")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
        /// The grid's centre (WGS 84), if imported.
        pub lat: Option<f64>,
        pub lng: Option<f64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod resident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "residents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_number: String,
        pub name: Option<String>,
        pub house_code: String,
        pub grid_code: String,
        pub declaration_id: Option<Uuid>,
        pub since: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod person {
    use sea_orm::entity::prelude::*;

    /// A person. The ID number never leaves the grid unmasked except per the masking policy;
    /// events and URLs use `id`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "persons")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub id_number: String,
        pub name: Option<String>,
        pub birth_date: Date,
        pub phone: Option<String>,
        /// `alive` or `dead`.
        pub status: String,
        /// The grid that keeps his record (where he lives or last lived).
        pub grid_code: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod legal_entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "legal_entities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub credit_code: String,
        pub name: String,
        pub representative: Option<String>,
        pub phone: Option<String>,
        /// Its premises.
        pub house_code: Option<String>,
        pub grid_code: String,
        /// `registered` or `deregistered`.
        pub status: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod declaration {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "declarations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub id_number: String,
        pub name: Option<String>,
        pub house_code: String,
        pub grid_code: String,
        pub status: String,
        /// Why it is pending: a JSON array of reason codes.
        pub reasons: Json,
        pub submitted_by: String,
        pub created_at: DateTimeUtc,
        pub decided_at: Option<DateTimeUtc>,
        pub decided_by: Option<String>,
        pub decision_reason: Option<String>,
        pub version: i64,
        /// Whom a citizen declared: `self`, `household` or `other` (someone he says lives
        /// there, e.g. his tenant); `staff` when staff recorded it at the door.
        pub declared_as: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "verification_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub declaration_id: Uuid,
        pub grid_code: String,
        /// `open` or `closed`.
        pub status: String,
        pub reasons: Json,
        pub created_at: DateTimeUtc,
        pub closed_at: Option<DateTimeUtc>,
        pub closed_by: Option<String>,
        /// `confirmed` or `rejected`.
        pub outcome: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod idempotency {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub principal: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub request_hash: String,
        pub status: i16,
        pub body: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod incident {
    //! Incidents, their status and the level that handles them.

    use sea_orm::entity::prelude::*;
    use zw_auth::Role;
    use zw_domain::JurisdictionCode;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub category: String,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        pub grid_code: String,
        pub house_code: Option<String>,
        pub lat: Option<f64>,
        pub lng: Option<f64>,
        pub address: Option<String>,
        pub media_url: Option<String>,
        pub contact: Option<Json>,
        pub reporter_kind: String,
        pub reporter: String,
        pub level: String,
        pub status: String,
        pub assignee: Option<String>,
        pub deadline: DateTimeUtc,
        pub deadline_hours: i32,
        pub overdue: bool,
        #[sea_orm(column_type = "Text", nullable)]
        pub resolution: Option<String>,
        pub resolved_by: Option<String>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    /// The status of an incident.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Status {
        Reported,
        Accepted,
        Assigned,
        Resolved,
        Verified,
        Closed,
    }

    impl Status {
        pub const ALL: [Status; 6] = [
            Status::Reported,
            Status::Accepted,
            Status::Assigned,
            Status::Resolved,
            Status::Verified,
            Status::Closed,
        ];

        pub fn as_str(self) -> &'static str {
            match self {
                Status::Reported => "reported",
                Status::Accepted => "accepted",
                Status::Assigned => "assigned",
                Status::Resolved => "resolved",
                Status::Verified => "verified",
                Status::Closed => "closed",
            }
        }

        pub fn parse(s: &str) -> Option<Status> {
            Status::ALL.into_iter().find(|x| x.as_str() == s)
        }

        /// Where a transition may take it from here.
        pub fn next(self) -> &'static [Status] {
            match self {
                Status::Reported => &[Status::Accepted],
                Status::Accepted => &[Status::Assigned],
                Status::Assigned => &[Status::Resolved],
                Status::Resolved => &[Status::Verified],
                Status::Verified => &[Status::Closed],
                Status::Closed => &[],
            }
        }

        /// Not yet resolved: it can escalate and fall overdue.
        pub fn is_open(self) -> bool {
            matches!(self, Status::Reported | Status::Accepted | Status::Assigned)
        }
    }

    /// The statuses in which an incident is still being worked on (escalates when overdue).
    pub const OPEN: [&str; 3] = ["reported", "accepted", "assigned"];

    /// The level that handles an incident.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Level {
        Grid,
        Community,
        Street,
        District,
    }

    impl Level {
        pub fn as_str(self) -> &'static str {
            match self {
                Level::Grid => "grid",
                Level::Community => "community",
                Level::Street => "street",
                Level::District => "district",
            }
        }

        pub fn parse(s: &str) -> Option<Level> {
            [
                Level::Grid,
                Level::Community,
                Level::Street,
                Level::District,
            ]
            .into_iter()
            .find(|l| l.as_str() == s)
        }

        /// The level it escalates to; `None` at the district.
        pub fn up(self) -> Option<Level> {
            match self {
                Level::Grid => Some(Level::Community),
                Level::Community => Some(Level::Street),
                Level::Street => Some(Level::District),
                Level::District => None,
            }
        }

        /// The role that handles incidents at this level.
        pub fn handler_role(self) -> Role {
            match self {
                Level::Grid => Role::GridWorker,
                Level::Community => Role::CommunityOfficer,
                Level::Street => Role::StreetOfficer,
                Level::District => Role::DistrictOfficer,
            }
        }

        fn domain(self) -> zw_domain::Level {
            match self {
                Level::Grid => zw_domain::Level::Grid,
                Level::Community => zw_domain::Level::Community,
                Level::Street => zw_domain::Level::Street,
                Level::District => zw_domain::Level::District,
            }
        }

        /// The centre that handles it for an incident in `grid` (Open311 `agency_responsible`).
        pub fn agency(self, grid: &str) -> String {
            let code = JurisdictionCode::parse(grid)
                .ok()
                .and_then(|g| g.at_level(self.domain()))
                .map(|c| c.to_string())
                .unwrap_or_else(|| grid.to_owned());
            match self {
                Level::Grid => format!("grid worker of grid {code}"),
                Level::Community => format!("community centre {code}"),
                Level::Street => format!("street operations centre {code}"),
                Level::District => format!("district operations centre {code}"),
            }
        }
    }
}

pub mod incident_step {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incident_steps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub incident_id: Uuid,
        pub step: String,
        pub from_status: Option<String>,
        pub to_status: String,
        pub level: String,
        pub actor: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub note: Option<String>,
        pub version: i64,
        pub evidence_seq: i64,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod case {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub rule_id: String,
        pub rule_version: i64,
        pub case_type: String,
        pub action: String,
        pub recipient: String,
        pub subject_kind: String,
        pub subject_key: String,
        pub grid_code: String,
        pub status: String,
        pub open_key: Option<String>,
        pub created_at: DateTimeUtc,
        pub closed_at: Option<DateTimeUtc>,
        pub closed_by: Option<String>,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Census rounds of a grid.
pub mod census_round {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "census_rounds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub grid_code: String,
        pub opened_at: DateTimeUtc,
        pub opened_by: String,
        pub closed_at: Option<DateTimeUtc>,
        pub closed_by: Option<String>,
        /// The codes marked not seen when it closed (a JSON array).
        pub not_seen: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod media {
    //! Photos and scans by content hash.

    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "media")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        pub content_type: String,
        pub size: i64,
        pub bytes: Vec<u8>,
        pub uploaded_by: String,
        pub grid_code: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod media_upload {
    //! Who uploaded which media: each of them may fetch it back (he holds the bytes anyway).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "media_uploads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub uploaded_by: String,
        pub uploaded_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod media_attachment {
    //! Which record a photo is attached to: it belongs to that record's jurisdiction, wherever
    //! the record lives now.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "media_attachments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        /// `house`, `person`, `entity` or `incident`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_kind: String,
        /// House code, person or incident id, credit code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_key: String,
        pub attached_by: String,
        pub attached_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
