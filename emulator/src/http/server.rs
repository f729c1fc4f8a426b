//! The listener: accepts connections, serves HTTP/1.1 with keep-alive, and shuts down
//! gracefully (in-flight requests finish, up to a deadline).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::http::gateway::Gateway;

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);
/// Period of the timer that keeps tokio's timer driver from waking up for header timers.
const TIMER_ANCHOR: Duration = Duration::from_secs(1);

/// Serves `gateway` on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, gateway: Gateway, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    // Stopped however `run` ends, also when its future is dropped: a `JoinSet` aborts its
    // tasks when dropped.
    let mut anchor = tokio::task::JoinSet::new();
    anchor.spawn(anchor_timer());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let gw = gateway.clone();
                let svc = service_fn(move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, Infallible>(gw.handle(req).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

/// Keeps a timer pending at all times. hyper arms a 30-second header-read timer for every
/// request. tokio's timer driver wakes itself (an eventfd write, and a turn through epoll)
/// whenever a timer is registered earlier than the wake-up it last parked for, and when no
/// timer was pending at all, that is every registration: measured under ON_REQUEST, where
/// the workers park while requests wait for the journal, one wake-up per request. With this
/// timer due within a second, the header timers are later and register silently.
async fn anchor_timer() {
    let mut tick = tokio::time::interval(TIMER_ANCHOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    /// The timer task ends with `run`, whether `run` returns or its future is dropped.
    #[tokio::test]
    async fn the_anchor_timer_ends_with_the_server() {
        let dir = tempfile::tempdir().expect("tmp");
        let gw = Gateway::new(Config::for_tests(dir.path().join("store"))).expect("gateway");
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let alive_after = |f: std::pin::Pin<Box<dyn Future<Output = ()>>>| async {
            let _ = tokio::time::timeout(Duration::from_millis(50), f).await;
            // Aborted tasks go once the scheduler has run them.
            for _ in 0..100 {
                if metrics.num_alive_tasks() == before {
                    break;
                }
                tokio::task::yield_now().await;
            }
            metrics.num_alive_tasks()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let returns = Box::pin(run(listener, gw.clone(), async {}));
        assert_eq!(alive_after(returns).await, before, "run returned");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let dropped = Box::pin(run(listener, gw, std::future::pending()));
        assert_eq!(alive_after(dropped).await, before, "run dropped");
    }
}
