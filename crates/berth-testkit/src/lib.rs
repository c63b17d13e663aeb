//! One home for the process and namespace plumbing that berthd's integration tests, the
//! cluster store's tests and the benchmarks share, so that a fix to one of them reaches all.

pub mod etcd;
pub mod ns;
