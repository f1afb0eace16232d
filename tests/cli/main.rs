//! Integration tests: the real binary against a local stand-in of the WeChat API.
//! All integration tests live in this one test binary.

mod support;

mod alert_rules;
mod authorizers;
mod colour;
mod defaults;
mod edges;
mod exchange_failures;
mod export;
mod faults;
mod hosts;
mod hosts_at_once;
mod keygen;
mod many_apps;
mod misleading;
mod newcomer;
mod onboarding;
mod package;
mod pg_libpq;
mod platform_chain;
mod platform_config;
mod platform_customized;
mod platform_read;
mod platform_read_status;
mod platform_refresh;
mod platform_refresh_wecom;
mod platform_rekey;
mod platform_standin;
mod push;
mod push_events;
mod push_inetd;
mod push_nginx;
mod push_refusals;
mod push_wecom;
mod refresh_show;
mod sign;
mod stumbles;
mod trust_clocks;
mod trust_files;
mod trust_net;
mod trust_output;
mod trust_pipes;
mod trust_schema;
mod trust_smuggle;
mod trust_values;
