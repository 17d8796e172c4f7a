//! The demo district `zhiwang up` seeds: deterministic, so every service derives the same
//! streets, grids, houses and people from the district code alone, and the README's examples
//! always work.
//!
//! - [`DemoDistrict::generate`]: 10 streets × 10 communities × 10 grids (1,000 grids), 10 houses
//!   per grid; [`DemoDistrict::centre`]: where each lies (around Futian, 22.52–22.56 N,
//!   114.02–114.10 E); [`DemoDistrict::grid_worker`]: the one worker of each grid.
//! - [`DemoDistrict::houses`]: the houses of a grid, mostly in use, a few planned or demolished.
//! - [`DemoDistrict::register`]: the historical population register (synthetic people with
//!   valid ID numbers), most registered at a house, a few at none.
//! - [`DemoDistrict::accounts`]: the demo accounts, one per role (password [`DEMO_PASSWORD`]),
//!   and a second citizen; each citizen bound to his ID number: `citizen` to the one resident the
//!   register has at the README's example house ([`DemoDistrict::example_resident`]),
//!   `citizen-2` to [`UNREGISTERED_ID_NUMBER`], which the register does not know.
//!
//! Nothing here is real personal data: names are drawn from syllable lists and ID numbers are
//! built with valid check digits from synthetic birth dates and sequences.

use chrono::NaiveDate;
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "zhiwang-demo";

/// The ID number `citizen-2` is bound to: valid (GB 11643) but issued in Beijing (110105), so
/// the register of a Shenzhen demo district never knows it — the README's "pending" example.
pub const UNREGISTERED_ID_NUMBER: &str = "11010519491231002X";

pub const STREETS: u16 = 10;
pub const COMMUNITIES_PER_STREET: u16 = 10;
pub const GRIDS_PER_COMMUNITY: u16 = 10;
/// Few houses per grid, so `zhiwang up` seeds a thousand grids in seconds on SQLite.
pub const HOUSES_PER_GRID: u16 = 10;

/// The south-west corner of the demo map and the size of a street's strip (west to east) and a
/// community's cell (south to north), in degrees.
const SOUTH: f64 = 22.52;
const WEST: f64 = 114.02;
const STREET_WIDTH: f64 = 0.008;
const COMMUNITY_HEIGHT: f64 = 0.004;

/// The demo district's jurisdictions.
#[derive(Debug, Clone)]
pub struct DemoDistrict {
    pub code: JurisdictionCode,
    pub name: String,
    pub streets: Vec<DemoUnit>,
}

/// A street, community or grid, with its children.
#[derive(Debug, Clone)]
pub struct DemoUnit {
    pub code: JurisdictionCode,
    pub name: String,
    pub children: Vec<DemoUnit>,
}

/// Life-cycle state of a demo house.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoHouseStatus {
    Planned,
    InUse,
    Rented,
    Demolished,
}

#[derive(Debug, Clone)]
pub struct DemoHouse {
    pub code: HouseCode,
    pub grid: JurisdictionCode,
    pub address: String,
    pub status: DemoHouseStatus,
    /// How many residents the house is registered for.
    pub registered_size: u16,
}

/// A person in the historical population register.
#[derive(Debug, Clone)]
pub struct DemoPerson {
    pub id_number: IdNumber,
    pub name: String,
    /// Where the register last saw this person, if anywhere.
    pub registered_house: Option<HouseCode>,
}

/// A demo login.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub username: String,
    /// Role names as the identity service spells them (`grid_worker`, …).
    pub roles: Vec<&'static str>,
    pub scope: JurisdictionCode,
    pub name: String,
    /// A citizen's resident ID number (identity binds his account to it); `None` for staff.
    pub id_number: Option<IdNumber>,
}

impl DemoAccount {
    /// The user id (token subject) identity gives this account: [`demo_subject`].
    pub fn subject(&self) -> uuid::Uuid {
        let district = self
            .scope
            .at_level(zw_domain::Level::District)
            .unwrap_or_else(|| self.scope.clone());
        demo_subject(&district, &self.username)
    }
}

/// The fixed user id of demo account `username` in `district`, so that the services seeded
/// separately (identity's users, the grid's worker assignments) name the same person. Derived
/// from a SHA-256 of the two, shaped as a random (version 4) UUID.
pub fn demo_subject(district: &JurisdictionCode, username: &str) -> uuid::Uuid {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("zhiwang-demo-account:{district}:{username}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

const STREET_NAMES: [&str; 10] = [
    "Yuanling",
    "Nanyuan",
    "Shatou",
    "Xiangmihu",
    "Lianhua",
    "Huafu",
    "Futian",
    "Huaqiangbei",
    "Meilin",
    "Fubao",
];

impl DemoDistrict {
    /// The demo structure under `district` (a 6-digit code).
    pub fn generate(district: &JurisdictionCode, name: &str) -> DemoDistrict {
        let mut streets = Vec::new();
        for s in 1..=STREETS {
            let Ok(street) = district.child(s) else {
                continue;
            };
            let street_name = format!(
                "{} Street",
                STREET_NAMES[usize::from(s - 1) % STREET_NAMES.len()]
            );
            let mut communities = Vec::new();
            for c in 1..=COMMUNITIES_PER_STREET {
                let Ok(community) = street.child(c) else {
                    continue;
                };
                let community_name = format!("{street_name} Community {c}");
                let grids = (1..=GRIDS_PER_COMMUNITY)
                    .filter_map(|g| {
                        let code = community.child(g).ok()?;
                        Some(DemoUnit {
                            name: format!("{community_name} Grid {g}"),
                            code,
                            children: vec![],
                        })
                    })
                    .collect();
                communities.push(DemoUnit {
                    code: community,
                    name: community_name,
                    children: grids,
                });
            }
            streets.push(DemoUnit {
                code: street,
                name: street_name,
                children: communities,
            });
        }
        DemoDistrict {
            code: district.clone(),
            name: name.to_owned(),
            streets,
        }
    }

    /// The centre (latitude, longitude; WGS 84) of a street, community or grid of the demo: each
    /// street a strip from west to east, each community a cell of it from south to north, its ten
    /// grids five by two inside.
    pub fn centre(&self, code: &JurisdictionCode) -> Option<(f64, f64)> {
        use zw_domain::Level;
        let seg = |l: Level| -> Option<f64> { code.segment(l)?.parse::<u16>().ok().map(f64::from) };
        let s = seg(Level::Street)?;
        let west = WEST + (s - 1.0) * STREET_WIDTH;
        let (lat, lng) = match code.level() {
            Level::District => return None,
            Level::Street => (SOUTH + 0.02, west + STREET_WIDTH / 2.0),
            Level::Community => {
                let c = seg(Level::Community)?;
                (
                    SOUTH + (c - 0.5) * COMMUNITY_HEIGHT,
                    west + STREET_WIDTH / 2.0,
                )
            }
            Level::Grid => {
                let c = seg(Level::Community)?;
                let g = seg(Level::Grid)? - 1.0;
                let (col, row) = (g % 5.0, (g / 5.0).floor());
                (
                    SOUTH + (c - 1.0) * COMMUNITY_HEIGHT + (row + 0.5) * COMMUNITY_HEIGHT / 2.0,
                    west + (col + 0.5) * STREET_WIDTH / 5.0,
                )
            }
        };
        let round = |x: f64| (x * 1e6).round() / 1e6;
        Some((round(lat), round(lng)))
    }

    /// The worker of `grid`: (token subject, name). The first two grids are worked by the demo
    /// accounts `grid-worker` and `grid-worker-2` (their [`demo_subject`], the id identity gives
    /// them, so the assignment names whoever logs in as them), every other grid by
    /// `gw-<grid code>` (workers without a demo login).
    pub fn grid_worker(&self, grid: &JurisdictionCode) -> (String, String) {
        let mut grids = self.grids();
        if grids.next().is_some_and(|g| &g.code == grid) {
            return (
                demo_subject(&self.code, "grid-worker").to_string(),
                "Grid worker".into(),
            );
        }
        if grids.next().is_some_and(|g| &g.code == grid) {
            return (
                demo_subject(&self.code, "grid-worker-2").to_string(),
                "Grid worker (neighbouring grid)".into(),
            );
        }
        (
            format!("gw-{grid}"),
            format!("Grid worker {}", grid.as_str()),
        )
    }

    /// Every community.
    pub fn communities(&self) -> impl Iterator<Item = &DemoUnit> {
        self.streets.iter().flat_map(|s| s.children.iter())
    }

    /// Every grid.
    pub fn grids(&self) -> impl Iterator<Item = &DemoUnit> {
        self.communities().flat_map(|c| c.children.iter())
    }

    /// The houses of one grid.
    pub fn houses(&self, grid: &JurisdictionCode) -> Vec<DemoHouse> {
        let mut rng = Rng::new(seed_of(grid.as_str()));
        (1..=HOUSES_PER_GRID)
            .filter_map(|serial| {
                let code = HouseCode::new(grid, serial).ok()?;
                // The first house of every grid is in use with room for 4: the README's example.
                let status = match (serial, rng.below(20)) {
                    (1, _) => DemoHouseStatus::InUse,
                    (_, 0) => DemoHouseStatus::Planned,
                    (_, 1) => DemoHouseStatus::Demolished,
                    (_, 2..=6) => DemoHouseStatus::Rented,
                    _ => DemoHouseStatus::InUse,
                };
                let registered_size = if serial == 1 {
                    4
                } else {
                    2 + rng.below(5) as u16
                };
                Some(DemoHouse {
                    address: format!(
                        "Building {}, Unit {}, Room {}",
                        1 + serial / 10,
                        1 + serial % 3,
                        100 + serial
                    ),
                    grid: grid.clone(),
                    code,
                    status,
                    registered_size,
                })
            })
            .collect()
    }

    /// Every house of the district.
    pub fn all_houses(&self) -> impl Iterator<Item = DemoHouse> + '_ {
        self.grids().flat_map(|g| self.houses(&g.code))
    }

    /// The historical population register: about two people per house that is in use or
    /// rented, registered there, and one unregistered person per grid.
    pub fn register(&self) -> Vec<DemoPerson> {
        let mut people = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut seq: u32 = 0;
        for grid in self.grids() {
            let mut rng = Rng::new(seed_of(grid.code.as_str()) ^ 0x5eed);
            for house in self.houses(&grid.code) {
                if !matches!(
                    house.status,
                    DemoHouseStatus::InUse | DemoHouseStatus::Rented
                ) {
                    continue;
                }
                // The README's example house keeps one free place... and then some.
                let n = if house.code.serial() == 1 {
                    1
                } else {
                    1 + rng.below(2)
                };
                for _ in 0..n {
                    seq += 1;
                    if let Some(p) = self.person(seq, &mut rng, Some(house.code.clone()), &mut seen)
                    {
                        people.push(p);
                    }
                }
            }
            seq += 1;
            if let Some(p) = self.person(seq, &mut rng, None, &mut seen) {
                people.push(p);
            }
        }
        people
    }

    fn person(
        &self,
        seq: u32,
        rng: &mut Rng,
        house: Option<HouseCode>,
        seen: &mut std::collections::HashSet<(NaiveDate, u16)>,
    ) -> Option<DemoPerson> {
        let birth = NaiveDate::from_ymd_opt(
            1950 + rng.below(55) as i32,
            1 + rng.below(12),
            1 + rng.below(28),
        )?;
        // Same birth date and sequence would be the same ID number: take the next free sequence.
        let mut sequence = (seq % 1000) as u16;
        while !seen.insert((birth, sequence)) {
            sequence = (sequence + 1) % 1000;
        }
        let id_number = IdNumber::from_parts(self.code.as_str(), birth, sequence).ok()?;
        Some(DemoPerson {
            id_number,
            name: synthetic_name(rng),
            registered_house: house,
        })
    }

    /// The README's example: the first house of the first grid, and the ID number of the one
    /// person the register has there (the demo `citizen` is bound to it).
    pub fn example_resident(&self) -> Option<(HouseCode, IdNumber)> {
        let grid = self.grids().next()?.code.clone();
        let house = self.houses(&grid).into_iter().next()?.code;
        let person = self
            .register()
            .into_iter()
            .find(|p| p.registered_house.as_ref() == Some(&house))?;
        Some((house, person.id_number))
    }

    /// One account per role: `admin`, `district-officer`, `street-officer` (street 001),
    /// `community-officer` (community 001001), `grid-worker` (grid 001001001), a second
    /// `grid-worker-2` (grid 001001002) to show scoping, `citizen` (bound to the resident of the
    /// example house) and `citizen-2` (bound to [`UNREGISTERED_ID_NUMBER`]).
    pub fn accounts(&self) -> Vec<DemoAccount> {
        let street = self.streets.first().map(|s| s.code.clone());
        let community = self.communities().next().map(|c| c.code.clone());
        let mut grids = self.grids().map(|g| g.code.clone());
        let (grid1, grid2) = (grids.next(), grids.next());
        let staff =
            |username: &str, role: &'static str, scope: JurisdictionCode, name: &str| DemoAccount {
                username: username.into(),
                roles: vec![role],
                scope,
                name: name.into(),
                id_number: None,
            };
        let citizen = |username: &str, name: &str, id_number: Option<IdNumber>| DemoAccount {
            username: username.into(),
            roles: vec!["citizen"],
            scope: self.code.clone(),
            name: name.into(),
            id_number,
        };
        let mut out = vec![
            staff(
                "admin",
                "admin",
                self.code.clone(),
                "Platform administrator",
            ),
            staff(
                "district-officer",
                "district_officer",
                self.code.clone(),
                "District centre officer",
            ),
        ];
        if let Some((_, id)) = self.example_resident() {
            out.push(citizen("citizen", "Demo citizen", Some(id)));
        }
        out.push(citizen(
            "citizen-2",
            "Demo citizen (not in the register)",
            IdNumber::parse(UNREGISTERED_ID_NUMBER).ok(),
        ));
        if let Some(s) = street {
            out.push(staff(
                "street-officer",
                "street_officer",
                s,
                "Street centre officer",
            ));
        }
        if let Some(c) = community {
            out.push(staff(
                "community-officer",
                "community_officer",
                c,
                "Community officer",
            ));
        }
        if let Some(g) = grid1 {
            out.push(staff("grid-worker", "grid_worker", g, "Grid worker"));
        }
        if let Some(g) = grid2 {
            out.push(staff(
                "grid-worker-2",
                "grid_worker",
                g,
                "Grid worker (neighbouring grid)",
            ));
        }
        out
    }
}

fn synthetic_name(rng: &mut Rng) -> String {
    const FAMILY: [&str; 12] = [
        "Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
    ];
    const GIVEN: [&str; 12] = [
        "Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Hong", "Tao", "Xin", "Ping", "Hui",
    ];
    format!(
        "{} {}",
        FAMILY[rng.below(12) as usize],
        GIVEN[rng.below(12) as usize]
    )
}

fn seed_of(s: &str) -> u64 {
    // FNV-1a: stable across runs and platforms.
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// SplitMix64: a tiny deterministic generator (no need for cryptographic randomness here).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> DemoDistrict {
        DemoDistrict::generate(&JurisdictionCode::parse("440304").expect("valid"), "Futian")
    }

    #[test]
    fn the_demo_district_has_ten_streets_and_a_thousand_grids() {
        let d = demo();
        assert_eq!(d.streets.len(), 10);
        assert_eq!(d.communities().count(), 100);
        assert_eq!(d.grids().count(), 1000);
        assert_eq!(d.all_houses().count(), 10_000);
        assert!(d.grids().all(|g| g.code.level() == zw_domain::Level::Grid));
    }

    #[test]
    fn generation_is_deterministic_and_ids_are_unique() {
        let (a, b) = (demo().register(), demo().register());
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.id_number == y.id_number && x.name == y.name)
        );
        let mut ids: Vec<_> = a.iter().map(|p| p.id_number.to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), a.len(), "ID numbers are unique");
    }

    #[test]
    fn the_readme_example_house_is_in_use_with_one_registered_resident() {
        let d = demo();
        let grid = d.grids().next().expect("a grid").code.clone();
        let house = d.houses(&grid).into_iter().next().expect("a house");
        assert_eq!(house.status, DemoHouseStatus::InUse);
        let residents = d
            .register()
            .into_iter()
            .filter(|p| p.registered_house.as_ref() == Some(&house.code))
            .count();
        assert_eq!(residents, 1);
    }

    #[test]
    fn every_grid_has_a_distinct_centre_around_futian() {
        let d = demo();
        let mut seen = std::collections::HashSet::new();
        for g in d.grids() {
            let (lat, lng) = d.centre(&g.code).expect("a centre");
            assert!((22.52..=22.56).contains(&lat), "{lat}");
            assert!((114.02..=114.10).contains(&lng), "{lng}");
            assert!(
                seen.insert((lat.to_bits(), lng.to_bits())),
                "{} repeats",
                g.code
            );
        }
        for c in d.communities() {
            assert!(d.centre(&c.code).is_some());
        }
    }

    #[test]
    fn the_demo_grid_workers_work_the_first_two_grids() {
        let d = demo();
        let mut grids = d.grids().map(|g| g.code.clone());
        let (g1, g2, g3) = (
            grids.next().expect("1"),
            grids.next().expect("2"),
            grids.next().expect("3"),
        );
        let subject_of = |username: &str| {
            d.accounts()
                .into_iter()
                .find(|a| a.username == username)
                .expect("demo account")
                .subject()
                .to_string()
        };
        assert_eq!(d.grid_worker(&g1).0, subject_of("grid-worker"));
        assert_eq!(d.grid_worker(&g2).0, subject_of("grid-worker-2"));
        assert_ne!(subject_of("grid-worker"), subject_of("grid-worker-2"));
        assert_eq!(d.grid_worker(&g3).0, format!("gw-{g3}"));
    }

    #[test]
    fn the_readme_examples_stay_true() {
        let d = demo();
        let grid = d.grids().next().expect("a grid").code.clone();
        let house = d.houses(&grid).into_iter().next().expect("a house");
        assert_eq!(house.code.as_str(), "44030400100100100014");
        assert!(
            d.register()
                .iter()
                .any(|p| p.id_number.as_str() == "440304200412180010"
                    && p.registered_house.as_ref() == Some(&house.code))
        );
        let bound = |username: &str| {
            d.accounts()
                .into_iter()
                .find(|a| a.username == username)
                .and_then(|a| a.id_number)
                .map(|id| id.as_str().to_owned())
        };
        assert_eq!(bound("citizen").as_deref(), Some("440304200412180010"));
        assert_eq!(bound("citizen-2").as_deref(), Some(UNREGISTERED_ID_NUMBER));
        assert!(
            d.register()
                .iter()
                .all(|p| p.id_number.as_str() != UNREGISTERED_ID_NUMBER),
            "citizen-2 declares a number the register does not know"
        );
        assert!(
            d.accounts()
                .iter()
                .filter(|a| !a.roles.contains(&"citizen"))
                .all(|a| a.id_number.is_none()),
            "staff are not bound to ID numbers"
        );
    }
}
