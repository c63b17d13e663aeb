//! Containers on the wire: the create body, the list summary and the inspect answer, with
//! Docker's field names, shared by berthd (which decodes and answers) and the CLI (which
//! builds and reads them).

mod create;
mod health;
mod inspect;
mod summary;

pub use create::*;
pub use health::*;
pub use inspect::*;
pub use summary::*;
