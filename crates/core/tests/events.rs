//! Every sample event under `events/` (`<function>.<case>.json`) deserialises into its
//! function's input type and round-trips unchanged.

use std::path::Path;

#[test]
fn every_event_file_round_trips_through_its_input_type() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("events/ exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") {
            continue;
        }
        let prefix = name.split('.').next().unwrap();
        let function = failover_core::contract::Function::of(prefix).unwrap_or_else(|| {
            panic!("{name}: `{prefix}` is not a function (events are named <function>.<case>.json)")
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = failover_core::contract::round_trip_input(function, value.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Defaults may be filled in; everything the file says must survive unchanged.
        assert_subset(&value, &back, &name, "");
        count += 1;
    }
    assert!(count >= 2, "expected sample events, found {count}");
}

fn assert_subset(want: &serde_json::Value, got: &serde_json::Value, file: &str, path: &str) {
    match (want, got) {
        (serde_json::Value::Object(w), serde_json::Value::Object(g)) => {
            for (k, v) in w {
                let gv = g.get(k).unwrap_or_else(|| panic!("{file}: {path}.{k} was dropped by the round trip"));
                assert_subset(v, gv, file, &format!("{path}.{k}"));
            }
        }
        (serde_json::Value::Array(w), serde_json::Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{file}: {path} changed length");
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                assert_subset(a, b, file, &format!("{path}[{i}]"));
            }
        }
        (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{file}: {path} changed");
        }
        _ => assert_eq!(want, got, "{file}: {path} changed"),
    }
}
