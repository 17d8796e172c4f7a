//! The seeded demo district: a deterministic generator of streets, communities, grids, houses and synthetic residents.
