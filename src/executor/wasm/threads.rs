//! The threads guests run on: a tokio runtime of their own, apart from the
//! one that serves HTTP, with its threads at a lower scheduling priority.
//!
//! Busy guests yield at every epoch tick, which keeps them fair to one
//! another; keeping them off the API's threads (and behind it in the OS
//! scheduler) keeps the API, `/health` and Standby routing answering in
//! milliseconds whatever the guests do.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

/// The `nice` value of guest threads: when both want the CPU, the API's
/// threads (nice 0, weight 1024) get more of it than guests (weight 655),
/// without starving the guests of the throughput Standby needs (measured in
/// `benches/RESULTS.md`: nice 10 cut warm Standby requests/s by a third,
/// for no gain in API latency that matters).
const GUEST_NICE: libc::c_int = 2;

/// The process's guest runtime, started on first use and kept for the
/// process's life (a runtime must not be dropped inside another's task).
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("wactor-guest")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .expect("starting the guest runtime")
    })
}

fn lower_priority() {
    // SAFETY: gettid and setpriority take plain integers; a failure only
    // leaves the thread at the default priority.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, GUEST_NICE);
    }
}

/// Runs `work` on a guest thread. Dropping the returned future cancels it.
pub fn spawn<F>(work: F) -> GuestTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    GuestTask(handle().spawn(work))
}

fn handle() -> &'static Handle {
    runtime().handle()
}

/// A task on the guest runtime, aborted when dropped (the supervisor drops
/// a run's execution to stop it).
pub struct GuestTask<T>(JoinHandle<T>);

impl<T> Drop for GuestTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for GuestTask<T> {
    /// `Err` with the panic's text if the task panicked.
    type Output = Result<T, String>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| {
            r.map_err(|e| match e.try_into_panic() {
                Ok(panic) => crate::panic_message(&panic),
                Err(e) => e.to_string(),
            })
        })
    }
}
