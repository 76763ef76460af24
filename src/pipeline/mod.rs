//! The pipeline as the action sees it: its nodes and their statuses, the DAG, pipeline files, the plan
//! (what will run, how it starts), the `max_age` check of earlier results, the run's state machine
//! (`tracked`) and how a run ended (`ending`), the follower's loop, its log words (`narrate`) and its
//! polling schedule, and cancelling.

pub(crate) mod cancel;
pub(crate) mod dag;
pub(crate) mod definition;
pub(crate) mod details;
pub(crate) mod ending;
pub(crate) mod estimate;
pub(crate) mod follow;
pub(crate) mod fresh;
pub(crate) mod hint;
pub(crate) mod narrate;
pub(crate) mod node;
pub(crate) mod plan;
pub mod schedule;
pub(crate) mod sql;
pub(crate) mod sql_read;
pub(crate) mod sync;
pub(crate) mod tracked;
pub(crate) mod usage;

pub(crate) use follow::{Followed, Follower};
pub(crate) use tracked::Tracked;
