//! The podstack AWS emulator (gateway, protocols, services). Built in its own issue; this crate
//! only holds its place in the workspace until then.
