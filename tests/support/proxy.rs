//! A TCP proxy between the agent and a broker with a gate: while the gate is closed, every
//! connection is accepted and dropped at once, as if the broker were still down. A test
//! uses it to let its own subscriber resubscribe to a restarted broker before the agent can
//! reconnect and publish its backlog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The proxy; stops (and drops its connections) when dropped.
pub struct GatedProxy {
    /// Where the agent connects.
    pub port: u16,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl GatedProxy {
    /// Forwards 127.0.0.1:`port` (a free port) to 127.0.0.1:`target`; the gate starts open.
    pub async fn start(target: u16) -> GatedProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (gate, list) = (open.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !gate.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(mut broker) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue; // broker down: the client sees its connection closed
                };
                let task = tokio::spawn(async move {
                    // Ends when either side closes or fails; both sockets drop then.
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                });
                let mut list = list.lock().unwrap();
                list.retain(|t| !t.is_finished());
                list.push(task);
            }
        });
        GatedProxy { port, open, conns, accept }
    }

    /// Opens or closes the gate for new connections.
    pub fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }

    /// Drops every open connection.
    pub fn cut(&self) {
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for GatedProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
