//! The benchmark's helper (bench/rowdiff/run.sh drives it).
//!
//! `rowdiff-bench diff OLD_URL NEW_URL TABLE [LOST NEW CHANGED]`: one diff, prints a JSON line
//! with the seconds and counts, and exits 3 when expected counts are given and differ.
//! `rowdiff-bench proxy LISTEN TARGET FILE`: a TCP relay that counts the bytes crossing it
//! in both directions and rewrites FILE with the totals whenever a connection closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rowdiff::{DiffOptions, Source, TableSpec};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("diff") if args.len() >= 4 => diff(&args[1..]).await,
        Some("proxy") if args.len() == 4 => proxy(&args[1], &args[2], &args[3]).await,
        _ => {
            eprintln!("usage: rowdiff-bench diff OLD NEW TABLE [LOST NEW CHANGED] | proxy LISTEN TARGET FILE");
            std::process::exit(2);
        }
    }
}

async fn diff(a: &[String]) {
    let t0 = Instant::now();
    let (old, new) = tokio::join!(Source::from_url(&a[0]), Source::from_url(&a[1]));
    let (old, new) = (old.expect("old side"), new.expect("new side"));
    let d = rowdiff::diff_tables(&old, &new, &[TableSpec::new(&a[2])], &DiffOptions::default()).await.expect("diff");
    let secs = t0.elapsed().as_secs_f64();
    let c = d[0].counts;
    println!(
        "{{\"seconds\": {secs:.3}, \"lost\": {}, \"new\": {}, \"changed\": {}, \"old_rows\": {}, \"levels\": {}, \"buckets\": {}, \"rows_fetched\": {}}}",
        c.lost_insert,
        c.lost_delete,
        c.lost_update,
        c.old_rows,
        d[0].stats.levels,
        d[0].stats.buckets_compared,
        d[0].stats.rows_fetched
    );
    if a.len() >= 6 {
        let want: Vec<u64> = a[3..6].iter().map(|x| x.parse().expect("expected count")).collect();
        // No time column: only-old, only-new and changed rows are lost inserts, deletes, updates.
        let got = [c.lost_insert, c.lost_delete, c.lost_update];
        if want != got {
            eprintln!("MISMATCH: expected lost/new/changed {want:?}, got {got:?}");
            std::process::exit(3);
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    // Counted as it flows: clients that reset the connection at exit are counted too.
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown().await;
}

async fn proxy(listen: &str, target: &str, file: &str) {
    let l = tokio::net::TcpListener::bind(listen).await.expect("bind");
    let up = Arc::new(AtomicU64::new(0));
    let down = Arc::new(AtomicU64::new(0));
    loop {
        let (inbound, _) = l.accept().await.expect("accept");
        let (target, file, up, down) = (target.to_string(), file.to_string(), up.clone(), down.clone());
        tokio::spawn(async move {
            let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else { return };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (ir, iw) = inbound.into_split();
            let (or, ow) = outbound.into_split();
            tokio::join!(pump(ir, ow, up.clone()), pump(or, iw, down.clone()));
            let (u, d) = (up.load(Ordering::SeqCst), down.load(Ordering::SeqCst));
            let _ =
                std::fs::write(&file, format!("{{\"to_server\": {u}, \"to_client\": {d}, \"total\": {}}}\n", u + d));
        });
    }
}
