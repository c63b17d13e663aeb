pub mod attached;
pub mod check;
pub mod container;
pub mod graph;
pub mod network;
pub mod ps;
pub mod system;
pub mod ui;
