//! The HTTP layer: the listener and connections (`server`), the gateway that routes every
//! request (`gateway`), credentials (`auth`), bodies (`body`, `aws_chunked`), the internal
//! `/_localstack` endpoints (`internal`) and HTTP helpers (`util`: query strings, encodings,
//! dates, headers). Nothing below this layer sees hyper types, except S3's streaming entry.

pub mod auth;
pub mod aws_chunked;
pub mod body;
pub mod gateway;
pub mod internal;
pub mod server;
pub mod util;
