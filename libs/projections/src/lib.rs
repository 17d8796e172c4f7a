//! Projections of the tier below built from events, shared by the community, street and district centres.
