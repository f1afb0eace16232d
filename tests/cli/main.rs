//! Integration tests: the real binary against a local stand-in of the WeChat API.
//! All integration tests live in this one test binary.

mod support;

mod hosts;
mod refresh_show;
