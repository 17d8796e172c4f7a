use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, Schema,
};
use zw_domain::{CreditCode, HouseCode, IdNumber, JurisdictionCode, Phone};

/// A household row using every code type as a column, one of them as the primary key.
mod household {
    use sea_orm::entity::prelude::*;
    use zw_domain::{CreditCode, HouseCode, IdNumber, JurisdictionCode, Phone};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "household")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: HouseCode,
        pub grid: JurisdictionCode,
        pub head: IdNumber,
        pub phone: Option<Phone>,
        pub employer: Option<CreditCode>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

async fn database() -> DatabaseConnection {
    let db = Database::connect("sqlite::memory:")
        .await
        .expect("sqlite in memory");
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(household::Entity))
        .await
        .expect("create table");
    db
}

fn sample() -> household::Model {
    let grid = JurisdictionCode::parse("440304008001003").expect("valid");
    household::Model {
        code: HouseCode::new(&grid, 7).expect("valid"),
        grid,
        head: IdNumber::parse("11010519491231002X").expect("valid"),
        phone: Some(Phone::parse("138 1234 5678").expect("valid")),
        employer: Some(CreditCode::parse("91350100M000100Y43").expect("valid")),
    }
}

async fn insert(db: &DatabaseConnection, m: &household::Model) {
    household::Entity::insert(household::ActiveModel {
        code: Set(m.code.clone()),
        grid: Set(m.grid.clone()),
        head: Set(m.head.clone()),
        phone: Set(m.phone.clone()),
        employer: Set(m.employer.clone()),
    })
    .exec(db)
    .await
    .expect("insert");
}

#[tokio::test]
async fn code_columns_round_trip_through_the_database() {
    let db = database().await;
    let row = sample();
    insert(&db, &row).await;
    let found = household::Entity::find_by_id(row.code.clone())
        .one(&db)
        .await
        .expect("query");
    assert_eq!(found, Some(row.clone()));

    let by_grid = household::Entity::find()
        .filter(household::Column::Grid.eq(&row.grid))
        .all(&db)
        .await
        .expect("query");
    assert_eq!(by_grid, vec![row]);
}

#[tokio::test]
async fn null_optional_columns_read_as_none() {
    let db = database().await;
    let row = household::Model {
        phone: None,
        employer: None,
        ..sample()
    };
    insert(&db, &row).await;
    let found = household::Entity::find().one(&db).await.expect("query");
    assert_eq!(found, Some(row));
}

#[tokio::test]
async fn values_are_stored_as_their_plain_strings() {
    let db = database().await;
    let row = sample();
    insert(&db, &row).await;
    let stored = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT code, grid, head, phone, employer FROM household",
        ))
        .await
        .expect("query")
        .expect("a row");
    let col = |c: &str| stored.try_get::<String>("", c).expect("string column");
    assert_eq!(col("code"), row.code.as_str());
    assert_eq!(col("grid"), "440304008001003");
    assert_eq!(col("head"), "11010519491231002X");
    assert_eq!(col("phone"), "13812345678");
    assert_eq!(col("employer"), "91350100M000100Y43");
}

#[tokio::test]
async fn a_stored_value_that_does_not_parse_is_a_db_error() {
    let db = database().await;
    // The check character is wrong: written by hand or by a buggy older version.
    db.execute_unprepared(
        "INSERT INTO household (code, grid, head, phone, employer) VALUES \
         ('44030400800100300072', '440304008001003', '110105194912310021', NULL, NULL)",
    )
    .await
    .expect("raw insert");
    let err = household::Entity::find()
        .one(&db)
        .await
        .expect_err("the ID number does not parse");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DbErr::TryIntoErr {
                into: "IdNumber",
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("check character"), "{msg}");
}
