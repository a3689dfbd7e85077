//! Compiles `proto/` with protox (a pure-Rust protobuf compiler), so no system `protoc` is needed.

use std::path::PathBuf;

/// Identity messages with a credential in them.
const CREDENTIAL_MESSAGES: &[&str] = &[
    "SignupRequest",
    "VerifyEmailRequest",
    "LoginRequest",
    "LoginResponse",
    "ValidateSessionRequest",
    "LogoutRequest",
    "LogoutAllRequest",
    "ConfirmPasswordResetRequest",
    "UnlockLoginRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: the build script binary may be shared by checkouts in other places.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "directfanz/identity/v1/identity.proto",
        "directfanz/events/v1/envelope.proto",
        "directfanz/events/v1/identity.proto",
        "directfanz/payments/v1/payments.proto",
        "directfanz/events/v1/payments.proto",
        "directfanz/events/v1/privacy.proto",
        "directfanz/events/v1/media.proto",
        "directfanz/media/v1/media.proto",
    ];
    let file_descriptors = protox::compile(files, [&root])?;
    tonic_prost_build::configure()
        // Messages that carry a password or a token print through the redacting `Debug` in
        // `src/credentials.rs`, never the derived one.
        .skip_debug(
            CREDENTIAL_MESSAGES
                .iter()
                .map(|m| format!(".directfanz.identity.v1.{m}")),
        )
        // File bytes travel as `Bytes`: handed on without a copy at either end.
        .bytes(".directfanz.media.v1.UploadPart")
        .bytes(".directfanz.media.v1.AppendPart")
        .bytes(".directfanz.media.v1.ContentPart")
        .build_server(true)
        .build_client(true)
        .compile_fds(file_descriptors)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
