//! Integration tests: the real binary against a local stand-in of the WeChat API.
//! All integration tests live in this one test binary.

mod support;

mod authorizers;
mod faults;
mod hosts;
mod keygen;
mod many_apps;
mod newcomer;
mod package;
mod platform_config;
mod platform_standin;
mod push;
mod push_refusals;
mod push_wecom;
mod refresh_show;
mod trust_clocks;
mod trust_files;
mod trust_net;
mod trust_pipes;
mod trust_values;
