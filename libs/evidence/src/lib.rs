//! Evidence: an append-only hash-chained record of every state change, sealed into an RFC 6962 Merkle tree with an Ed25519-signed tree head.
