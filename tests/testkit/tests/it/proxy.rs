use std::net::SocketAddr;
use std::time::Duration;

use testkit::proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DEADLINE: Duration = Duration::from_secs(10);

/// An echo server on 127.0.0.1: what it reads, it writes back.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> Vec<u8> {
    stream.write_all(text).await.unwrap();
    let mut back = vec![0; text.len()];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut back)).await.expect("an answer in time").unwrap();
    back
}

#[tokio::test]
async fn a_proxy_forwards_until_cut_and_again_once_restored() {
    let proxy = Proxy::start(echo().await).await;
    let mut before = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(round_trip(&mut before, b"hello").await, b"hello");

    proxy.cut();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(DEADLINE, before.read(&mut buf)).await.expect("the cut closes it in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "a connection open at the cut is closed: {closed:?}");

    let mut during = TcpStream::connect(proxy.addr).await.unwrap();
    tokio::time::timeout(DEADLINE, proxy.refused_one()).await.expect("the attempt is seen as refused");
    let turned_away = tokio::time::timeout(DEADLINE, during.read(&mut buf)).await.expect("closed in time");
    assert!(matches!(turned_away, Ok(0) | Err(_)), "a connection made while cut is closed: {turned_away:?}");

    proxy.restore();
    let mut after = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(round_trip(&mut after, b"again").await, b"again");
}
