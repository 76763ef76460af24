//! Request parameters every resource reads the same way: the query string, the performance tier, a
//! query id in the path.

use crate::api::reply::Reply;

pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(query: Option<&str>) -> Params {
        Params(
            query
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn u64(&self, name: &str) -> Result<Option<u64>, Reply> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Reply::error(
                    400,
                    format!("invalid {name} {v:?}: must be a non-negative integer"),
                )
            }),
        }
    }

    /// Go's strconv.ParseBool vocabulary.
    pub(super) fn bool(&self, name: &str) -> Result<bool, Reply> {
        match self.get(name) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(Reply::error(
                400,
                format!("invalid {name} {v:?}: must be true or false"),
            )),
        }
    }
}

pub(super) const PERFORMANCE_ERROR: &str = "performance must be one of: medium, large";

pub(super) fn performance(value: Option<&str>) -> Result<String, Reply> {
    match value {
        None | Some("") => Ok("medium".to_owned()),
        Some(p @ ("medium" | "large")) => Ok(p.to_owned()),
        Some(_) => Err(Reply::error(400, PERFORMANCE_ERROR)),
    }
}

pub(super) fn parse_query_id(raw: &str) -> Result<u64, Reply> {
    raw.parse::<u64>().map_err(|_| {
        Reply::error(
            400,
            format!("invalid query_id {raw:?}: must be a positive integer"),
        )
    })
}
