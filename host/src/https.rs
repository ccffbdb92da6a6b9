//! The HTTP listeners (admin API, application API) over TLS. Each connection's handshake
//! takes the certificate of the generation in force, so a reload or a renewed self-signed
//! certificate applies to the next connection.

use crate::server::Relay;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` over HTTPS on `listener` for as long as the relay runs.
pub async fn serve(relay: Arc<Relay>, listener: TcpListener, router: Router, what: &'static str) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, typically: give sessions a moment to close some.
                tracing::warn!(error = %e, "{what}: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(tls) = relay.current().tls.clone() else {
            tracing::warn!(%peer, "{what}: TLS is unavailable (see the [tls] error at start): connection refused");
            continue;
        };
        let router = router.clone();
        tokio::spawn(async move {
            let accept = tokio_rustls::TlsAcceptor::from(tls).accept(tcp);
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "{what}: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = TowerToHyperService::new(router);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "{what}: connection ended with an error");
            }
        });
    }
}
