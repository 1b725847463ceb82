mod render;
mod server;
