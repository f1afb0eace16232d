//! Integration tests: the real binary against a local stand-in of the WeChat API.
//! All integration tests live in this one test binary.

mod support;

mod faults;
mod hosts;
mod keygen;
mod many_apps;
mod newcomer;
mod package;
mod platform_config;
mod platform_standin;
mod refresh_show;
mod startup;
mod trust_clocks;
mod trust_files;
mod trust_net;
mod trust_pipes;
mod trust_values;
