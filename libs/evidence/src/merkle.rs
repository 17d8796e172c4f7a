//! RFC 6962 §2.1 Merkle tree hashing, proof generation, and the RFC 9162 §2.1.3.2 / §2.1.4.2
//! proof verification algorithms. Pure: no I/O, no allocation beyond the proofs themselves.
//!
//! Two ways to build proofs live here:
//! - over a slice of leaf hashes held in memory ([`root`], [`inclusion_proof`],
//!   [`consistency_proof`]): simple, O(n), used by offline verification and tests;
//! - over *perfect subtrees* ([`NodeId`]) that a store persisted as the log grew
//!   ([`Frontier::push`] says which nodes come into existence with each leaf). A proof is a list
//!   of subtree ranges ([`inclusion_ranges`], [`consistency_ranges`]); each range is the fold of
//!   a few perfect subtrees ([`perfect_cover`], [`fold_right`]), so a store answers a proof with
//!   O(log² n) lookups instead of reading every leaf.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// `MTH({})`: the root of the empty tree, SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The leaf hash of RFC 6962: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The interior node hash of RFC 6962: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`): where RFC 6962 splits a tree.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2, "a tree of {n} leaves has no split point");
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[n])` over leaf hashes (already `leaf_hash`ed), RFC 6962 §2.1.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => empty_root(),
        1 => leaf_hashes[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root(&leaf_hashes[..k]), &root(&leaf_hashes[k..]))
        }
    }
}

/// The subtree ranges whose roots form `PATH(index, D[tree_size])` (RFC 6962 §2.1.1), in proof
/// order: the leaf's sibling first, the root's other child last. `None` if `index` is outside
/// the tree.
pub fn inclusion_ranges(index: u64, tree_size: u64) -> Option<Vec<Range<u64>>> {
    if index >= tree_size {
        return None;
    }
    let (mut m, mut start, mut end) = (index, 0, tree_size);
    let mut ranges = Vec::new();
    while end - start > 1 {
        let k = split_point(end - start);
        if m < k {
            ranges.push(start + k..end);
            end = start + k;
        } else {
            ranges.push(start..start + k);
            start += k;
            m -= k;
        }
    }
    ranges.reverse();
    Some(ranges)
}

/// The subtree ranges whose roots form `PROOF(old_size, D[new_size])` (RFC 6962 §2.1.2), in
/// proof order. Empty when `old_size` is 0 or equals `new_size`; `None` if
/// `old_size > new_size`.
pub fn consistency_ranges(old_size: u64, new_size: u64) -> Option<Vec<Range<u64>>> {
    if old_size > new_size {
        return None;
    }
    let mut ranges = Vec::new();
    if old_size == 0 || old_size == new_size {
        return Some(ranges);
    }
    // SUBPROOF(m, D[start:end], complete), unrolled: each step records the sibling subtree.
    let (mut m, mut start, mut end, mut complete) = (old_size, 0, new_size, true);
    loop {
        let size = end - start;
        if m == size {
            if !complete {
                ranges.push(start..end);
            }
            break;
        }
        let k = split_point(size);
        if m <= k {
            ranges.push(start + k..end);
            end = start + k;
        } else {
            ranges.push(start..start + k);
            start += k;
            m -= k;
            complete = false;
        }
    }
    ranges.reverse();
    Some(ranges)
}

/// The audit path of the leaf at `index` in the tree over `leaf_hashes` (RFC 6962 §2.1.1).
/// `None` if `index` is outside the tree.
pub fn inclusion_proof(index: u64, leaf_hashes: &[Hash]) -> Option<Vec<Hash>> {
    let ranges = inclusion_ranges(index, leaf_hashes.len() as u64)?;
    Some(
        ranges
            .into_iter()
            .map(|r| root(&leaf_hashes[r.start as usize..r.end as usize]))
            .collect(),
    )
}

/// The consistency proof from the tree over the first `old_size` leaves to the tree over all of
/// `leaf_hashes` (RFC 6962 §2.1.2). `None` if `old_size` exceeds the number of leaves.
pub fn consistency_proof(old_size: u64, leaf_hashes: &[Hash]) -> Option<Vec<Hash>> {
    let ranges = consistency_ranges(old_size, leaf_hashes.len() as u64)?;
    Some(
        ranges
            .into_iter()
            .map(|r| root(&leaf_hashes[r.start as usize..r.end as usize]))
            .collect(),
    )
}

/// Verifies an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.
///
/// Note (inherent to the algorithm): the proof authenticates the root, not `tree_size` itself;
/// take `tree_size` and `root` together from a verified signed tree head.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= tree_size {
        return false;
    }
    let (mut f, mut s) = (index, tree_size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, with the algorithm of RFC 9162 §2.1.4.2.
///
/// Edge cases the RFC leaves to the caller: equal sizes need an empty proof and equal roots; an
/// old size of 0 needs an empty proof and the empty-tree root; a shrinking tree never verifies.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    // If old_size is a power of two, the old root is itself the first node of the path.
    let path: Vec<&Hash> = if old_size.is_power_of_two() {
        std::iter::once(old_root).chain(proof).collect()
    } else {
        proof.iter().collect()
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*path[0], *path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *old_root && sr == *new_root
}

/// A perfect subtree: the `2^level` leaves `[index·2^level, (index+1)·2^level)`.
/// Level 0 is a single leaf; its hash is the leaf hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u32,
    /// Position among the subtrees of this level, from the left.
    pub index: u64,
}

impl NodeId {
    /// The leaves this subtree covers.
    pub fn leaves(&self) -> Range<u64> {
        let start = self.index << self.level;
        start..start + (1u64 << self.level)
    }
}

/// The perfect subtrees that tile `range`, largest first, each aligned to its own size.
///
/// For every range that RFC 6962 proofs use (a subtree of the tree, so its start is aligned to
/// a power of two at least its length) the tiles shrink from left to right, and
/// [`fold_right`] over their hashes is exactly `MTH` of the range.
pub fn perfect_cover(range: Range<u64>) -> Vec<NodeId> {
    let (mut start, end) = (range.start, range.end);
    let mut nodes = Vec::new();
    while start < end {
        let mut level = if start == 0 {
            63
        } else {
            start.trailing_zeros()
        };
        while (1u64 << level) > end - start {
            level -= 1;
        }
        nodes.push(NodeId {
            level,
            index: start >> level,
        });
        start += 1 << level;
    }
    nodes
}

/// `H(h0, H(h1, … H(h_{k-2}, h_{k-1})))`: the root over subtrees that shrink from left to right.
/// The empty-tree root for no subtrees.
pub fn fold_right(hashes: &[Hash]) -> Hash {
    let Some((last, rest)) = hashes.split_last() else {
        return empty_root();
    };
    rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc))
}

/// The right edge of a growing tree: the perfect subtrees covering all leaves so far, largest
/// first (one per set bit of the size). Enough to compute the current root and to append, in
/// O(log n) space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from its size and subtree hashes; `None` unless there is exactly one
    /// hash per set bit of `size`.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Frontier> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree hashes, largest subtree first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// `MTH` of all leaves so far.
    pub fn root(&self) -> Hash {
        fold_right(&self.nodes)
    }

    /// Appends a leaf hash; returns the interior nodes (level ≥ 1) that became complete with it,
    /// lowest first. On average one node per leaf.
    pub fn push(&mut self, leaf_hash: Hash) -> Vec<(NodeId, Hash)> {
        let merges = self.size.trailing_ones();
        self.size += 1;
        self.nodes.push(leaf_hash);
        let mut created = Vec::with_capacity(merges as usize);
        for level in 1..=merges {
            let (Some(right), Some(left)) = (self.nodes.pop(), self.nodes.pop()) else {
                unreachable!("a frontier holds one node per set bit of its size");
            };
            let hash = node_hash(&left, &right);
            created.push((
                NodeId {
                    level,
                    index: (self.size >> level) - 1,
                },
                hash,
            ));
            self.nodes.push(hash);
        }
        created
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// The test data of RFC 6962 implementations (certificate-transparency, trillian).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// `MTH(D[n])` for n = 0..=8 over [`LEAVES`].
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (leaf index, tree size, audit path).
    const INCLUSION: [(u64, usize, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, consistency proof).
    const CONSISTENCY: [(u64, usize, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            2,
            8,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
    ];

    fn h(hex_str: &str) -> Hash {
        let bytes = hex::decode(hex_str).expect("test vector is hex");
        bytes.try_into().expect("test vector is 32 bytes")
    }

    fn vector_leaves() -> Vec<Hash> {
        LEAVES
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).expect("hex")))
            .collect()
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// A literal transcription of RFC 6962 §2.1, to cross-check the iterative code.
    fn reference_mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_mth(&leaves[..k]), &reference_mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_rfc_6962_test_vectors() {
        let leaves = vector_leaves();
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(root(&leaves[..n])), *want, "tree size {n}");
        }
    }

    #[test]
    fn the_empty_tree_hashes_to_sha256_of_nothing_and_leaves_are_domain_separated() {
        assert_eq!(hex::encode(empty_root()), ROOTS[0]);
        assert_eq!(hex::encode(leaf_hash(b"")), ROOTS[1]);
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut joined = a.to_vec();
        joined.extend_from_slice(&b);
        assert_ne!(leaf_hash(&joined), node_hash(&a, &b));
    }

    #[test]
    fn inclusion_proofs_match_the_rfc_6962_test_vectors() {
        let all = vector_leaves();
        for (index, size, path) in INCLUSION {
            let proof = inclusion_proof(index, &all[..size]).expect("index inside tree");
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(proof, want, "leaf {index} of {size}");
            assert!(verify_inclusion(
                &all[index as usize],
                index,
                size as u64,
                &want,
                &h(ROOTS[size])
            ));
        }
    }

    #[test]
    fn consistency_proofs_match_the_rfc_6962_test_vectors() {
        let all = vector_leaves();
        for (old, new, path) in CONSISTENCY {
            let proof = consistency_proof(old, &all[..new]).expect("old size within tree");
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(proof, want, "{old} -> {new}");
            assert!(verify_consistency(
                old,
                new as u64,
                &h(ROOTS[old as usize]),
                &h(ROOTS[new]),
                &want
            ));
        }
    }

    #[test]
    fn the_split_point_is_the_largest_power_of_two_below_n() {
        for n in 2u64..5000 {
            let want = (0..63)
                .map(|b| 1u64 << b)
                .filter(|k| *k < n)
                .max()
                .expect("n >= 2");
            assert_eq!(split_point(n), want, "n = {n}");
        }
    }

    #[test]
    fn proofs_outside_the_tree_are_refused() {
        let l = leaves(8);
        assert!(inclusion_proof(8, &l).is_none());
        assert!(inclusion_proof(0, &[]).is_none());
        assert!(consistency_proof(9, &l).is_none());
        assert!(!verify_inclusion(&l[0], 8, 8, &[], &root(&l)));
    }

    #[test]
    fn every_inclusion_proof_in_trees_up_to_70_leaves_verifies_and_lies_fail() {
        for n in 1..=70usize {
            let l = leaves(n);
            let r = root(&l);
            assert_eq!(r, reference_mth(&l), "size {n}");
            for i in 0..n {
                let proof = inclusion_proof(i as u64, &l).expect("inside");
                assert!(
                    verify_inclusion(&l[i], i as u64, n as u64, &proof, &r),
                    "{i} of {n}"
                );
                assert!(!verify_inclusion(
                    &leaf_hash(b"forged"),
                    i as u64,
                    n as u64,
                    &proof,
                    &r
                ));
                assert!(!verify_inclusion(
                    &l[i],
                    i as u64,
                    n as u64,
                    &proof,
                    &leaf_hash(b"root")
                ));
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(!verify_inclusion(&l[i], other as u64, n as u64, &proof, &r));
                    assert!(!verify_inclusion(&l[other], i as u64, n as u64, &proof, &r));
                    assert!(!verify_inclusion(
                        &l[i],
                        i as u64,
                        n as u64,
                        &proof[1..],
                        &r
                    ));
                    let mut longer = proof.clone();
                    longer.push(r);
                    assert!(!verify_inclusion(&l[i], i as u64, n as u64, &longer, &r));
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_in_trees_up_to_70_leaves_verifies_and_lies_fail() {
        for n in 1..=70usize {
            let l = leaves(n);
            let new_root = root(&l);
            for m in 0..=n {
                let old_root = root(&l[..m]);
                let proof = consistency_proof(m as u64, &l).expect("m <= n");
                assert!(
                    verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof),
                    "{m} -> {n}"
                );
                let forged_old = leaf_hash(b"another history");
                assert!(!verify_consistency(
                    m as u64,
                    n as u64,
                    &forged_old,
                    &new_root,
                    &proof
                ));
                if m > 0 {
                    // Every tree extends the empty one: only a non-empty prefix binds the new root.
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &old_root,
                        &forged_old,
                        &proof
                    ));
                }
                if m < n {
                    assert!(!verify_consistency(
                        n as u64, m as u64, &new_root, &old_root, &proof
                    ));
                }
                if !proof.is_empty() {
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &old_root,
                        &new_root,
                        &proof[..proof.len() - 1]
                    ));
                }
            }
        }
    }

    /// Proofs assembled the way the store does it — from the perfect nodes the frontier emitted
    /// — equal the in-memory ones, for every leaf and every pair of sizes.
    #[test]
    fn proofs_from_stored_perfect_nodes_equal_proofs_from_all_leaves() {
        let l = leaves(70);
        let mut nodes: HashMap<NodeId, Hash> = HashMap::new();
        let mut frontier = Frontier::new();
        for (i, leaf) in l.iter().enumerate() {
            nodes.insert(
                NodeId {
                    level: 0,
                    index: i as u64,
                },
                *leaf,
            );
            for (id, hash) in frontier.push(*leaf) {
                assert_eq!(
                    hash,
                    root(&l[id.leaves().start as usize..id.leaves().end as usize])
                );
                assert!(
                    nodes.insert(id, hash).is_none(),
                    "node {id:?} emitted twice"
                );
            }
            assert_eq!(
                frontier.root(),
                root(&l[..=i]),
                "frontier root at size {}",
                i + 1
            );
        }
        let range_hash = |r: Range<u64>| {
            let hashes: Vec<Hash> = perfect_cover(r).iter().map(|id| nodes[id]).collect();
            fold_right(&hashes)
        };
        for n in 1..=70u64 {
            let tree = &l[..n as usize];
            for i in 0..n {
                let ranges = inclusion_ranges(i, n).expect("inside");
                let from_nodes: Vec<Hash> = ranges.into_iter().map(range_hash).collect();
                assert_eq!(Some(from_nodes), inclusion_proof(i, tree), "{i} of {n}");
            }
            for m in 0..=n {
                let ranges = consistency_ranges(m, n).expect("m <= n");
                let from_nodes: Vec<Hash> = ranges.into_iter().map(range_hash).collect();
                assert_eq!(Some(from_nodes), consistency_proof(m, tree), "{m} -> {n}");
            }
        }
    }

    #[test]
    fn a_frontier_round_trips_through_its_parts() {
        let mut frontier = Frontier::new();
        for leaf in leaves(45) {
            frontier.push(leaf);
        }
        let rebuilt = Frontier::from_parts(45, frontier.nodes().to_vec()).expect("45 has 4 bits");
        assert_eq!(rebuilt, frontier);
        assert!(Frontier::from_parts(47, frontier.nodes().to_vec()).is_none());
    }

    proptest! {
        #[test]
        fn random_inclusion_proofs_verify_and_any_flipped_bit_fails(
            n in 1usize..300,
            pick in any::<prop::sample::Index>(),
            node in any::<prop::sample::Index>(),
            byte in 0usize..32,
            bit in 0u8..8,
        ) {
            let l = leaves(n);
            let i = pick.index(n);
            let r = root(&l);
            let proof = inclusion_proof(i as u64, &l).expect("inside");
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &proof, &r));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                bad[node.index(proof.len())][byte] ^= 1 << bit;
                prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &bad, &r));
            }
            let mut bad_leaf = l[i];
            bad_leaf[byte] ^= 1 << bit;
            prop_assert!(!verify_inclusion(&bad_leaf, i as u64, n as u64, &proof, &r));
        }

        #[test]
        fn random_consistency_proofs_verify_and_any_flipped_bit_fails(
            n in 1usize..300,
            pick in any::<prop::sample::Index>(),
            node in any::<prop::sample::Index>(),
            byte in 0usize..32,
            bit in 0u8..8,
        ) {
            let l = leaves(n);
            let m = pick.index(n + 1);
            let (old_root, new_root) = (root(&l[..m]), root(&l));
            let proof = consistency_proof(m as u64, &l).expect("m <= n");
            prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                bad[node.index(proof.len())][byte] ^= 1 << bit;
                prop_assert!(!verify_consistency(m as u64, n as u64, &old_root, &new_root, &bad));
            }
            let mut bad_old = old_root;
            bad_old[byte] ^= 1 << bit;
            prop_assert!(!verify_consistency(m as u64, n as u64, &bad_old, &new_root, &proof));
        }
    }
}
