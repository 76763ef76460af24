//! The pipeline as the action sees it: its nodes and their statuses, the DAG, pipeline files, the plan
//! (what will run, how it starts), the follower and its polling schedule, and cancelling.

pub mod cancel;
pub mod dag;
pub mod definition;
pub mod details;
pub mod follow;
pub mod node;
pub mod plan;
pub mod schedule;

pub use follow::{End, Follower, Tracked};
