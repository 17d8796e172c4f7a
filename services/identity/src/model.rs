//! The identity database's tables as sea-orm entities.

/// `users`.
pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub username: String,
        pub password_hash: String,
        /// JSON array of role names.
        pub roles: Json,
        pub scope: String,
        pub name: Option<String>,
        pub phone: Option<String>,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
        /// A citizen's real-name resident ID number (unique); personal data, never logged
        /// (its `Debug` is masked).
        pub id_number: Option<zw_domain::IdNumber>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `service_accounts`.
pub mod service_account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub client_id: String,
        pub secret_hash: String,
        /// JSON array of role names.
        pub roles: Json,
        pub scope: String,
        /// JSON array of data-set names.
        pub datasets: Json,
        pub name: Option<String>,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `signing_keys`.
pub mod signing_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub alg: String,
        pub private_key: Vec<u8>,
        pub created_at: DateTimeUtc,
        pub retired_at: Option<DateTimeUtc>,
    }

    /// Never prints the private key.
    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SigningKey")
                .field("kid", &self.kid)
                .field("alg", &self.alg)
                .field("created_at", &self.created_at)
                .field("retired_at", &self.retired_at)
                .finish()
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `revoked_tokens`: access tokens revoked one by one, until they expire.
pub mod revoked_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "revoked_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub subject: String,
        /// Seconds since the Unix epoch: the token's expiry plus the leeway.
        pub until: i64,
        pub revoked_by: String,
        pub revoked_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `subject_revocations`: every token of a subject issued before a time.
pub mod subject_revocation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "subject_revocations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub subject: String,
        /// Seconds since the Unix epoch.
        pub issued_before: i64,
        /// Seconds since the Unix epoch: when the last such token has expired.
        pub until: i64,
        /// `sign_out` or `disabled`.
        pub reason: String,
        pub revoked_by: String,
        pub revoked_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
