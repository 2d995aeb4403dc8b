"""The proofs of the porting guide: one module per section of ``conformance.registry``."""
