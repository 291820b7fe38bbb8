//! `gt dashboard [--port 8080] [--bind 127.0.0.1] [--open]`.

use super::gt_town::town;
use crate::dashboard::{self, DashError, ServeOptions};
use clap::Args;
use std::net::IpAddr;

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. Anything but loopback requires the town's
    /// token on every request (generated and printed once).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Open the dashboard in a browser ($BROWSER, else xdg-open).
    #[arg(long)]
    pub open: bool,
}

pub fn run(a: &DashboardArgs, json: bool) -> i32 {
    let r = town().map_err(DashError::from).and_then(|t| {
        dashboard::serve(
            t,
            &ServeOptions {
                bind: a.bind,
                port: a.port,
                open: a.open,
            },
        )
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            if json {
                let v = serde_json::json!({"error": e.to_string(), "help": e.help()});
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            eprintln!("error: {e}");
            if let Some(h) = e.help() {
                eprintln!("  help: {h}");
            }
            if e.is_usage() {
                2
            } else {
                1
            }
        }
    }
}
