//! Integration tests, one module per behaviour.

mod common;

mod aws_logs;
mod billing;
mod charts;
mod check;
mod cli;
mod deployments;
mod determinism;
mod examples;
mod exporters;
mod fargate;
mod fidelity;
mod knative;
mod kubernetes;
mod lambda_depth;
mod lifecycle;
mod robustness;
mod shards;
mod sweeps;
mod traces;
mod validation;
