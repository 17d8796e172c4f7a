//! Authentication and authorization: claims, JWT signing and JWKS verification, the actix extractor, the one scope check.
