//! `GET /api/v1/community/stats`: counts built from the declaration events of the grids, for
//! those whose scope contains the code — the suite every centre passes
//! (`zw_testkit::centres::StatsSuite`), read by the community's own officer.

use zw_auth::Role;
use zw_testkit::codes::COMMUNITY;

zw_testkit::centre_stats_suite!(
    prefix: "/api/v1/community",
    officer: (Role::CommunityOfficer, COMMUNITY),
    build: zw_community::build,
);
