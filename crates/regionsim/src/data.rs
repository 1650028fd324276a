//! The databases behind the simulated Aurora clusters: workload, replication, ground truth.
