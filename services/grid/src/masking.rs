//! The masking policy as data: for each personal field and role, plain, masked or hidden.
//!
//! Every view of a person, an entity (and a house's landlord) goes through [`show`] (or a
//! [`Masker`]): `None` means hidden, and the field is left out of the JSON. The policy is
//! versioned in `masking_policies`; the newest row applies. The first read seeds the default
//! (`policy/masking.json`). [`crate::privacy`] serves it and the purpose-logged unmasking.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use zw_auth::{Principal, Role};
use zw_domain::{IdNumber, Phone};

use crate::error::ApiError;

/// The default policy, used until an operator stores another.
pub const DEFAULT_POLICY: &str = include_str!("../policy/masking.json");

/// A personal field the policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    PersonIdNumber,
    PersonName,
    PersonPhone,
    EntityRepresentative,
    EntityPhone,
    HouseLandlordName,
    HouseLandlordPhone,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::PersonIdNumber,
        Field::PersonName,
        Field::PersonPhone,
        Field::EntityRepresentative,
        Field::EntityPhone,
        Field::HouseLandlordName,
        Field::HouseLandlordPhone,
    ];

    /// The name in the policy document (`person.id_number`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::PersonIdNumber => "person.id_number",
            Field::PersonName => "person.name",
            Field::PersonPhone => "person.phone",
            Field::EntityRepresentative => "entity.representative",
            Field::EntityPhone => "entity.phone",
            Field::HouseLandlordName => "house.landlord_name",
            Field::HouseLandlordPhone => "house.landlord_phone",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// How a masked value looks: the domain type's own mask where there is one.
    fn mask(self, value: &str) -> String {
        match self {
            Field::PersonIdNumber => IdNumber::parse(value)
                .map(|id| id.masked())
                .unwrap_or_else(|_| mask_text(value)),
            Field::PersonPhone | Field::EntityPhone | Field::HouseLandlordPhone => {
                Phone::parse(value)
                    .map(|p| p.masked())
                    .unwrap_or_else(|_| mask_text(value))
            }
            Field::PersonName | Field::EntityRepresentative | Field::HouseLandlordName => {
                mask_text(value)
            }
        }
    }
}

/// First character kept, every other one a `*` (`张**`).
fn mask_text(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
        None => String::new(),
    }
}

/// How a role sees a field.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Not shown at all (left out of the response).
    Hidden,
    /// Shown masked; roles listed in `unmask` may see it plain by stating a purpose.
    Masked,
    /// Shown as stored.
    Plain,
}

/// The rule of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// For every role (citizen, grid_worker, community_officer, street_officer,
    /// district_officer, department, admin): `plain`, `masked` or `hidden`.
    pub roles: BTreeMap<String, Visibility>,
    /// A department entitled to one of these data sets sees the field this way instead (the
    /// most open of its data sets and its role applies).
    #[serde(default)]
    pub datasets: BTreeMap<String, Visibility>,
    /// The roles that may unmask the field, stating a purpose.
    #[serde(default)]
    pub unmask: Vec<String>,
}

/// The whole policy: a rule for every governed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub fields: BTreeMap<String, FieldRule>,
}

impl PolicyDocument {
    /// The default policy shipped with the service.
    pub fn default_policy() -> Result<PolicyDocument, ApiError> {
        let doc: PolicyDocument = serde_json::from_str(DEFAULT_POLICY)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("default masking policy: {e}")))?;
        doc.validate()?;
        Ok(doc)
    }

    /// Every field and every role named, nothing unknown (422 `invalid-policy` otherwise).
    pub fn validate(&self) -> Result<(), ApiError> {
        let bad = |m: String| ApiError::unprocessable("invalid-policy", m);
        for name in self.fields.keys() {
            if Field::parse(name).is_none() {
                return Err(bad(format!("unknown field {name:?}")));
            }
        }
        for field in Field::ALL {
            let Some(rule) = self.fields.get(field.as_str()) else {
                return Err(bad(format!("no rule for field {}", field.as_str())));
            };
            for role in rule.roles.keys().chain(rule.unmask.iter()) {
                if role.parse::<Role>().is_err() {
                    return Err(bad(format!(
                        "unknown role {role:?} in the rule of {}",
                        field.as_str()
                    )));
                }
            }
            for role in Role::ALL {
                if !rule.roles.contains_key(role.as_str()) {
                    return Err(bad(format!(
                        "the rule of {} does not say how {role} sees it",
                        field.as_str()
                    )));
                }
            }
            for name in rule.datasets.keys() {
                if name.trim().is_empty() {
                    return Err(bad(format!(
                        "an empty data set name in the rule of {}",
                        field.as_str()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The policy in force.
#[derive(Debug, Clone)]
pub struct Policy {
    pub version: i64,
    pub document: PolicyDocument,
}

impl Policy {
    /// How `principal` sees `field`: the most open of its roles (a department's data sets may
    /// open it further).
    pub fn visibility(&self, principal: &Principal, field: Field) -> Visibility {
        let Some(rule) = self.document.fields.get(field.as_str()) else {
            return Visibility::Hidden;
        };
        let mut best = Visibility::Hidden;
        for role in &principal.roles {
            let mut v = rule
                .roles
                .get(role.as_str())
                .copied()
                .unwrap_or(Visibility::Hidden);
            if *role == Role::Department {
                for d in &principal.datasets {
                    if let Some(o) = rule.datasets.get(d) {
                        v = v.max(*o);
                    }
                }
            }
            best = best.max(v);
        }
        best
    }

    /// The role in which `principal` may unmask `field`, if any: one of its roles that sees the
    /// field masked and is listed in `unmask`.
    pub fn unmasking_role(&self, principal: &Principal, field: Field) -> Option<Role> {
        let rule = self.document.fields.get(field.as_str())?;
        principal.roles.iter().copied().find(|r| {
            rule.unmask.iter().any(|u| u == r.as_str())
                && rule.roles.get(r.as_str()) == Some(&Visibility::Masked)
        })
    }
}

/// `value` of `field` as `principal` may see it under `policy`: plain, masked, or `None`
/// (hidden: leave it out).
pub fn show(policy: &Policy, principal: &Principal, field: Field, value: &str) -> Option<String> {
    match policy.visibility(principal, field) {
        Visibility::Plain => Some(value.to_owned()),
        Visibility::Masked => Some(field.mask(value)),
        Visibility::Hidden => None,
    }
}

/// [`show`] for one caller and one policy, over optional values.
pub struct Masker<'a> {
    pub policy: &'a Policy,
    pub principal: &'a Principal,
}

impl<'a> Masker<'a> {
    pub fn new(policy: &'a Policy, principal: &'a Principal) -> Self {
        Masker { policy, principal }
    }

    pub fn show(&self, field: Field, value: Option<&str>) -> Option<String> {
        value.and_then(|v| show(self.policy, self.principal, field, v))
    }

    /// Whether `field` is shown plain.
    pub fn is_plain(&self, field: Field) -> bool {
        self.policy.visibility(self.principal, field) == Visibility::Plain
    }
}

/// The policy in force (seeding the default on first use).
pub async fn current(conn: &impl ConnectionTrait) -> Result<Policy, ApiError> {
    if let Some(row) = latest(conn).await? {
        return policy_of(row);
    }
    let document = PolicyDocument::default_policy()?;
    masking_policy::Entity::insert(masking_policy::ActiveModel {
        version: Set(1),
        document: Set(serde_json::to_value(&document).unwrap_or_default()),
        created_by: Set("system:default".into()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(masking_policy::Column::Version)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    match latest(conn).await? {
        Some(row) => policy_of(row),
        None => Ok(Policy {
            version: 1,
            document,
        }),
    }
}

pub(crate) async fn latest(
    conn: &impl ConnectionTrait,
) -> Result<Option<masking_policy::Model>, ApiError> {
    Ok(masking_policy::Entity::find()
        .order_by_desc(masking_policy::Column::Version)
        .limit(1)
        .one(conn)
        .await?)
}

pub(crate) fn policy_of(row: masking_policy::Model) -> Result<Policy, ApiError> {
    let document: PolicyDocument = serde_json::from_value(row.document).map_err(|e| {
        ApiError::Unexpected(anyhow::anyhow!(
            "stored masking policy {} does not parse: {e}",
            row.version
        ))
    })?;
    Ok(Policy {
        version: row.version,
        document,
    })
}

pub mod masking_policy {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "masking_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub document: Json,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, datasets: &[&str]) -> Principal {
        Principal {
            subject: "s".into(),
            roles: vec![role],
            scope: zw_domain::JurisdictionCode::parse("440304").unwrap(),
            datasets: datasets.iter().map(|d| (*d).to_owned()).collect(),
            token_id: "t".into(),
            name: None,
            id_number: None,
        }
    }

    #[test]
    fn the_default_policy_is_complete_and_sensible() {
        let policy = Policy {
            version: 1,
            document: PolicyDocument::default_policy().unwrap(),
        };
        let id = "11010519491231002X";
        let worker = principal(Role::GridWorker, &[]);
        let officer = principal(Role::StreetOfficer, &[]);
        let dept = principal(Role::Department, &[]);
        let civil = principal(Role::Department, &["persons"]);
        assert_eq!(
            show(&policy, &worker, Field::PersonIdNumber, id).as_deref(),
            Some(id)
        );
        assert_eq!(
            show(&policy, &officer, Field::PersonIdNumber, id).as_deref(),
            Some("110105********002X")
        );
        assert_eq!(
            show(&policy, &dept, Field::PersonIdNumber, id).as_deref(),
            Some("110105********002X")
        );
        assert_eq!(
            show(&policy, &civil, Field::PersonIdNumber, id).as_deref(),
            Some(id)
        );
        assert_eq!(
            show(&policy, &officer, Field::PersonPhone, "13800138000"),
            None
        );
        assert_eq!(
            show(&policy, &worker, Field::PersonName, "张三丰").as_deref(),
            Some("张三丰")
        );
        assert_eq!(
            show(&policy, &officer, Field::PersonName, "张三丰").as_deref(),
            Some("张**")
        );
        assert_eq!(
            policy.unmasking_role(&officer, Field::PersonIdNumber),
            Some(Role::StreetOfficer)
        );
        assert_eq!(policy.unmasking_role(&worker, Field::PersonIdNumber), None);
    }

    #[test]
    fn a_policy_missing_a_role_or_naming_an_unknown_field_is_refused() {
        let mut doc = PolicyDocument::default_policy().unwrap();
        doc.fields
            .get_mut("person.phone")
            .unwrap()
            .roles
            .remove("admin");
        assert!(doc.validate().is_err());
        let mut doc = PolicyDocument::default_policy().unwrap();
        let rule = doc.fields["person.phone"].clone();
        doc.fields.insert("person.shoe_size".into(), rule);
        assert!(doc.validate().is_err());
        let mut doc = PolicyDocument::default_policy().unwrap();
        doc.fields
            .get_mut("person.phone")
            .unwrap()
            .unmask
            .push("mayor".into());
        assert!(doc.validate().is_err());
    }
}

/// Fuzz tests of masking and of policy documents: any stored value masks without a panic and
/// shows no more than the mask promises; any document is a policy that names every field and
/// role, or a 4xx.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn visibility() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("plain")),
            Just(json!("masked")),
            Just(json!("hidden")),
            Just(json!("open")),
            Just(json!(null)),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(
                Role::ALL
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect::<Vec<_>>()
            ),
            prop::sample::select(
                Field::ALL
                    .iter()
                    .map(|f| f.as_str().to_owned())
                    .collect::<Vec<_>>()
            ),
            "\\PC{0,6}",
        ]
    }

    fn rule() -> impl Strategy<Value = Value> {
        (
            prop::collection::btree_map(name(), visibility(), 0..9),
            prop::collection::btree_map(name(), visibility(), 0..2),
            prop::collection::vec(name(), 0..2),
        )
            .prop_map(|(roles, datasets, unmask)| json!({"roles": roles, "datasets": datasets, "unmask": unmask}))
    }

    proptest! {
        #![proptest_config(zw_testkit::fuzz::config(256))]

        #[test]
        fn fuzz_a_masked_value_shows_only_what_the_mask_promises(
            value in prop_oneof!["\\PC{0,24}", "[0-9Xx +\\-]{0,20}"],
            field in prop::sample::select(Field::ALL.to_vec()),
        ) {
            let masked = field.mask(&value);
            let domain = match field {
                Field::PersonIdNumber => IdNumber::parse(&value).ok().map(|id| id.masked()),
                Field::PersonPhone | Field::EntityPhone | Field::HouseLandlordPhone => {
                    Phone::parse(&value).ok().map(|p| p.masked())
                }
                _ => None,
            };
            match domain {
                Some(mask) => prop_assert_eq!(masked, mask),
                None => {
                    // The first character, then stars: never the rest of the value.
                    prop_assert_eq!(masked.chars().next(), value.chars().next());
                    prop_assert!(masked.chars().skip(1).all(|c| c == '*'), "{}", masked);
                    prop_assert!(value.is_empty() || masked.chars().count() >= 2);
                }
            }
        }

        #[test]
        fn fuzz_a_policy_document_names_every_field_and_role_or_is_refused(
            fields in prop::collection::btree_map(name(), rule(), 0..9),
            complete in any::<bool>(),
        ) {
            let mut doc = json!({"fields": fields});
            if complete {
                // Most random documents miss something; start some from a complete one.
                let default: Value = serde_json::from_str(DEFAULT_POLICY).expect("JSON");
                let mut merged = default["fields"].clone();
                for (k, v) in doc["fields"].as_object().into_iter().flatten().take(1) {
                    merged[k] = v.clone();
                }
                doc = json!({"fields": merged});
            }
            let Ok(policy) = serde_json::from_value::<PolicyDocument>(doc) else {
                return Ok(());
            };
            match policy.validate() {
                Ok(()) => {
                    for field in Field::ALL {
                        let rule = &policy.fields[field.as_str()];
                        for role in Role::ALL {
                            prop_assert!(rule.roles.contains_key(role.as_str()));
                        }
                    }
                    prop_assert!(policy.fields.keys().all(|k| Field::parse(k).is_some()));
                }
                Err(e) => prop_assert_eq!(e.problem().status_code(), 422),
            }
        }
    }
}
