//! podstack-remote, the team server for pod push and pull. Built in its own issue; this crate
//! only holds its place in the workspace until then.
