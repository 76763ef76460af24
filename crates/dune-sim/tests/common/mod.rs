//! Test helpers: a simulator plus an HTTP client that speaks to it.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use dune_sim::{Scenario, Simulator};
use serde_json::Value;

pub const KEY: &str = "test-key";

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub struct Api {
    pub sim: Simulator,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn start(scenario: Scenario) -> Api {
        Api {
            sim: Simulator::start(scenario).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.sim.base_url())
    }

    pub async fn raw_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("X-Dune-Api-Key", KEY)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.raw_get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("X-Dune-Api-Key", KEY)
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Starts the pipeline of `query_id`; returns the pipeline execution id.
    pub async fn execute(&self, query_id: u64) -> String {
        let (status, body) = self
            .post(&format!("/query/{query_id}/pipeline/execute"), "")
            .await;
        assert_eq!(status, 200, "{body}");
        body["pipeline_execution_id"].as_str().unwrap().to_owned()
    }

    pub async fn status(&self, pipeline: &str) -> Value {
        let (status, body) = self
            .get(&format!("/pipelines/executions/{pipeline}/status"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls the pipeline status until its top-level status is none of `running`.
    pub async fn wait_until_not(&self, pipeline: &str, running: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let s = self.status(pipeline).await;
            let status = s["status"].as_str().unwrap().to_owned();
            if !running.contains(&status.as_str()) {
                return s;
            }
            assert!(Instant::now() < deadline, "pipeline still {status}: {s}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn wait_done(&self, pipeline: &str) -> Value {
        self.wait_until_not(pipeline, &["pending", "executing"])
            .await
    }
}

/// The status object of node `i` (either kind).
pub fn node_status(status: &Value, i: usize) -> &Value {
    let node = &status["node_executions"][i];
    let q = &node["query_execution_status"];
    if q.is_null() {
        &node["materialized_view_refresh_status"]
    } else {
        q
    }
}

pub fn execution_id(status: &Value, i: usize) -> String {
    node_status(status, i)["execution_id"]
        .as_str()
        .unwrap()
        .to_owned()
}
