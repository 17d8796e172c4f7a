//! A TCP proxy in front of the test NATS server, to break the bus on purpose: `cut` drops every
//! connection and refuses new ones, `restore` lets them in again.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    /// `nats://127.0.0.1:<port>`
    pub url: String,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to the server of `nats_url`.
    pub async fn start(nats_url: &str) -> Proxy {
        let target = nats_url.trim_start_matches("nats://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("nats://{}", listener.local_addr().expect("address"));
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, links) = (up.clone(), links.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused
                    }
                    let target = target.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().expect("lock").push(link);
                }
            }
        });
        Proxy {
            url,
            up,
            links,
            accept,
        }
    }

    /// Outage: drop every connection, refuse new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().expect("lock").drain(..) {
            link.abort();
        }
    }

    /// The server is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test]
async fn a_nats_fanout_subscription_gets_what_was_published_while_its_connection_was_down() {
    use zw_bus::{Bus, BusConfig, FanoutSpec, OutgoingMessage};

    use crate::helpers::{event_in, next, remove_streams};

    let proxy = Proxy::start(&zw_testkit::nats_url()).await;
    let prefix = zw_testkit::unique_prefix();
    let follower = Bus::connect(&BusConfig::nats(proxy.url.clone()).with_prefix(prefix.clone()))
        .await
        .expect("connect through the proxy");
    // Another process, whose connection stays up.
    let publisher = Bus::connect(&BusConfig::nats(zw_testkit::nats_url()).with_prefix(prefix))
        .await
        .expect("connect");
    let mut sub = follower
        .subscribe_fanout(FanoutSpec::new(vec!["zw.evt.>".into()]))
        .await
        .expect("fan-out");
    let before = event_in("440304008001003");
    publisher
        .publish(OutgoingMessage::event(&before, vec![]).expect("encode"))
        .await
        .expect("publish");
    assert_eq!(next(&mut sub).await.id, before.id.to_string());

    proxy.cut();
    let during = event_in("440304008001004");
    publisher
        .publish(OutgoingMessage::event(&during, vec![]).expect("encode"))
        .await
        .expect("publish");
    proxy.restore();

    // The subscription may report the outage; then it resumes after the last event it
    // delivered, so what was published meanwhile arrives, once.
    let got = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(60), sub.next()).await {
            Ok(Some(Ok(d))) => break d,
            Ok(Some(Err(_))) => continue,
            Ok(None) => panic!("the fan-out subscription ended"),
            Err(_) => panic!("nothing after the connection came back"),
        }
    };
    assert_eq!(got.id, during.id.to_string());
    let after = event_in("440304008001005");
    publisher
        .publish(OutgoingMessage::event(&after, vec![]).expect("encode"))
        .await
        .expect("publish");
    assert_eq!(next(&mut sub).await.id, after.id.to_string());
    remove_streams(&publisher).await;
}
