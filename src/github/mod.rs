//! GitHub's REST API, the side channel: the sticky pull-request comment and the check run. It never
//! changes how the run ends; every failure here is one warning.

pub mod api;
pub mod check_run;
pub mod identity;
pub mod pr_comment;
pub mod publish;
