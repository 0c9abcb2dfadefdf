//! What an auth config is made of, below everything that uses one: the stored record and its
//! sealed secrets, the input an API call gives (checked field by field), and the destinations
//! its credentials may go to. May use the core only.

pub mod auth_input;
pub mod auth_record;
pub mod client_assertion;
pub(crate) mod destinations;
