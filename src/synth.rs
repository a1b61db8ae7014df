//! Synthetic dataset generator (fixtures, benchmarks, tests).
