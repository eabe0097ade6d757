//! The notifier's own thread, with a runtime of its own. The monitor's main
//! runtime is a single thread that polls every node; a storm's notifications
//! (10,000 items to sort, clone, render and send, three channels at once) done
//! there would delay polls by tens of milliseconds. Here they only share the
//! machine's cores, as the history writer's thread does.

use std::future::Future;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Lane {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lane {
    pub fn start(name: &str) -> std::io::Result<Lane> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // The blocking pool too: it writes the outbox.
            .on_thread_start(crate::platform::priority::background)
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                crate::platform::priority::background();
                // Tasks spawned through the handle run while this waits.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Lane {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }
}

impl Drop for Lane {
    /// Ends the thread: what still runs on it is dropped, as at the end of `main`.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            // Not joined: a task stuck in a blocking call must not hold the exit.
            drop(t);
        }
    }
}
