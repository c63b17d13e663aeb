pub mod attached;
pub mod container;
pub mod network;
pub mod system;
