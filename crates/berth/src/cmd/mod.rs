pub mod attached;
pub mod check;
pub mod completion;
pub mod container;
pub mod cp;
pub mod graph;
pub mod image;
pub mod network;
pub mod pause;
pub mod ps;
pub mod pull;
pub mod run;
pub mod run_flags;
pub mod system;
pub mod system_df;
pub mod ui;

use crate::client::{encode, Client, ClientError};
use crate::Failure;
use hyper::Method;

/// A verb over many containers, as Docker's CLI: each name is printed when its request
/// succeeds, a daemon's refusal is printed and the next name tried, and the exit is 1 if
/// any was refused. `path` makes the request path from the URL-encoded name.
pub(crate) async fn each(
    client: &Client,
    names: &[String],
    method: Method,
    path: impl Fn(&str) -> String,
) -> Result<(), Failure> {
    let mut failed = false;
    for n in names {
        match client
            .request(method.clone(), &path(&encode(n)), None)
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e @ ClientError::Daemon { .. }) => {
                eprintln!("{e}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Failure::unless_failed(failed)
}

/// A request body encoded as JSON.
pub(crate) fn to_bytes(body: &impl serde::Serialize) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(body).map_err(|e| Failure::msg(format!("cannot encode the request: {e}")))
}
