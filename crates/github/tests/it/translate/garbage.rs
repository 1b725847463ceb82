//! A message from the network can be anything: 2,000 mutations of a valid one (fields deleted,
//! values of the wrong type, unknown token types, deep nesting) are each translated or refused,
//! never a panic.

use github::translate::{job_context, translate};
use serde_json::{Value, json};

use super::{key, message, pascal_case, settings};

/// xorshift64*: deterministic, so a failure replays with the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every JSON pointer in `value`, the root included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, member) in map {
                pointers(member, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn garbage(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => json!(rng.next().is_multiple_of(2)),
        2 => json!(rng.next() as i64),
        3 => json!(-1.5e300),
        4 => json!("\u{0}garbage\n${{ x }}"),
        5 => json!([]),
        6 => json!({}),
        7 => {
            json!({"type": rng.below(12) as i64 - 2, "lit": 1, "seq": {}, "map": [1], "expr": [], "bool": "x", "num": "y"})
        }
        8 => json!({"t": rng.below(9) as i64 - 2, "s": [], "a": {}, "d": [{"k": null}], "b": 1, "n": "z"}),
        9 => json!({"type": 4, "directive": "insert"}),
        10 => json!(u64::MAX),
        _ => {
            let mut deep = json!("leaf");
            let token = rng.next().is_multiple_of(2);
            for _ in 0..(40 + rng.below(110)) {
                deep = if token { json!({"type": 1, "seq": [deep]}) } else { json!({"t": 1, "a": [deep]}) };
            }
            deep
        }
    }
}

fn mutate(value: &mut Value, rng: &mut Rng) {
    let mut all = Vec::new();
    pointers(value, String::new(), &mut all);
    let at = all[rng.below(all.len())].clone();
    let action = rng.below(4);
    if action == 0 && !at.is_empty() {
        let (parent, last) = at.rsplit_once('/').unwrap();
        let last = last.replace("~1", "/").replace("~0", "~");
        match value.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.remove(&last);
            }
            Some(Value::Array(items)) => {
                if let Ok(i) = last.parse::<usize>()
                    && i < items.len()
                {
                    items.remove(i);
                }
            }
            _ => {}
        }
    } else if let Some(target) = value.pointer_mut(&at) {
        *target = garbage(rng);
    }
}

#[test]
fn two_thousand_mutated_messages_never_panic() {
    let key = key();
    let settings = settings(&key);
    let bases = [message(), pascal_case(&message())];
    let mut rng = Rng(0x5eed_0f50_1571_ce00);
    let (mut translated, mut refused, mut contexts) = (0, 0, 0);
    for round in 0..2000 {
        let mut payload = bases[round % 2].clone();
        for _ in 0..=rng.below(4) {
            mutate(&mut payload, &mut rng);
        }
        match translate(&payload, &settings) {
            Ok(_) => translated += 1,
            Err(error) => {
                assert!(!error.to_string().is_empty());
                refused += 1;
            }
        }
        if job_context(&payload).is_ok() {
            contexts += 1;
        }
    }
    assert!(
        translated > 0 && refused > 0 && contexts > 0,
        "translated {translated}, refused {refused}, contexts {contexts}"
    );
}
