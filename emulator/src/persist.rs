//! State as documents and its persistence: the per-service snapshot trait (`snapshot`),
//! whole-state export, load and merge (`state`), the ON_REQUEST journal (`journal`), the
//! save and load strategies (`persistence`), the state and pod endpoints (`pods`) and
//! preseeding (`preseed`).

pub mod journal;
pub mod persistence;
pub mod pods;
pub mod preseed;
pub mod snapshot;
pub mod state;
