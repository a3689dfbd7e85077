//! Generated protobuf and gRPC types. `proto/` is the only definition of internal RPCs and bus
//! events; this crate mirrors its packages as modules.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("directfanz.identity.v1");
    }
}

pub mod payments {
    pub mod v1 {
        tonic::include_proto!("directfanz.payments.v1");
    }
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("directfanz.events.v1");
    }
}
