//! `berth pause`, `unpause`, `rename` and `top`, as Docker's CLI.

use crate::client::{encode, Client};
use crate::Failure;
use clap::Args;
use hyper::Method;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    container: String,
    /// `ps` options (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub async fn pause(client: &Client, a: PauseArgs) -> Result<(), Failure> {
    super::each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/pause")
    })
    .await
}

pub async fn unpause(client: &Client, a: PauseArgs) -> Result<(), Failure> {
    super::each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/unpause")
    })
    .await
}

pub async fn rename(client: &Client, a: RenameArgs) -> Result<(), Failure> {
    let path = format!(
        "/containers/{}/rename?name={}",
        encode(&a.container),
        encode(&a.new_name)
    );
    client.request(Method::POST, &path, None).await?;
    Ok(())
}

pub async fn top(client: &Client, a: TopArgs) -> Result<(), Failure> {
    let mut path = format!("/containers/{}/top", encode(&a.container));
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", encode(&a.ps_args.join(" "))));
    }
    let v: Value = client.get_json(&path).await?;
    let cell = |x: &Value| x.as_str().unwrap_or_default().to_string();
    let titles: Vec<String> = v["Titles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(cell)
        .collect();
    let rows: Vec<Vec<String>> = v["Processes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r.as_array().into_iter().flatten().map(cell).collect())
        .collect();
    let mut widths: Vec<usize> = titles.iter().map(|t| t.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.len());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!(
                    "{c:<w$}   ",
                    w = widths.get(i).copied().unwrap_or(0)
                ));
            }
        }
        println!("{out}");
    };
    line(&titles);
    for r in &rows {
        line(r);
    }
    Ok(())
}
