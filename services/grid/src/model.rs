//! The grid database's tables as sea-orm entities.

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
