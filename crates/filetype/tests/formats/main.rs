//! Checks of the public API against files built byte by byte in `fixtures`.

mod declared;
mod images;
mod robustness;
mod sniff;
mod videos;
