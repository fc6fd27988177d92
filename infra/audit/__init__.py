"""Auditing the event store: a transparency log over it — the Merkle tree (`tree`), signed
checkpoints kept outside the database too (`checkpoints`, `keys`, `anchors`), verification
of the whole store (`integrity`), proofs and their standalone verifier (`bundles`,
`verifier`), witnesses (`witness`) — plus what a unit knew at any moment (`as_of`) and a
hazard's timeline (`history`)."""
