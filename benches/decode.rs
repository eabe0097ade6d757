//! Throughput of the pure decoders: poll replies and push lines.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use syncguard_fleet::protocol::{LineReader, ReplyDecoder, decode_reply, parse_push_line};

fn poll_replies(c: &mut Criterion) {
    let mut g = c.benchmark_group("poll_reply");
    for (name, reply) in [
        ("synced", &b"Synced"[..]),
        ("state_crlf", b"192.168.0.201_state2\r\n"),
        ("invalid", b"HTTP/1.1 400 Bad Request\r\n\r\n"),
    ] {
        g.throughput(Throughput::Bytes(reply.len() as u64));
        g.bench_function(name, |b| b.iter(|| decode_reply(black_box(reply))));
    }
    // The poller's path: reset the reused decoder, feed one read.
    let reply = b"192.168.0.201_state1";
    g.throughput(Throughput::Bytes(reply.len() as u64));
    g.bench_function("decoder_feed", |b| {
        let mut dec = ReplyDecoder::new();
        b.iter(|| {
            dec.reset();
            black_box(dec.feed(black_box(reply)))
        })
    });
    g.finish();
}

fn push_lines(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_line");
    let line = b"192.168.0.201_state2";
    g.throughput(Throughput::Bytes(line.len() as u64 + 2));
    g.bench_function("parse", |b| b.iter(|| parse_push_line(black_box(line))));
    // 100 lines in one read, as a connection delivers them under load.
    let mut stream = Vec::new();
    for i in 0..100u32 {
        stream.extend_from_slice(
            format!("10.0.{}.{}_state{}\r\n", i / 250, i % 250 + 1, i % 3).as_bytes(),
        );
    }
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("reader_100_lines", |b| {
        let mut r = LineReader::new();
        b.iter(|| {
            let mut n = 0u32;
            let _ = r.feed(black_box(&stream), |l| n += u32::from(l.is_ok()));
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, poll_replies, push_lines);
criterion_main!(benches);
