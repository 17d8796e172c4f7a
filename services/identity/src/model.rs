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
