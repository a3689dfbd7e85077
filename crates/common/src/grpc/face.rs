//! A service's gRPC face as a table: each method of the generated trait names the module of
//! its area, which holds a function of the same name taking the face and the request. The
//! trait's long async signatures are written once, here, instead of once per method.

/// Implements a generated tonic service trait by delegation:
///
/// ```text
/// df_common::grpc_face! {
///     impl Payments for PaymentsService with pb {
///         create_tier(TierInput) -> Tier => catalogue;
///         tip(TipRequest) -> Checkout => checkout;
///     }
/// }
/// ```
///
/// Client-streaming methods follow in `uploads { upload(stream Part) -> Item => area; }` and
/// server-streaming ones in `downloads { read(Request) -> stream Part as ReadStream => area; }`.
///
/// `pb` is the module of the messages; `catalogue::create_tier(&PaymentsService,
/// tonic::Request<pb::TierInput>) -> Result<tonic::Response<pb::Tier>, tonic::Status>` answers.
#[macro_export]
macro_rules! grpc_face {
    (
        impl $trait:ident for $face:ident with $pb:ident {
            $($method:ident($request:ident) -> $response:ident => $area:ident;)*
        }
        $(uploads {
            $($umethod:ident(stream $urequest:ident) -> $uresponse:ident => $uarea:ident;)*
        })?
        $(downloads {
            $($dmethod:ident($drequest:ident) -> stream $dresponse:ident as $dstream:ident => $darea:ident;)*
        })?
    ) => {
        #[tonic::async_trait]
        impl $trait for $face {
            $(
                async fn $method(
                    &self,
                    request: tonic::Request<$pb::$request>,
                ) -> Result<tonic::Response<$pb::$response>, tonic::Status> {
                    $area::$method(self, request).await
                }
            )*
            $($(
                async fn $umethod(
                    &self,
                    request: tonic::Request<tonic::Streaming<$pb::$urequest>>,
                ) -> Result<tonic::Response<$pb::$uresponse>, tonic::Status> {
                    $uarea::$umethod(self, request).await
                }
            )*)?
            $($(
                type $dstream = tonic::codegen::BoxStream<$pb::$dresponse>;

                async fn $dmethod(
                    &self,
                    request: tonic::Request<$pb::$drequest>,
                ) -> Result<tonic::Response<Self::$dstream>, tonic::Status> {
                    $darea::$dmethod(self, request).await
                }
            )*)?
        }
    };
}
