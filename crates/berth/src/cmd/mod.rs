pub mod network;
pub mod system;
