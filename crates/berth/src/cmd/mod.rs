pub mod attached;
pub mod container;
pub mod network;
pub mod ps;
pub mod system;
