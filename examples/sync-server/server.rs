//! (being built) The reference sync server.
