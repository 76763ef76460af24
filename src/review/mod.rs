//! Previews of changed SQL (`preview: true`): each query node whose SQL file differs from the SQL saved on
//! Dune is run as raw SQL (`POST /v1/sql/execute`, nothing saved changes) and its result is diffed against
//! the query's latest saved result ([`diff`], in bounded memory).

pub mod diff;
