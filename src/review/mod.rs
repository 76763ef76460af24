//! Previews of changed SQL (`preview: true`): each query node whose SQL file differs from the SQL saved on
//! Dune is run as raw SQL (`POST /v1/sql/execute`, nothing saved changes) and its whole result is diffed
//! against the query's latest saved result ([`diff`], in bounded memory). [`run`] selects and runs the
//! previews; the report and the `preview` output are written by `report::review`.

pub mod diff;
pub mod run;
pub mod settings;

pub(crate) use run::{Found, Review};
pub(crate) use settings::ReviewSettings;
